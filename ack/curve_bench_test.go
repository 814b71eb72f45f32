package ack_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// BenchmarkAckedPublishCurve is the acked publish latency to one recipient with
// transport_security = "curve" next to "none", for RSA and Ed25519 certificates: two buses in one
// process, publishes interleaved one by one so both see the same machine load. It reports each
// p50 and the ratio x-curve = p50(curve) / p50(none) (issue 28's target for Ed25519: <= 1.15).
func BenchmarkAckedPublishCurve(b *testing.B) {
	for _, kt := range []string{certs.KeyEd25519, certs.KeyRSA} {
		b.Run("key="+kt, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "pki")
			if _, err := certs.InitCA(dir, certs.PKIOptions{KeyType: kt}); err != nil {
				b.Fatal(err)
			}
			for _, n := range []string{"pub", "sub0"} {
				if _, err := certs.Issue(dir, n, certs.PKIOptions{KeyType: kt}); err != nil {
					b.Fatal(err)
				}
			}
			buses := map[string]*benchBus{}
			for _, mode := range []string{config.SecurityNone, config.SecurityCurve} {
				eps := map[string][]string{"pub.host": {testbus.Addr(b)}, "sub0.host": {testbus.Addr(b)}}
				cfg := func(name, cert string) *config.Config {
					c := configtest.Sign(configtest.Config(eps), cert)
					c.Name = name
					c.SSLDir = dir
					c.CACertLocation = filepath.Join(dir, certs.CAFileName)
					c.CRLLocation = filepath.Join(dir, certs.CRLFileName)
					c.TransportSecurity = mode
					c.Certnames = config.StringMap{"pub.host": "pub", "sub0.host": "sub0"}
					return c
				}
				runAcker(b, cfg("sub0.host", "sub0"), benchTopic)
				p, err := config.NewAckPublisher(context.Background(), cfg("pub.host", "pub"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { p.Close() })
				buses[mode] = &benchBus{pub: p, names: []string{"sub0"}}
				for range 20 {
					buses[mode].publish(b)
				}
			}
			lat := map[string][]time.Duration{}
			for b.Loop() {
				for _, mode := range []string{config.SecurityNone, config.SecurityCurve} {
					t0 := time.Now()
					buses[mode].publish(b)
					lat[mode] = append(lat[mode], time.Since(t0))
				}
			}
			none, curve := pct(lat[config.SecurityNone], 0.5), pct(lat[config.SecurityCurve], 0.5)
			b.ReportMetric(float64(none.Nanoseconds()), "p50-none-ns")
			b.ReportMetric(float64(curve.Nanoseconds()), "p50-curve-ns")
			b.ReportMetric(float64(curve)/float64(none), "x-curve")
			b.ReportMetric(float64(pct(lat[config.SecurityCurve], 0.99))/float64(pct(lat[config.SecurityNone], 0.99)), "x-curve-p99")
		})
	}
}

package main

import (
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/config"
)

// curve is acked publish latency to one recipient in process with transport_security = "curve",
// next to the same bus in plaintext, publishes interleaved one by one (both see the same load):
// the floor of each row is the plaintext figure of the same run (issue 28).
func (b *bench) curve() error {
	b.section("CURVE next to plaintext (acked publish, 1 recipient in process, publishes interleaved)")
	for _, base := range []keyed{b.rsaFig, b.edFig} {
		step("acked publish with CURVE and without, %s, %d samples each", base.k.label(), b.sz.acked1)
		buses := map[string]*bus{}
		for _, mode := range []string{config.SecurityNone, config.SecurityCurve} {
			bu, err := newBusWith(base.k, 1, func(c *config.Config) {
				c.TransportSecurity = mode
				c.Certnames = config.StringMap{"pub.host": "pub", subName(0) + ".host": subName(0)}
			})
			if err != nil {
				for _, o := range buses {
					o.close()
				}
				return fmt.Errorf("%s bus: %w", mode, err)
			}
			buses[mode] = bu
		}
		lat := map[string][]time.Duration{}
		var err error
		for range b.sz.acked1 {
			for _, mode := range []string{config.SecurityNone, config.SecurityCurve} {
				t0 := time.Now()
				if err = buses[mode].publish(); err != nil {
					break
				}
				lat[mode] = append(lat[mode], time.Since(t0))
			}
		}
		for _, bu := range buses {
			bu.close()
		}
		if err != nil {
			return err
		}
		for _, q := range quantiles {
			r := b.add(Row{Name: fmt.Sprintf("acked with CURVE, 1 recipient(s)%s %s", base.suffix(), q.name), Unit: "µs",
				Value: us(quantile(lat[config.SecurityCurve], q.q)), Floor: us(quantile(lat[config.SecurityNone], q.q)),
				Of: "the same bus with transport_security none, interleaved"})
			if q.name == "p50" && base.ed25519() {
				target(r, "≤ 1.15 × plaintext, Ed25519", r.Ratio <= 1.15)
			}
		}
	}
	return nil
}

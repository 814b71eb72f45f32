package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/certs"
)

// disconnected is a tail's log line for losing its connection to the relay's outbound side.
var disconnected = regexp.MustCompile(`msg="endpoint disconnected".* endpoint=relay_outbound`)

// hostsCRLPort is where serveCRL listens, on the relay host.
const hostsCRLPort = 8443

// hostsCRLExpiry is the crl_cache_expiry of the revocation tests, in seconds: how often every
// long-running process fetches the CRL again.
const hostsCRLExpiry = 2

// serveCRL serves the bus's CRL (read again at every request, so certs.Revoke takes effect at
// the next download) over HTTPS from the relay host, points the configuration's crl_location at
// it with a cache in the bus's directory, and gives every command the server's CA
// (SSL_CERT_FILE). It returns the number of downloads so far.
func (hb *hostsBus) serveCRL() *atomic.Int64 {
	hb.t.Helper()
	relay := hb.lab.host(hostRelay).Addr
	cert, caFile := selfSignedTLS(hb.t, hb.Dir, relay)
	var fetches atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		http.ServeFile(w, r, filepath.Join(hb.PKI, "crl.pem"))
	}))
	srv.Listener.Close()
	srv.Listener = hb.lab.Listen(hostRelay, fmt.Sprintf("%s:%d", relay, hostsCRLPort))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	hb.t.Cleanup(srv.Close)

	conf, err := os.ReadFile(hb.Config)
	if err != nil {
		hb.t.Fatal(err)
	}
	local := fmt.Sprintf("crl_location = %q", filepath.Join(hb.PKI, "crl.pem"))
	if !strings.Contains(string(conf), local) {
		hb.t.Fatalf("no %s in the configuration", local)
	}
	conf = []byte(strings.Replace(string(conf), local, fmt.Sprintf("crl_location = \"https://%s:%d/crl.pem\"\ncrl_cache = %q\ncrl_cache_expiry = %d",
		relay, hostsCRLPort, filepath.Join(hb.Dir, "crl-cache.pem"), hostsCRLExpiry), 1))
	if err := os.WriteFile(hb.Config, conf, 0o644); err != nil {
		hb.t.Fatal(err)
	}
	hb.ExtraEnv = append(hb.ExtraEnv, "SSL_CERT_FILE="+caFile)
	return &fetches
}

// selfSignedTLS makes a TLS certificate for ip, its own CA, written to dir/https-ca.pem.
func selfSignedTLS(t *testing.T, dir, ip string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CRL server " + ip},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "https-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// TestHostsRevokedConsumer revokes a consumer's certificate mid-run, the new CRL served over
// HTTPS from the relay host: acked publishes to it fail from then on, since its ACKs no longer
// verify. Transport security off, it keeps reading the bus (the before picture).
func TestHostsRevokedConsumer(t *testing.T) {
	testHostsRevokedConsumer(t, noSecurity{})
}

// TestHostsCurveRevokedConsumer is the same with transport_security = "curve": the relay also
// disconnects the revoked consumer within the CRL refresh interval, and it reads nothing more.
func TestHostsCurveRevokedConsumer(t *testing.T) {
	testHostsRevokedConsumer(t, requireSecurity(t, curveSecurity{}))
}

func testHostsRevokedConsumer(t *testing.T, sec transportSecurity) {
	lab := newNetLab(t)
	hb := newHostsBus(t, lab, sec, "")
	fetches := hb.serveCRL()
	hb.startRelay()
	sub01 := hb.startConsumer("sub01", nil)
	if p := hb.publish(hostPub, "sub01", "15", marker("before")); p.Wait(t, 30*time.Second) != 0 {
		t.Fatalf("acked publish before the revocation failed:\n%s", p.Stderr.String())
	}
	if fetches.Load() == 0 {
		t.Fatal("no process downloaded the CRL from the HTTPS server")
	}

	if _, err := certs.Revoke(hb.PKI, "sub01", certs.PKIOptions{Bits: 1024}); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	fetchesAtRevoke := fetches.Load()
	// Bounded: a refresh interval for the processes to fetch the new CRL, and room for the
	// publishes that still went through meanwhile.
	deadline := revoked.Add(hostsCRLExpiry*time.Second + 20*time.Second)
	var refused *Proc
	var refusedMarker string
	for refused == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s: publishes to the revoked sub01 still succeed %s after the revocation", sec.Name(), time.Since(revoked).Round(time.Millisecond))
		}
		m := marker("after")
		p := hb.publish(hostPub, "sub01", "2", m)
		switch code := p.Wait(t, 30*time.Second); code {
		case 0:
		case 3:
			if !strings.Contains(p.Stderr.String(), "sub01") {
				t.Fatalf("the ACK timeout does not name sub01:\n%s", p.Stderr.String())
			}
			refused, refusedMarker = p, m
		default:
			t.Fatalf("publish after the revocation: exit %d\n%s", code, p.Stderr.String())
		}
	}
	t.Logf("%s: publishes to sub01 refused %s after its revocation (crl_cache_expiry %d s); %d CRL downloads since",
		sec.Name(), time.Since(revoked).Round(time.Millisecond), hostsCRLExpiry, fetches.Load()-fetchesAtRevoke)

	if sec.Enforced() {
		// The relay closes sub01's connection within the refresh interval (the first refused
		// publish may have been refused by the logger's fresher CRL while sub01 still read it)...
		within := hostsCRLExpiry*time.Second + 5*time.Second
		if !waitFor(time.Until(revoked.Add(within)), func() bool { return disconnected.MatchString(sub01.Stderr.String()) }) {
			t.Fatalf("%s: the revoked sub01 was not disconnected from relay_outbound within %s\n%s", sec.Name(), within, sub01.Stderr.String())
		}
		t.Logf("%s: the revoked sub01 disconnected by the relay at most %s after its revocation", sec.Name(), time.Since(revoked).Round(time.Millisecond))
		// ...and lets it in no more: it reads nothing after.
		later := marker("later")
		p := hb.publish(hostPub, "sub01", "2", later)
		if code := p.Wait(t, 30*time.Second); code != 3 {
			t.Fatalf("%s: publish to the disconnected sub01: exit %d, want 3\n%s", sec.Name(), code, p.Stderr.String())
		}
		if strings.Contains(sub01.Stdout.String(), later) {
			t.Errorf("%s: the revoked sub01 still read the bus after it was disconnected", sec.Name())
		}
		return
	}
	// In plaintext the revoked consumer still reads everything; only its ACKs are refused.
	if !waitFor(10*time.Second, func() bool { return strings.Contains(sub01.Stdout.String(), refusedMarker) }) {
		t.Errorf("%s: the revoked sub01 did not print the message whose ACK was refused: what refused it?\n%s", sec.Name(), sub01.Stderr.String())
	}
}

// TestHostsRoutingPolicy publishes with a valid identity a topic routing_policy gives to another
// certificate. Transport security off, the relay forwards it to everyone (only consumers that
// validate drop it): the before picture.
func TestHostsRoutingPolicy(t *testing.T) {
	testHostsRoutingPolicy(t, noSecurity{})
}

// TestHostsCurveRoutingPolicy is the same with transport_security = "curve": the relay refuses
// the message before fan-out (logged and counted), and no consumer receives it.
func TestHostsCurveRoutingPolicy(t *testing.T) {
	testHostsRoutingPolicy(t, requireSecurity(t, curveSecurity{}))
}

func testHostsRoutingPolicy(t *testing.T, sec transportSecurity) {
	lab := newNetLab(t)
	hb := newHostsBus(t, lab, sec, `[routing_policy]
"org.example.test.work.allowed" = ["logger"]
"org.example.test.work.denied" = ["sub02"]
`)
	relay := hb.startRelay()
	sub01 := hb.startConsumer("sub01", nil)
	observer := hb.StartIn(lab.host(hostConsumer).NS, nil, "ackmsg-tail", "--json", "--no-validate", "--certname", "sub02", "--topic", "org.example")
	observer.WaitLog(t, "endpoint connected")

	publish := func(topic, m, timeout string) *Proc {
		return hb.StartIn(lab.host(hostPub).NS, strings.NewReader(""), "ackmsg-logger", "--modname", "work", "--topic", topic,
			"--message", m, "--recipients", "sub01", "--ack-timeout", timeout, "--log-level", "info")
	}
	allowed := marker("allowed")
	if p := publish("allowed", allowed, "15"); p.Wait(t, 30*time.Second) != 0 {
		t.Fatalf("a topic the policy allows: %s", p.Stderr.String())
	}
	refusedBefore := sec.Refusals(relay.Stderr.String(), hb.metrics())
	denied := marker("denied")
	p := publish("denied", denied, "2")
	if code := p.Wait(t, 30*time.Second); code != 3 {
		t.Fatalf("%s: a topic outside the policy: exit %d, want 3 (sub01 must not ACK it)\n%s", sec.Name(), code, p.Stderr.String())
	}
	// A valid message after it: once the observer has it, it would have the denied one too.
	after := marker("after")
	if p := publish("allowed", after, "15"); p.Wait(t, 30*time.Second) != 0 {
		t.Fatalf("a topic the policy allows: %s", p.Stderr.String())
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(observer.Stdout.String(), after) }) {
		t.Fatal("the observer did not get the allowed message")
	}
	if strings.Contains(sub01.Stdout.String(), denied) {
		t.Errorf("%s: the validating sub01 printed a message outside the routing policy", sec.Name())
	}
	forwarded := strings.Contains(observer.Stdout.String(), denied)
	if sec.Enforced() {
		if forwarded {
			t.Errorf("%s: the relay forwarded a topic outside the sender's routing_policy", sec.Name())
		}
		if n := sec.Refusals(relay.Stderr.String(), hb.metrics()); n <= refusedBefore {
			t.Errorf("%s: the relay did not log or count the refusal (%d before, %d after)\n%s", sec.Name(), refusedBefore, n, relay.Stderr.String())
		}
	} else if !forwarded {
		t.Errorf("%s: the relay did not forward the message outside the policy in plaintext: the check is broken", sec.Name())
	}
}

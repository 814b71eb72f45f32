package bridge_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// tlsPKI is a copy of the bus PKI (the bridge's certificate included) with a server certificate
// for the broker (localhost, 127.0.0.1) and a client certificate "revoked" on the CRL; other is
// another CA with its own "bridge".
func tlsPKI(t *testing.T) (dir, other string) {
	dir, other = t.TempDir(), t.TempDir()
	src := pki(t)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := certs.Issue(dir, "broker", certs.PKIOptions{Hosts: []string{"localhost", "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Issue(dir, "revoked", certs.PKIOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Revoke(dir, "revoked", certs.PKIOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.InitCA(other, certs.PKIOptions{CommonName: "Another CA"}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Issue(other, "bridge", certs.PKIOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir, other
}

// Over amqps:// the bridge trusts the bus CA for the broker's certificate and logs in with
// EXTERNAL as the CN of its own bus certificate (the defaults). The broker refuses a client
// certificate of another CA and a revoked one, and Run ends at once with ErrRefused naming the
// TLS alert; a broker certificate not for the name dialled is refused by the bridge; a
// plaintext connection to the TLS port fails saying it may be one.
func TestTLSExternalLogin(t *testing.T) {
	w := newWorld(t)
	dir, other := tlsPKI(t)
	node := rmqtest.NewTLSNode(t, rmqtest.TLS{CAFile: filepath.Join(dir, "ca.crt"), CRLFile: filepath.Join(dir, "crl.pem"),
		CertFile: filepath.Join(dir, "broker.crt"), KeyFile: filepath.Join(dir, "broker.key"), Users: []string{"bridge", "revoked"}})
	cfg := func(edit func(*config.BridgeConfig)) *config.Config {
		c := w.config("bridge.host", "bridge")
		c.SSLDir, c.CACertLocation, c.CRLLocation = dir, filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem")
		b := &c.Bridge
		b.URL, b.URLs, b.Login, b.Exchange, b.ReconnectMax = "", []string{node.TLSURL("localhost")}, "external", w.ex, 0.5
		b.Topics = []string{"org.example.#"}
		edit(b)
		return c
	}

	t.Run("external login", func(t *testing.T) {
		conn, err := amqp.Dial(node.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		q := w.queue(ch, "org.example.#")
		p := w.publisher()
		b, err := config.NewBridge(t.Context(), cfg(func(*config.BridgeConfig) {}), bridge.WithLogger(testLog(t, "bridge")))
		if err != nil {
			t.Fatal(err)
		}
		r := w.run(b)
		testbus.Eventually(t, 20*time.Second, "bridge ready over TLS", b.Ready)
		if err := p.WaitSubscribed(testbus.Within(t, 10*time.Second), "org.example.test.probe"); err != nil {
			t.Fatal(err)
		}
		m, err := p.Publish(testbus.Within(t, 30*time.Second), "tls", map[string]any{"over": "tls"}, ack.To("bridge"), ack.Within(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		d, ok, err := ch.Get(q, true)
		if err != nil || !ok || d.MessageId != m.MsgID() {
			t.Fatalf("queue: %v %v %q, want %s", ok, err, d.MessageId, m.MsgID())
		}
		r.stop()
	})

	for _, c := range []struct {
		name   string
		edit   func(*config.BridgeConfig)
		reason string
	}{
		{"certificate of another CA", func(b *config.BridgeConfig) {
			b.TLSCert, b.TLSKey = filepath.Join(other, "bridge.crt"), filepath.Join(other, "bridge.key")
		}, "remote error: tls: unknown certificate authority"},
		{"revoked certificate", func(b *config.BridgeConfig) {
			b.TLSCert, b.TLSKey = filepath.Join(dir, "revoked.crt"), filepath.Join(dir, "revoked.key")
		}, "remote error: tls: revoked certificate"},
		{"broker certificate for another name", func(b *config.BridgeConfig) {
			b.TLSServerName = "mq.example"
		}, "certificate is valid for localhost, not mq.example"},
		{"broker certificate of another CA", func(b *config.BridgeConfig) {
			b.TLSCA = filepath.Join(other, "ca.crt")
		}, "certificate signed by unknown authority"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := config.NewBridge(t.Context(), cfg(c.edit), bridge.WithLogger(testLog(t, "bridge")))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			start := time.Now()
			err = b.Run(testbus.Within(t, 30*time.Second))
			if !errors.Is(err, bridge.ErrRefused) || !errors.Is(err, bridge.ErrTLS) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("Run = %v, want ErrRefused and ErrTLS with %q", err, c.reason)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Run took %s to give up", took)
			}
		})
	}

	t.Run("plaintext to the TLS port", func(t *testing.T) {
		c := cfg(func(b *config.BridgeConfig) {
			b.URLs, b.Login = []string{strings.Replace(node.TLSURL("127.0.0.1"), "amqps://", "amqp://guest:guest@", 1)}, "password"
		})
		_, _, err := bridge.Dial(c.BridgeBroker(), "test")
		if err == nil || !strings.Contains(err.Error(), "is this a TLS-only port? use amqps://") {
			t.Fatalf("Dial = %v, want the hint at TLS", err)
		}
	})
}

// run runs b until the test ends (or stop).
func (w *world) run(b *bridge.Bridge) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Bridge: b, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b.Run(ctx)
	}()
	w.t.Cleanup(r.stop)
	return r
}

package consumer_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/transport"
)

func TestConfigValidate(t *testing.T) {
	ok := consumer.DefaultHubConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("the default hub config: %v", err)
	}
	for name, tc := range map[string]struct {
		tune func(*consumer.HubConfig)
		want string
	}{
		"frame size": {func(c *consumer.HubConfig) { c.Subscriber.MaxFrameSize = -1 }, "MaxFrameSize"},
		"age":        {func(c *consumer.HubConfig) { c.Subscriber.MaxMessageAge = -time.Second }, "MaxMessageAge"},
		"replay timeout": {func(c *consumer.HubConfig) {
			c.Subscriber.Replay = consumer.ReplayConfig{Endpoints: map[string]string{"a": "tcp://127.0.0.1:1"}}
		}, "Replay.Timeout"},
		"transport": {func(c *consumer.HubConfig) { c.Subscriber.Transport.HWM = -1 }, "HWM"},
		"attempts":  {func(c *consumer.HubConfig) { c.MaxAttempts = 0 }, "MaxAttempts"},
		"shutdown":  {func(c *consumer.HubConfig) { c.ShutdownTimeout = 0 }, "ShutdownTimeout"},
	} {
		c := ok
		tc.tune(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error naming %s", name, err, tc.want)
		}
		if _, err := consumer.NewHub(c); err == nil {
			t.Errorf("%s: NewHub accepted it", name)
		}
	}
	if _, err := consumer.NewSubscriber(consumer.DefaultConfig(), ""); err == nil || !strings.Contains(err.Error(), "no endpoints") {
		t.Fatalf("a Subscriber without endpoints: %v", err)
	}
}

// Without any fedmsg configuration: a signed Publisher and a validating Subscriber from their
// Configs, with the signer and the verifier given; the Subscriber names who signed.
func TestSubscriberFromConfigOnly(t *testing.T) {
	pki := testbus.PKIDir()
	signer, err := certs.LoadSigner(filepath.Join(pki, "pub01.crt"), filepath.Join(pki, "pub01.key"))
	if err != nil {
		t.Fatal(err)
	}
	tc := certs.DefaultTrustConfig(filepath.Join(pki, "ca.crt"))
	tc.CRLFile = filepath.Join(pki, "crl.pem")
	verifier, err := certs.NewVerifier(tc)
	if err != nil {
		t.Fatal(err)
	}
	pc := publisher.DefaultConfig()
	pc.Name, pc.Bind = "svc.host", []string{testbus.Addr(t)}
	pub, err := publisher.New(pc, publisher.WithSigner(signer))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sc := consumer.DefaultConfig()
	sc.Endpoints = []transport.Endpoint{{Name: pc.Name, Address: pc.Bind[0]}}
	sub, err := consumer.NewSubscriber(sc, "org.fedoraproject.dev.svc", consumer.WithVerifier(verifier))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := testbus.Within(t, 10*time.Second)
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, "org.fedoraproject.dev.svc.x"); err != nil {
		t.Fatal(err)
	}
	sent, err := pub.Publish(ctx, "x", map[string]any{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message.MsgID() != sent.MsgID() || d.Signer == nil || d.Signer.CN != "pub01" || d.EndpointName != "svc.host" {
		t.Fatalf("got %s from %q signed by %+v; want %s from svc.host signed by pub01", d.Message.MsgID(), d.EndpointName, d.Signer, sent.MsgID())
	}
}

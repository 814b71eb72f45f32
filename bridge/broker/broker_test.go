package broker

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	tls := TLS{CertFile: "/c.pem", KeyFile: "/k.pem"}
	for _, c := range []struct {
		name string
		cfg  Config
		want string // in the error; "" when valid
	}{
		{"three TLS nodes, external", Config{URLs: []string{"amqps://a/", "amqps://b/", "amqps://c/"}, Login: LoginExternal, QueueType: Quorum, TLS: tls}, ""},
		{"no nodes", Config{Login: LoginPassword, QueueType: Quorum}, "URLs: empty"},
		{"not amqp", Config{URLs: []string{"http://a/"}, Login: LoginPassword, QueueType: Quorum}, `URLs[0]: "http://a/"`},
		{"external over plaintext", Config{URLs: []string{"amqps://a/", "amqp://b/"}, Login: LoginExternal, QueueType: Quorum, TLS: tls}, "every URL must be amqps://"},
		{"external without a certificate", Config{URLs: []string{"amqps://a/"}, Login: LoginExternal, QueueType: Quorum}, "no client certificate"},
		{"certificate without key", Config{URLs: []string{"amqps://a/"}, Login: LoginPassword, QueueType: Quorum, TLS: TLS{CertFile: "/c.pem"}}, "both CertFile and KeyFile"},
		{"unknown login", Config{URLs: []string{"amqp://a/"}, Login: "kerberos", QueueType: Quorum}, `Login "kerberos"`},
		{"unknown queue type", Config{URLs: []string{"amqp://a/"}, Login: LoginPassword, QueueType: "stream"}, `QueueType "stream"`},
		{"reserved argument", Config{URLs: []string{"amqp://a/"}, Login: LoginPassword, QueueType: Quorum,
			QueueArguments: map[string]any{"x-queue-type": "classic"}}, "set queue_type"},
		{"argument of another type", Config{URLs: []string{"amqp://a/"}, Login: LoginPassword, QueueType: Quorum,
			QueueArguments: map[string]any{"x-max-length": []int{1}}}, `QueueArguments["x-max-length"]`},
	} {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want ErrInvalid with %q", c.name, err, c.want)
		}
	}
}

func TestQueueArgs(t *testing.T) {
	c := Config{QueueType: Classic, QueueArguments: map[string]any{"x-max-length": int64(5)}}
	if got, want := c.QueueArgs(), map[string]any{"x-queue-type": "classic", "x-max-length": int64(5)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("QueueArgs %v, want %v", got, want)
	}
	if len(c.QueueArguments) != 1 {
		t.Fatal("QueueArgs changed QueueArguments")
	}
}

func TestNodeAndRedact(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://u:p@mq1.example/":        "mq1.example:5672",
		"amqps://mq2.example/%2Fvhost":   "mq2.example:5671",
		"amqps://mq3.example:15671/":     "mq3.example:15671",
		"amqp://guest:guest@127.0.0.1:1": "127.0.0.1:1",
	} {
		if got := Node(in); got != want {
			t.Errorf("Node(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Redact("amqp://u:secret@mq/"); strings.Contains(got, "secret") {
		t.Errorf("Redact: %q", got)
	}
}

// TLSConfig names the file it cannot use.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tls  TLS
		want string
	}{
		{TLS{CAFile: filepath.Join(dir, "missing.pem")}, "missing.pem"},
		{TLS{CAFile: notPEM}, "no PEM certificate in it"},
		{TLS{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}, "c.pem"},
	} {
		if _, err := (Config{TLS: c.tls}).TLSConfig(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %q", c.tls, err, c.want)
		}
	}
}

// Package broker holds how the bridge reaches its AMQP 0-9-1 broker: the nodes of the cluster,
// TLS with a client certificate, the login mechanism, and the type and arguments of the queues
// it declares. It is configuration only (no AMQP client is linked here), so the configuration
// loader can build a [Config] without importing the broker client; package bridge dials with it.
package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// QueueType is the x-queue-type of the queues the bridge declares.
type QueueType string

// Queue types.
const (
	// Quorum queues are replicated (Raft) across the cluster's nodes: the broker confirms a
	// publish only once a majority of them wrote it to disk, and counts deliveries
	// (x-delivery-count) itself.
	Quorum QueueType = "quorum"
	// Classic queues live on one node.
	Classic QueueType = "classic"
)

// Login is how the bridge authenticates to the broker.
type Login string

// Login mechanisms.
const (
	// LoginPassword sends the user and password of the URL (SASL PLAIN).
	LoginPassword Login = "password"
	// LoginExternal lets the broker take the user from the client certificate (SASL EXTERNAL,
	// RabbitMQ's rabbitmq_auth_mechanism_ssl; by default the certificate's CN is the user). It
	// needs an amqps:// URL.
	LoginExternal Login = "external"
)

// DefaultURL is the one broker of [DefaultConfig].
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// TLS is the TLS of amqps:// URLs. It is ignored for amqp:// URLs.
type TLS struct {
	// CAFile is the PEM file of the certificate authorities that may sign the brokers'
	// certificates. Default "": the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its private key shown to the
	// broker (EXTERNAL login reads the user from it). Default "": no client certificate.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry. Default "": each URL's host.
	ServerName string
}

// Config is how the bridge reaches its broker. Each comment gives the default [DefaultConfig] sets.
type Config struct {
	// URLs are the broker nodes, amqp://user:password@host:port/vhost or amqps://; the bridge
	// connects to one of them (in an order shuffled once at start) and fails over to the next
	// when it is lost. Default [DefaultURL].
	URLs []string
	// TLS applies to the amqps:// URLs. Default: system roots, no client certificate, the
	// URL's host as server name.
	TLS TLS
	// Login is the SASL mechanism. Default LoginPassword.
	Login Login
	// QueueType is the type of the queues the bridge declares. Default Quorum.
	QueueType QueueType
	// QueueArguments are passed with every declaration of the bridge's queue (x-delivery-limit,
	// x-max-length, x-overflow, x-dead-letter-strategy, ...), next to x-queue-type and the
	// bridge's own x-dead-letter-exchange. Values are strings, booleans, integers (int64) or
	// floats. Default none.
	QueueArguments map[string]any
}

// DefaultConfig is one local broker with the default guest login and quorum queues.
func DefaultConfig() Config {
	return Config{URLs: []string{DefaultURL}, Login: LoginPassword, QueueType: Quorum}
}

// ErrInvalid is wrapped by every error of [Config.Validate].
var ErrInvalid = errors.New("broker: invalid configuration")

// reserved are the queue arguments the bridge sets itself.
var reserved = map[string]string{
	"x-queue-type":           "set queue_type",
	"x-dead-letter-exchange": "set dead_letter_exchange",
}

// Validate reports every problem of c, each naming the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if len(c.URLs) == 0 {
		bad("URLs: empty: name at least one broker")
	}
	tlsURLs := 0
	for i, s := range c.URLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
			bad("URLs[%d]: %q: want amqp://user:password@host:port/vhost (or amqps://)", i, Redact(s))
			continue
		}
		if u.Scheme == "amqps" {
			tlsURLs++
		}
	}
	switch c.Login {
	case LoginPassword:
	case LoginExternal:
		if tlsURLs != len(c.URLs) {
			bad("Login external: every URL must be amqps:// (the user is the client certificate's)")
		}
		if c.TLS.CertFile == "" {
			bad("Login external: no client certificate (TLS.CertFile)")
		}
	default:
		bad("Login %q: want %q or %q", c.Login, LoginPassword, LoginExternal)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("TLS: a client certificate needs both CertFile and KeyFile")
	}
	switch c.QueueType {
	case Quorum, Classic:
	default:
		bad("QueueType %q: want %q or %q", c.QueueType, Quorum, Classic)
	}
	for k, v := range c.QueueArguments {
		if why, ok := reserved[k]; ok {
			bad("QueueArguments: %q is the bridge's own: %s", k, why)
		}
		switch v.(type) {
		case string, bool, int64, float64:
		default:
			bad("QueueArguments[%q]: %v (%T): want a string, boolean, integer or float", k, v, v)
		}
	}
	return errors.Join(errs...)
}

// QueueArgs are the arguments of a declaration of the bridge's queue: QueueArguments plus
// x-queue-type.
func (c Config) QueueArgs() map[string]any {
	args := make(map[string]any, len(c.QueueArguments)+1)
	for k, v := range c.QueueArguments {
		args[k] = v
	}
	args["x-queue-type"] = string(c.QueueType)
	return args
}

// TLSConfig reads the CA and the client certificate into a tls.Config for the amqps:// URLs.
// Its errors name the file.
func (c Config) TLSConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("broker: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker: TLS CA %s: no PEM certificate in it", c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("broker: TLS client certificate %s (key %s): %w", c.TLS.CertFile, c.TLS.KeyFile, err)
		}
		// Always shown, even when the broker's list of acceptable CAs does not name its issuer
		// (Go would then send none): the broker decides, and its refusal names the reason
		// (unknown ca) instead of "certificate required".
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return tc, nil
}

// Redact is a broker URL with its password replaced by "xxxxx", for logs and errors.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			return "xxxxx" + s[i:]
		}
		return s
	}
	return u.Redacted()
}

// Node is the host:port of a broker URL, as the bridge reports the node it is connected to.
func Node(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return Redact(s)
	}
	host := u.Host
	if u.Port() == "" {
		port := "5672"
		if u.Scheme == "amqps" {
			port = "5671"
		}
		host += ":" + port
	}
	return host
}

package config

import (
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/ackmsg/ackmsg/bridge/broker"
)

// BridgeConfig is the [bridge] table: ackmsg-bridge, the guaranteed bridge between the bus and
// an AMQP 0-9-1 broker (RabbitMQ). Each comment gives the default that [DefaultConfig] sets. The
// table merges key by key like the top level (a list is replaced, not merged).
type BridgeConfig struct {
	// URL is the broker: amqp://user:password@host:port/vhost (amqps:// for TLS). Default
	// "amqp://guest:guest@127.0.0.1:5672/". It is the one-node form of urls: setting both is
	// an error.
	URL string `toml:"url"`
	// URLs are the nodes of a broker cluster, each as url. The bridge shuffles them once at
	// start (so that several bridges, and its two directions, spread over the nodes) and fails
	// over to the next when its node is lost. Default []: the one url.
	URLs []string `toml:"urls"`
	// Login is how the bridge logs in: "password" (the URL's user and password) or "external"
	// (SASL EXTERNAL over amqps://: the broker takes the user from the client certificate, by
	// default its CN). Default "password".
	Login string `toml:"login"`
	// TLSCA is the PEM file of the certificate authorities the brokers' certificates must chain
	// to (amqps:// only). Default "": the bus CA (the CA certificate of ca_cert_location, or
	// <ssldir>/ca.crt); "system": the system's roots.
	TLSCA string `toml:"tls_ca"`
	// TLSCert and TLSKey are the client certificate and its private key shown to the broker
	// (amqps:// only). Default "": the bridge's own bus certificate, <ssldir>/<certname>.crt and
	// .key.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// TLSServerName is the name the brokers' certificates must carry. Default "": each URL's host.
	TLSServerName string `toml:"tls_server_name"`
	// QueueType is the x-queue-type of the queues the bridge declares (queue, its dead-letter
	// queue, and ackmsg-bridge queue): "quorum" (replicated on a majority of the cluster's
	// nodes; the broker counts each message's deliveries) or "classic". Default "quorum".
	QueueType string `toml:"queue_type"`
	// QueueArguments are passed with each declaration of queue (x-delivery-limit, x-max-length,
	// x-overflow, x-dead-letter-strategy, ...): a table of strings, booleans, integers and
	// floats. x-queue-type and x-dead-letter-exchange are set by queue_type and
	// dead_letter_exchange. Default {}.
	QueueArguments map[string]any `toml:"queue_arguments"`
	// Name is the value of the ackmsg_bridge header the bridge puts on what it sends to the
	// broker, and the mark by which it recognises (and does not bring back to the bus) what it
	// sent itself. Default "": the CN of the bridge's certificate.
	Name string `toml:"name"`
	// Exchange is the topic exchange bus messages are published to, with the full topic as
	// routing key, and the one queue_bindings bind queue on. The bridge declares it (durable,
	// type topic) unless its name starts with "amq.". Default "amq.topic" (fedora-messaging's).
	Exchange string `toml:"exchange"`
	// Topics are the topic patterns (see [TopicMatches]) of the bus messages sent to the broker.
	// Empty turns the bus → AMQP direction off. Default [].
	Topics []string `toml:"topics"`
	// MaxInFlight bounds the bus messages published to the broker and not yet confirmed; more
	// wait (and their publishers retransmit). Default 256.
	MaxInFlight int `toml:"max_in_flight"`
	// Queue is the queue whose messages are published on the bus. Empty turns the AMQP → bus
	// direction off. The bridge declares it durable, of queue_type, with queue_arguments (and
	// x-dead-letter-exchange when dead_letter_exchange is set). Default "".
	Queue string `toml:"queue"`
	// QueueBindings are routing-key patterns (AMQP syntax: "*" one word, "#" any) that bind
	// queue to exchange. Default []: bind nothing (the queue is bound elsewhere).
	QueueBindings []string `toml:"queue_bindings"`
	// Prefetch bounds the broker messages the bridge holds unacknowledged (basic.qos). Default 32.
	Prefetch int `toml:"prefetch"`
	// Recipients must ACK every message the bridge publishes on the bus (an acked publish, as
	// ack.To); the broker message is acknowledged only after they all did. Empty: the recipients
	// the recipients table names for the topic, if any. Default [].
	Recipients []string `toml:"recipients"`
	// PublishTimeout bounds one bus publish of a broker message, ACKs included, in seconds; a
	// publish that fails is retried (the message is requeued). Default 30.
	PublishTimeout Seconds `toml:"publish_timeout"`
	// MaxAttempts is how many times a broker message is tried before it is dead-lettered (when
	// dead_letter_exchange is set). A message that is not a JSON object is dead-lettered at once.
	// A quorum queue counts the deliveries itself (x-delivery-count), so the count survives a
	// restart of the bridge; for a classic queue the bridge counts in memory. Default 5.
	MaxAttempts int `toml:"max_attempts"`
	// DeadLetterExchange receives the broker messages that could not be published on the bus.
	// The bridge declares it (durable, topic) with a durable queue "<queue>.dead" bound to it
	// with "#", so dead letters are kept until an operator looks. Empty: failed messages are
	// requeued and retried (after a pause) forever, never dropped. Default "".
	DeadLetterExchange string `toml:"dead_letter_exchange"`
	// ReconnectMax caps the pause, in seconds, between attempts to reach the broker (it doubles
	// from 0.1 s). Default 30.
	ReconnectMax Seconds `toml:"reconnect_max"`
	// HTTPAddress is the host:port where ackmsg-bridge answers /live, /ready and /metrics
	// (Prometheus). Empty disables it. Default "".
	HTTPAddress string `toml:"http_address"`
}

// Defaults of the [bridge] table.
const (
	DefaultBridgeURL            = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultBridgeExchange       = "amq.topic"
	DefaultBridgeMaxInFlight    = 256
	DefaultBridgePrefetch       = 32
	DefaultBridgePublishTimeout = Seconds(30)
	DefaultBridgeMaxAttempts    = 5
	DefaultBridgeReconnectMax   = Seconds(30)
	DefaultBridgeLogin          = "password"
	DefaultBridgeQueueType      = "quorum"
	// BridgeSystemRoots as bridge.tls_ca trusts the system's certificate authorities.
	BridgeSystemRoots = "system"
)

func defaultBridgeConfig() BridgeConfig {
	return BridgeConfig{URL: DefaultBridgeURL, Exchange: DefaultBridgeExchange, Topics: []string{},
		MaxInFlight: DefaultBridgeMaxInFlight, QueueBindings: []string{}, Prefetch: DefaultBridgePrefetch,
		Recipients: []string{}, PublishTimeout: DefaultBridgePublishTimeout, MaxAttempts: DefaultBridgeMaxAttempts,
		ReconnectMax: DefaultBridgeReconnectMax, URLs: []string{}, Login: DefaultBridgeLogin,
		QueueType: DefaultBridgeQueueType, QueueArguments: map[string]any{}}
}

var bridgeKeys = tomlKeys(reflect.TypeFor[BridgeConfig]())

// checkBridgeKeys reports unknown keys in a file's [bridge] table.
func checkBridgeKeys(path string, raw any) error {
	t, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	var errs errorList
	for _, k := range sortedKeys(t) {
		if !bridgeKeys[k] {
			errs.add(&FileError{File: path, Key: "bridge." + quoteKey(k), Err: unknownKeyIn(k, bridgeKeys)})
		}
	}
	return errs.err()
}

// mergeBridge merges a file's [bridge] table (layer, decoded from raw) over c.Bridge.
func (c *Config) mergeBridge(path string, raw any, layer BridgeConfig) {
	t, _ := raw.(map[string]any)
	src := reflect.ValueOf(&layer).Elem()
	dst := reflect.ValueOf(&c.Bridge).Elem()
	for i := range src.NumField() {
		key, _, _ := strings.Cut(src.Type().Field(i).Tag.Get("toml"), ",")
		if _, ok := t[key]; !ok {
			continue
		}
		dst.Field(i).Set(src.Field(i))
		c.setOrigin("bridge."+key, path)
	}
	c.setOrigin("bridge", path)
}

// BridgeBroker maps the [bridge] keys on how to reach the broker onto a broker.Config: the
// nodes (urls, else url), the login, TLS with the defaults resolved (the bus CA, the bridge's
// own certificate, both from ssldir; the certificate name from certname, cert_prefix or name:
// without one there is no default client certificate), and the queues' type and arguments.
func (c *Config) BridgeBroker() broker.Config {
	b := &c.Bridge
	bc := broker.Config{URLs: b.URLs, Login: broker.Login(b.Login), QueueType: broker.QueueType(b.QueueType),
		QueueArguments: b.QueueArguments,
		TLS:            broker.TLS{CAFile: b.TLSCA, CertFile: b.TLSCert, KeyFile: b.TLSKey, ServerName: b.TLSServerName}}
	if len(bc.URLs) == 0 {
		bc.URLs = []string{b.URL}
	}
	switch bc.TLS.CAFile {
	case BridgeSystemRoots:
		bc.TLS.CAFile = ""
	case "":
		if ca := c.CACertFile(); !IsURL(ca) {
			bc.TLS.CAFile = ca
		}
	}
	if bc.TLS.CertFile == "" && c.SSLDir != "" {
		if name, err := c.ResolveCertname(""); err == nil {
			bc.TLS.CertFile = filepath.Join(c.SSLDir, name+".crt")
			bc.TLS.KeyFile = filepath.Join(c.SSLDir, name+".key")
		}
	}
	return bc
}

// validateBridge adds the problems of c.Bridge to errs.
func (c *Config) validateBridge(errs *errorList) {
	bad := func(key string, format string, args ...any) {
		errs.add(&KeyError{Key: key, Source: c.Source(key), Err: fmt.Errorf(format, args...)})
	}
	b := &c.Bridge
	c.validateBridgeBroker(bad)
	if b.Exchange == "" {
		bad("bridge.exchange", "%w: empty: want a topic exchange, e.g. amq.topic", ErrInvalid)
	}
	for i, p := range b.Topics {
		if err := CheckTopicPattern(p); err != nil {
			bad(fmt.Sprintf("bridge.topics[%d]", i), "%w", err)
		}
	}
	for i, p := range b.QueueBindings {
		if p == "" {
			bad(fmt.Sprintf("bridge.queue_bindings[%d]", i), "%w: empty routing-key pattern", ErrInvalid)
		}
	}
	if len(b.QueueBindings) > 0 && b.Queue == "" {
		bad("bridge.queue_bindings", "%w: set, but bridge.queue is empty: name the queue to bind", ErrInvalid)
	}
	if b.DeadLetterExchange != "" && b.Queue == "" {
		bad("bridge.dead_letter_exchange", "%w: set, but bridge.queue is empty: dead letters come from the queue", ErrInvalid)
	}
	if b.DeadLetterExchange != "" && b.DeadLetterExchange == b.Exchange {
		bad("bridge.dead_letter_exchange", "%w: %q is bridge.exchange too: dead letters would be routed back to the queue", ErrInvalid, b.Exchange)
	}
	for k, n := range map[string]int{"bridge.max_in_flight": b.MaxInFlight, "bridge.prefetch": b.Prefetch, "bridge.max_attempts": b.MaxAttempts} {
		if n < 1 {
			bad(k, "%w: %d is below 1", ErrInvalid, n)
		}
	}
	if b.Prefetch > math.MaxUint16 {
		bad("bridge.prefetch", "%w: %d is above %d (AMQP's limit)", ErrInvalid, b.Prefetch, math.MaxUint16)
	}
	for k, s := range map[string]Seconds{"bridge.publish_timeout": b.PublishTimeout, "bridge.reconnect_max": b.ReconnectMax} {
		if f := float64(s); !(f > 0) || math.IsInf(f, 0) {
			bad(k, "%w: %v: want a positive number of seconds", ErrInvalid, f)
		}
	}
	for i, r := range b.Recipients {
		if r == "" {
			bad(fmt.Sprintf("bridge.recipients[%d]", i), "%w: empty recipient name", ErrInvalid)
		}
	}
	if b.HTTPAddress != "" {
		if err := checkListenAddress(b.HTTPAddress); err != nil {
			bad("bridge.http_address", "%w", err)
		}
	}
}

// validateBridgeBroker checks the keys that say how the bridge reaches its broker: the URLs,
// the login, the queue type and arguments, the TLS files.
func (c *Config) validateBridgeBroker(bad func(key string, format string, args ...any)) {
	b := &c.Bridge
	if u, err := url.Parse(b.URL); len(b.URLs) == 0 && (err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "") {
		bad("bridge.url", "%w: %q: want amqp://user:password@host:port/vhost (or amqps://)", ErrInvalid, RedactURL(b.URL))
	}
	if len(b.URLs) > 0 && c.Source("bridge.url") != "" {
		bad("bridge.urls", "%w: both bridge.url (%s) and bridge.urls are set: give the nodes in urls only", ErrInvalid, c.Source("bridge.url"))
	}
	for i, s := range b.URLs {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
			bad(fmt.Sprintf("bridge.urls[%d]", i), "%w: %q: want amqp://user:password@host:port/vhost (or amqps://)", ErrInvalid, RedactURL(s))
		}
	}
	bc := c.BridgeBroker()
	switch bc.Login {
	case broker.LoginPassword:
	case broker.LoginExternal:
		for i, s := range bc.URLs {
			if !strings.HasPrefix(s, "amqps://") {
				bad("bridge.login", "%w: external needs amqps:// URLs (the user is the client certificate's), but node %d is %q", ErrInvalid, i, RedactURL(s))
				break
			}
		}
	default:
		bad("bridge.login", "%w: %q: want %q or %q", ErrInvalid, b.Login, broker.LoginPassword, broker.LoginExternal)
	}
	if b.QueueType != string(broker.Quorum) && b.QueueType != string(broker.Classic) {
		bad("bridge.queue_type", "%w: %q: want %q or %q", ErrInvalid, b.QueueType, broker.Quorum, broker.Classic)
	}
	for _, k := range sortedKeys(b.QueueArguments) {
		switch v := b.QueueArguments[k]; v.(type) {
		case string, bool, int64, float64:
			if k == "x-queue-type" || k == "x-dead-letter-exchange" {
				bad("bridge.queue_arguments."+quoteKey(k), "%w: set by bridge.%s, not here", ErrInvalid,
					map[string]string{"x-queue-type": "queue_type", "x-dead-letter-exchange": "dead_letter_exchange"}[k])
			}
		default:
			bad("bridge.queue_arguments."+quoteKey(k), "%w: %v (%T): want a string, boolean, integer or float", ErrInvalid, v, v)
		}
	}
	if (b.TLSCert == "") != (b.TLSKey == "") {
		bad("bridge.tls_cert", "%w: bridge.tls_cert and bridge.tls_key go together: set both or neither", ErrInvalid)
	}
}

package config

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"
)

// Config is every ackmsg setting. The toml tags are the key names in files (fedmsg's where fedmsg
// has the setting); each comment gives the default that [DefaultConfig] sets.
type Config struct {
	// TopicPrefix is the first part of every full topic. Default "org.fedoraproject".
	TopicPrefix string `toml:"topic_prefix"`
	// Environment is the second part of every full topic: "prod", "stg" or "dev". Default "dev".
	Environment string `toml:"environment"`
	// Name is the endpoints key a passive publisher binds from (the first free address under it),
	// and the certnames index when cert_prefix is unset. ackmsg never guesses it. Default "".
	Name string `toml:"name"`
	// Active makes a publisher connect to RelayInbound instead of binding under endpoints[Name].
	// Default false.
	Active bool `toml:"active"`
	// CertPrefix, when set, makes the certnames index "<cert_prefix>.<short hostname>" (fedmsg's
	// shell tools use "shell"). Default "".
	CertPrefix string `toml:"cert_prefix"`

	// Endpoints maps a service key (conventionally "<service>.<short hostname>") to its
	// addresses, tcp://host:port or ipc://path; every machine on the bus shares this map.
	// Subscribers connect to every address of every key except "relay_inbound"; a publisher
	// named N binds the port of the first free address under N, on all interfaces. Default
	// {"relay_outbound": ["tcp://127.0.0.1:4001"]}, used only when no file, variable or flag sets
	// endpoints.
	Endpoints ListMap `toml:"endpoints"`
	// RelayInbound is the address the relay binds its SUB socket to and active publishers connect
	// to. Default "tcp://127.0.0.1:2001".
	RelayInbound string `toml:"relay_inbound"`

	// SignMessages signs every outgoing message with the certificate found through Certname,
	// Certnames and SSLDir (see [Config.SigningFiles]). Default false.
	SignMessages bool `toml:"sign_messages"`
	// ValidateSignatures drops incoming messages whose signature, certificate chain, CRL or
	// routing policy check fails. Default false (as fedmsg's tail; its hub required the key).
	ValidateSignatures bool `toml:"validate_signatures"`
	// CryptoBackend is the signing backend; only "x509" (X.509 certificates) is supported. The
	// key type of the signing certificate picks the crypto value written on messages: "x509"
	// (RSA, what fedmsg verifies) or "x509-ed25519" (Ed25519, ackmsg peers only). Default "x509".
	CryptoBackend string `toml:"crypto_backend"`
	// CryptoValidateBackends lists the crypto values accepted on incoming messages and ACKs:
	// "x509" and "x509-ed25519" are supported. An empty list means both. Default ["x509",
	// "x509-ed25519"], so a bus mixing RSA and Ed25519 signers works; list only "x509" to
	// accept what fedmsg accepts and nothing more.
	CryptoValidateBackends []string `toml:"crypto_validate_backends"`
	// SSLDir is the directory holding <certname>.crt and <certname>.key, and by default ca.crt.
	// Default "/etc/pki/fedmsg", fedmsg's, so certificates already deployed for fedmsg work
	// unchanged.
	SSLDir string `toml:"ssldir"`
	// Certname, when set, is the certificate file prefix used to sign, bypassing the certnames
	// lookup. Default "".
	Certname string `toml:"certname"`
	// Certnames maps a certnames index ("<service>.<short hostname>", "shell.<short hostname>")
	// to a certificate file prefix in SSLDir. Default {}.
	Certnames StringMap `toml:"certnames"`
	// CACertLocation is the CA certificate file, or an http(s) URL that is downloaded at start
	// (and cached in CACertCache); only its first certificate is trusted. Empty means
	// "<ssldir>/ca.crt". Default "".
	CACertLocation string `toml:"ca_cert_location"`
	// CRLLocation is the CRL checked when validating: a file, or an http(s) URL that is
	// downloaded, verified against the CA, cached in CRLCache and fetched again every
	// CRLCacheExpiry or at its nextUpdate, whichever is first. When it cannot be fetched past its
	// nextUpdate, every signed message fails validation (fail closed). Empty means no CRL check.
	// Default "".
	CRLLocation string `toml:"crl_location"`
	// CACertCache is the file a downloaded CA is kept in (fedmsg's ca_cert_cache). Empty means
	// "ca-<hash of the URL>.pem" in ackmsg's cache directory ($XDG_CACHE_HOME/ackmsg, else
	// ~/.cache/ackmsg; a service without $HOME must set it). Default "".
	CACertCache string `toml:"ca_cert_cache"`
	// CRLCache is the file a downloaded CRL is kept in (fedmsg's crl_cache). Empty means
	// "crl-<hash of the URL>.pem" in ackmsg's cache directory. Default "".
	CRLCache string `toml:"crl_cache"`
	// CRLCacheExpiry is how long, in seconds, a downloaded CRL is used before it is fetched again
	// (fedmsg's crl_cache_expiry). Default 3600.
	CRLCacheExpiry Seconds `toml:"crl_cache_expiry"`
	// RoutingPolicy maps a full topic to the certificate CNs allowed to sign it. Default {}.
	RoutingPolicy ListMap `toml:"routing_policy"`
	// RoutingNitpicky rejects signed messages whose topic is absent from RoutingPolicy. Default
	// false.
	RoutingNitpicky bool `toml:"routing_nitpicky"`
	// TransportSecurity is "none" (plaintext ZeroMQ, as Python fedmsg speaks it) or "curve":
	// every socket runs CurveZMQ with the key pair issued with this program's certificate, a
	// bound socket lets in only clients whose key a valid certificate of the CA in ssldir
	// carries, and a connecting socket talks only to the server whose certificate it expects
	// (see CurveServerKeys). Default "none".
	TransportSecurity string `toml:"transport_security"`
	// CurveKey is this program's CURVE secret key file. Empty means "<ssldir>/<certname>.curve",
	// next to the certificate the program signs with, as ackmsg-certs issue writes it.
	// Default "".
	CurveKey string `toml:"curve_key"`
	// CurveServerKeys maps an address this program connects to, or an endpoints or
	// replay_endpoints name (then for each of its addresses), onto the certificate name in
	// ssldir whose CURVE key the server there must present, or onto that key itself in Z85 (40
	// characters). Without an entry the certificate name is certnames[<endpoint name>], else the
	// endpoint name itself; relay_inbound's address counts as the endpoint "relay_inbound".
	// Default {}.
	CurveServerKeys StringMap `toml:"curve_server_keys"`
	// CurveAllow lists the certificate CNs that may connect to this program's bound sockets
	// with transport_security = "curve". Empty means any valid certificate of the CA. Default [].
	CurveAllow []string `toml:"curve_allow"`

	// IOThreads is the number of ZeroMQ I/O threads of each context. Default 1.
	IOThreads int `toml:"io_threads"`
	// HighWaterMark sets ZMQ_SNDHWM and ZMQ_RCVHWM, in messages, on publisher and subscriber
	// sockets. 0 means unlimited, as in libzmq (fedmsg's 0 meant "leave libzmq's 1000").
	// Default 10000: bounded, and ten times libzmq's default to absorb bursts (the value of
	// fedmsg's sample gateway).
	HighWaterMark int `toml:"high_water_mark"`
	// ZMQLinger is ZMQ_LINGER in milliseconds for sockets ackmsg closes: how long unsent messages
	// may delay the close. -1 waits forever (libzmq's default). Default 1000.
	ZMQLinger int `toml:"zmq_linger"`
	// ZMQReconnectIvl is ZMQ_RECONNECT_IVL in milliseconds; -1 disables reconnecting. Default 100.
	ZMQReconnectIvl int `toml:"zmq_reconnect_ivl"`
	// ZMQReconnectIvlMax is ZMQ_RECONNECT_IVL_MAX in milliseconds: reconnect attempts back off
	// exponentially up to it; 0 means no backoff. Default 1000 (fedmsg's documented value).
	ZMQReconnectIvlMax int `toml:"zmq_reconnect_ivl_max"`
	// ZMQTCPKeepalive is ZMQ_TCP_KEEPALIVE: 1 on, 0 off, -1 the OS default. Default 1. Unlike
	// fedmsg, the keepalive defaults always apply.
	ZMQTCPKeepalive int `toml:"zmq_tcp_keepalive"`
	// ZMQTCPKeepaliveCnt is ZMQ_TCP_KEEPALIVE_CNT, probes before a peer is dead; -1 the OS
	// default. Default 3.
	ZMQTCPKeepaliveCnt int `toml:"zmq_tcp_keepalive_cnt"`
	// ZMQTCPKeepaliveIdle is ZMQ_TCP_KEEPALIVE_IDLE in seconds; -1 the OS default. Default 60.
	ZMQTCPKeepaliveIdle int `toml:"zmq_tcp_keepalive_idle"`
	// ZMQTCPKeepaliveIntvl is ZMQ_TCP_KEEPALIVE_INTVL in seconds; -1 the OS default. Default 5.
	ZMQTCPKeepaliveIntvl int `toml:"zmq_tcp_keepalive_intvl"`
	// MaxFrameSize is the largest frame, in bytes, a receiver accepts; larger messages are
	// dropped, logged and counted. 0 means no limit. Default 4 MiB: far above the largest fedmsg
	// messages (hundreds of KiB), while bounding what one peer can make a receiver allocate.
	MaxFrameSize int `toml:"max_frame_size"`

	// AckTimeout bounds how long a guaranteed-delivery publish waits for every ACK, in seconds,
	// when the context has no earlier deadline. gilmsg's key; its 0.25 s default is far too short
	// once a slow joiner or a reconnect is involved. Default 5.
	AckTimeout Seconds `toml:"ack_timeout"`
	// AckMaxInFlight bounds the acked messages a publisher waits on at once; more block the
	// caller. Default 1024.
	AckMaxInFlight int `toml:"ack_max_in_flight"`
	// DedupeWindow is how many recent msg_ids a receiver remembers to re-ACK a retransmitted
	// message without delivering it twice. Default 10000.
	DedupeWindow int `toml:"dedupe_window"`
	// MaxMessageAge drops received messages whose timestamp is older than this many seconds;
	// 0 disables the check. Default 0.
	MaxMessageAge Seconds `toml:"max_message_age"`
	// Recipients maps a topic pattern to the CNs that must ACK every message whose full topic
	// matches it (see [TopicMatches] for the pattern syntax and [Config.RecipientsFor]). Default
	// {}.
	Recipients ListMap `toml:"recipients"`
	// AckRequireRecipients makes an acked publish that ends up with no recipients (none given
	// with ack.To, none configured in recipients for its topic) fail with ack.ErrNoRecipients.
	// When false, such a publish goes out as a plain, unacknowledged message, with a warning
	// logged once per topic and counted in the publisher's Stats.NoRecipients. Default false.
	AckRequireRecipients bool `toml:"ack_require_recipients"`

	// Mode is "production" or "development". In development mode an acked publish does not wait
	// for its recipients: the message is sent, its recipients are logged at WARN level with
	// mode=development, and Publish returns nil without any ACK; a publisher built in this mode
	// warns at startup. Development mode is refused with environment "prod". Default
	// "production".
	Mode string `toml:"mode"`
	// LogLevel is the level of the ackmsg commands' logs on stderr: "debug", "info", "warn" or
	// "error". $ACKMSG_LOG_LEVEL and --log-level override it. Empty means each command's own
	// default (warn for ackmsg-logger and ackmsg-replay, whose output is their work; info for the
	// others). The library does not read it: a Go program chooses its own logger. Default "".
	LogLevel string `toml:"log_level"`
	// Sink is where publishers put messages: "zmq" (the bus) or "log" (no socket is opened; each
	// message is written to the publisher's logger with its topic, msg_id and body, and acked
	// publishes succeed at once, as in development mode). For tests of applications that
	// publish. Default "zmq".
	Sink string `toml:"sink"`

	// PersistentStore is the history of a publisher (fedmsg's key, whose value there is a Python
	// object): a file path for the embedded store (one bbolt file, created with its directory
	// when missing; one process per file), or a postgres:// or postgresql:// URL for a
	// PostgreSQL history (tables created when missing; several publishers may share the
	// database, one process per publisher name; see docs/replay.md). With it, every message a
	// Publisher sends carries a seq_id (per publisher name, +1 per message, continued after a
	// restart) inside the signed envelope, and is recorded, durably before it is sent, for the
	// replay endpoint. ACKs are never numbered. Messages and logs show a URL without its
	// password. Default "": no history, no seq_id.
	PersistentStore string `toml:"persistent_store"`
	// HistoryMaxAge drops recorded messages older than this many seconds (by their timestamp);
	// 0 means no age limit. Default 604800 (7 days).
	HistoryMaxAge Seconds `toml:"history_max_age"`
	// HistoryMaxMessages keeps at most this many recorded messages per publisher name, dropping
	// the oldest; 0 means no count limit. Default 100000.
	HistoryMaxMessages int `toml:"history_max_messages"`
	// HistoryMaxBytes keeps at most this many bytes of recorded envelopes per publisher name,
	// dropping the oldest; 0 means no size limit. Default 268435456 (256 MiB).
	HistoryMaxBytes int `toml:"history_max_bytes"`
	// HistoryFsync makes recording a message durable on disk (fsync) before it is sent. Off, a
	// record survives a crash of the process but not of the machine (see docs/replay.md). Commits
	// of concurrent publishes share one fsync either way. It applies to a history file only: a
	// PostgreSQL history is as durable as the server's commits (its synchronous_commit).
	// Default true.
	HistoryFsync bool `toml:"history_fsync"`
	// ReplayEndpoints maps a publisher name to the address of its replay endpoint, a ZeroMQ REP
	// socket speaking fedmsg's replay protocol (fedmsg's key). The publisher named N with a
	// persistent_store binds the port of replay_endpoints[N]; consumers that see a gap in the
	// seq_ids of messages arriving under endpoints key N query it. Default {}.
	ReplayEndpoints StringMap `toml:"replay_endpoints"`
	// ReplayMaxMessages bounds the messages one replay reply carries; a query matching more gets
	// an error reply saying so (a consumer then asks for narrower ranges). Default 1000.
	ReplayMaxMessages int `toml:"replay_max_messages"`
	// ReplayMaxBytes bounds the bytes of one replay reply, in the same way. Default 16777216
	// (16 MiB).
	ReplayMaxBytes int `toml:"replay_max_bytes"`
	// ReplayTimeout bounds one replay query of a consumer (connect, request, reply), in seconds;
	// a query that times out makes its gap unrecoverable, reported as such. Default 5.
	ReplayTimeout Seconds `toml:"replay_timeout"`
	// ReplayState is the consumer state file: the last seq_id delivered per publisher name,
	// written as the consumer goes and read at start, so a restarted consumer first asks the
	// replay endpoints for what it missed. ackmsg-tail's --state. Default "": no state kept.
	ReplayState string `toml:"replay_state"`
	// Hub configures ackmsg-hub: its HTTP endpoint, shutdown, poison handling and consumers (see
	// [HubConfig]). Default: no consumers, no HTTP endpoint, shutdown_timeout 10, max_attempts 5.
	Hub HubConfig `toml:"hub"`
	// Outbox configures the durable outbox: its store, expiry, attempts and deliverer (see
	// [OutboxConfig]). Default: no store, expiry 86400, attempt_timeout 30, retry_max 30,
	// claim_lease 90, max_in_flight 256.
	Outbox OutboxConfig `toml:"outbox"`
	// Bridge configures ackmsg-bridge, the guaranteed bridge to an AMQP broker (see
	// [BridgeConfig]). Default: url amqp://guest:guest@127.0.0.1:5672/, exchange amq.topic, both
	// directions off.
	Bridge BridgeConfig `toml:"bridge"`
	// Relay configures ackmsg-relay's HTTP endpoint (see [RelayConfig]). Default: none.
	Relay RelayConfig `toml:"relay"`
	// Archive configures ackmsg-archive, the datagrepper-compatible archive (see
	// [ArchiveConfig]). Default: no store, no HTTP endpoint, batch_size 512, query_timeout 5,
	// count_limit 10000, everything kept.
	Archive ArchiveConfig `toml:"archive"`
	// Gateway configures ackmsg-gateway, the bus's one outward port (see [GatewayConfig]).
	// Default: bind tcp://*:9940, hwm 1000, every topic, plaintext unless transport_security
	// says curve, no HTTP endpoint.
	Gateway GatewayConfig `toml:"gateway"`

	// Sources lists the files read, in the order they were merged.
	Sources []string `toml:"-"`
	// Ignored lists fedmsg keys that were accepted but have no effect in ackmsg, as
	// "<file>: <key>", for the caller to log.
	Ignored []string `toml:"-"`

	// origins maps a key path (as in error messages) to the file, variable or flag that set it.
	origins map[string]string
	// log is where the trust material the builders load logs (SetLogger).
	log *slog.Logger
}

// Default values that other packages and help texts may refer to.
const (
	DefaultTopicPrefix   = "org.fedoraproject"
	DefaultEnvironment   = "dev"
	DefaultRelayInbound  = "tcp://127.0.0.1:2001"
	DefaultRelayOutbound = "tcp://127.0.0.1:4001"
	DefaultSSLDir        = "/etc/pki/fedmsg"
	DefaultHighWaterMark = 10000
	DefaultMaxFrameSize  = 4 << 20
	DefaultAckTimeout    = Seconds(5)
	// DefaultCRLCacheExpiry is fedmsg's crl_cache_expiry default: an hour.
	DefaultCRLCacheExpiry = Seconds(3600)
	// Defaults of the history (persistent_store) and replay keys.
	DefaultHistoryMaxAge      = Seconds(7 * 24 * 3600)
	DefaultHistoryMaxMessages = 100000
	DefaultHistoryMaxBytes    = 256 << 20
	DefaultReplayMaxMessages  = 1000
	DefaultReplayMaxBytes     = 16 << 20
	DefaultReplayTimeout      = Seconds(5)

	// ModeProduction and ModeDevelopment are the values of mode.
	ModeProduction  = "production"
	ModeDevelopment = "development"
	// SinkZMQ and SinkLog are the values of sink.
	SinkZMQ = "zmq"
	SinkLog = "log"

	// LogLevels are the values of log_level (and --log-level), most verbose first.
	LogLevels = "debug, info, warn or error"

	// RelayInboundKey is the endpoints key subscribers skip: it names the relay's inbound side.
	RelayInboundKey = "relay_inbound"
	// RelayOutboundKey is the endpoints key the relay publishes from.
	RelayOutboundKey = "relay_outbound"
	// BackendX509 is the only supported crypto backend, and the crypto value of RSA signatures.
	BackendX509 = "x509"
	// BackendEd25519 is the crypto value of Ed25519 signatures (certs.CryptoEd25519), accepted
	// in CryptoValidateBackends; signing with it comes from an Ed25519 certificate.
	BackendEd25519 = "x509-ed25519"
)

// DefaultConfig returns the defaults written in the [Config] field comments. Every map is
// non-nil and every call returns fresh maps and slices.
func DefaultConfig() Config {
	return Config{
		TopicPrefix:            DefaultTopicPrefix,
		Environment:            DefaultEnvironment,
		Endpoints:              ListMap{RelayOutboundKey: {DefaultRelayOutbound}},
		RelayInbound:           DefaultRelayInbound,
		CryptoBackend:          BackendX509,
		CryptoValidateBackends: []string{BackendX509, BackendEd25519},
		SSLDir:                 DefaultSSLDir,
		Certnames:              StringMap{},
		CRLCacheExpiry:         DefaultCRLCacheExpiry,
		RoutingPolicy:          ListMap{},
		TransportSecurity:      SecurityNone,
		CurveServerKeys:        StringMap{},
		IOThreads:              1,
		HighWaterMark:          DefaultHighWaterMark,
		ZMQLinger:              1000,
		ZMQReconnectIvl:        100,
		ZMQReconnectIvlMax:     1000,
		ZMQTCPKeepalive:        1,
		ZMQTCPKeepaliveCnt:     3,
		ZMQTCPKeepaliveIdle:    60,
		ZMQTCPKeepaliveIntvl:   5,
		MaxFrameSize:           DefaultMaxFrameSize,
		AckTimeout:             DefaultAckTimeout,
		AckMaxInFlight:         1024,
		DedupeWindow:           10000,
		Recipients:             ListMap{},
		Mode:                   ModeProduction,
		Sink:                   SinkZMQ,
		HistoryMaxAge:          DefaultHistoryMaxAge,
		HistoryMaxMessages:     DefaultHistoryMaxMessages,
		HistoryMaxBytes:        DefaultHistoryMaxBytes,
		HistoryFsync:           true,
		ReplayEndpoints:        StringMap{},
		ReplayMaxMessages:      DefaultReplayMaxMessages,
		ReplayMaxBytes:         DefaultReplayMaxBytes,
		ReplayTimeout:          DefaultReplayTimeout,
		Hub:                    defaultHubConfig(),
		Outbox:                 defaultOutboxConfig(),
		Bridge:                 defaultBridgeConfig(),
		Archive:                defaultArchiveConfig(),
		Gateway:                defaultGatewayConfig(),
	}
}

// Source returns where the key path (for example "name" or `endpoints."bodhi.app01"`) was last
// set: a file path, a variable such as "$ACKMSG_NAME", or a flag such as "--name"; "" means the
// default. An element path such as `endpoints."bodhi.app01"[0]` reports its list's source.
func (c *Config) Source(key string) string {
	if s, ok := c.origins[key]; ok {
		return s
	}
	if i := strings.LastIndexByte(key, '['); i > 0 && strings.HasSuffix(key, "]") {
		return c.origins[key[:i]]
	}
	return ""
}

// Development reports whether acked publishes skip waiting for ACKs: mode is "development", or
// sink is "log" (nothing is sent, so nothing can be acknowledged).
func (c *Config) Development() bool { return c.Mode == ModeDevelopment || c.Sink == SinkLog }

func (c *Config) setOrigin(key, source string) {
	if c.origins == nil {
		c.origins = make(map[string]string)
	}
	c.origins[key] = source
}

// Seconds is a duration in seconds, written as a TOML integer or float (5, 0.25).
type Seconds float64

// Duration returns s as a time.Duration, saturating at the largest one.
func (s Seconds) Duration() time.Duration {
	d := float64(s) * float64(time.Second)
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	if d <= math.MinInt64 {
		return math.MinInt64
	}
	return time.Duration(d)
}

// ListMap is a table of string lists: endpoints, routing_policy, recipients. In TOML a value may
// be a string (a one-element list, as fedmsg accepts for endpoints) or a list of strings, and
// dotted keys are flattened back into one key ("a.b" whether quoted or not).
type ListMap map[string][]string

// UnmarshalTOML implements toml.Unmarshaler.
func (m *ListMap) UnmarshalTOML(v any) error {
	t, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a table, got %s", tomlType(v))
	}
	out := make(ListMap)
	err := flatten("", t, func(k string, v any) error {
		switch v := v.(type) {
		case string:
			out[k] = []string{v}
		case []any:
			l := make([]string, 0, len(v))
			for i, e := range v {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("%s[%d]: want a string, got %s", quoteKey(k), i, tomlType(e))
				}
				l = append(l, s)
			}
			out[k] = l
		default:
			return fmt.Errorf("%s: want a string or a list of strings, got %s", quoteKey(k), tomlType(v))
		}
		return nil
	})
	*m = out
	return err
}

// StringMap is a table of strings (certnames); dotted keys are flattened as in [ListMap].
type StringMap map[string]string

// UnmarshalTOML implements toml.Unmarshaler.
func (m *StringMap) UnmarshalTOML(v any) error {
	t, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a table, got %s", tomlType(v))
	}
	out := make(StringMap)
	err := flatten("", t, func(k string, v any) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string, got %s", quoteKey(k), tomlType(v))
		}
		out[k] = s
		return nil
	})
	*m = out
	return err
}

// flatten calls leaf for every non-table value under t, with the dotted path of its key. Keys are
// visited in sorted order so that errors are deterministic.
func flatten(prefix string, t map[string]any, leaf func(string, any) error) error {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		if sub, ok := t[k].(map[string]any); ok {
			if err := flatten(full, sub, leaf); err != nil {
				return err
			}
			continue
		}
		if err := leaf(full, t[k]); err != nil {
			return err
		}
	}
	return nil
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	default:
		return "a date/time"
	}
}

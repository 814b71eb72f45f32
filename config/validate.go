package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/ackmsg/ackmsg/certs"
)

// Validate reports every problem with c at once, as a *multierror.Error of *[KeyError] (or a single
// *KeyError), each naming the key and, when known, the file, variable or flag that set it. It does
// not touch the file system; see [Config.SigningFiles] and [Config.TrustFiles] for that.
func (c *Config) Validate() error {
	var errs errorList
	c.validateBus(&errs)
	c.validateCrypto(&errs)
	c.validateSockets(&errs)
	c.validateAcks(&errs)
	c.validateReplay(&errs)
	c.validateMode(&errs)
	c.validateHub(&errs)
	c.validateOutbox(&errs)
	c.validateBridge(&errs)
	c.validateRelay(&errs)
	c.validateSecurity(&errs)
	c.validateArchive(&errs)
	c.validateGateway(&errs)
	return errs.err()
}

// reporters are the two ways the checks add a problem of a key to errs, with its source: bad
// formats one, badErr adds err when it is not nil.
func (c *Config) reporters(errs *errorList) (bad func(key string, format string, args ...any), badErr func(key string, err error)) {
	bad = func(key string, format string, args ...any) {
		errs.add(&KeyError{Key: key, Source: c.Source(key), Err: fmt.Errorf(format, args...)})
	}
	badErr = func(key string, err error) {
		if err != nil {
			errs.add(&KeyError{Key: key, Source: c.Source(key), Err: err})
		}
	}
	return bad, badErr
}

// validateBus adds the problems of the topic names, the log level, the endpoints, relay_inbound and name to errs.
func (c *Config) validateBus(errs *errorList) {
	bad, badErr := c.reporters(errs)
	badErr("topic_prefix", checkTopicPart(c.TopicPrefix))
	if c.LogLevel != "" {
		if _, err := ParseLogLevel(c.LogLevel); err != nil {
			bad("log_level", "%w", err)
		}
	}
	badErr("environment", checkTopicPart(c.Environment))

	for _, k := range sortedKeys(c.Endpoints) {
		key := subKey("endpoints", k)
		if k == "" {
			bad(key, "%w: empty endpoints key", ErrInvalid)
		}
		for i, a := range c.Endpoints[k] {
			badErr(fmt.Sprintf("%s[%d]", key, i), checkAddress(a, "subscribers connect to every endpoints address"))
		}
	}
	if c.RelayInbound != "" {
		badErr("relay_inbound", checkAddress(c.RelayInbound, "active publishers connect to relay_inbound"))
	} else if c.Active {
		bad("relay_inbound", "%w: active is true, so publishers connect to relay_inbound, which is empty", ErrMissing)
	}
	if c.Name != "" && !c.Active && len(c.Endpoints[c.Name]) == 0 {
		if _, ok := c.Endpoints[c.Name]; ok {
			bad("name", "%w: endpoints.%s lists no address to publish from", ErrInvalid, quoteKey(c.Name))
		} else {
			bad("name", "%w: %q is not a key of endpoints, so a passive publisher has nothing to bind (keys: %s)",
				ErrInvalid, c.Name, keyList(c.Endpoints))
		}
	}
}

// validateCrypto adds the problems of signing and validation (backends, certificates, CA and CRL) and routing_policy to errs.
func (c *Config) validateCrypto(errs *errorList) {
	bad, badErr := c.reporters(errs)
	switch c.CryptoBackend {
	case BackendX509:
	case BackendEd25519:
		bad("crypto_backend", "%w: %q: keep %q; an Ed25519 signing certificate signs as %q by itself",
			ErrUnsupported, c.CryptoBackend, BackendX509, BackendEd25519)
	default:
		bad("crypto_backend", "%w: %q: only %q is implemented", ErrUnsupported, c.CryptoBackend, BackendX509)
	}
	for i, b := range c.CryptoValidateBackends {
		if b != BackendX509 && b != BackendEd25519 {
			bad(fmt.Sprintf("crypto_validate_backends[%d]", i), "%w: %q: only %q and %q are implemented",
				ErrUnsupported, b, BackendX509, BackendEd25519)
		}
	}
	if c.SSLDir == "" && (c.SignMessages || c.ValidateSignatures) {
		bad("ssldir", "%w: empty, but sign_messages or validate_signatures is on", ErrMissing)
	}
	if c.Certname != "" {
		badErr("certname", checkCertname(c.Certname))
	}
	for _, k := range sortedKeys(c.Certnames) {
		badErr(subKey("certnames", k), checkCertname(c.Certnames[k]))
	}
	badErr("ca_cert_location", checkLocation(c.CACertLocation))
	badErr("crl_location", checkLocation(c.CRLLocation))
	if t := float64(c.CRLCacheExpiry); !(t > 0) || math.IsInf(t, 0) {
		bad("crl_cache_expiry", "%w: %v seconds (want a positive number)", ErrInvalid, t)
	}
	for _, k := range sortedKeys(c.RoutingPolicy) {
		key := subKey("routing_policy", k)
		if k == "" {
			bad(key, "%w: empty topic", ErrInvalid)
		}
		for i, cn := range c.RoutingPolicy[k] {
			if cn == "" {
				bad(fmt.Sprintf("%s[%d]", key, i), "%w: empty CN", ErrInvalid)
			}
		}
	}
}

// validateSockets adds the problems of the ZeroMQ socket options to errs.
func (c *Config) validateSockets(errs *errorList) {
	bad, _ := c.reporters(errs)
	atLeast := atLeastCheck(bad)
	osDefault := func(key string, v int) {
		if v != -1 && v <= 0 {
			bad(key, "%w: %d: want a positive number, or -1 for the OS default", ErrInvalid, v)
		}
	}
	atLeast("io_threads", c.IOThreads, 1, "ZeroMQ needs an I/O thread for TCP")
	atLeast("high_water_mark", c.HighWaterMark, 0, "0 means unlimited")
	atLeast("zmq_linger", c.ZMQLinger, -1, "-1 waits forever")
	atLeast("zmq_reconnect_ivl", c.ZMQReconnectIvl, -1, "-1 disables reconnecting")
	atLeast("zmq_reconnect_ivl_max", c.ZMQReconnectIvlMax, 0, "0 means no backoff")
	if c.ZMQTCPKeepalive < -1 || c.ZMQTCPKeepalive > 1 {
		bad("zmq_tcp_keepalive", "%w: %d: want 1 (on), 0 (off) or -1 (OS default)", ErrInvalid, c.ZMQTCPKeepalive)
	}
	osDefault("zmq_tcp_keepalive_cnt", c.ZMQTCPKeepaliveCnt)
	osDefault("zmq_tcp_keepalive_idle", c.ZMQTCPKeepaliveIdle)
	osDefault("zmq_tcp_keepalive_intvl", c.ZMQTCPKeepaliveIntvl)
	atLeast("max_frame_size", c.MaxFrameSize, 0, "0 means no limit")
}

// validateAcks adds the problems of the ACK settings and the recipients table to errs.
func (c *Config) validateAcks(errs *errorList) {
	bad, badErr := c.reporters(errs)
	atLeast := atLeastCheck(bad)
	if t := float64(c.AckTimeout); !(t > 0) || math.IsInf(t, 0) {
		bad("ack_timeout", "%w: %v: want a positive number of seconds", ErrInvalid, t)
	}
	atLeast("ack_max_in_flight", c.AckMaxInFlight, 1, "the number of acked messages awaiting ACKs at once")
	atLeast("dedupe_window", c.DedupeWindow, 1, "the number of msg_ids remembered to avoid double delivery")
	if a := float64(c.MaxMessageAge); !(a >= 0) || math.IsInf(a, 0) {
		bad("max_message_age", "%w: %v: want a number of seconds, or 0 for no limit", ErrInvalid, a)
	}
	for _, p := range sortedKeys(c.Recipients) {
		key := subKey("recipients", p)
		badErr(key, CheckTopicPattern(p))
		for i, r := range c.Recipients[p] {
			if r == "" {
				bad(fmt.Sprintf("%s[%d]", key, i), "%w: empty recipient CN", ErrInvalid)
			}
		}
	}
}

// validateMode adds the problems of mode and sink to errs.
func (c *Config) validateMode(errs *errorList) {
	bad, _ := c.reporters(errs)
	switch c.Mode {
	case ModeProduction:
	case ModeDevelopment:
		if c.Environment == "prod" {
			bad("mode", "%w: %q with environment \"prod\": acked publishes would succeed without ACKs on the "+
				"production bus; use environment \"dev\" or \"stg\" for development", ErrInvalid, c.Mode)
		}
	default:
		bad("mode", "%w: %q: want %q or %q", ErrInvalid, c.Mode, ModeProduction, ModeDevelopment)
	}
	if c.Sink != SinkZMQ && c.Sink != SinkLog {
		bad("sink", "%w: %q: want %q (send on the bus) or %q (write messages to the log)", ErrInvalid, c.Sink, SinkZMQ, SinkLog)
	}
}

// atLeastCheck is the check that an integer key is at least lo (what lower values would mean,
// or why they cannot be, in meaning).
func atLeastCheck(bad func(key string, format string, args ...any)) func(key string, v, lo int, meaning string) {
	return func(key string, v, lo int, meaning string) {
		if v < lo {
			bad(key, "%w: %d is below %d (%s)", ErrInvalid, v, lo, meaning)
		}
	}
}

// checkTopicPart checks topic_prefix and environment.
func checkTopicPart(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty; every full topic starts with topic_prefix.environment", ErrMissing)
	case strings.ContainsFunc(s, unicode.IsSpace):
		return fmt.Errorf("%w: %q contains white space", ErrInvalid, s)
	case strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, ".."):
		return fmt.Errorf("%w: %q has an empty dotted part", ErrInvalid, s)
	}
	return nil
}

// checkAddress accepts tcp://host:port (port 1-65535, host not "*") and ipc://path. why says who
// connects to the address, for the "*" message.
func checkAddress(a, why string) error {
	if strings.ContainsFunc(a, unicode.IsSpace) {
		return fmt.Errorf("%w: %q contains white space", ErrInvalid, a)
	}
	switch {
	case strings.HasPrefix(a, "tcp://"):
		host, port, err := net.SplitHostPort(strings.TrimPrefix(a, "tcp://"))
		if err != nil {
			return fmt.Errorf("%w: %q: want tcp://host:port (%v)", ErrInvalid, a, stripAddrErr(err))
		}
		if host == "" {
			return fmt.Errorf("%w: %q: missing host", ErrInvalid, a)
		}
		if host == "*" {
			return fmt.Errorf("%w: %q: %s, and \"*\" cannot be connected to; write the host they should "+
				"reach (a publisher binds all interfaces on the port anyway)", ErrInvalid, a, why)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: %q: port %q is not a number from 1 to 65535", ErrInvalid, a, port)
		}
	case strings.HasPrefix(a, "ipc://"):
		if a == "ipc://" {
			return fmt.Errorf("%w: %q: missing path", ErrInvalid, a)
		}
	default:
		return fmt.Errorf("%w: %q: want tcp://host:port or ipc://path", ErrInvalid, a)
	}
	return nil
}

func stripAddrErr(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

func checkCertname(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("%w: empty certificate name", ErrInvalid)
	case n == "." || n == ".." || strings.ContainsAny(n, `/\`):
		return fmt.Errorf("%w: %q: a certificate name is a file name prefix in ssldir, not a path", ErrInvalid, n)
	}
	return nil
}

func checkLocation(loc string) error {
	if strings.Contains(loc, "://") && !IsURL(loc) {
		return fmt.Errorf("%w: %q: only local files and http:// or https:// URLs", ErrUnsupported, loc)
	}
	return nil
}

// IsURL reports whether a ca_cert_location or crl_location is an http(s) URL to download rather
// than a local file.
func IsURL(loc string) bool { return certs.IsURL(loc) }

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// keyList renders at most a few sorted keys of m, for error messages.
func keyList[M ~map[string]V, V any](m M) string {
	keys := sortedKeys(m)
	if len(keys) == 0 {
		return "none"
	}
	const most = 8
	for i, k := range keys {
		keys[i] = quoteKey(k)
	}
	if len(keys) > most {
		return strings.Join(keys[:most], ", ") + fmt.Sprintf(", and %d more", len(keys)-most)
	}
	return strings.Join(keys, ", ")
}

// ParseLogLevel parses a log_level value: debug, info, warn or error, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%w: %q: want %s", ErrInvalid, s, LogLevels)
}

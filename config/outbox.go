package config

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// OutboxConfig is the [outbox] table: the durable store-and-forward outbox (package outbox,
// ackmsg-outbox, ackmsg-logger --outbox). Each comment gives the default that [DefaultConfig]
// sets. The table merges key by key like the top level; expiry_for merges pattern by pattern.
type OutboxConfig struct {
	// Store names the outbox store: a file path for the embedded store (one bbolt file,
	// created with its directory when missing), or a postgres:// or postgresql:// URL for a
	// PostgreSQL outbox (the transactional outbox; several deliverers may share it). A relative
	// path is relative to the working directory. Default "": no outbox.
	Store string `toml:"store"`
	// Expiry is how long, in seconds, the outbox tries to deliver a message before it moves to
	// the dead letters (kept and listed until retried or dropped). Default 86400 (24 h).
	Expiry Seconds `toml:"expiry"`
	// ExpiryFor overrides Expiry for messages whose full topic matches a pattern (see
	// [TopicMatches]); when several match, the longest pattern wins. Default {}.
	ExpiryFor SecondsMap `toml:"expiry_for"`
	// AttemptTimeout bounds one delivery attempt, in seconds: the same signed frames are
	// retransmitted (with ack's adaptive back-off) until every missing recipient ACKed or this
	// passed; then the attempt ends and the message waits for the next. Default 30.
	AttemptTimeout Seconds `toml:"attempt_timeout"`
	// RetryMax caps the pause, in seconds, between two attempts for one message (the pause
	// doubles from 1 s after each failed attempt). Default 30.
	RetryMax Seconds `toml:"retry_max"`
	// ClaimLease is how long, in seconds, a deliverer's claim on a message lasts; a deliverer
	// that dies holding claims has them taken over once they end. Must exceed attempt_timeout.
	// Default 90.
	ClaimLease Seconds `toml:"claim_lease"`
	// MaxInFlight bounds the messages one deliverer is delivering at once (each holds an
	// ack_max_in_flight slot of its publisher while it is sent). Default 256.
	MaxInFlight int `toml:"max_in_flight"`
	// HTTPAddress is the host:port where ackmsg-outbox serve answers /live, /ready and /metrics
	// (Prometheus). Empty disables it. Default "".
	HTTPAddress string `toml:"http_address"`
}

// Defaults of the [outbox] table.
const (
	DefaultOutboxExpiry         = Seconds(86400)
	DefaultOutboxAttemptTimeout = Seconds(30)
	DefaultOutboxRetryMax       = Seconds(30)
	DefaultOutboxClaimLease     = Seconds(90)
	DefaultOutboxMaxInFlight    = 256
)

func defaultOutboxConfig() OutboxConfig {
	return OutboxConfig{Expiry: DefaultOutboxExpiry, ExpiryFor: SecondsMap{}, AttemptTimeout: DefaultOutboxAttemptTimeout,
		RetryMax: DefaultOutboxRetryMax, ClaimLease: DefaultOutboxClaimLease, MaxInFlight: DefaultOutboxMaxInFlight}
}

// SecondsMap maps topic patterns to durations in seconds.
type SecondsMap map[string]Seconds

// IsPostgres reports whether Store names a PostgreSQL database.
func (o *OutboxConfig) IsPostgres() bool {
	return IsPostgresURL(o.Store)
}

// ExpiryOf returns how long a message on the full topic is tried: the ExpiryFor entry of the
// longest matching pattern, else Expiry.
func (o *OutboxConfig) ExpiryOf(topic string) Seconds {
	best, out := -1, o.Expiry
	for p, s := range o.ExpiryFor {
		if len(p) > best && TopicMatches(p, topic) {
			best, out = len(p), s
		}
	}
	return out
}

var outboxKeys = tomlKeys(reflect.TypeFor[OutboxConfig]())

// checkOutboxKeys reports unknown keys in a file's [outbox] table.
func checkOutboxKeys(path string, raw any) error {
	t, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	var errs errorList
	for _, k := range sortedKeys(t) {
		if !outboxKeys[k] {
			errs.add(&FileError{File: path, Key: "outbox." + quoteKey(k), Err: unknownKeyIn(k, outboxKeys)})
		}
	}
	return errs.err()
}

// mergeOutbox merges a file's [outbox] table (layer, decoded from raw) over c.Outbox.
func (c *Config) mergeOutbox(path string, raw any, layer OutboxConfig) {
	t, _ := raw.(map[string]any)
	src := reflect.ValueOf(&layer).Elem()
	dst := reflect.ValueOf(&c.Outbox).Elem()
	for i := range src.NumField() {
		key, _, _ := strings.Cut(src.Type().Field(i).Tag.Get("toml"), ",")
		if _, ok := t[key]; !ok {
			continue
		}
		sv, dv := src.Field(i), dst.Field(i)
		if sv.Kind() == reflect.Map {
			m := reflect.MakeMap(dv.Type()) // a fresh map: another copy of c may share the old one
			for it := dv.MapRange(); it.Next(); {
				m.SetMapIndex(it.Key(), it.Value())
			}
			for it := sv.MapRange(); it.Next(); {
				m.SetMapIndex(it.Key(), it.Value())
				c.setOrigin(subKey("outbox."+key, it.Key().String()), path)
			}
			dv.Set(m)
		} else {
			dv.Set(sv)
		}
		c.setOrigin("outbox."+key, path)
	}
	c.setOrigin("outbox", path)
}

// validateOutbox adds the problems of c.Outbox to errs.
func (c *Config) validateOutbox(errs *errorList) {
	bad := func(key string, format string, args ...any) {
		errs.add(&KeyError{Key: key, Source: c.Source(key), Err: fmt.Errorf(format, args...)})
	}
	o := &c.Outbox
	positive := func(key string, s Seconds) bool {
		if f := float64(s); !(f > 0) || math.IsInf(f, 0) {
			bad(key, "%w: %v: want a positive number of seconds", ErrInvalid, f)
			return false
		}
		return true
	}
	positive("outbox.expiry", o.Expiry)
	for _, p := range sortedKeys(o.ExpiryFor) {
		key := subKey("outbox.expiry_for", p)
		if err := CheckTopicPattern(p); err != nil {
			bad(key, "%w", err)
		}
		positive(key, o.ExpiryFor[p])
	}
	okAttempt := positive("outbox.attempt_timeout", o.AttemptTimeout)
	positive("outbox.retry_max", o.RetryMax)
	if positive("outbox.claim_lease", o.ClaimLease) && okAttempt && o.ClaimLease <= o.AttemptTimeout {
		bad("outbox.claim_lease", "%w: %v s is not longer than attempt_timeout (%v s): a live attempt would lose its claim",
			ErrInvalid, float64(o.ClaimLease), float64(o.AttemptTimeout))
	}
	if o.MaxInFlight < 1 {
		bad("outbox.max_in_flight", "%w: %d is below 1", ErrInvalid, o.MaxInFlight)
	}
	if o.HTTPAddress != "" {
		if err := checkListenAddress(o.HTTPAddress); err != nil {
			bad("outbox.http_address", "%w", err)
		}
	}
}

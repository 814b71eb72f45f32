package config

import (
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/ackmsg/ackmsg/internal/dsn"
)

// IsPostgresURL reports whether a store setting (persistent_store, the [outbox] store) names a
// PostgreSQL database rather than a file: a postgres:// or postgresql:// URL.
func IsPostgresURL(s string) bool { return dsn.IsPostgres(s) }

// RedactURL returns s with the password of a URL hidden, in the user information and in a
// password query parameter (as PostgreSQL URLs may carry it), for messages and logs. A string
// without a password is returned as it is.
func RedactURL(s string) string { return dsn.Redact(s) }

// validateReplay adds the problems of the history and replay keys to errs.
func (c *Config) validateReplay(errs *errorList) {
	bad := func(key string, format string, args ...any) {
		errs.add(&KeyError{Key: key, Source: c.Source(key), Err: fmt.Errorf(format, args...)})
	}
	if s := c.PersistentStore; IsPostgresURL(s) {
		if _, err := url.Parse(s); err != nil {
			bad("persistent_store", "%w: %q is not a valid URL: want postgres://user@host:port/database", ErrInvalid, RedactURL(s))
		}
	} else if scheme, _, ok := strings.Cut(s, "://"); ok && !strings.ContainsAny(scheme, `/\`) {
		bad("persistent_store", "%w: %q: want a file path or a postgres:// (postgresql://) URL", ErrInvalid, RedactURL(s))
	}
	if a := float64(c.HistoryMaxAge); !(a >= 0) || math.IsInf(a, 0) {
		bad("history_max_age", "%w: %v: want a number of seconds, or 0 for no age limit", ErrInvalid, a)
	}
	if c.HistoryMaxMessages < 0 {
		bad("history_max_messages", "%w: %d: want a number of messages, or 0 for no count limit", ErrInvalid, c.HistoryMaxMessages)
	}
	if c.HistoryMaxBytes < 0 {
		bad("history_max_bytes", "%w: %d: want a number of bytes, or 0 for no size limit", ErrInvalid, c.HistoryMaxBytes)
	}
	for _, k := range sortedKeys(c.ReplayEndpoints) {
		key := subKey("replay_endpoints", k)
		if k == "" {
			bad(key, "%w: empty publisher name", ErrInvalid)
		}
		if err := checkAddress(c.ReplayEndpoints[k], "consumers connect to the replay endpoint"); err != nil {
			errs.add(&KeyError{Key: key, Source: c.Source(key), Err: err})
		}
	}
	if c.ReplayMaxMessages < 1 {
		bad("replay_max_messages", "%w: %d is below 1 (the messages one replay reply carries)", ErrInvalid, c.ReplayMaxMessages)
	}
	if c.ReplayMaxBytes < 1 {
		bad("replay_max_bytes", "%w: %d is below 1 (the bytes one replay reply carries)", ErrInvalid, c.ReplayMaxBytes)
	}
	if t := float64(c.ReplayTimeout); !(t > 0) || math.IsInf(t, 0) {
		bad("replay_timeout", "%w: %v: want a positive number of seconds", ErrInvalid, t)
	}
}

// ReplayEndpoint returns the replay endpoint of the publisher name, if one is configured.
func (c *Config) ReplayEndpoint(name string) (string, bool) {
	a, ok := c.ReplayEndpoints[name]
	return a, ok && a != ""
}

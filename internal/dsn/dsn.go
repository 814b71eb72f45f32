// Package dsn recognises and masks the connection URLs ackmsg is given (persistent_store, the
// outbox's store, a broker URL), for the packages that open them and for messages and logs. It
// is plain string work at the bottom floor, so that a store and package config share one rule.
package dsn

import (
	"net/url"
	"strings"
)

// IsPostgres reports whether a store setting names a PostgreSQL database rather than a file: a
// postgres:// or postgresql:// URL.
func IsPostgres(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns s with the password of a URL hidden, in the user information and in a
// password query parameter (as PostgreSQL URLs may carry it), for messages and logs. A string
// without a password is returned as it is.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i, j := strings.Index(s, "://"), strings.LastIndex(s, "@"); i > 0 && j > i {
			return s[:i+3] + "xxxxx" + s[j:] // unparsable, but a password may be in it
		}
		return s
	}
	_, userPW := u.User.Password()
	q := u.Query()
	if u.Scheme == "" || !userPW && !q.Has("password") {
		return s
	}
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

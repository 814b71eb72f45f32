// Package meta finds the users and packages a message is about, the way fedmsg.meta's
// processors do it service by service, with one generic rule: the strings found at any depth of
// the body under a user key (user, username, agent, owner, submitter, packager) or a package key
// (package, packages, component, srpm), and the "name" or "username" of an object found there.
// ackmsg-tail's --users/--packages filters and the archive's users and packages columns use it,
// so that `ackmsg-tail --users X` and the archive's ?user=X select the same messages.
package meta

import (
	"slices"

	"github.com/ackmsg/ackmsg/message"
)

// Keys whose string values name users and packages, at any depth of the body.
var (
	userKeys    = map[string]bool{"user": true, "username": true, "agent": true, "owner": true, "submitter": true, "packager": true}
	packageKeys = map[string]bool{"package": true, "packages": true, "component": true, "srpm": true}
)

// Users returns, sorted and without repeats, the users m is about: the envelope's username, the
// CN of the certificate that signed it (signer, "" when unknown) and the users its body names.
func Users(m *message.Message, signer string) []string {
	set := map[string]bool{}
	if u := m.Username(); u != "" {
		set[u] = true
	}
	if signer != "" {
		set[signer] = true
	}
	collect(m.Body(), userKeys, set, false)
	return sorted(set)
}

// Packages returns, sorted and without repeats, the packages m's body names.
func Packages(m *message.Message) []string {
	set := map[string]bool{}
	collect(m.Body(), packageKeys, set, false)
	return sorted(set)
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// collect adds to set the strings v holds under one of keys (at any depth). under says v is
// already the value of such a key: its strings, and the "name" or "username" of its objects,
// count.
func collect(v any, keys, set map[string]bool, under bool) {
	switch x := v.(type) {
	case string:
		if under {
			set[x] = true
		}
	case []any:
		for _, e := range x {
			collect(e, keys, set, under)
		}
	case map[string]any:
		for k, e := range x {
			collect(e, keys, set, keys[k] || (under && (k == "name" || k == "username")))
		}
	}
}

package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Sentinels wrapped by [FileError] and [KeyError], for errors.Is.
var (
	// ErrUnknownKey: a file holds a key ackmsg does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrUnsupported: a file or setting asks for a fedmsg feature ackmsg does not implement.
	ErrUnsupported = errors.New("not supported by ackmsg")
	// ErrInvalid: a value is out of range or malformed.
	ErrInvalid = errors.New("invalid value")
	// ErrMissing: a required value, or a file a setting points to, is missing.
	ErrMissing = errors.New("missing")
	// ErrFedmsgConfig: --config or ACKMSG_CONFIG names a fedmsg configuration (Python files),
	// which ackmsg does not read; ackmsg-config import converts it to TOML.
	ErrFedmsgConfig = errors.New("a fedmsg configuration (Python), not TOML")
)

// FileError is a problem with one configuration file: it cannot be read, is not valid TOML, has a
// value of the wrong type, or holds an unknown key.
type FileError struct {
	File string // the file (or directory) path
	Line int    // 1-based line, 0 when unknown
	Key  string // the key concerned, "" when unknown
	Err  error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %s", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// KeyError is a problem with one setting, found by [Config.Validate] or while resolving files
// from settings.
type KeyError struct {
	Key    string // the key path, e.g. `endpoints."bodhi.app01"[0]`
	Source string // the file, variable or flag that set it; "" for the default
	Err    error
}

func (e *KeyError) Error() string {
	s := "config: " + e.Key + ": " + e.Err.Error()
	if e.Source != "" {
		s += " (set in " + e.Source + ")"
	}
	return s
}

func (e *KeyError) Unwrap() error { return e.Err }

// errorList collects errors into a *multierror.Error that prints one problem per line.
type errorList struct{ m *multierror.Error }

func (l *errorList) add(err error) {
	if err == nil {
		return
	}
	l.m = multierror.Append(l.m, err)
	l.m.ErrorFormat = formatErrors
}

func (l *errorList) err() error { return l.m.ErrorOrNil() }

func formatErrors(es []error) string {
	if len(es) == 1 {
		return es[0].Error()
	}
	lines := make([]string, 0, len(es)+1)
	lines = append(lines, fmt.Sprintf("config: %d problems:", len(es)))
	for _, e := range es {
		lines = append(lines, "  "+e.Error())
	}
	return strings.Join(lines, "\n")
}

// quoteKey renders one key element as TOML would: bare when it can be, quoted otherwise.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Sprintf("%q", k)
		}
	}
	return k
}

// subKey is the path of an entry of a table key, e.g. subKey("endpoints", "a.b") = `endpoints."a.b"`.
func subKey(table, k string) string { return table + "." + quoteKey(k) }

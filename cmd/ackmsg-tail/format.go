package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/meta"
	"github.com/ackmsg/ackmsg/message"
)

// formatter writes one delivered message.
type formatter func(w io.Writer, d consumer.Delivery) error

// newFormatter picks the output format: at most one of the flags.
func newFormatter(asJSON, pretty, reallyPretty, terse bool, query string, tty bool) (formatter, error) {
	var chosen []string
	for name, on := range map[string]bool{"--json": asJSON, "--pretty": pretty, "--really-pretty": reallyPretty,
		"--terse": terse, "--query": query != ""} {
		if on {
			chosen = append(chosen, name)
		}
	}
	if len(chosen) > 1 {
		sort.Strings(chosen)
		return nil, fmt.Errorf("%s exclude each other", strings.Join(chosen, " and "))
	}
	switch {
	case asJSON:
		return printJSON, nil
	case pretty:
		return func(w io.Writer, d consumer.Delivery) error { return printPretty(w, d, false) }, nil
	case reallyPretty:
		colour := tty && os.Getenv("NO_COLOR") == ""
		return func(w io.Writer, d consumer.Delivery) error { return printPretty(w, d, colour) }, nil
	case terse:
		return printTerse, nil
	case query != "":
		var paths [][]string
		for _, p := range strings.Split(query, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				return nil, fmt.Errorf("--query %q: empty path", query)
			}
			paths = append(paths, strings.Split(p, "."))
		}
		return func(w io.Writer, d consumer.Delivery) error { return printQuery(w, d, paths) }, nil
	}
	return printLine, nil
}

func printJSON(w io.Writer, d consumer.Delivery) error {
	b, err := d.Message.Marshal()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// from is who sent the message: the verified signer when signatures were validated, else the
// username the envelope claims.
func from(d consumer.Delivery) string {
	if d.Signer != nil {
		return d.Signer.CN
	}
	return d.Message.Username()
}

func when(d consumer.Delivery) string {
	return time.Unix(d.Message.Timestamp(), 0).Format("2006-01-02 15:04:05")
}

// printLine is the default: time, topic, msg_id, sender and body on one line.
func printLine(w io.Writer, d consumer.Delivery) error {
	body, err := message.Canonical(d.Message.Body())
	if err != nil {
		body = []byte(fmt.Sprintf("<%v>", err))
	}
	_, err = fmt.Fprintf(w, "%s %s %s %s %s\n", when(d), d.Topic, d.Message.MsgID(), from(d), body)
	return err
}

const terseWidth = 100

// printTerse is one short line: topic, sender and the body cut to terseWidth characters.
func printTerse(w io.Writer, d consumer.Delivery) error {
	body, err := message.Canonical(d.Message.Body())
	if err != nil {
		body = []byte(fmt.Sprintf("<%v>", err))
	}
	s := string(body)
	if utf8.RuneCountInString(s) > terseWidth {
		r := []rune(s)
		s = string(r[:terseWidth-1]) + "…"
	}
	_, err = fmt.Fprintf(w, "%s %s: %s\n", d.Topic, from(d), s)
	return err
}

// printPretty is fedmsg-tail --pretty: the envelope without its credentials, the timestamp as
// a date, indented; in colour for --really-pretty on a terminal.
func printPretty(w io.Writer, d consumer.Delivery, colour bool) error {
	fields := d.Message.Fields()
	for _, k := range []string{message.FieldCertificate, message.FieldSignature} {
		delete(fields, k)
	}
	if _, ok := fields[message.FieldTimestamp]; ok {
		fields[message.FieldTimestamp] = time.Unix(d.Message.Timestamp(), 0).UTC().Format(time.RFC1123)
	}
	b, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return err
	}
	if colour {
		b = colourJSON(b)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printQuery is fedmsg-tail --query: the values at the dotted paths, joined with ", ".
func printQuery(w io.Writer, d consumer.Delivery, paths [][]string) error {
	fields := d.Message.Fields()
	vals := make([]string, 0, len(paths))
	for _, p := range paths {
		var v any = fields
		for _, k := range p {
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = m[k]
		}
		switch x := v.(type) {
		case nil:
			vals = append(vals, "null")
		case string:
			vals = append(vals, x)
		default:
			b, err := message.Canonical(x)
			if err != nil {
				return err
			}
			vals = append(vals, string(b))
		}
	}
	_, err := fmt.Fprintf(w, "%s\n", strings.Join(vals, ", "))
	return err
}

// colourJSON colours the keys, strings and other values of indented JSON with ANSI escapes.
func colourJSON(b []byte) []byte {
	const (
		key   = "\x1b[34;1m"
		str   = "\x1b[32m"
		other = "\x1b[33m"
		reset = "\x1b[0m"
	)
	var out bytes.Buffer
	for len(b) > 0 {
		switch c := b[0]; {
		case c == '"':
			n := stringEnd(b)
			tok := b[:n]
			rest := bytes.TrimLeft(b[n:], " ")
			if len(rest) > 0 && rest[0] == ':' {
				out.WriteString(key)
			} else {
				out.WriteString(str)
			}
			out.Write(tok)
			out.WriteString(reset)
			b = b[n:]
		case c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n':
			n := 0
			for n < len(b) && !bytes.ContainsRune([]byte(",]}\n "), rune(b[n])) {
				n++
			}
			out.WriteString(other)
			out.Write(b[:n])
			out.WriteString(reset)
			b = b[n:]
		default:
			out.WriteByte(c)
			b = b[1:]
		}
	}
	return out.Bytes()
}

// stringEnd returns the length of the JSON string token at the start of b, quotes included.
func stringEnd(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// ackSuffix ends every ACK topic.
const ackSuffix = ".gilmsg.ack"

// isAck reports whether d is an ACK: overlay traffic on <prefix>.<env>.gilmsg.ack.
func isAck(d consumer.Delivery) bool {
	if !strings.HasSuffix(d.Topic, ackSuffix) {
		return false
	}
	body, _ := d.Message.Body().(map[string]any)
	_, ok := body["ack_msg_id"]
	return ok
}

// newFilter returns the --users/--packages test; nil lists keep everything. The users and
// packages of a message are package meta's, as the archive's columns are.
func newFilter(users, packages string) func(consumer.Delivery) bool {
	u, p := commaSet(users), commaSet(packages)
	if u == nil && p == nil {
		return func(consumer.Delivery) bool { return true }
	}
	return func(d consumer.Delivery) bool {
		if u != nil {
			signer := ""
			if d.Signer != nil {
				signer = d.Signer.CN
			}
			if !anyIn(meta.Users(d.Message, signer), u) {
				return false
			}
		}
		return p == nil || anyIn(meta.Packages(d.Message), p)
	}
}

func anyIn(names []string, want map[string]bool) bool {
	for _, n := range names {
		if want[n] {
			return true
		}
	}
	return false
}

func commaSet(s string) map[string]bool {
	var m map[string]bool
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			if m == nil {
				m = map[string]bool{}
			}
			m[x] = true
		}
	}
	return m
}

// recent remembers the last n msg_ids, to print a retransmitted message once.
type recent struct {
	ids  map[string]bool
	ring []string
	next int
}

func newRecent(n int) *recent {
	if n <= 0 {
		n = 10000
	}
	return &recent{ids: make(map[string]bool, n), ring: make([]string, n)}
}

// add records id and reports whether it is new.
func (r *recent) add(id string) bool {
	if id == "" {
		return true
	}
	if r.ids[id] {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.ids[id] = true
	return true
}

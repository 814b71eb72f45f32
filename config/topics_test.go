package config

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTopicMatches(t *testing.T) {
	const p = "org.fedoraproject.prod."
	tests := []struct {
		pattern, topic string
		want           bool
	}{
		// exact
		{p + "bodhi.update.comment", p + "bodhi.update.comment", true},
		{p + "bodhi.update.comment", p + "bodhi.update.comments", false},
		{p + "bodhi.update.comment", p + "bodhi.update", false},
		{p + "bodhi.update", p + "bodhi.update.comment", false},
		// fedmsg trailing "*": a plain string prefix
		{p + "bodhi.*", p + "bodhi.update", true},
		{p + "bodhi.*", p + "bodhi.update.comment", true},
		{p + "bodhi.*", p + "bodhi", false},
		{p + "bodhi.*", p + "bodhix.update", false},
		{p + "bod*", p + "bodhi.update", true},
		{p + "bod*", p + "bod", true},
		{p + "bod*", p + "bo", false},
		{p + "bod*", "org.fedoraproject.stg.bodhi.update", false},
		{"*", "a", true},
		{"*", "a.b.c", true},
		// AMQP "*": exactly one word
		{"org.*.prod.bodhi.update", p + "bodhi.update", true},
		{"org.*.prod.bodhi.update", "org.a.b.prod.bodhi.update", false},
		{"org.*.*.bodhi.update", p + "bodhi.update", true},
		{"*.fedoraproject.#", p + "x", true},
		// AMQP "#": zero or more words
		{"a.#", "a", true},
		{"a.#", "a.b", true},
		{"a.#", "a.b.c", true},
		{"a.#", "ab", false},
		{"a.#", "b.a", false},
		{"#", "", true},
		{"#", "a.b", true},
		{"#.update", p + "bodhi.update", true},
		{"#.update", "update", true},
		{"#.update", p + "bodhi.update.comment", false},
		{"a.#.b", "a.b", true},
		{"a.#.b", "a.x.y.b", true},
		{"a.#.b", "a.x.y.c", false},
		{"a.#.#.b", "a.b", true},
		{"#.#", "", true},
		{"a.#.*", "a", false},
		{"a.#.*", "a.b", true},
		{"a.#.*.c", "a.c", false},
		// malformed patterns match nothing
		{"", "", false},
		{"a..b", "a..b", false},
		{"a.b*.c", "a.bx.c", false},
		{"a.#b", "a.#b", false},
		{"a.**", "a.b", false},
	}
	for _, tc := range tests {
		if got := TopicMatches(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("TopicMatches(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestCheckTopicPattern(t *testing.T) {
	for _, p := range []string{"a", "a.b", "*", "#", "a.*", "a.*.b", "a.#", "#.a", "a.b*", "*.#.*", "a-b_c.d"} {
		if err := CheckTopicPattern(p); err != nil {
			t.Errorf("CheckTopicPattern(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", ".", "a.", ".a", "a..b", "a.b*.c", "a*b", "a.#b", "#a", "a.**", "**"} {
		if err := CheckTopicPattern(p); err == nil {
			t.Errorf("CheckTopicPattern(%q) = nil, want an error", p)
		}
	}
}

func TestRecipientsFor(t *testing.T) {
	c := DefaultConfig()
	c.Recipients = ListMap{
		"org.fedoraproject.prod.bodhi.update.comment": {"notifier", "archiver"},
		"org.fedoraproject.prod.bodhi.*":              {"archiver", "bodhi-mirror"},
		"org.*.prod.#":                                {"audit"},
		"org.fedoraproject.stg.#":                     {"stg-audit"},
		"org.fedoraproject.prod.koji.*":               {},
		"a.b*.c":                                      {"never"}, // malformed
	}
	tests := []struct {
		topic string
		want  []string
	}{
		{"org.fedoraproject.prod.bodhi.update.comment", []string{"archiver", "audit", "bodhi-mirror", "notifier"}},
		{"org.fedoraproject.prod.bodhi.update", []string{"archiver", "audit", "bodhi-mirror"}},
		{"org.fedoraproject.prod.koji.build", []string{"audit"}},
		{"org.fedoraproject.prod", []string{"audit"}},
		{"org.fedoraproject.stg.bodhi.update", []string{"stg-audit"}},
		{"org.fedoraproject.dev.bodhi.update", nil},
		{"a.bx.c", nil},
	}
	for _, tc := range tests {
		if got := c.RecipientsFor(tc.topic); !slices.Equal(got, tc.want) {
			t.Errorf("RecipientsFor(%q) = %q, want %q", tc.topic, got, tc.want)
		}
	}
}

// regexpMatch is an independent oracle for TopicMatches on well-formed patterns: every topic word
// becomes "." + word, and the pattern a regular expression over that.
func regexpMatch(pattern, topic string) bool {
	words := strings.Split(pattern, ".")
	var re strings.Builder
	re.WriteString("^")
	for i, w := range words {
		last := i == len(words)-1
		switch {
		case w == "#":
			re.WriteString(`(\.[^.]*)*`)
		case w == "*" && last:
			re.WriteString(`(\.[^.]*)+`)
		case w == "*":
			re.WriteString(`\.[^.]*`)
		case last && strings.HasSuffix(w, "*"):
			re.WriteString(`\.` + regexp.QuoteMeta(strings.TrimSuffix(w, "*")) + `[^.]*(\.[^.]*)*`)
		default:
			re.WriteString(`\.` + regexp.QuoteMeta(w))
		}
	}
	re.WriteString("$")
	dotted := ""
	if topic != "" {
		dotted = "." + topic
	}
	return regexp.MustCompile(re.String()).MatchString(dotted)
}

func FuzzTopicMatches(f *testing.F) {
	for _, s := range [][2]string{
		{"a.#", "a"}, {"a.*", "a.b.c"}, {"#.b.#", "a.b.c"}, {"a.b*", "a.bc.d"}, {"*.*", "a"},
		{"org.fedoraproject.prod.bodhi.update", "org.fedoraproject.prod.bodhi.update"},
		{"#.#.#.#.#.#.#.#.#.#.#.#.x", "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.y"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		got := TopicMatches(pattern, topic)
		if CheckTopicPattern(pattern) != nil {
			if got {
				t.Fatalf("malformed pattern %q matched %q", pattern, topic)
			}
			return
		}
		// regexp needs a valid UTF-8 pattern (the matcher itself works on bytes), and gets slow
		// with many nested repetitions, which the matcher does not.
		if utf8.ValidString(pattern) && strings.Count(pattern, "#") <= 8 && len(topic) <= 1024 {
			if want := regexpMatch(pattern, topic); got != want {
				t.Fatalf("TopicMatches(%q, %q) = %v, regexp oracle says %v", pattern, topic, got, want)
			}
		}
		// Properties: a pattern without wildcards matches exactly itself; a trailing "*" after
		// literal words is fedmsg's string prefix.
		if !strings.ContainsAny(pattern, "*#") && got != (pattern == topic) {
			t.Fatalf("literal pattern %q vs %q: got %v", pattern, topic, got)
		}
		if pre, ok := strings.CutSuffix(pattern, "*"); ok && !strings.ContainsAny(pre, "*#") && topic != "" {
			if want := strings.HasPrefix(topic, pre); got != want {
				t.Fatalf("prefix pattern %q vs %q: got %v, fedmsg prefix says %v", pattern, topic, got, want)
			}
		}
		if TopicMatches(pattern, topic) != got {
			t.Fatal("not deterministic")
		}
	})
}

func TestTopicPatternPrefix(t *testing.T) {
	for _, tc := range []struct{ pattern, prefix string }{
		{"org.example.dev.#", "org.example.dev"},
		{"org.example.dev.*", "org.example.dev."},
		{"org.example.dev.bod*", "org.example.dev.bod"},
		{"org.example.*.bodhi", "org.example."},
		{"org.example.dev.bodhi.update", "org.example.dev.bodhi.update"},
		{"#", ""},
		{"*", ""},
		{"*.a", ""},
		{"bod*", "bod"},
		{"#.update", ""},
		{"a.#.b", "a"},
	} {
		p, err := ParseTopicPattern(tc.pattern)
		if err != nil {
			t.Fatalf("ParseTopicPattern(%q): %v", tc.pattern, err)
		}
		if got := p.Prefix(); got != tc.prefix {
			t.Errorf("Prefix(%q) = %q, want %q", tc.pattern, got, tc.prefix)
		}
		if p.String() != tc.pattern {
			t.Errorf("String() = %q", p.String())
		}
	}
	if _, err := ParseTopicPattern("a..b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseTopicPattern(a..b) = %v, want ErrInvalid", err)
	}
	if (TopicPattern{}).Match("") {
		t.Error("the zero TopicPattern matched")
	}
}

// FuzzTopicPattern checks the compiled pattern against TopicMatches, and that its subscription
// prefix never filters out a topic the pattern matches (the hub subscribes by Prefix and filters
// by Match, so a wrong prefix would lose messages silently).
func FuzzTopicPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"a.#", "a"}, {"a.*", "a.b.c"}, {"#.b.#", "a.b.c"}, {"a.b*", "a.bc.d"}, {"*.*", "a"},
		{"org.example.dev.#", "org.example.dev"}, {"org.example.dev.#", "org.example.devx"},
		{"a.#.b", "a.b"}, {"bod*", "bod"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		p, err := ParseTopicPattern(pattern)
		if (err == nil) != (CheckTopicPattern(pattern) == nil) {
			t.Fatalf("ParseTopicPattern and CheckTopicPattern disagree on %q", pattern)
		}
		if got, want := p.Match(topic), TopicMatches(pattern, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, TopicMatches says %v", pattern, topic, got, want)
		}
		if p.Match(topic) && !strings.HasPrefix(topic, p.Prefix()) {
			t.Fatalf("%q matches %q, which does not start with its prefix %q", pattern, topic, p.Prefix())
		}
	})
}

package message

import (
	"fmt"
	"slices"
	"strings"
)

// Topic patterns: how consumers, the recipients configuration and the bridge's routes select
// topics. They are the bus's vocabulary, so they live with the envelope.

// TopicMatches reports whether the full topic matches pattern. Topics and patterns are split into
// words at dots; a pattern is one of, or a mix of:
//
//   - an exact topic: "org.fedoraproject.prod.bodhi.update.comment";
//   - AMQP-style wildcards, each a whole word: "*" matches exactly one word and "#" zero or more
//     words, so "org.*.prod.#" matches "org.x.prod" and "org.x.prod.a.b", and "a.#" matches "a";
//   - fedmsg's trailing "*", which makes the pattern a plain string prefix: "org.fedoraproject.prod.bodhi.*"
//     matches every topic starting with "org.fedoraproject.prod.bodhi." (one or more further
//     words, not exactly one as in AMQP), and "org.fedoraproject.prod.bod*" every topic starting
//     with "org.fedoraproject.prod.bod".
//
// So a "*" that ends the pattern means "one or more words", and a "*" anywhere else means exactly
// one word. To require exactly one last word, there is no form: write "a.b.*" and accept deeper
// topics, or list the topics. A malformed pattern (see [CheckTopicPattern]) matches nothing.
func TopicMatches(pattern, topic string) bool {
	toks, ok := compilePattern(pattern)
	if !ok {
		return false
	}
	return toks.match(topic)
}

// CheckTopicPattern reports whether pattern is well formed for [TopicMatches]: non-empty, no empty
// words, "#" only as a whole word, "*" only as a whole word or at the end of the last word.
func CheckTopicPattern(pattern string) error {
	if _, ok := compilePattern(pattern); !ok {
		return &PatternError{Pattern: pattern}
	}
	return nil
}

// PatternError is a malformed topic pattern.
type PatternError struct{ Pattern string }

func (e *PatternError) Error() string {
	return fmt.Sprintf("topic pattern %q: want dot-separated non-empty words, with \"*\" "+
		"(one word) and \"#\" (zero or more words) as whole words, or a trailing \"*\" (prefix)", e.Pattern)
}

// TopicPattern is a compiled topic pattern (see [TopicMatches] for the syntax), for matching
// many topics against the same pattern.
type TopicPattern struct {
	src  string
	toks pattern
}

// ParseTopicPattern compiles pattern, or fails as [CheckTopicPattern] does.
func ParseTopicPattern(pattern string) (TopicPattern, error) {
	toks, ok := compilePattern(pattern)
	if !ok {
		return TopicPattern{}, CheckTopicPattern(pattern)
	}
	return TopicPattern{src: pattern, toks: toks}, nil
}

// String returns the pattern as written.
func (p TopicPattern) String() string { return p.src }

// Match reports whether the full topic matches the pattern, as [TopicMatches]. The zero
// TopicPattern matches nothing.
func (p TopicPattern) Match(topic string) bool { return p.toks != nil && p.toks.match(topic) }

// Prefix returns a string every matching topic starts with, as long as the pattern allows: the
// ZeroMQ subscription (a byte prefix) that lets every matching topic through. Others may pass
// too ("a.#" gives "a", which "ab" also starts with); filter them with Match. A pattern that
// starts with a wildcard gives "", which subscribes to everything.
func (p TopicPattern) Prefix() string {
	var words []string
	for _, t := range p.toks {
		switch t.kind {
		case tokLit:
			words = append(words, t.text)
			continue
		case tokOne: // one more word, whatever it is
			if len(words) == 0 {
				return ""
			}
			return strings.Join(words, ".") + "."
		case tokPrefix: // one more word starting with the text
			if len(words) == 0 {
				return t.text
			}
			return strings.Join(words, ".") + "." + t.text
		}
		// tokMany: possibly no more words, so not even the dot.
		return strings.Join(words, ".")
	}
	return strings.Join(words, ".")
}

type tokKind uint8

const (
	tokLit    tokKind = iota // the word itself
	tokOne                   // exactly one word
	tokMany                  // zero or more words
	tokPrefix                // one word starting with the text
)

type token struct {
	kind tokKind
	text string
}

type pattern []token

func compilePattern(p string) (pattern, bool) {
	if p == "" {
		return nil, false
	}
	words := strings.Split(p, ".")
	toks := make(pattern, 0, len(words)+1)
	for i, w := range words {
		last := i == len(words)-1
		switch {
		case w == "":
			return nil, false
		case w == "#":
			toks = append(toks, token{kind: tokMany})
		case w == "*" && last:
			toks = append(toks, token{kind: tokOne}, token{kind: tokMany})
		case w == "*":
			toks = append(toks, token{kind: tokOne})
		case strings.ContainsAny(w, "#"):
			return nil, false
		case last && strings.HasSuffix(w, "*"):
			pre := strings.TrimSuffix(w, "*")
			if strings.Contains(pre, "*") {
				return nil, false
			}
			toks = append(toks, token{kind: tokPrefix, text: pre}, token{kind: tokMany})
		case strings.Contains(w, "*"):
			return nil, false
		default:
			toks = append(toks, token{kind: tokLit, text: w})
		}
	}
	return toks, true
}

// match runs a dynamic program over the topic's words: O(len(pattern) × len(topic words)), so
// adversarial patterns with many "#" cannot blow up.
func (p pattern) match(topic string) bool {
	var words []string
	if topic != "" {
		words = strings.Split(topic, ".")
	}
	n := len(words)
	// cur[j]: the tokens seen so far match words[:j].
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[0] = true
	for _, t := range p {
		reach := false
		for j := 0; j <= n; j++ {
			switch t.kind {
			case tokMany:
				reach = reach || cur[j]
				next[j] = reach
			case tokOne:
				next[j] = j > 0 && cur[j-1]
			case tokLit:
				next[j] = j > 0 && cur[j-1] && words[j-1] == t.text
			case tokPrefix:
				next[j] = j > 0 && cur[j-1] && strings.HasPrefix(words[j-1], t.text)
			}
		}
		cur, next = next, cur
		if !slices.Contains(cur, true) {
			return false
		}
	}
	return cur[n]
}

package config

import (
	"fmt"
	"slices"

	"github.com/ackmsg/ackmsg/message"
)

// TopicMatches reports whether the full topic matches pattern (see [message.TopicMatches] for
// the syntax).
func TopicMatches(pattern, topic string) bool { return message.TopicMatches(pattern, topic) }

// CheckTopicPattern reports whether pattern is well formed (see [message.CheckTopicPattern]);
// the error wraps ErrInvalid and the *message.PatternError.
func CheckTopicPattern(pattern string) error {
	if err := message.CheckTopicPattern(pattern); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// TopicPattern is a compiled topic pattern ([message.TopicPattern]).
type TopicPattern = message.TopicPattern

// ParseTopicPattern compiles pattern, or fails as [CheckTopicPattern] does.
func ParseTopicPattern(pattern string) (TopicPattern, error) {
	p, err := message.ParseTopicPattern(pattern)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return p, nil
}

// RecipientsFor returns the CNs that must ACK a message on the full topic: the union of the
// recipients lists of every recipients pattern the topic matches (see [TopicMatches]), sorted and
// without duplicates; nil when no pattern matches.
func (c *Config) RecipientsFor(topic string) []string {
	var out []string
	for p, rs := range c.Recipients {
		if len(rs) > 0 && TopicMatches(p, topic) {
			out = append(out, rs...)
		}
	}
	if out == nil {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

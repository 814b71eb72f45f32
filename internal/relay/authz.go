package relay

import (
	"errors"
	"fmt"
	"slices"
)

// ErrUnauthorized is the Authorizer's refusal: the sender may not publish the topic.
var ErrUnauthorized = errors.New("relay: sender may not publish this topic")

// Authorizer decides, per inbound message, whether its authenticated sender may publish its
// topic: fedmsg's routing_policy (topic -> certificate CNs allowed to sign it) applied at the
// relay, before fan-out, to the identity CURVE authenticated (the connection's User-Id, the CN of
// the certificate that carries the sender's key). A topic absent from the policy is open unless
// nitpicky, as in fedmsg. It is immutable and safe for concurrent use.
//
// It complements, not replaces, the consumers' signature checks: the relay sees the topic frame
// and the connection's identity, the consumers the signed envelope.
type Authorizer struct {
	policy   map[string][]string
	nitpicky bool
}

// NewAuthorizer copies policy.
func NewAuthorizer(policy map[string][]string, nitpicky bool) *Authorizer {
	p := make(map[string][]string, len(policy))
	for t, names := range policy {
		p[t] = slices.Clone(names)
	}
	return &Authorizer{policy: p, nitpicky: nitpicky}
}

// Allow returns nil when user may publish topic, else an error wrapping ErrUnauthorized that
// says why. An empty user (a connection nobody authenticated) may publish nothing.
func (a *Authorizer) Allow(user, topic string) error {
	if user == "" {
		return fmt.Errorf("%w: the connection is not authenticated", ErrUnauthorized)
	}
	allowed, listed := a.policy[topic]
	switch {
	case listed && slices.Contains(allowed, user):
		return nil
	case listed:
		return fmt.Errorf("%w: routing_policy allows %q only to %v, not %q", ErrUnauthorized, topic, allowed, user)
	case a.nitpicky:
		return fmt.Errorf("%w: %q is not in routing_policy and routing_nitpicky is on", ErrUnauthorized, topic)
	}
	return nil
}

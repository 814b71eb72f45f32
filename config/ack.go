package config

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/consumer"
)

func init() {
	ack.RegisterDefault(func() (*ack.Publisher, error) {
		cfg, err := Load(LoadOptions{})
		if err != nil {
			return nil, err
		}
		return NewAckPublisher(context.Background(), cfg)
	})
}

// AckConfig maps the configuration onto an ack.Config: the base publisher's (see
// PublisherConfig), the ACK listener on every endpoints key but relay_inbound, ack_timeout,
// ack_max_in_flight, max_frame_size, [recipients], ack_require_recipients and mode.
func (c *Config) AckConfig() (ack.Config, error) {
	pc, err := c.PublisherConfig()
	if err != nil {
		return ack.Config{}, err
	}
	return ack.Config{
		Publisher:         pc,
		Endpoints:         c.SubscribeEndpoints(),
		Timeout:           c.AckTimeout.Duration(),
		MaxInFlight:       c.AckMaxInFlight,
		MaxFrameSize:      c.MaxFrameSize,
		Recipients:        c.RecipientsFor,
		RequireRecipients: c.AckRequireRecipients,
		Development:       c.Mode == ModeDevelopment,
	}, nil
}

// NewAckPublisher validates the configuration and builds the acked Publisher it describes (see
// AckConfig), with the collaborators it names: what NewPublisher gives the base publisher (the
// certificate when sign_messages is set, the history persistent_store names, opened within ctx)
// and, unless no ACK is awaited (mode = "development", sink = "log"), the ACK verifier of the
// configured CA and CRL. opts come after: WithSigner and WithVerifier override (the configured
// ones are still loaded).
func NewAckPublisher(ctx context.Context, c *Config, opts ...ack.Option) (*ack.Publisher, error) {
	if c == nil {
		return nil, errors.New("ack: nil config")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ac, err := c.AckConfig()
	if err != nil {
		return nil, err
	}
	var own []ack.Option
	if !c.Development() {
		v, err := c.AckVerifier(c.log)
		if err != nil {
			return nil, fmt.Errorf("ack: ACKs are verified against the CA: %w", err)
		}
		own = append(own, ack.WithVerifier(v))
	}
	if c.SignMessages {
		s, err := c.Signer()
		if err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
		own = append(own, ack.WithSigner(s))
	}
	st, note, err := c.history(ctx)
	if err != nil {
		return nil, err
	}
	if st != nil {
		own = append(own, ack.WithHistory(st))
	}
	p, err := ack.New(ac, append(own, opts...)...)
	if err != nil {
		if st != nil {
			st.Close() // if New got as far as to close it, this does nothing
		}
		return nil, err
	}
	if note != nil {
		note(p.Publisher().Logger())
	}
	return p, nil
}

// AckSubscriberConfig maps the configuration onto an ack.SubscriberConfig: the Subscriber's
// (see SubscriberConfig), the publisher of its ACKs (see PublisherConfig: passive from
// endpoints[name], or active through the relay; never numbered) and dedupe_window.
func (c *Config) AckSubscriberConfig() (ack.SubscriberConfig, error) {
	sc := ack.SubscriberConfig{Consumer: c.SubscriberConfig(), DedupeWindow: c.DedupeWindow}
	if !c.Active && c.Name == "" && c.Sink != SinkLog {
		return sc, errors.New("ack: an acking consumer publishes its ACKs: set name (an endpoints key to bind) or active (send through the relay)")
	}
	pc := *c
	pc.PersistentStore = "" // ACKs are control traffic: never numbered, never in a history
	acks, err := pc.PublisherConfig()
	if err != nil {
		return sc, fmt.Errorf("ack: ACK publisher: %w", err)
	}
	acks.ReplayBind = ""
	sc.Acks = acks
	return sc, nil
}

// NewAckSubscriber validates the configuration and builds the acking Subscriber it describes
// (see AckSubscriberConfig), validating signatures against the configured CA and CRL (always:
// validate_signatures does not turn that off) and signing its ACKs with the configured
// certificate. opts come after: WithSigner and WithVerifier override (the configured ones are
// still loaded).
func NewAckSubscriber(c *Config, topic string, opts ...ack.Option) (*ack.Subscriber, error) {
	sc, s, v, err := c.ackSubscriber()
	if err != nil {
		return nil, err
	}
	return ack.NewSubscriber(sc, topic, append([]ack.Option{ack.WithVerifier(v), ack.WithSigner(s)}, opts...)...)
}

// ackSubscriber is the acking Subscriber's config and collaborators.
func (c *Config) ackSubscriber() (sc ack.SubscriberConfig, s certs.Signer, v certs.Verifier, err error) {
	if c == nil {
		return sc, nil, nil, errors.New("ack: nil config")
	}
	if err := c.Validate(); err != nil {
		return sc, nil, nil, err
	}
	if sc, err = c.AckSubscriberConfig(); err != nil {
		return sc, nil, nil, err
	}
	if !c.SignMessages {
		return sc, nil, nil, errors.New("ack: an acking consumer signs its ACKs: set sign_messages and a certificate (certname)")
	}
	// The order of the checks as before issue 30: the ACK publisher's certificate, then the
	// consumer's trust.
	if s, err = c.Signer(); err != nil {
		return sc, nil, nil, fmt.Errorf("ack: ACK publisher: publisher: %w", err)
	}
	if v, err = c.Verifier(true, c.log); err != nil {
		return sc, nil, nil, fmt.Errorf("consumer: %w", err)
	}
	return sc, s, v, nil
}

// AckTail is ack.Tail on the Subscriber NewAckSubscriber builds: a setup failure (the
// configuration's included) is the one error it yields.
func AckTail(ctx context.Context, c *Config, topic string, opts ...ack.Option) iter.Seq2[*ack.Delivery, error] {
	return func(yield func(*ack.Delivery, error) bool) {
		sc, s, v, err := c.ackSubscriber()
		if err != nil {
			yield(nil, err)
			return
		}
		for d, err := range ack.Tail(ctx, sc, topic, append([]ack.Option{ack.WithVerifier(v), ack.WithSigner(s)}, opts...)...) {
			if !yield(d, err) {
				return
			}
		}
	}
}

// NewAckHub validates the configuration and builds the acking hub it describes: its acking
// Subscriber as NewAckSubscriber's, the hub engine's bounds as HubEngineConfig's.
func NewAckHub(c *Config, opts ...consumer.HubOption) (*ack.Hub, error) {
	sc, s, v, err := c.ackSubscriber()
	if err != nil {
		return nil, err
	}
	return ack.NewHub(ack.HubConfig{Subscriber: sc, Signer: s, Verifier: v, Hub: c.HubEngineConfig()}, opts...)
}

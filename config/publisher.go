package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/boltstore"
	"github.com/ackmsg/ackmsg/replay/pgstore"
)

func init() {
	publisher.RegisterDefault(func() (*publisher.Publisher, error) {
		cfg, err := Load(LoadOptions{})
		if err != nil {
			return nil, err
		}
		return NewPublisher(context.Background(), cfg)
	})
}

// PublisherConfig maps the configuration onto a publisher.Config: name, topic_prefix,
// environment, sink, the socket options, active (relay_inbound) or passive (endpoints[name]),
// and the replay endpoint and limits of the publisher's history. It fails, naming the key, as
// a publisher cannot be built without them.
func (c *Config) PublisherConfig() (publisher.Config, error) {
	pc := publisher.Config{
		Name:         c.Name,
		TopicPrefix:  c.TopicPrefix,
		Environment:  c.Environment,
		Modname:      defaultModname(c.Name),
		Transport:    c.Transport(),
		ReplayLimits: replay.Limits{MaxMessages: c.ReplayMaxMessages, MaxBytes: c.ReplayMaxBytes},
	}
	switch {
	case c.Sink == SinkLog:
		pc.LogSink = true
		return pc, nil
	case c.Active:
		pc.Connect = c.RelayInbound
	default:
		addrs, err := c.PublishEndpoints("")
		if err != nil {
			return pc, fmt.Errorf("publisher: %w", err)
		}
		for _, a := range addrs {
			// The address's own checks, with this package's texts, before the publisher's.
			if _, err := BindAddress(a); err != nil {
				return pc, fmt.Errorf("publisher: endpoints[%q]: %w", c.Name, err)
			}
		}
		pc.Bind = addrs
	}
	if addr, ok := c.ReplayEndpoint(c.Name); ok && c.numbered() {
		pc.ReplayBind = addr
	}
	return pc, nil
}

// defaultModname is fedmsg's: the configured name up to its first dot, else the program's
// name (relay_inbound, the name shell tools publish under, names no module).
func defaultModname(name string) string {
	if first, _, _ := strings.Cut(name, "."); first != "" && name != RelayInboundKey {
		return first
	}
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}

// numbered reports whether persistent_store applies: only a passive publisher with a name
// numbers its messages (consumers follow seq_ids per endpoints key; the relay's mixes every
// publisher behind it, so numbering there would only make false gaps).
func (c *Config) numbered() bool {
	return c.PersistentStore != "" && !c.Active && c.Sink != SinkLog && c.Name != "" && c.Name != RelayInboundKey
}

// NewPublisher validates the configuration and builds the Publisher it describes (see
// PublisherConfig), with the collaborators it names: the signing certificate when
// sign_messages is set, and the history persistent_store names (a bbolt file, or PostgreSQL
// for a postgres:// URL, owning the publisher's name there), opened within ctx, owned by the
// Publisher from then on. opts come after those: WithSigner overrides the configured
// certificate (which is still loaded), WithLogger sets the logger of both.
func NewPublisher(ctx context.Context, c *Config, opts ...publisher.Option) (*publisher.Publisher, error) {
	if c == nil {
		return nil, fmt.Errorf("publisher: nil config")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	pc, err := c.PublisherConfig()
	if err != nil {
		return nil, err
	}
	var own []publisher.Option
	if c.SignMessages {
		s, err := c.Signer()
		if err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
		own = append(own, publisher.WithSigner(s))
	}
	st, note, err := c.history(ctx)
	if err != nil {
		return nil, err
	}
	if st != nil {
		own = append(own, publisher.WithHistory(st))
	}
	p, err := publisher.New(pc, append(own, opts...)...)
	if err != nil {
		return nil, err // New closed the history
	}
	if note != nil {
		note(p.Logger())
	}
	return p, nil
}

// history opens the history persistent_store names when it applies (see numbered), closed at
// most once however many owners close it. note says, in the publisher's log once it has one,
// what there is to say about it (opened where; ignored, and why).
func (c *Config) history(ctx context.Context) (replay.Store, func(*slog.Logger), error) {
	if !c.numbered() {
		if c.PersistentStore == "" || c.Sink == SinkLog {
			return nil, nil, nil
		}
		return nil, func(log *slog.Logger) {
			log.Warn("persistent_store ignored: only a passive publisher with a name (an endpoints key it binds) numbers its messages",
				"persistent_store", RedactURL(c.PersistentStore), "name", c.Name, "active", c.Active)
		}, nil
	}
	st, note, err := c.openHistory(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("publisher: persistent_store: %w", err)
	}
	return &closeOnce{Store: st}, note, nil
}

// closeOnce is a history store that closes once: the Publisher owns it, and its builder closes
// it too when building failed before the Publisher took it.
type closeOnce struct {
	replay.Store
	once sync.Once
	err  error
}

func (s *closeOnce) Close() error {
	s.once.Do(func() { s.err = s.Store.Close() })
	return s.err
}

// NewBuilder builds envelopes as the configured Publisher would (see publisher.NewBuilder),
// signed with the configured certificate when sign_messages is set (WithSigner in opts
// overrides it).
func NewBuilder(c *Config, opts ...publisher.Option) (*publisher.Builder, error) {
	if c == nil {
		return nil, fmt.Errorf("publisher: nil config")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	pc := publisher.Config{Name: c.Name, TopicPrefix: c.TopicPrefix, Environment: c.Environment, Modname: defaultModname(c.Name)}
	var own []publisher.Option
	if c.SignMessages {
		s, err := c.Signer()
		if err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
		own = append(own, publisher.WithSigner(s))
	}
	return publisher.NewBuilder(pc, append(own, opts...)...)
}

// openHistory opens the history persistent_store names: PostgreSQL for a postgres:// URL
// (owning the publisher's name there, so that a second process with the name fails here), else
// the bbolt file. ctx bounds the opening; every store also bounds its own I/O without a
// deadline (pgstore's connect and operation timeouts; boltstore's lock timeout). note logs
// what there is to say about the store.
func (c *Config) openHistory(ctx context.Context) (st replay.Store, note func(*slog.Logger), err error) {
	ret := replay.Retention{MaxAge: c.HistoryMaxAge.Duration(), MaxMessages: c.HistoryMaxMessages, MaxBytes: c.HistoryMaxBytes}
	where := RedactURL(c.PersistentStore)
	opened := func(log *slog.Logger) { log.Info("history store open", "persistent_store", where, "name", c.Name) }
	if !IsPostgresURL(c.PersistentStore) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		st, err := boltstore.Open(c.PersistentStore, boltstore.Options{NoSync: !c.HistoryFsync, Retention: ret})
		if err != nil {
			return nil, nil, err
		}
		return st, opened, nil
	}
	// Open bounds itself: the connection (connect_timeout in the URL, else 10 s), then each step.
	pg, err := pgstore.Open(ctx, c.PersistentStore, pgstore.Options{Retention: ret, Own: []string{c.Name}})
	if err != nil {
		return nil, nil, err
	}
	return pg, func(log *slog.Logger) {
		if !c.HistoryFsync {
			log.Warn("history_fsync = false has no effect on a PostgreSQL persistent_store: a record is as durable as the server's commits",
				"synchronous_commit", pg.SynchronousCommit())
		}
		if pg.SynchronousCommit() == "off" {
			log.Warn("the PostgreSQL history has synchronous_commit = off: a crash of the server can lose the last records, and their seq_ids be handed out again",
				"persistent_store", where)
		}
		opened(log)
	}, nil
}

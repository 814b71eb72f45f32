package publisher

import (
	"log/slog"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/replay"
)

// Option gives a Publisher (or a Builder) a collaborator or overrides a default.
type Option func(*options)

type options struct {
	log     *slog.Logger
	signer  certs.Signer
	modname string
	now     func() time.Time
	history replay.Store
}

func collectOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithSigner signs every message with s. Default: messages are not signed.
func WithSigner(s certs.Signer) Option { return func(o *options) { o.signer = s } }

// WithModname sets the default modname (the topic part after the environment), overriding
// Config.Modname.
func WithModname(m string) Option { return func(o *options) { o.modname = m } }

// WithClock sets the clock used for timestamps and msg_id years. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithHistory numbers the messages of a passive publisher with a Name: each gets the next
// seq_id of that name in store (continued from the store's last one), signed with the rest of
// the envelope, and is recorded in store before it is sent (see the package documentation).
// With Config.ReplayBind the history is also served there. The Publisher owns store from then
// on: Close closes it, and so does a New that fails. Default: no history.
func WithHistory(store replay.Store) Option { return func(o *options) { o.history = store } }

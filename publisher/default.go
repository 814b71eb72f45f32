package publisher

import (
	"context"
	"errors"

	"github.com/ackmsg/ackmsg/internal/lazy"
	"github.com/ackmsg/ackmsg/message"
)

// The default Publisher: built on first use by the builder package config registers, like
// fedmsg's module-level publish. The registration is how this package gets a Publisher from
// the configuration files without importing package config, which sits above it.
var std lazy.Default[*Publisher]

// ErrNoDefault is returned by Default when no builder of the default Publisher was registered.
var ErrNoDefault = errors.New(`publisher: no default Publisher: import _ "github.com/ackmsg/ackmsg/config" ` +
	`(it builds it from the configuration files), or call RegisterDefault`)

// RegisterDefault sets how Default builds the default Publisher; package config registers the
// builder from the configuration files and $ACKMSG_CONFIG in its init, as database/sql drivers
// register themselves. A later registration replaces an earlier one; a Publisher already built
// stays the default until CloseDefault.
func RegisterDefault(build func() (*Publisher, error)) {
	std.Register(build)
}

// Default returns the package's default Publisher, built on first use from the configuration
// files and ACKMSG_CONFIG (see package config, which must be imported), like fedmsg's
// module-level publish.
func Default() (*Publisher, error) {
	return std.Get(ErrNoDefault)
}

// Publish publishes through the default Publisher.
func Publish(ctx context.Context, topic string, body any, opts ...PublishOption) (*message.Message, error) {
	p, err := Default()
	if err != nil {
		return nil, err
	}
	return p.Publish(ctx, topic, body, opts...)
}

// CloseDefault closes the default Publisher, if one was built; a later Publish builds a new one.
func CloseDefault() error {
	return std.Close()
}

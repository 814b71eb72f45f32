// Package lazy holds a package's default value, built on first use by a builder registered
// later, as database/sql drivers register themselves: publisher.Default and ack.Default are
// each one of these, with the builder package config registers at init.
package lazy

import (
	"io"
	"sync"
)

// Default is a value of T built on first use by the registered builder and kept until Close.
// The zero value is ready to use, with no builder.
type Default[T io.Closer] struct {
	mu    sync.Mutex
	build func() (T, error)
	v     T
	built bool
}

// Register sets how Get builds the value and returns the builder it replaces (nil when none was
// registered). A value already built stays until Close.
func (d *Default[T]) Register(build func() (T, error)) (previous func() (T, error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	previous, d.build = d.build, build
	return previous
}

// Get returns the value, building it on first use; errNone when no builder was registered. A
// failed build is not kept: the next Get tries again.
func (d *Default[T]) Get(errNone error) (T, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.built {
		return d.v, nil
	}
	var zero T
	if d.build == nil {
		return zero, errNone
	}
	v, err := d.build()
	if err != nil {
		return zero, err
	}
	d.v, d.built = v, true
	return v, nil
}

// Close closes the value, if one was built; a later Get builds a new one.
func (d *Default[T]) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.built {
		return nil
	}
	var zero T
	err := d.v.Close()
	d.v, d.built = zero, false
	return err
}

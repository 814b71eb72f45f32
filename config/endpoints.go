package config

import (
	"fmt"

	"github.com/ackmsg/ackmsg/transport"
)

// Endpoint is one address under one endpoints key ([transport.Endpoint]).
type Endpoint = transport.Endpoint

// SubscribeEndpoints returns the addresses a subscriber connects to: every address of every
// endpoints key except "relay_inbound", keys in sorted order and addresses in their listed order.
// An address listed under several keys is returned once, under the first key, so that a
// subscriber does not connect to it twice and receive every message twice.
func (c *Config) SubscribeEndpoints() []Endpoint {
	var out []Endpoint
	seen := make(map[string]bool)
	for _, k := range sortedKeys(c.Endpoints) {
		if k == RelayInboundKey {
			continue
		}
		for _, a := range c.Endpoints[k] {
			if seen[a] {
				continue
			}
			seen[a] = true
			out = append(out, Endpoint{Name: k, Address: a})
		}
	}
	return out
}

// PublishEndpoints returns the candidate addresses under endpoints[name] for a passive publisher,
// in order; the publisher binds the first one whose port is free (see [BindAddress]). An empty
// name means c.Name. It fails, naming the key, when the name is empty, absent from endpoints, or
// lists no address.
func (c *Config) PublishEndpoints(name string) ([]string, error) {
	if name == "" {
		name = c.Name
	}
	if name == "" {
		return nil, &KeyError{Key: "name", Err: fmt.Errorf("%w: a passive publisher needs a name, "+
			"the endpoints key to bind from (keys: %s)", ErrMissing, keyList(c.Endpoints))}
	}
	addrs, ok := c.Endpoints[name]
	key := subKey("endpoints", name)
	if !ok {
		return nil, &KeyError{Key: key, Source: c.Source("name"), Err: fmt.Errorf("%w: no such endpoints key "+
			"to publish from (keys: %s)", ErrMissing, keyList(c.Endpoints))}
	}
	if len(addrs) == 0 {
		return nil, &KeyError{Key: key, Source: c.Source(key), Err: fmt.Errorf("%w: no address to publish from", ErrMissing)}
	}
	return append([]string(nil), addrs...), nil
}

// BindAddress returns the address a passive publisher (or the relay) binds for the endpoints
// address addr (see [transport.BindAddress]): the same port on every interface, except for a
// loopback host, which stays on loopback. It checks addr as the configuration's addresses are
// checked first.
func BindAddress(addr string) (string, error) {
	if err := checkAddress(addr, "subscribers connect to it"); err != nil {
		return "", err
	}
	return transport.BindAddress(addr)
}

package config

import (
	"fmt"
	"net"
	"strings"
)

// Endpoint is one address under one endpoints key.
type Endpoint struct {
	Name    string // the endpoints key, e.g. "bodhi.app01"
	Address string // tcp://host:port or ipc://path
}

func (e Endpoint) String() string { return e.Name + "=" + e.Address }

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
// address addr. As in fedmsg, the host part names this machine as subscribers reach it, so the
// same port is bound on every interface ("tcp://*:port") — except for a loopback host
// (127.0.0.0/8, ::1, localhost), which stays on loopback: a bus configured on 127.0.0.1 must not
// be exposed to the network. An ipc:// address is returned unchanged.
func BindAddress(addr string) (string, error) {
	if err := checkAddress(addr, "subscribers connect to it"); err != nil {
		return "", err
	}
	if !strings.HasPrefix(addr, "tcp://") {
		return addr, nil
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if host == "localhost" {
		return "tcp://127.0.0.1:" + port, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return addr, nil
	}
	return "tcp://*:" + port, nil
}

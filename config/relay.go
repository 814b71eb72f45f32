package config

import (
	"fmt"
	"reflect"
	"strings"
)

// RelayConfig is the [relay] table: ackmsg-relay's own settings (its sockets are relay_inbound
// and endpoints.relay_outbound). Each comment gives the default that [DefaultConfig] sets.
type RelayConfig struct {
	// HTTPAddress is the host:port where ackmsg-relay answers /live, /ready and /metrics
	// (Prometheus). Empty disables it. Default "".
	HTTPAddress string `toml:"http_address"`
	// InboundSecurity is the security of relay_inbound alone: "" (the default) follows
	// transport_security; "none" keeps relay_inbound in plaintext while everything else runs
	// CURVE, so Python fedmsg publishers (which have no CURVE) on this host publish through a
	// relay whose subscribers are encrypted and authenticated (bind it to a loopback address:
	// anyone who reaches it may publish, and routing_policy is then enforced by the consumers
	// alone). Default "".
	InboundSecurity string `toml:"inbound_security"`
}

var relayKeys = tomlKeys(reflect.TypeFor[RelayConfig]())

// checkRelayKeys reports unknown keys in a file's [relay] table.
func checkRelayKeys(path string, raw any) error {
	t, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	var errs errorList
	for _, k := range sortedKeys(t) {
		if !relayKeys[k] {
			errs.add(&FileError{File: path, Key: "relay." + quoteKey(k), Err: unknownKeyIn(k, relayKeys)})
		}
	}
	return errs.err()
}

// mergeRelay merges a file's [relay] table (layer, decoded from raw) over c.Relay.
func (c *Config) mergeRelay(path string, raw any, layer RelayConfig) {
	t, _ := raw.(map[string]any)
	src := reflect.ValueOf(&layer).Elem()
	dst := reflect.ValueOf(&c.Relay).Elem()
	for i := range src.NumField() {
		key, _, _ := strings.Cut(src.Type().Field(i).Tag.Get("toml"), ",")
		if _, ok := t[key]; !ok {
			continue
		}
		dst.Field(i).Set(src.Field(i))
		c.setOrigin("relay."+key, path)
	}
	c.setOrigin("relay", path)
}

// validateRelay adds the problems of c.Relay to errs.
func (c *Config) validateRelay(errs *errorList) {
	if s := c.Relay.InboundSecurity; s != "" && s != SecurityNone {
		errs.add(&KeyError{Key: "relay.inbound_security", Source: c.Source("relay.inbound_security"),
			Err: fmt.Errorf("%w: %q: want \"\" (as transport_security) or %q (a plaintext inbound segment)", ErrInvalid, s, SecurityNone)})
	}
	if a := c.Relay.HTTPAddress; a != "" {
		if err := checkListenAddress(a); err != nil {
			errs.add(&KeyError{Key: "relay.http_address", Source: c.Source("relay.http_address"), Err: err})
		}
	}
}

package config

import (
	"reflect"
	"strings"
)

// RelayConfig is the [relay] table: ackmsg-relay's own settings (its sockets are relay_inbound
// and endpoints.relay_outbound). Each comment gives the default that [DefaultConfig] sets.
type RelayConfig struct {
	// HTTPAddress is the host:port where ackmsg-relay answers /live, /ready and /metrics
	// (Prometheus). Empty disables it. Default "".
	HTTPAddress string `toml:"http_address"`
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
	if a := c.Relay.HTTPAddress; a != "" {
		if err := checkListenAddress(a); err != nil {
			errs.add(&KeyError{Key: "relay.http_address", Source: c.Source("relay.http_address"), Err: err})
		}
	}
}

package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/transport"
)

// GatewayConfig is the [gateway] table: ackmsg-gateway, fedmsg-gateway's job (one outward PUB
// port re-publishing the bus). Each comment gives the default that [DefaultConfig] sets. The
// table merges key by key like the top level.
type GatewayConfig struct {
	// Bind is the outward address outside subscribers connect to (fedmsg's
	// fedmsg.consumers.gateway.port, bound on every interface). Default "tcp://*:9940".
	Bind string `toml:"bind"`
	// HWM is the outward socket's high-water mark per outside subscriber, in messages; a slow
	// subscriber loses messages beyond it and never slows the bus. 0 means unlimited (fedmsg's
	// fedmsg.consumers.gateway.high_water_mark). Default 1000.
	HWM int `toml:"hwm"`
	// Topics are the topic patterns re-published (as ackmsg-tail's); empty re-publishes every
	// message. Default: none.
	Topics []string `toml:"topics"`
	// HTTPAddress is the host:port where ackmsg-gateway answers /live, /ready and /metrics.
	// Empty disables it. Default "".
	HTTPAddress string `toml:"http_address"`
	// Security is the outward socket's alone: "" follows transport_security, "none" is
	// plaintext for the public (the bus side may still run CURVE), "curve" runs CurveZMQ with
	// this process's certificate, whatever transport_security says. Default "".
	Security string `toml:"security"`
	// CurveAllow lists the certificate CNs that may subscribe on the outward socket when it runs
	// CURVE, in place of curve_allow (which still governs the bus side); empty admits every
	// valid certificate of the CA. Default: none.
	CurveAllow []string `toml:"curve_allow"`
	// ValidateSignatures makes the gateway validate every message (against ca_cert_location,
	// crl_location and routing_policy, as a consumer does) before it re-publishes it, dropping
	// and counting what does not validate. Default false: outside consumers validate.
	ValidateSignatures bool `toml:"validate_signatures"`
}

// Defaults of the [gateway] table: fedmsg-gateway's port and high-water mark.
const (
	DefaultGatewayBind = "tcp://*:9940"
	DefaultGatewayHWM  = 1000
)

func defaultGatewayConfig() GatewayConfig {
	return GatewayConfig{Bind: DefaultGatewayBind, HWM: DefaultGatewayHWM}
}

var gatewayKeys = tomlKeys(reflect.TypeFor[GatewayConfig]())

// checkGatewayKeys reports unknown keys in a file's [gateway] table.
func checkGatewayKeys(path string, raw any) error {
	t, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	var errs errorList
	for _, k := range sortedKeys(t) {
		if !gatewayKeys[k] {
			errs.add(&FileError{File: path, Key: "gateway." + quoteKey(k), Err: unknownKeyIn(k, gatewayKeys)})
		}
	}
	return errs.err()
}

// mergeGateway merges a file's [gateway] table (layer, decoded from raw) over c.Gateway.
func (c *Config) mergeGateway(path string, raw any, layer GatewayConfig) {
	t, _ := raw.(map[string]any)
	src := reflect.ValueOf(&layer).Elem()
	dst := reflect.ValueOf(&c.Gateway).Elem()
	for i := range src.NumField() {
		key, _, _ := strings.Cut(src.Type().Field(i).Tag.Get("toml"), ",")
		if _, ok := t[key]; !ok {
			continue
		}
		dst.Field(i).Set(src.Field(i))
		c.setOrigin("gateway."+key, path)
	}
	c.setOrigin("gateway", path)
}

// validateGateway adds the problems of c.Gateway to errs.
func (c *Config) validateGateway(errs *errorList) {
	bad := func(key string, err error) {
		errs.add(&KeyError{Key: key, Source: c.Source(key), Err: err})
	}
	g := &c.Gateway
	if g.Bind == "" {
		bad("gateway.bind", fmt.Errorf("%w: empty: want the outward address, e.g. %q", ErrInvalid, DefaultGatewayBind))
	} else if _, err := transport.BindAddress(g.Bind); err != nil {
		bad("gateway.bind", fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	if g.HWM < 0 {
		bad("gateway.hwm", fmt.Errorf("%w: %d is below 0 (0 means unlimited)", ErrInvalid, g.HWM))
	}
	for i, p := range g.Topics {
		if err := message.CheckTopicPattern(p); err != nil {
			bad(fmt.Sprintf("gateway.topics[%d]", i), fmt.Errorf("%w: %w", ErrInvalid, err))
		}
	}
	switch g.Security {
	case "", SecurityNone, SecurityCurve:
	default:
		bad("gateway.security", fmt.Errorf("%w: %q: want \"\" (as transport_security), %q or %q", ErrInvalid, g.Security, SecurityNone, SecurityCurve))
	}
	for i, cn := range g.CurveAllow {
		if cn == "" {
			bad(fmt.Sprintf("gateway.curve_allow[%d]", i), fmt.Errorf("%w: empty CN", ErrInvalid))
		}
	}
	if g.HTTPAddress != "" {
		if err := checkListenAddress(g.HTTPAddress); err != nil {
			bad("gateway.http_address", err)
		}
	}
}

// GatewayOutward is the security of ackmsg-gateway's outward socket: gateway.security, or
// transport_security when it is "". With CURVE the keys are this process's certificate's, as the
// bus side's (see Security), but admit the CNs of gateway.curve_allow instead of curve_allow.
func (c *Config) GatewayOutward() transport.Security {
	mode := c.Gateway.Security
	if mode == "" {
		mode = c.TransportSecurity
	}
	if mode != SecurityCurve {
		return transport.Security{Mode: SecurityNone}
	}
	keys, err := c.curveKeysAllowing(c.Gateway.CurveAllow)
	if err != nil {
		return transport.Security{Mode: SecurityCurve, Keys: failedKeys{err}}
	}
	return transport.Security{Mode: SecurityCurve, Keys: keys}
}

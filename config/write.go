package config

import (
	"bufio"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// WriteTOML writes c as TOML with every key, for --print-config. Comments first list the files
// read, where each non-default key was set, the ignored fedmsg keys, and the CA and CRL paths that
// empty settings stand for. A password in a URL (persistent_store, outbox.store, bridge.url, bridge.urls) is
// printed as "xxxxx" (see [RedactURL]), so the output can be pasted into a bug report; apart from
// such passwords, loading the output as the only file gives back an equal Config.
func (c *Config) WriteTOML(w io.Writer) error {
	bw := bufio.NewWriter(w)
	comment := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		s = strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
		fmt.Fprintf(bw, "# %s\n", s)
	}
	comment("ackmsg effective configuration")
	if len(c.Sources) == 0 {
		comment("files read: none, defaults only")
	} else {
		comment("files read, in order:")
		for _, f := range c.Sources {
			comment("  %s", f)
		}
	}
	if len(c.origins) > 0 {
		comment("set outside the defaults:")
		for _, k := range sortedKeys(c.origins) {
			comment("  %s: %s", k, c.origins[k])
		}
	}
	if len(c.Ignored) > 0 {
		comment("fedmsg keys accepted and ignored:")
		for _, i := range c.Ignored {
			comment("  %s", i)
		}
	}
	if c.CACertLocation == "" {
		comment("ca_cert_location is empty: the CA certificate is %s", c.CACertFile())
	}
	if c.CRLLocation == "" {
		comment("crl_location is empty: no CRL check")
	}
	if IsURL(c.CACertLocation) || IsURL(c.CRLLocation) {
		comment("ca_cert_location and crl_location URLs are downloaded, verified and cached; the CRL is " +
			"fetched again every crl_cache_expiry seconds or at its nextUpdate")
	}
	shown, masked := c.redacted()
	if masked {
		comment("passwords in URLs are shown as xxxxx")
	}
	bw.WriteString("\n")
	if err := toml.NewEncoder(bw).Encode(shown); err != nil {
		return fmt.Errorf("config: writing TOML: %w", err)
	}
	return bw.Flush()
}

// redacted returns a copy of c whose string settings, in every table, hold no URL password, and
// whether any was masked. The copy shares c's maps and slices: it is for reading only.
func (c *Config) redacted() (*Config, bool) {
	r := *c
	masked := false
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Field(i)
			switch {
			case !v.Type().Field(i).IsExported():
			case f.Kind() == reflect.Struct:
				walk(f)
			case f.Kind() == reflect.String:
				if s := RedactURL(f.String()); s != f.String() {
					f.SetString(s)
					masked = true
				}
			case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
				// bridge.urls: a copy, the caller's list is not touched.
				var out []string
				for j := range f.Len() {
					s := f.Index(j).String()
					if r := RedactURL(s); r != s {
						if out == nil {
							out = make([]string, f.Len())
							reflect.Copy(reflect.ValueOf(out), f)
						}
						out[j] = r
					}
				}
				if out != nil {
					f.Set(reflect.ValueOf(out))
					masked = true
				}
			}
		}
	}
	walk(reflect.ValueOf(&r).Elem())
	return &r, masked
}

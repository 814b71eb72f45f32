package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/BurntSushi/toml"
)

// WriteTOML writes c as TOML with every key, for --print-config. Comments first list the files
// read, where each non-default key was set, the ignored fedmsg keys, and the CA and CRL paths that
// empty settings stand for. Loading the output as the only file gives back an equal Config.
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
	bw.WriteString("\n")
	if err := toml.NewEncoder(bw).Encode(c); err != nil {
		return fmt.Errorf("config: writing TOML: %w", err)
	}
	return bw.Flush()
}

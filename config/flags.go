package config

import (
	"fmt"
	"maps"
	"strings"

	"github.com/spf13/pflag"
)

// Flags are the command-line flags common to every ackmsg command. Only flags given on the command
// line override the configuration.
type Flags struct {
	// Options are the load options [Flags.Load] starts from; --config (or --config-filename)
	// replaces Options.File.
	// Tests set them to redirect the search; commands leave them zero.
	Options LoadOptions
	// Edit, when set, adjusts the configuration after the flags are applied and before it is
	// validated, for a command to which a key means something else (ackmsg-replay's --name
	// names the history to read, not an endpoints key to bind).
	Edit func(*Config)

	fs          *pflag.FlagSet
	file        string
	printConfig bool
	topicPrefix string
	environment string
	name        string
	relay       string
	ssldir      string
	certname    string
	certPrefix  string
	logLevel    string
	hwm         int
	linger      int
	ioThreads   int
	endpoints   []string
}

// RegisterFlags registers the common flags on fs: --config (and --config-filename, fedmsg's name
// for it), --print-config, --topic-prefix,
// --environment, --name, --endpoint (repeatable NAME=ADDRESS), --relay-inbound, --ssldir,
// --certname, --cert-prefix, --high-water-mark, --linger, --io-threads and --log-level.
func RegisterFlags(fs *pflag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	d := DefaultConfig()
	fs.StringVar(&f.file, "config", "", "read this TOML file, or this directory's *.toml files, instead of "+
		DefaultSystemDir+" and "+DefaultLocalDir+" (default $"+EnvConfig+")")
	fs.StringVar(&f.file, "config-filename", "", "the same as --config (fedmsg's name for it)")
	fs.BoolVar(&f.printConfig, "print-config", false, "print the effective configuration as TOML and exit")
	fs.StringVar(&f.topicPrefix, "topic-prefix", "", fmt.Sprintf("first part of every topic (config topic_prefix, default %q)", d.TopicPrefix))
	fs.StringVar(&f.environment, "environment", "", fmt.Sprintf("second part of every topic: prod, stg or dev (config environment, default %q)", d.Environment))
	fs.StringVar(&f.name, "name", "", "endpoints key to publish from (config name, $"+EnvName+")")
	fs.StringArrayVar(&f.endpoints, "endpoint", nil, "NAME=ADDRESS: set the addresses of endpoints key NAME; repeat for several (config endpoints)")
	fs.StringVar(&f.relay, "relay-inbound", "", fmt.Sprintf("address active publishers connect to (config relay_inbound, default %q)", d.RelayInbound))
	fs.StringVar(&f.ssldir, "ssldir", "", fmt.Sprintf("directory of certificates and keys (config ssldir, default %q)", d.SSLDir))
	fs.StringVar(&f.certname, "certname", "", "certificate file prefix in ssldir to sign with (config certname, $"+EnvCertname+")")
	fs.StringVar(&f.certPrefix, "cert-prefix", "", "look the certificate up in certnames as PREFIX.<short hostname> (config cert_prefix)")
	fs.IntVar(&f.hwm, "high-water-mark", 0, fmt.Sprintf("ZeroMQ send/receive high-water mark in messages, 0 unlimited (config high_water_mark, default %d)", d.HighWaterMark))
	fs.IntVar(&f.linger, "linger", 0, fmt.Sprintf("ZeroMQ linger on close in milliseconds, -1 forever (config zmq_linger, default %d)", d.ZMQLinger))
	fs.IntVar(&f.ioThreads, "io-threads", 0, fmt.Sprintf("ZeroMQ I/O threads (config io_threads, default %d)", d.IOThreads))
	fs.StringVar(&f.logLevel, "log-level", "", "log level on stderr: "+LogLevels+" (config log_level, $"+EnvLogLevel+")")
	return f
}

// PrintConfig reports whether --print-config was given.
func (f *Flags) PrintConfig() bool { return f.printConfig }

// Load is [Load] with --config, then the flags given on the command line applied over the result
// (see [Flags.Apply]), then [Config.Validate]. Like Load, it returns the Config together with a
// validation error so that --print-config can show it; a nil Config means the files themselves
// could not be loaded or a flag is malformed.
func (f *Flags) Load() (*Config, error) {
	opts := f.Options
	flag := ""
	switch cfg, alias := f.fs.Changed("config"), f.fs.Changed("config-filename"); {
	case cfg && alias:
		return nil, &KeyError{Key: "--config-filename", Err: fmt.Errorf("%w: it is another name for --config; give one of them", ErrInvalid)}
	case cfg:
		flag = "--config"
	case alias:
		flag = "--config-filename"
	}
	if flag != "" {
		opts.File, opts.fileFlag = f.file, flag
		if opts.File == "" {
			return nil, &KeyError{Key: flag, Err: fmt.Errorf("%w: empty file name", ErrInvalid)}
		}
	}
	c, err := load(opts)
	if err != nil {
		return nil, err
	}
	if err := f.Apply(c); err != nil {
		return nil, err
	}
	if f.Edit != nil {
		f.Edit(c)
	}
	return c, c.Validate()
}

// Apply sets on c the settings of the flags given on the command line, and records them as the
// source of those keys. It fails only on a malformed --endpoint.
func (f *Flags) Apply(c *Config) error {
	str := func(flag, key string, dst *string, v string) {
		if f.fs.Changed(flag) {
			*dst = v
			c.setOrigin(key, "--"+flag)
		}
	}
	num := func(flag, key string, dst *int, v int) {
		if f.fs.Changed(flag) {
			*dst = v
			c.setOrigin(key, "--"+flag)
		}
	}
	str("topic-prefix", "topic_prefix", &c.TopicPrefix, f.topicPrefix)
	str("environment", "environment", &c.Environment, f.environment)
	str("name", "name", &c.Name, f.name)
	str("relay-inbound", "relay_inbound", &c.RelayInbound, f.relay)
	str("ssldir", "ssldir", &c.SSLDir, f.ssldir)
	str("certname", "certname", &c.Certname, f.certname)
	str("cert-prefix", "cert_prefix", &c.CertPrefix, f.certPrefix)
	str("log-level", "log_level", &c.LogLevel, f.logLevel)
	num("high-water-mark", "high_water_mark", &c.HighWaterMark, f.hwm)
	num("linger", "zmq_linger", &c.ZMQLinger, f.linger)
	num("io-threads", "io_threads", &c.IOThreads, f.ioThreads)

	if !f.fs.Changed("endpoint") || len(f.endpoints) == 0 {
		return nil
	}
	// All --endpoint values for one NAME together replace that key's list.
	set := make(map[string][]string)
	var order []string
	var errs errorList
	for _, e := range f.endpoints {
		name, addr, ok := strings.Cut(e, "=")
		if !ok || name == "" || addr == "" {
			errs.add(&KeyError{Key: "--endpoint", Err: fmt.Errorf("%w: %q: want NAME=ADDRESS", ErrInvalid, e)})
			continue
		}
		if _, dup := set[name]; !dup {
			order = append(order, name)
		}
		set[name] = append(set[name], addr)
	}
	if err := errs.err(); err != nil {
		return err
	}
	var eps ListMap // the default is replaced, not merged into
	if c.Source("endpoints") != "" {
		eps = maps.Clone(c.Endpoints) // another copy of c may share the map
	}
	if eps == nil {
		eps = ListMap{}
	}
	for _, name := range order {
		eps[name] = set[name]
		c.setOrigin(subKey("endpoints", name), "--endpoint")
	}
	c.Endpoints = eps
	c.setOrigin("endpoints", "--endpoint")
	return nil
}

package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ackmsg/ackmsg/config"
	"github.com/spf13/pflag"
)

// A command registers the common flags, parses, and loads: defaults < files < environment <
// flags given on the command line.
func ExampleRegisterFlags() {
	dir, _ := os.MkdirTemp("", "ackmsg-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "10-bus.toml"), []byte(`
environment = "prod"
[endpoints]
"bodhi.app01" = ["tcp://app01.example.org:3000", "tcp://app01.example.org:3001"]
"relay_outbound" = "tcp://relay.example.org:4001"
`), 0o644)

	fs := pflag.NewFlagSet("ackmsg-example", pflag.ContinueOnError)
	flags := config.RegisterFlags(fs)
	_ = fs.Parse([]string{"--config", dir, "--name", "bodhi.app01"})

	c, err := flags.Load()
	if err != nil {
		fmt.Println(err)
		return
	}
	if flags.PrintConfig() {
		c.WriteTOML(os.Stdout)
		return
	}
	addrs, _ := c.PublishEndpoints("")
	bind, _ := config.BindAddress(addrs[0])
	fmt.Println(c.Environment, c.Name, "binds", bind)
	for _, e := range c.SubscribeEndpoints() {
		fmt.Println("subscribe", e)
	}
	// Output:
	// prod bodhi.app01 binds tcp://*:3000
	// subscribe bodhi.app01=tcp://app01.example.org:3000
	// subscribe bodhi.app01=tcp://app01.example.org:3001
	// subscribe relay_outbound=tcp://relay.example.org:4001
}

func ExampleConfig_RecipientsFor() {
	c := config.DefaultConfig()
	c.Recipients = config.ListMap{
		"org.fedoraproject.prod.bodhi.update.comment": {"notifier"},
		"org.fedoraproject.prod.bodhi.*":              {"archiver"}, // fedmsg prefix: any deeper topic
		"org.*.prod.#":                                {"audit"},    // AMQP: one word, then zero or more
	}
	fmt.Println(c.RecipientsFor("org.fedoraproject.prod.bodhi.update.comment"))
	fmt.Println(c.RecipientsFor("org.fedoraproject.prod.koji.build"))
	fmt.Println(c.RecipientsFor("org.fedoraproject.stg.koji.build"))
	// Output:
	// [archiver audit notifier]
	// [audit]
	// []
}

func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "ackmsg-example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "bad.toml")
	os.WriteFile(file, []byte("high_water_mrak = 5\n"), 0o644)

	_, err := config.Load(config.LoadOptions{File: file})
	fmt.Println(strings.ReplaceAll(err.Error(), dir, "<dir>"))
	// Output: config: <dir>/bad.toml: key high_water_mrak: unknown key (did you mean high_water_mark?)
}

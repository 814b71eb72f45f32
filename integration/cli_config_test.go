package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --print-config is what users paste into bug reports: the PostgreSQL and AMQP passwords of the
// configuration must not be in it, for any command.
func TestPrintConfigMasksPasswords(t *testing.T) {
	b := NewBus(t, BusOptions{Extra: `persistent_store = "postgres://app:s3cret-history@127.0.0.1:1/ackmsg"
[outbox]
store = "postgresql://outbox:s3cret-outbox@127.0.0.1:1/ackmsg"
[bridge]
url = "amqp://bridge:s3cret-broker@127.0.0.1:1/"
`})
	for _, argv := range [][]string{{"ackmsg-logger"}, {"ackmsg-outbox", "serve"}, {"ackmsg-bridge"}, {"ackmsg-tail"}} {
		cmd := strings.Join(argv, " ")
		t.Run(cmd, func(t *testing.T) {
			out, stderr, code := b.Run(20*time.Second, "", argv[0], append(argv[1:], "--print-config")...)
			if code != 0 {
				t.Fatalf("%s --print-config: exit %d\n%s", cmd, code, stderr)
			}
			if strings.Contains(out+stderr, "s3cret") {
				t.Fatalf("%s --print-config shows a password:\n%s%s", cmd, out, stderr)
			}
			for _, w := range []string{"postgres://app:xxxxx@127.0.0.1:1/ackmsg", "amqp://bridge:xxxxx@127.0.0.1:1/"} {
				if !strings.Contains(out, w) {
					t.Errorf("%s --print-config lacks %q:\n%s", cmd, w, out)
				}
			}
		})
	}
}

// sink = "log" writes each message to the command's log instead of the bus: it must show at the
// command's default level. log_level in the configuration sets the level, $ACKMSG_LOG_LEVEL
// overrides the file and --log-level overrides both.
func TestLogSinkAndLogLevel(t *testing.T) {
	const sent = `msg="would send (sink = \"log\")"`
	run := func(t *testing.T, b *Bus, args ...string) string {
		t.Helper()
		_, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", append([]string{"--message", "hello, sink"}, args...)...)
		if code != 0 {
			t.Fatalf("ackmsg-logger: exit %d\n%s", code, stderr)
		}
		return stderr
	}
	t.Run("default level shows the sink", func(t *testing.T) {
		b := NewBus(t, BusOptions{Extra: `sink = "log"`})
		stderr := run(t, b)
		if !strings.Contains(stderr, sent) || !strings.Contains(stderr, `hello, sink`) {
			t.Fatalf("the message written to the log sink is not shown:\n%s", stderr)
		}
	})
	b := NewBus(t, BusOptions{Extra: "sink = \"log\"\nlog_level = \"error\""})
	t.Run("log_level in the file", func(t *testing.T) {
		if stderr := run(t, b); strings.Contains(stderr, sent) {
			t.Fatalf("log_level = \"error\" still shows WARN lines:\n%s", stderr)
		}
	})
	t.Run("environment over the file", func(t *testing.T) {
		t.Setenv("ACKMSG_LOG_LEVEL", "info")
		if stderr := run(t, b); !strings.Contains(stderr, sent) {
			t.Fatalf("ACKMSG_LOG_LEVEL=info did not override the file:\n%s", stderr)
		}
	})
	t.Run("flag over the environment", func(t *testing.T) {
		t.Setenv("ACKMSG_LOG_LEVEL", "info")
		if stderr := run(t, b, "--log-level", "error"); strings.Contains(stderr, sent) {
			t.Fatalf("--log-level error did not override the environment:\n%s", stderr)
		}
	})
	t.Run("a bad value names its source", func(t *testing.T) {
		t.Setenv("ACKMSG_LOG_LEVEL", "loud")
		_, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--message", "x")
		if code != 1 || !strings.Contains(stderr, `log_level: invalid value: "loud"`) || !strings.Contains(stderr, "$ACKMSG_LOG_LEVEL") {
			t.Fatalf("exit %d, want 1 naming log_level and $ACKMSG_LOG_LEVEL:\n%s", code, stderr)
		}
	})
}

// A command that signs as itself (ACKs, bridged messages) and is given no certificate of its own
// must refuse to start, naming the flag, instead of signing as the shell tools' shell.<host>
// ("logger" here), which the configuration names for ackmsg-logger.
func TestServicesBorrowNoIdentity(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"tail"}, Extra: "[bridge]\ntopics = [\"org.example.#\"]\n[archive]\nstore = \"postgres://127.0.0.1:1/none\"\n"})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	for _, argv := range [][]string{{"ackmsg-tail", "--ack"}, {"ackmsg-hub"}, {"ackmsg-bridge"}, {"ackmsg-archive"}} {
		cmd := strings.Join(argv, " ")
		t.Run(cmd, func(t *testing.T) {
			p := b.Start(argv[0], argv[1:]...)
			code := p.Wait(t, 10*time.Second) // today's code runs on, signing as "logger"
			stderr := p.Stderr.String()
			if code != 2 || !strings.Contains(stderr, "--certname") || !strings.Contains(stderr, "no certificate of its own") {
				t.Fatalf("%s without --certname: exit %d, want 2 naming --certname:\n%s", cmd, code, stderr)
			}
		})
	}
	// The shell tools keep their identity: the logger signs as "logger" (certnames "shell.<host>"),
	// and a tail that ACKs as itself gets its message.
	tail := b.Start("ackmsg-tail", "--ack", "--certname", "tail", "--count", "1", "--timeout", "30")
	tail.WaitLog(t, "endpoint connected")
	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "tail", "--ack-timeout", "10", "--message", "signed"); code != 0 {
		t.Fatalf("ackmsg-logger: exit %d\n%s", code, stderr)
	}
	if code := tail.Wait(t, 30*time.Second); code != 0 || !strings.Contains(tail.Stdout.String(), "logger") {
		t.Fatalf("tail: exit %d, want the message signed by logger:\n%s", code, tail.Stdout.String())
	}
}

// ackmsg-config check judges a configuration the way the commands use it. The README tour's
// configuration (sign_messages, certnames only for the shell tools, every other command given
// --certname) is valid; a certificate the logger cannot load is not.
func TestConfigCheckTakesEachCommandsView(t *testing.T) {
	b := NewBus(t, BusOptions{})
	stdout, stderr, code := b.Run(20*time.Second, "", "ackmsg-config", "check")
	if code != 0 {
		t.Fatalf("check of the tour's configuration: exit %d\n%s", code, stderr)
	}
	for _, w := range []string{
		`# ackmsg-logger (cert_prefix shell) signs as "logger"`,
		"# ackmsg-tail --ack, ackmsg-hub, ackmsg-bridge and ackmsg-archive name no certificate of their own here: each needs --certname when it starts",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("check does not say %q:\n%s", w, stdout)
		}
	}
	// With --certname, check takes that certificate, as the commands would.
	stdout, stderr, code = b.Run(20*time.Second, "", "ackmsg-config", "check", "--certname", "logger")
	if code != 0 || !strings.Contains(stdout, `# ackmsg-tail --ack, ackmsg-hub, ackmsg-bridge and ackmsg-archive sign as "logger"`) {
		t.Fatalf("check --certname logger: exit %d\n%s%s", code, stdout, stderr)
	}
	// The logger's own certificate missing is a failure, named as the logger's.
	if err := os.Remove(filepath.Join(b.PKI, "logger.key")); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = b.Run(20*time.Second, "", "ackmsg-config", "check")
	if code != 1 || !strings.Contains(stderr, "sign_messages, ackmsg-logger (cert_prefix shell): ") || !strings.Contains(stderr, "logger.key") {
		t.Fatalf("check with the logger's key missing: exit %d, want 1 naming ackmsg-logger and the key:\n%s", code, stderr)
	}
}

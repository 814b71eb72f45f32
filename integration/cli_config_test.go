package integration

import (
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

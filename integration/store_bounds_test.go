package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/testbus"
)

// An outbox store on a PostgreSQL server that accepts the connection and never answers: every
// command that opens it fails after the default connect timeout (10 s, the history store's
// too), with exit 1 and an error naming the URL without its password, instead of hanging. The
// commands run together, so the test takes one bound, not five.
func TestOutboxPostgresServerNeverAnswers(t *testing.T) {
	addr, _ := testbus.SilentPeer(t, "127.0.0.1:0")
	url := "postgres://app:s3cret@" + addr + "/bus?sslmode=disable"
	b := NewBus(t, BusOptions{Extra: fmt.Sprintf("[outbox]\nstore = %q\n", url)})
	want := "PostgreSQL postgres://app:xxxxx@" + addr + "/bus?sslmode=disable: connecting: no answer within 10s (connect_timeout)"
	var wg sync.WaitGroup
	for _, args := range [][]string{
		{"ackmsg-outbox", "list"},
		{"ackmsg-outbox", "stats"},
		{"ackmsg-outbox", "wait", "--timeout", "60"},
		{"ackmsg-outbox", "serve"},
		{"ackmsg-logger", "--outbox", "--recipients", "x", "--message", "m"},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, stderr, code := b.Run(30*time.Second, "", args[0], args[1:]...)
			took := time.Since(start)
			t.Logf("%v: exit %d after %s", args, code, took.Round(time.Millisecond))
			if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "s3cret") {
				t.Errorf("%v: exit %d after %s; want 1 and %q, without the password\n%s", args, code, took, want, stderr)
			}
			if took > 15*time.Second {
				t.Errorf("%v took %s; want about the 10 s connect timeout", args, took)
			}
		}()
	}
	wg.Wait()
}

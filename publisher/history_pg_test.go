package publisher_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
)

// pgConfig is a passive publisher "svc.host" with its history in PostgreSQL at dsn, serving
// replay.
func pgConfig(t *testing.T, dsn string) *config.Config {
	cfg := configtest.Config(map[string][]string{"svc.host": {testbus.Addr(t)}})
	cfg.Name = "svc.host"
	cfg.PersistentStore = dsn
	cfg.ReplayEndpoints = config.StringMap{"svc.host": testbus.Addr(t)}
	return cfg
}

// withPassword is dsn with a password in it (the test server trusts every connection, so any
// password works): what logs and errors must not show.
func withPassword(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret")
	return u.String()
}

// published publishes n messages and returns their seq_ids.
func published(t *testing.T, pub *publisher.Publisher, n int) []int64 {
	t.Helper()
	var out []int64
	for i := range n {
		m, err := pub.Publish(context.Background(), "t", map[string]any{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		seq, ok := replay.SeqID(m)
		if !ok {
			t.Fatalf("message without seq_id: %v", m.Fields())
		}
		out = append(out, seq)
	}
	return out
}

// A publisher with persistent_store = a PostgreSQL URL numbers its messages, records them
// there and answers replay queries from them; restarted, it continues the numbering; a second
// process with the same name fails clearly, while another name shares the database.
func TestHistoryPostgres(t *testing.T) {
	dsn := withPassword(t, pgtest.Start(t))
	var logs bytes.Buffer
	cfg := pgConfig(t, dsn)
	pub, err := config.NewPublisher(t.Context(), cfg, publisher.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if got := published(t, pub, 3); !equalSeqs(got, 1, 2, 3) {
		t.Fatalf("seq_ids %v, want 1 2 3", got)
	}
	c, err := replay.NewClient(zsock.Options{}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frames, err := c.Fetch(context.Background(), pub.ReplayAddr(), replay.Query{SeqRange: &[2]int64{2, 3}, MsgIDs: []string{"nope"}})
	if err != nil || len(frames) != 2 {
		t.Fatalf("replay: %d frames, %v", len(frames), err)
	}
	for i, f := range frames {
		m, err := message.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if seq, _ := replay.SeqID(m); seq != int64(2+i) {
			t.Fatalf("frame %d has seq_id %d", i, seq)
		}
	}
	if !strings.Contains(logs.String(), "msg=\"history open\"") || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("logs (want \"history open\", without the password):\n%s", logs.String())
	}

	// A second process with the name (its own endpoints, the same database) is refused.
	second := pgConfig(t, dsn)
	if _, err := config.NewPublisher(t.Context(), second); err == nil ||
		!strings.Contains(err.Error(), `persistent_store: publisher name "svc.host" is in use by another process`) ||
		strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a second publisher of the name: %v", err)
	}
	other := pgConfig(t, dsn)
	other.Name = "other.host"
	other.Endpoints = config.ListMap{"other.host": {testbus.Addr(t)}}
	other.ReplayEndpoints = nil
	op, err := config.NewPublisher(t.Context(), other)
	if err != nil {
		t.Fatalf("another name in the same database: %v", err)
	}
	if got := published(t, op, 2); !equalSeqs(got, 1, 2) {
		t.Fatalf("seq_ids of the other name %v", got)
	}
	op.Close()

	// Restarted, the publisher continues from the last seq_id.
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	pub2, err := config.NewPublisher(t.Context(), second)
	if err != nil {
		t.Fatalf("restart once the first closed: %v", err)
	}
	defer pub2.Close()
	if got := published(t, pub2, 2); !equalSeqs(got, 4, 5) {
		t.Fatalf("seq_ids after the restart %v, want 4 5", got)
	}
}

// equalSeqs reports whether got is want.
func equalSeqs(got []int64, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// A malformed URL, no server, or a server that never answers: publisher.New fails, soon,
// saying what, without the password.
func TestHistoryPostgresUnavailable(t *testing.T) {
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, tc := range []struct{ url, want string }{
		{"postgres://app:s3cret@[::1/bus", `persistent_store: invalid value: "postgres://xxxxx@[::1/bus" is not a valid URL`},
		{"postgres://app:s3cret@" + refused + "/bus?sslmode=disable", "publisher: persistent_store: replay/pgstore: PostgreSQL postgres://app:xxxxx@" + refused + "/bus?sslmode=disable: connecting: "},
		{"postgresql://app:s3cret@" + silent.Addr().String() + "/bus?sslmode=disable&connect_timeout=1", "replay/pgstore: PostgreSQL postgresql://app:xxxxx@" + silent.Addr().String() + "/bus?sslmode=disable&connect_timeout=1: connecting: no answer within 1s (connect_timeout)"},
	} {
		cfg := pgConfig(t, tc.url)
		start := time.Now()
		pub, err := config.NewPublisher(t.Context(), cfg)
		if err == nil {
			pub.Close()
			t.Fatalf("%s: publisher.New succeeded", tc.url)
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") || time.Since(start) > 10*time.Second {
			t.Fatalf("%s: %v after %s; want %q, without the password, within 10 s", tc.url, err, time.Since(start), tc.want)
		}
	}
}

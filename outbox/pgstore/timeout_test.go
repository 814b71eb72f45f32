package pgstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/faultproxy"
	"github.com/ackmsg/ackmsg/internal/pgconf"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/outbox"
)

// A server that accepts and never answers: Open fails within the connect timeout (the URL's
// connect_timeout, else Options.ConnectTimeout), naming the URL without its password.
func TestOpenServerNeverAnswers(t *testing.T) {
	addr, _ := testbus.SilentPeer(t, "127.0.0.1:0")
	for _, tc := range []struct {
		name, url string
		opts      Options
		bound     time.Duration
		want      string
	}{
		{"url connect_timeout", "postgres://app:s3cret@" + addr + "/bus?sslmode=disable&connect_timeout=1", Options{}, time.Second,
			"PostgreSQL postgres://app:xxxxx@" + addr + "/bus?sslmode=disable&connect_timeout=1: connecting: no answer within 1s (connect_timeout)"},
		{"option", "postgres://app:s3cret@" + addr + "/bus", Options{ConnectTimeout: 700 * time.Millisecond}, 700 * time.Millisecond,
			"PostgreSQL postgres://app:xxxxx@" + addr + "/bus: connecting: no answer within 700ms (connect_timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(context.Background(), tc.url, tc.opts)
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open of a server that never answers succeeded")
			}
			t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
			if !errors.Is(err, pgconf.ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v: want pgconf.ErrNoAnswer and context.DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q: want %q, without the password", err, tc.want)
			}
			if took < tc.bound || took > tc.bound+2*time.Second {
				t.Errorf("failed after %s; want the bound %s (+ at most 2 s)", took, tc.bound)
			}
		})
	}
}

// A server that answered the connect and then stalls (a proxy that stops forwarding): every
// operation fails within Options.Timeout instead of waiting forever.
func TestOperationTimeoutOnStalledServer(t *testing.T) {
	dsn := pgtest.Start(t)
	direct := open(t, dsn) // creates the table, so that the stalled store opens fast
	if err := direct.Enqueue(context.Background(), rec("m1", "t", "a")); err != nil {
		t.Fatal(err)
	}
	proxyURL := viaProxy(t, dsn)
	const bound = 800 * time.Millisecond
	s, err := Open(context.Background(), proxyURL.url, Options{Timeout: bound})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.List(context.Background(), outbox.Filter{}); err != nil {
		t.Fatalf("List before the stall: %v", err)
	}
	proxyURL.p.Stall(true)
	defer proxyURL.p.Stall(false) // before Close, so that the pool's connections can be closed
	for _, op := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"List", func(ctx context.Context) error { _, err := s.List(ctx, outbox.Filter{}); return err }},
		{"Enqueue", func(ctx context.Context) error { return s.Enqueue(ctx, rec("m2", "t", "a")) }},
		{"Claim", func(ctx context.Context) error { _, err := s.Claim(ctx, "d", time.Now(), time.Minute, 10); return err }},
		{"Stats", func(ctx context.Context) error { _, err := s.Stats(ctx); return err }},
	} {
		start := time.Now()
		err := op.do(context.Background()) // no deadline of the caller's: the store's bound applies
		took := time.Since(start)
		t.Logf("%s on a stalled server: %v after %s", op.name, err, took.Round(time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a stalled server: %v; want a deadline exceeded", op.name, err)
		}
		if took < bound || took > bound+2*time.Second {
			t.Errorf("%s failed after %s; want the bound %s (+ at most 2 s)", op.name, took, bound)
		}
	}
}

type proxied struct {
	p   *faultproxy.Proxy
	url string
}

// viaProxy returns dsn's server reached through a fault proxy.
func viaProxy(t *testing.T, dsn string) proxied {
	t.Helper()
	cfg, _, err := pgconf.Parse(dsn, pgconf.Bounds{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	p, err := faultproxy.New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return proxied{p: p, url: strings.Replace(dsn, target, p.Addr(), 1)}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/outbox/pgstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// serve runs the example with the configuration the header describes (store as given) until
// stop is called or the test ends, and returns its base URL.
func serve(t *testing.T, store string) (base string, stop func()) {
	t.Helper()
	pki := testbus.PKIDir()
	conf := filepath.Join(t.TempDir(), "shop.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`topic_prefix = "org.example"
environment = "dev"
sign_messages = true
certname = "pub01"
ssldir = %q
ca_cert_location = %q
crl_location = %q
[outbox]
store = %q
[recipients]
"org.example.dev.shop.order.created" = ["billing"]
"org.example.dev.shop.stock.reserved" = ["warehouse"]
`, pki, filepath.Join(pki, "ca.crt"), filepath.Join(pki, "crl.pem"), store)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACKMSG_CONFIG", conf)
	t.Setenv("ACKMSG_NAME", "")
	t.Setenv("ACKMSG_CERTNAME", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0") // bound before run: requests wait in the backlog
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func() (net.Listener, error) { return ln, nil }, false, slog.New(slog.DiscardHandler))
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// post sends an order and returns the status and the msg_ids stored.
func post(t *testing.T, base, body string) (int, []string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Post(base+"/orders", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var res struct{ Stored []string }
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &res); err != nil {
			t.Fatalf("response %q: %v", data, err)
		}
	}
	return resp.StatusCode, res.Stored
}

// stored lists the msg_ids in the outbox store.
func stored(t *testing.T, st outbox.Store) []string {
	t.Helper()
	recs, err := st.List(t.Context(), outbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.MsgID)
	}
	slices.Sort(ids)
	return ids
}

// With a file store, a request's two messages are stored together; a bad request stores none.
func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	base, stop := serve(t, path)
	code, ids := post(t, base, `{"item":"book","qty":2}`)
	if code != http.StatusOK || len(ids) != 2 {
		t.Fatalf("good order: %d, stored %q", code, ids)
	}
	if code, _ := post(t, base, `{"item":"","qty":2}`); code != http.StatusBadRequest {
		t.Fatalf("bad order: %d", code)
	}
	stop() // the example owns the file while it runs
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	slices.Sort(ids)
	if got := stored(t, st); !slices.Equal(got, ids) {
		t.Errorf("outbox holds %q, want %q", got, ids)
	}
}

// With PostgreSQL, the order row and its messages are committed in the application's own
// transaction: both or neither (an order the table refuses leaves no message behind).
func TestPostgresEnqueueTx(t *testing.T) {
	dsn := pgtest.Start(t)
	base, _ := serve(t, dsn)
	ctx := t.Context()
	code, ids := post(t, base, `{"item":"book","qty":2}`)
	if code != http.StatusOK || len(ids) != 2 {
		t.Fatalf("good order: %d, stored %q", code, ids)
	}
	// qty 1000 passes the handler's checks but not the table's: the transaction that already
	// holds the order's messages is rolled back.
	if code, _ := post(t, base, `{"item":"piano","qty":1000}`); code != http.StatusBadRequest {
		t.Fatalf("order the table refuses: %d, want 400", code)
	}
	if code, _ := post(t, base, `not json`); code != http.StatusBadRequest {
		t.Fatalf("bad order: %d", code)
	}

	st, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	slices.Sort(ids)
	if got := stored(t, st); !slices.Equal(got, ids) {
		t.Fatalf("outbox holds %q, want only the good order's %q", got, ids)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	var item string
	if err := conn.QueryRow(ctx, "SELECT count(*), min(item) FROM shop_orders").Scan(&n, &item); err != nil || n != 1 || item != "book" {
		t.Fatalf("shop_orders: %d rows, item %q (%v): want the book only", n, item, err)
	}
}

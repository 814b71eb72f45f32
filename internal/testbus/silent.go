package testbus

import (
	"net"
	"strings"
	"sync"
	"testing"
)

// SilentPeer accepts TCP connections at addr (host:port or tcp://host:port; port 0 picks one)
// and never says a word: a hung PostgreSQL, a ZeroMQ peer stuck before its greeting, a replay
// endpoint that never replies. It returns the address it listens on (host:port) and a count of
// the connections accepted so far. The listener and the connections are closed when the test
// ends.
func SilentPeer(t testing.TB, addr string) (hostport string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }
}

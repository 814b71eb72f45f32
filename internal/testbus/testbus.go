// Package testbus holds what tests across ackmsg share to stand up a bus on loopback: free
// ports, configurations, the vector PKI, and a poll-until-true helper. It is imported only by
// tests.
package testbus

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and that it has not
// returned before in this process. It is chosen at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), where the source ports of outgoing connections come from: the
// tests open thousands of connections (ZeroMQ, PostgreSQL, RabbitMQ), and a port picked inside
// that range could be taken as a source port between the check and the bind. A test usually
// picks all its ports before it binds any, so a port already handed out is never handed out
// again: a free check alone would return it twice. Between test processes a random pick from
// thousands of ports, checked free, rarely collides; the kernel's choice (port 0) is the
// fallback.
func FreePort(t testing.TB) int {
	t.Helper()
	handed.Lock()
	defer handed.Unlock()
	low := ephemeralLow()
	for range 64 {
		if low <= minPort {
			break
		}
		port := minPort + rand.IntN(low-minPort)
		if handed.ports[port] {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			handed.ports[port] = true
			return port
		}
	}
	for range 64 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handed.ports[port] {
			handed.ports[port] = true
			return port
		}
	}
	t.Fatalf("free port: every port offered was handed out before")
	return 0
}

// handed is the ports FreePort has returned in this process.
var handed = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// minPort is the lowest port FreePort picks: above the usual servers' ports.
const minPort = 20000

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

// Addr returns a fresh tcp://127.0.0.1:port address.
func Addr(t testing.TB) string { return fmt.Sprintf("tcp://127.0.0.1:%d", FreePort(t)) }

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// PKIDir is the vector PKI (CA, CRL, pub01, sub01, sub02, revoked01, expired01, untrusted01).
func PKIDir() string { return filepath.Join(RepoRoot(), "testdata", "vectors", "pki") }

// Config returns a valid configuration with topic prefix org.example, environment test, and
// the given endpoints; it names no publisher and signs nothing.
func Config(endpoints map[string][]string) *config.Config {
	c := config.DefaultConfig()
	c.TopicPrefix = "org.example"
	c.Environment = "test"
	c.Endpoints = config.ListMap(endpoints)
	c.ZMQLinger = 0
	return &c
}

// Sign makes c sign with the vector PKI certificate name and validate against its CA and CRL.
func Sign(c *config.Config, name string) *config.Config {
	c.SignMessages = true
	c.ValidateSignatures = true
	c.SSLDir = PKIDir()
	c.Certname = name
	c.CACertLocation = filepath.Join(PKIDir(), "ca.crt")
	c.CRLLocation = filepath.Join(PKIDir(), "crl.pem")
	return c
}

// Eventually polls cond every few milliseconds until it is true, failing the test after d.
// It is for conditions with no event to wait on (another process's state); prefer channels.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a synchronisation
	}
}

// Exists reports whether path exists.
func Exists(path string) bool { _, err := os.Stat(path); return err == nil }

// Package testbus holds what tests across ackmsg share to stand up a bus on loopback: free
// ports, configurations, the vector PKI, a test's bounded context and a poll-until-true helper.
// It is imported only by tests.
package testbus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/freeport"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and that no caller in
// this process was given before (see package freeport for how it is chosen).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Pick()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
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

// Within returns the test's context (t.Context()) bounded by d: it ends after d, or when the
// test function returns, before its Cleanup functions run.
func Within(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
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

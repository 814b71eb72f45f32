package testbus

import "testing"

// FreePort never hands out a port twice in one process: a test picks all its ports before it
// binds any, so a second pick of a port that is still free would make two of its sockets
// collide. 2000 picks from the ~12,000 ports below the ephemeral range would repeat one almost
// surely if picks were independent.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
	}
}

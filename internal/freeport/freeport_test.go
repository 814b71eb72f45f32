package freeport

import "testing"

// Pick never hands out a port twice in one process: a caller picks all its ports before it
// binds any, so a second pick of a port that is still free would make two of its sockets
// collide. 2000 picks from the ~12,000 ports below the ephemeral range would repeat one almost
// surely if picks were independent.
func TestPickNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	ports, err := PickN(2000)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("Pick returned %d twice", p)
		}
		if p < minPort || p > 65535 {
			t.Fatalf("Pick returned %d", p)
		}
		seen[p] = true
	}
}

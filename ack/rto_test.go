package ack

import (
	"testing"
	"time"
)

func TestRTOAdaptsAndBacksOff(t *testing.T) {
	var e rtoEstimator
	if e.rto() != initialRTO {
		t.Fatalf("initial %s", e.rto())
	}
	for i := 0; i < 20; i++ {
		e.sample(2 * time.Millisecond)
	}
	if got := e.rto(); got != minRTO {
		t.Fatalf("after fast samples %s, want the floor %s", got, minRTO)
	}
	e.backoff()
	e.backoff()
	if got := e.rto(); got != 4*minRTO {
		t.Fatalf("after two back-offs %s, want %s", got, 4*minRTO)
	}
	for i := 0; i < 10; i++ {
		e.backoff()
	}
	if got := e.rto(); got != maxRTO {
		t.Fatalf("back-off not capped: %s", got)
	}
	e.sample(2 * time.Millisecond) // a fresh sample ends the back-off
	if got := e.rto(); got != minRTO {
		t.Fatalf("after a fresh sample %s", got)
	}
	for i := 0; i < 20; i++ {
		e.sample(100 * time.Millisecond)
	}
	if got := e.rto(); got < 100*time.Millisecond || got > 200*time.Millisecond {
		t.Fatalf("after 100 ms samples %s", got)
	}
}

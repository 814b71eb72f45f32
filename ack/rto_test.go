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

// The queueing allowance follows the pace at which messages complete while others wait, and
// ignores completions with nothing else in flight.
func TestQueueDelayFollowsThePace(t *testing.T) {
	var e rtoEstimator
	if d := e.queueDelay(100); d != 0 {
		t.Fatalf("before any sample %s", d)
	}
	e.sample(3 * time.Millisecond)
	if d := e.queueDelay(100); d != 600*time.Millisecond {
		t.Fatalf("before any completion, 100 ahead at one 3 ms round trip each, doubled: %s", d)
	}
	t0 := time.Now()
	for i := range 50 {
		e.completed(t0.Add(time.Duration(i)*2*time.Millisecond), true)
	}
	if d := e.queueDelay(10); d != 40*time.Millisecond {
		t.Fatalf("10 ahead at 2 ms each, doubled: %s", d)
	}
	if d := e.queueDelay(0); d != 0 {
		t.Fatalf("nothing ahead: %s", d)
	}
	if d := e.queueDelay(1 << 20); d != maxQueueDelay {
		t.Fatalf("not capped: %s", d)
	}
	e.completed(t0.Add(time.Hour), false) // idle: an hour between completions is not a pace
	if d := e.queueDelay(10); d != 40*time.Millisecond {
		t.Fatalf("an idle completion changed the pace: %s", d)
	}
}

// Completions in bursts (a broker confirming in batches behind a bridge) are paced by their
// average over time, not by the near-zero intervals inside a burst.
func TestQueueDelayBurstyPace(t *testing.T) {
	var e rtoEstimator
	e.sample(3 * time.Millisecond)
	t0 := time.Now()
	for b := range 20 { // 20 completions at once every 20 ms: 1 ms each
		for range 20 {
			e.completed(t0.Add(time.Duration(b)*20*time.Millisecond), true)
		}
	}
	if d := e.queueDelay(10); d < 15*time.Millisecond || d > 25*time.Millisecond {
		t.Fatalf("10 ahead at 1 ms each, doubled: %s, want about 20 ms", d)
	}
}

// A large message's first timeout allows for the work its size adds; an ordinary one's hardly
// moves.
func TestSizeAllowance(t *testing.T) {
	if got := sizeAllowance(1 << 20); got < 50*time.Millisecond {
		t.Fatalf("1 MB: %s, want at least 50 ms", got)
	}
	if got := sizeAllowance(2 << 10); got > time.Millisecond {
		t.Fatalf("2 KB: %s, want under 1 ms", got)
	}
}

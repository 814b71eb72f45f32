package ack

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// The window holds at most n msg_ids, evicting the least recently seen.
func TestWindowIsBoundedLRU(t *testing.T) {
	w := newWindow(3)
	for i := 0; i < 3; i++ {
		w.put(fmt.Sprint(i), stateAcked)
	}
	w.get("0") // 0 is now the most recent; 1 the least
	w.put("3", stateProcessing)
	if w.len() != 3 {
		t.Fatalf("len %d", w.len())
	}
	if w.get("1") != nil {
		t.Fatal("the least recently seen id was not evicted")
	}
	for _, id := range []string{"0", "2", "3"} {
		if w.get(id) == nil {
			t.Fatalf("%s evicted", id)
		}
	}
	if e := w.put("0", stateFailed); e.state != stateFailed || w.len() != 3 {
		t.Fatalf("updating an entry: %+v, len %d", e, w.len())
	}
	for i := 0; i < 10000; i++ {
		w.put(fmt.Sprint("x", i), stateAcked)
	}
	if w.len() != 3 {
		t.Fatalf("window grew to %d", w.len())
	}
}

// A remembered msg_id does not keep the string it was sliced from alive: a decoded msg_id is a
// substring of the whole decoded envelope, and the window holds thousands of ids.
func TestWindowDoesNotPinTheEnvelope(t *testing.T) {
	w := newWindow(16)
	freed := make(chan struct{})
	func() {
		envelope := new([64 << 10]byte)
		copy(envelope[100:], "2026-1c5f0e6a-4e5b-4c1e-9d3c-000000000001")
		runtime.AddCleanup(envelope, func(ch chan struct{}) { close(ch) }, freed)
		whole := unsafe.String(&envelope[0], len(envelope))
		w.put(whole[100:141], stateProcessing)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		select {
		case <-freed:
			if w.get("2026-1c5f0e6a-4e5b-4c1e-9d3c-000000000001") == nil {
				t.Fatal("the id was not remembered")
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the envelope a remembered msg_id was sliced from is still alive")
		}
		runtime.Gosched()
	}
}

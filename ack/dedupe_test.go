package ack

import (
	"fmt"
	"testing"
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

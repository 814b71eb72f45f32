package replay

import (
	"errors"
	"fmt"
	"testing"
)

// Concurrent publishers are numbered without holes and sent in seq_id order.
func TestHistoryOrder(t *testing.T) {
	s := newMemStore()
	h, err := NewHistory(t.Context(), s, "a")
	if err != nil {
		t.Fatal(err)
	}
	var sent []int64
	done := make(chan error)
	const workers, each = 8, 50
	for range workers {
		go func() {
			for range each {
				var mine int64
				_, err := h.Publish(t.Context(), func(seq int64) (Record, error) {
					mine = seq
					if seq == 17 {
						return Record{}, errors.New("build failed")
					}
					return Record{Seq: seq, MsgID: fmt.Sprintf("m%d", seq), Timestamp: 1}, nil
				}, func() error { sent = append(sent, mine); return nil }) // under the history's lock
				if err != nil && mine != 17 {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != workers*each-1 {
		t.Fatalf("sent %d, want %d", len(sent), workers*each-1)
	}
	for i := 1; i < len(sent); i++ {
		if sent[i] <= sent[i-1] {
			t.Fatalf("sent out of order at %d: %v", i, sent[i-1:i+1])
		}
	}
	if _, err := s.Query(t.Context(), "a", Query{SeqID: ptr[int64](17)}, Limits{}); err != ErrNoMatch {
		t.Fatalf("abandoned seq_id 17 recorded: %v", err)
	}
}

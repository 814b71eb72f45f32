package cli

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// A read blocked on a pipe whose writer stays open returns ErrStopped as soon as ctx is
// cancelled; the lines read before are all seen, the unterminated one as the last.
func TestStopReaderEndsABlockedRead(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close() // also ends the goroutine still blocked in read(2)
	ctx, cancel := context.WithCancel(t.Context())
	sc := bufio.NewScanner(StopReader(ctx, r))
	if _, err := io.WriteString(w, "one\ntwo\nunfinish"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 && sc.Scan() {
		got = append(got, sc.Text())
	}
	// Whether the cancel comes while the scanner waits in Read (the usual case) or just before,
	// the outcome is the same; the writer stays open, so only the cancel can end the loop.
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Read returned %s after the cancel", took)
	}
	if err := sc.Err(); !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Err() = %v, want ErrStopped wrapping context.Canceled", err)
	}
	if strings.Join(got, "|") != "one|two|unfinish" {
		t.Fatalf("read %q", got)
	}
}

// Without a cancel the reader is r: every byte, then r's own error, which stays.
func TestStopReaderPassesThrough(t *testing.T) {
	in := strings.Repeat("0123456789", 10000)
	sr := StopReader(t.Context(), strings.NewReader(in))
	small := make([]byte, 7)
	var b strings.Builder
	for {
		n, err := sr.Read(small)
		b.Write(small[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if b.String() != in {
		t.Fatalf("read %d bytes, want %d", b.Len(), len(in))
	}
	if n, err := sr.Read(small); n != 0 || err != io.EOF {
		t.Fatalf("after EOF: %d, %v", n, err)
	}
}

// A context cancelled before the first Read starts no read at all.
func TestStopReaderCancelledFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n, err := StopReader(ctx, strings.NewReader("x\n")).Read(make([]byte, 10))
	if n != 0 || !errors.Is(err, ErrStopped) {
		t.Fatalf("Read = %d, %v; want 0, ErrStopped", n, err)
	}
}

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

// A write blocked on a pipe nobody reads returns ErrStopped once ctx is cancelled; writes before
// went through whole.
func TestStopWriterEndsABlockedWrite(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close() // also ends the goroutine still blocked in write(2)
	ctx, cancel := context.WithCancel(t.Context())
	sw := StopWriter(ctx, w, 100*time.Millisecond)
	if n, err := sw.Write([]byte("first\n")); n != 6 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "first\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	// Fill the pipe until a write blocks; only the cancel can end it.
	time.AfterFunc(50*time.Millisecond, cancel)
	big := make([]byte, 1<<20)
	start := time.Now()
	for {
		if _, err = sw.Write(big); err != nil {
			break
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Write returned %s after the cancel", took)
	}
	if !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrStopped wrapping context.Canceled", err)
	}
	if n, err := sw.Write([]byte("x")); n != 0 || !errors.Is(err, ErrStopped) {
		t.Fatalf("Write after the stop = %d, %v", n, err)
	}
}

// Without a cancel the writer is w.
func TestStopWriterPassesThrough(t *testing.T) {
	var b strings.Builder
	sw := StopWriter(t.Context(), &b, time.Second)
	for i := 0; i < 1000; i++ {
		if n, err := sw.Write([]byte("0123456789")); n != 10 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if b.Len() != 10000 {
		t.Fatalf("wrote %d bytes", b.Len())
	}
}

// BenchmarkStopWriter is the cost of a line through StopWriter (a goroutine hand-off and a copy)
// against a direct write: what ackmsg-tail pays per message printed.
func BenchmarkStopWriter(b *testing.B) {
	line := []byte(strings.Repeat("x", 300) + "\n")
	for _, bc := range []struct {
		name string
		w    func() io.Writer
	}{
		{"direct", func() io.Writer { return io.Discard }},
		{"stop", func() io.Writer { return StopWriter(b.Context(), io.Discard, time.Second) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := bc.w()
			for b.Loop() {
				if _, err := w.Write(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Once ctx ended, writes still go through within their grace: what the command took in is
// finished, not dropped.
func TestStopWriterFinishesWithinGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var b strings.Builder
	sw := StopWriter(ctx, &b, time.Minute)
	if n, err := sw.Write([]byte("last line\n")); n != 10 || err != nil || b.String() != "last line\n" {
		t.Fatalf("Write after the cancel = %d, %v (%q)", n, err, b.String())
	}
}

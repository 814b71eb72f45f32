package message

import (
	"math/rand/v2"
	"testing"
)

// The word-at-a-time scanners must stop exactly where a byte loop stops, whatever the bytes around
// the stopping point (borrows and carries cross byte boundaries inside a word).
func TestRunsMatchByteLoops(t *testing.T) {
	plainRef := func(s string, i int) int {
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"' && s[j] != '\\' {
			j++
		}
		return j - i
	}
	literalRef := func(s string, i int) int {
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] != '"' && s[j] != '\\' {
			j++
		}
		return j - i
	}
	check := func(s string) {
		t.Helper()
		for i := 0; i <= len(s); i++ {
			if got, want := plainRun(s, i), plainRef(s, i); got != want {
				t.Fatalf("plainRun(%q, %d) = %d, want %d", s, i, got, want)
			}
			if got, want := literalRun(s, i), literalRef(s, i); got != want {
				t.Fatalf("literalRun(%q, %d) = %d, want %d", s, i, got, want)
			}
		}
	}
	edges := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xc3, 0xfe, 0xff}
	base := []byte("0123456789abcdefghijklmn") // 24 plain bytes: three words
	// Every byte value at every position of every length.
	for n := 0; n <= len(base); n++ {
		for p := 0; p < n; p++ {
			for c := 0; c < 256; c++ {
				b := append([]byte(nil), base[:n]...)
				b[p] = byte(c)
				check(string(b))
			}
		}
	}
	// Every pair of edge values at every pair of positions in two words.
	for p := 0; p < 16; p++ {
		for q := p + 1; q < 16; q++ {
			for _, x := range edges {
				for _, y := range edges {
					b := append([]byte(nil), base[:16]...)
					b[p], b[q] = x, y
					check(string(b))
				}
			}
		}
	}
	// Random strings over the edge values and plain bytes.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = edges[rng.IntN(len(edges))]
			} else {
				b[i] = byte(rng.IntN(256))
			}
		}
		check(string(b))
	}
}

// closingQuote must find the quote the escape-by-escape walk finds.
func TestClosingQuote(t *testing.T) {
	walk := func(s string, i int) int {
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		return min(i, len(s))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{'a', '"', '\\', '\\', 'n'}
	for range 200000 {
		b := make([]byte, rng.IntN(12))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		start := rng.IntN(len(s) + 1)
		i := start
		for i < len(s) && s[i] != '\\' && rng.IntN(3) > 0 {
			i++
		}
		if got, want := closingQuote(s, start, i), walk(s, i); got != want {
			t.Fatalf("closingQuote(%q, %d, %d) = %d, want %d", s, start, i, got, want)
		}
	}
}

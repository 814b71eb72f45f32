package message

import "math/bits"

// Word-at-a-time scanning (SWAR: SIMD within a register). Strings on the bus are mostly long runs
// of printable ASCII that the encoder and decoder copy unchanged; testing eight bytes per step
// finds the end of such a run several times faster than a byte loop.
//
// The tests work on the low seven bits of each byte (y = x &^ msbs), so that adding a constant
// below 0x80 to a byte never carries into the next one: each byte's top bit then answers for that
// byte alone, and the lowest flagged byte is the first byte the scan stops at.

const (
	lsbs = 0x0101010101010101
	msbs = 0x8080808080808080
)

// load64 returns the eight bytes of s at i as a little-endian word. The compiler merges the loads
// into one; i+8 must not exceed len(s).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// literalMask has the top bit set in each byte of x that ends a run of literal JSON string
// content: '"', '\\' and the control characters below 0x20 (bytes from 0x80 up are literal).
func literalMask(x uint64) uint64 {
	y := x &^ msbs
	atLeast20 := y + lsbs*(0x80-0x20)      // top bit set where y >= 0x20
	notQuote := (y ^ lsbs*'"') + lsbs*0x7f // top bit set where y != '"'
	notBackslash := (y ^ lsbs*'\\') + lsbs*0x7f
	return ^(x | atLeast20&notQuote&notBackslash) & msbs
}

// plainMask has the top bit set in each byte of x that Python's ensure_ascii encoder does not
// copy unchanged: what literalMask flags, and every byte from 0x7F up.
func plainMask(x uint64) uint64 {
	is7f := (x&^msbs + lsbs) & msbs // top bit set where the low seven bits are 0x7f
	return literalMask(x) | x&msbs | is7f
}

// plainRun returns the length of the longest prefix of s[i:] that Python's ensure_ascii encoder
// copies unchanged: bytes from 0x20 to 0x7E except '"' and '\\'.
func plainRun(s string, i int) int {
	rest := s[i:]
	for len(rest) >= 16 {
		m0, m1 := plainMask(load64(rest, 0)), plainMask(load64(rest, 8))
		if m0|m1 != 0 {
			if m0 != 0 {
				return len(s) - len(rest) - i + bits.TrailingZeros64(m0)>>3
			}
			return len(s) - len(rest) - i + 8 + bits.TrailingZeros64(m1)>>3
		}
		rest = rest[16:]
	}
	for j := 0; j < len(rest); j++ {
		if b := rest[j]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' {
			return len(s) - len(rest) - i + j
		}
	}
	return len(s) - i
}

// literalRun returns the length of the longest prefix of s[i:] that a JSON string holds
// literally: any byte but '"', '\\' and the control characters below 0x20.
func literalRun(s string, i int) int {
	rest := s[i:]
	for len(rest) >= 16 {
		m0, m1 := literalMask(load64(rest, 0)), literalMask(load64(rest, 8))
		if m0|m1 != 0 {
			if m0 != 0 {
				return len(s) - len(rest) - i + bits.TrailingZeros64(m0)>>3
			}
			return len(s) - len(rest) - i + 8 + bits.TrailingZeros64(m1)>>3
		}
		rest = rest[16:]
	}
	for j := 0; j < len(rest); j++ {
		if b := rest[j]; b < 0x20 || b == '"' || b == '\\' {
			return len(s) - len(rest) - i + j
		}
	}
	return len(s) - i
}

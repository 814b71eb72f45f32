package message

import "math/bits"

// Word-at-a-time scanning (SWAR: SIMD within a register). Strings on the bus are mostly long runs
// of printable ASCII that the encoder and decoder copy unchanged; testing eight bytes per step
// finds the end of such a run several times faster than a byte loop (sixteen bytes per step
// while every byte passes, then eight, then one).
//
// The tests work on the low seven bits of each byte (y = x &^ msbs), so that adding a constant
// below 0x80 to a byte never carries into the next one: each byte's top bit then answers for that
// byte alone, and the lowest byte without it is the first byte the scan stops at.

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

// literalOK has the top bit set in each byte of x that a JSON string holds literally: any byte
// but '"', '\\' and the control characters below 0x20.
func literalOK(x uint64) uint64 {
	y := x &^ msbs
	atLeast20 := y + lsbs*(0x80-0x20)      // top bit set where y >= 0x20
	notQuote := (y ^ lsbs*'"') + lsbs*0x7f // top bit set where y != '"'
	notBackslash := (y ^ lsbs*'\\') + lsbs*0x7f
	return (x | atLeast20&notQuote&notBackslash) & msbs
}

// plainOK has the top bit set in each byte of x that Python's ensure_ascii encoder copies
// unchanged: bytes from 0x20 to 0x7E except '"' and '\\', i.e. what literalOK allows except the
// bytes from 0x80 up and 0x7F.
func plainOK(x uint64) uint64 {
	highOr7f := x | (x&^msbs + lsbs) // top bit set where x >= 0x80 or its low seven bits are 0x7f
	return literalOK(x) &^ highOr7f
}

// plainRun returns the length of the longest prefix of s[i:] that Python's ensure_ascii encoder
// copies unchanged (see plainOK).
func plainRun(s string, i int) int {
	start := i
	for ; i+16 <= len(s); i += 16 {
		if plainOK(load64(s, i))&plainOK(load64(s, i+8)) != msbs {
			break
		}
	}
	for ; i+8 <= len(s); i += 8 {
		if ok := plainOK(load64(s, i)); ok != msbs {
			return i + bits.TrailingZeros64(^ok&msbs)>>3 - start
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' {
			break
		}
	}
	return i - start
}

// literalRun returns the length of the longest prefix of s[i:] that a JSON string holds
// literally (see literalOK).
func literalRun(s string, i int) int {
	start := i
	for ; i+16 <= len(s); i += 16 {
		if literalOK(load64(s, i))&literalOK(load64(s, i+8)) != msbs {
			break
		}
	}
	for ; i+8 <= len(s); i += 8 {
		if ok := literalOK(load64(s, i)); ok != msbs {
			return i + bits.TrailingZeros64(^ok&msbs)>>3 - start
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == '"' || b == '\\' {
			break
		}
	}
	return i - start
}

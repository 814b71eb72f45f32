package message

import (
	"fmt"
	"math/big"
	"strconv"
)

// Int is an exact JSON integer in canonical decimal form: an optional '-', then digits without
// leading zeros ("-0" is "0"). It has no size limit, as Python's int, apart from MaxIntDigits.
type Int string

// IntOf returns n as an Int.
func IntOf(n int64) Int { return Int(strconv.FormatInt(n, 10)) }

// IntOfBig returns n as an Int; a nil n is 0.
func IntOfBig(n *big.Int) Int {
	if n == nil {
		return "0"
	}
	return Int(n.String())
}

// Int64 returns i as an int64, and false when it does not fit or i is not a decimal integer.
func (i Int) Int64() (int64, bool) {
	if _, ok := canonicalInt(string(i)); !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(i), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// Big returns i as a *big.Int, and false when i is not a decimal integer.
func (i Int) Big() (*big.Int, bool) {
	s, ok := canonicalInt(string(i))
	if !ok {
		return nil, false
	}
	return new(big.Int).SetString(s, 10)
}

// canonicalInt reports whether s is -?[0-9]+ and returns its canonical spelling (no leading zeros,
// no "-0"). Canonical input, the only kind Unmarshal produces, comes back without allocating.
func canonicalInt(s string) (string, bool) {
	digits, neg := s, false
	if len(digits) > 0 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) == 0 {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		if c := digits[i]; c < '0' || c > '9' {
			return "", false
		}
	}
	if digits[0] != '0' {
		return s, true
	}
	// "0", or leading zeros, which only Go callers can write.
	j := 0
	for j < len(digits)-1 && digits[j] == '0' {
		j++
	}
	digits = digits[j:]
	if digits == "0" || !neg {
		return digits, true
	}
	return "-" + digits, true
}

// canonical returns i's canonical spelling, or an error wrapping ErrEncode when i is not a
// decimal integer or is longer than Python will print.
func (i Int) canonical() (string, error) {
	s, ok := canonicalInt(string(i))
	if !ok {
		return "", encodeErrorf("Int %q is not a decimal integer", truncate(string(i)))
	}
	if n := digitCount(s); n > MaxIntDigits {
		return "", encodeErrorf("integer of %d digits exceeds Python's limit of %d", n, MaxIntDigits)
	}
	return s, nil
}

// digitCount returns the number of digits of a canonical Int.
func digitCount(s string) int {
	if len(s) > 0 && s[0] == '-' {
		return len(s) - 1
	}
	return len(s)
}

// MarshalJSON writes i as a JSON number, so that an Int inside a struct stays an integer when
// encoding/json (or Normalize, through it) writes the struct.
func (i Int) MarshalJSON() ([]byte, error) {
	s, err := i.canonical()
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// UnmarshalJSON reads a JSON integer literal (no '.', 'e' or 'E') exactly, whatever its size.
func (i *Int) UnmarshalJSON(data []byte) error {
	v, err := Unmarshal(data)
	if err != nil {
		return err
	}
	n, ok := v.(Int)
	if !ok {
		return fmt.Errorf("message: JSON value %.40q is not an integer", data)
	}
	*i = n
	return nil
}

package cli

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// ParseSeconds reads a duration given as seconds ("3", "0.25") or as a Go duration ("1m30s").
func ParseSeconds(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || math.IsNaN(f) || f > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%q: want a non-negative number of seconds", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want seconds (3, 0.25) or a duration (1m30s)", s)
	}
	return d, nil
}

package message

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestFormatFloatPython checks FormatFloat against Python's repr on the doubles listed in
// testdata/float-repr.txt (written by testdata/gen_float_repr.py: thresholds and their neighbours,
// powers of ten and two, random bit patterns, short decimals).
func TestFormatFloatPython(t *testing.T) {
	f, err := os.Open("testdata/float-repr.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hexBits, want, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		b, err := strconv.ParseUint(hexBits, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatFloat(math.Float64frombits(b)); got != want {
			t.Errorf("bits %s: FormatFloat = %s, Python repr = %s", hexBits, got, want)
		}
		n++
	}
	if n < 4000 {
		t.Errorf("only %d lines read", n)
	}
}

// referenceRepr derives Python's repr by a route independent of appendFloat: the decimal exponent
// picks the notation, and strconv lays the shortest digits out in it.
func referenceRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 0):
		if f > 0 {
			return "Infinity"
		}
		return "-Infinity"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expText, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expText)
	if f == 0 || (exp >= -4 && exp < 16) {
		plain := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(plain, ".") {
			plain += ".0"
		}
		return plain
	}
	return fmt.Sprintf("%se%+03d", mant, exp)
}

func TestFormatFloatProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 300_000
	if testing.Short() {
		n = 20_000
	}
	check := func(f float64) {
		got := FormatFloat(f)
		if want := referenceRepr(f); got != want {
			t.Fatalf("%016x: FormatFloat = %s, reference = %s", math.Float64bits(f), got, want)
		}
		if math.IsNaN(f) {
			return
		}
		back, err := strconv.ParseFloat(got, 64)
		if got == "Infinity" || got == "-Infinity" {
			back, err = math.Inf(int(math.Copysign(1, f))), nil
		}
		if err != nil || math.Float64bits(back) != math.Float64bits(f) {
			t.Fatalf("%016x: %s parses back as %v (%v)", math.Float64bits(f), got, back, err)
		}
		v, err := Unmarshal([]byte(got))
		if err != nil {
			t.Fatalf("%s: Unmarshal: %v", got, err)
		}
		if g, ok := v.(float64); !ok || math.Float64bits(g) != math.Float64bits(f) {
			t.Fatalf("%s: Unmarshal gives %#v, want float64 bits %016x", got, v, math.Float64bits(f))
		}
	}
	for range n {
		check(math.Float64frombits(rng.Uint64())) // every exponent equally likely
		// Values near the plain-notation range, where the layout rules matter.
		check(math.Copysign(math.Pow(10, rng.Float64()*26-8), float64(rng.IntN(2)*2-1)))
		// Short decimals, as people write them.
		check(float64(rng.Int64N(2_000_000_000)-1_000_000_000) / math.Pow(10, float64(rng.IntN(12))))
	}
	for _, f := range []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
		check(f)
	}
}

func TestFormatFloatAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = appendFloat(buf[:0], 1.2345678901234567e-300) }); n != 0 {
		t.Errorf("appendFloat allocates %v times", n)
	}
}

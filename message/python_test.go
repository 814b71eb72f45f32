package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// pythonRoundTrip reads base64 inputs, one a line, and prints for each what a fedmsg validator
// computes: OK and the canonical bytes in base64, or ERR when json.loads rejects the input.
const pythonRoundTrip = `
import base64, json, sys
for line in sys.stdin:
    data = base64.b64decode(line)
    try:
        v = json.loads(data.decode('utf-8'))
        out = json.dumps(v, sort_keys=True, separators=(',', ':'))
        print('OK ' + base64.b64encode(out.encode('ascii')).decode())
    except (ValueError, RecursionError):
        print('ERR')
`

// TestPythonDifferential compares Unmarshal+Canonical with Python's json.loads+json.dumps on
// generated near-JSON inputs. It needs a Python 3.11+ interpreter, named by ACKMSG_PYTHON (for
// example ACKMSG_PYTHON=python3), and ACKMSG_PYTHON_N inputs (default 20000).
func TestPythonDifferential(t *testing.T) {
	python := os.Getenv("ACKMSG_PYTHON")
	if python == "" {
		t.Skip("set ACKMSG_PYTHON=python3 to compare with Python's json module")
	}
	n := 20000
	if s := os.Getenv("ACKMSG_PYTHON_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	inputs := make([][]byte, 0, n)
	for _, v := range loadVectors(t) {
		if v.WireJSON != "" {
			inputs = append(inputs, []byte(v.WireJSON))
		}
	}
	for len(inputs) < n {
		var g jsonGen
		g.rng = rng
		g.value(0)
		in := g.buf
		if rng.IntN(4) == 0 {
			in = mutate(rng, in)
		}
		inputs = append(inputs, in)
	}

	var stdin bytes.Buffer
	for _, in := range inputs {
		stdin.WriteString(base64.StdEncoding.EncodeToString(in))
		stdin.WriteByte('\n')
	}
	cmd := exec.Command(python, "-c", pythonRoundTrip)
	cmd.Stdin = &stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	agreedErr := 0
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		got, err := Unmarshal(inputs[i])
		if line == "ERR" {
			if err == nil {
				t.Errorf("Python rejects %q, Unmarshal accepts it", inputs[i])
			}
			agreedErr++
			continue
		}
		want, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, "OK "))
		if err != nil {
			t.Errorf("Python accepts %q, Unmarshal: %v", inputs[i], err)
			continue
		}
		if b, err := Canonical(got); err != nil || !bytes.Equal(b, want) {
			t.Errorf("input %q:\n  Go: %s (%v)\n  Py: %s", inputs[i], b, err, want)
		}
	}
	t.Logf("%d inputs compared, %d rejected by both", len(inputs), agreedErr)
}

// jsonGen writes random JSON-like text rich in what differs between parsers: number spellings,
// escapes, surrogates, whitespace, repeated keys, non-finite literals, non-ASCII text.
type jsonGen struct {
	rng *rand.Rand
	buf []byte
}

var genAtoms = []string{
	`0`, `-0`, `1`, `-1`, `007`, `1.`, `.5`, `1.0`, `1.50`, `-0.0`, `0e0`, `1e2`, `1E+2`, `1e-7`, `2.5e-5`, `1e400`,
	`-1e400`, `1e-400`, `-1e-400`, `9007199254740993`, `9007199254740993.0`, `1.00000000000000000001`,
	`100000000000000000000.0`, `123456789.123456789`, `1e21`, `1e16`, `1e15`, `0.0001`, `0.00001`,
	`5e-324`, `2.4703282292062328e-324`, `1.7976931348623159e308`, `18446744073709551616`, `NaN`,
	`Infinity`, `-Infinity`, `-NaN`, `nan`, `true`, `false`, `null`, `True`, `1e`, `1e+`, `-`, `+1`,
	`"\u00E9"`, `"\/"`, `"é"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800"`, `"\ud800\u0041"`,
	`"\ud800\ud800\udc00"`, `"\uDBFF\uDFFF"`, `"a\"b\\c"`, `"\b\f\n\r\t"`, "\"\x7f\"", "\"\u2028\"",
	`"\x"`, `"\u12"`, "\"\t\"", `""`, `"中文"`, "\"\U0001F600\"", `"<a&b>"`,
}

var genKeys = []string{`""`, `"a"`, `"b"`, `"B"`, `"_"`, `"aa"`, `"é"`, `"\u00e9"`, `"\uffff"`, `"\ud83d\ude00"`, `"😀"`, `"\ud800"`, `"~"`, `"10"`, `"9"`}

var genSpace = []string{"", "", "", " ", "\n", "\t", "\r\n  ", "\f", "\u00a0"}

func (g *jsonGen) space() {
	if g.rng.IntN(8) == 0 {
		g.buf = append(g.buf, genSpace[g.rng.IntN(len(genSpace))]...)
	}
}

func (g *jsonGen) value(depth int) {
	g.space()
	switch k := g.rng.IntN(10); {
	case k < 2 && depth < 6:
		g.buf = append(g.buf, '[')
		for i := range g.rng.IntN(4) {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.value(depth + 1)
		}
		g.buf = append(g.buf, ']')
	case k < 4 && depth < 6:
		g.buf = append(g.buf, '{')
		for i := range g.rng.IntN(5) {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.space()
			g.buf = append(g.buf, genKeys[g.rng.IntN(len(genKeys))]...)
			g.space()
			g.buf = append(g.buf, ':')
			g.value(depth + 1)
		}
		g.buf = append(g.buf, '}')
	case k < 6:
		g.buf = append(g.buf, genAtoms[g.rng.IntN(len(genAtoms))]...)
	case k < 8:
		g.number()
	default:
		g.str()
	}
	g.space()
}

func (g *jsonGen) number() {
	r := g.rng
	if r.IntN(3) == 0 {
		g.buf = append(g.buf, '-')
	}
	g.buf = strconv.AppendUint(g.buf, r.Uint64()>>r.IntN(64), 10)
	if r.IntN(2) == 0 {
		g.buf = append(g.buf, '.')
		g.buf = strconv.AppendUint(g.buf, r.Uint64()>>r.IntN(64), 10)
	}
	if r.IntN(2) == 0 {
		g.buf = append(g.buf, "eE"[r.IntN(2)])
		g.buf = append(g.buf, []string{"", "+", "-"}[r.IntN(3)]...)
		g.buf = strconv.AppendInt(g.buf, int64(r.IntN(700)), 10)
	}
}

func (g *jsonGen) str() {
	r := g.rng
	g.buf = append(g.buf, '"')
	for range r.IntN(6) {
		switch r.IntN(4) {
		case 0:
			g.buf = append(g.buf, `\u`...)
			g.buf = append(g.buf, []string{"d8", "db", "dc", "df", "00", "ff", "FE", "e0"}[r.IntN(8)]...)
			g.buf = append(g.buf, "0123456789abcdefABCDEF"[r.IntN(22)], "0123456789abcdef"[r.IntN(16)])
		case 1:
			g.buf = append(g.buf, byte(0x20+r.IntN(0x60)))
		case 2:
			g.buf = append(g.buf, string(rune(r.IntN(0x11000)))...)
		default:
			g.buf = append(g.buf, `\`...)
			g.buf = append(g.buf, `"\/bfnrtu`[r.IntN(9)])
		}
	}
	g.buf = append(g.buf, '"')
}

func mutate(rng *rand.Rand, in []byte) []byte {
	out := bytes.Clone(in)
	if len(out) == 0 {
		return out
	}
	i := rng.IntN(len(out))
	switch rng.IntN(3) {
	case 0:
		out[i] = byte(rng.IntN(256))
	case 1:
		out = append(out[:i], out[i+1:]...)
	default:
		out = append(out[:i], append([]byte{byte(rng.IntN(128))}, out[i:]...)...)
	}
	return out
}

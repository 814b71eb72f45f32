package main

import (
	"bufio"
	"strings"
	"testing"
)

// Lines are split and stripped as fedmsg-logger (Python 3) does: universal newlines, and
// str.strip(), which also strips U+001C..U+001F.
func TestLinesLikePython(t *testing.T) {
	in := "a\nb\r\nc\rd\r\n \x1fe\x1c \n\u00a0f\u2028\n\n\tg"
	sc := bufio.NewScanner(strings.NewReader(in))
	sc.Split(scanPythonLines)
	var got []string
	for sc.Scan() {
		got = append(got, pythonStrip(sc.Text()))
	}
	want := []string{"a", "b", "c", "d", "e", "f", "", "g"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

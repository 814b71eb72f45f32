package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

var testSubs = Subs{Command: "prog", List: []Sub{
	{Name: "queue", Args: "NAME --bind KEY... [flags]", Help: "declare\nit"},
	{Name: "get", Args: "NAME [--count N] [flags]", Help: "get them"},
}}

func TestSubsSplitFindsTheSubcommandAfterGlobalFlags(t *testing.T) {
	c := New("prog", "s", "[flags]", "")
	c.Flags.String("queue", "", "a global flag named like a subcommand")
	c.Flags.Bool("verbose", false, "a bool")
	for _, tc := range []struct {
		args []string
		sub  string
		rest []string
	}{
		{[]string{"queue", "q", "--bind", "k"}, "queue", []string{"q", "--bind", "k"}},
		{[]string{"--config", "f.toml", "queue", "q", "--bind", "k"}, "queue", []string{"--config", "f.toml", "q", "--bind", "k"}},
		{[]string{"--config=f.toml", "--verbose", "get", "q"}, "get", []string{"--config=f.toml", "--verbose", "q"}},
		{[]string{"--queue", "queue"}, "", []string{"--queue", "queue"}},             // the value of a known flag
		{[]string{"--queue", "in", "extra"}, "extra", []string{"--queue", "in"}},     // an unknown word is reported
		{[]string{"--count", "3", "get", "q"}, "get", []string{"--count", "3", "q"}}, // a subcommand's flag first
		{[]string{"--dry", "get", "q"}, "get", []string{"--dry", "q"}},
		{[]string{"--", "get"}, "", []string{"--", "get"}},
		{nil, "", nil},
	} {
		sub, rest := testSubs.Split(tc.args, c.Flags)
		if sub != tc.sub || !slices.Equal(rest, tc.rest) {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tc.args, sub, rest, tc.sub, tc.rest)
		}
	}
}

func TestSubsHelpNamesTheSubcommandOnce(t *testing.T) {
	var out bytes.Buffer
	c := testSubs.New("get", "summary", "")
	c.Stdout = &out
	if code, ok := c.Parse([]string{"--help"}); ok || code != ExitOK {
		t.Fatalf("Parse(--help) = %d, %v", code, ok)
	}
	if !strings.Contains(out.String(), "\nUsage: prog get NAME [--count N] [flags]\n") {
		t.Fatalf("--help:\n%s", out.String())
	}
	want := "  queue NAME  declare\n              it\n  get NAME    get them\n"
	if got := testSubs.Help(); got != want {
		t.Fatalf("Help() =\n%q\nwant\n%q", got, want)
	}
	if got := testSubs.Names(); got != "queue|get" {
		t.Fatalf("Names() = %q", got)
	}
}

package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		command string
		shell   bool
		args    []string
		want    []string
		err     string
	}{
		{command: `notify --to 'ops team' "a \"b\"" c\ d`, want: []string{"notify", "--to", "ops team", `a "b"`, "c d"}},
		{command: `echo $HOME; rm -rf /`, want: []string{"echo", "$HOME;", "rm", "-rf", "/"}},
		{command: `jq . | mail ops`, shell: true, want: []string{"sh", "-c", "jq . | mail ops"}},
		{args: []string{"./x.sh", "--urgent"}, want: []string{"./x.sh", "--urgent"}},
		{command: "a", args: []string{"b"}, err: "not both"},
		{err: "no command"},
		{shell: true, args: []string{"x"}, err: "--shell needs --command"},
		{command: `say 'unfinished`, err: "unterminated single quote"},
		{command: `say "unfinished`, err: "unterminated double quote"},
		{command: `trailing\`, err: "backslash"},
		{command: "   ", err: "no words"},
	} {
		got, err := commandLine(c.command, c.shell, c.args)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.command, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %q %v, want %q", c.command, got, err, c.want)
		}
	}
}

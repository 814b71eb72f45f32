package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/pflag"
)

// Sub is one subcommand of a command that has several (ackmsg-outbox serve, ackmsg-bridge get).
type Sub struct {
	Name string // "get"
	// Args is what follows "<command> <name>" in the synopsis, without the name:
	// "NAME [--count N] [flags]".
	Args string
	// Help describes the subcommand in the command's list; a "\n" starts a continuation line.
	Help string
}

// Subs are a command's subcommands, written once: they find the subcommand among the
// arguments, make its Command (whose --help reads "Usage: <command> <name> <args>"), and write
// the list of the command's --help, so a subcommand the command runs is one its --help names.
type Subs struct {
	Command string // "ackmsg-outbox"
	List    []Sub
}

// Lookup returns the subcommand called name.
func (s Subs) Lookup(name string) (Sub, bool) {
	for _, sub := range s.List {
		if sub.Name == name {
			return sub, true
		}
	}
	return Sub{}, false
}

// Names are the subcommands' names joined with "|", for a synopsis: "serve|list|stats".
func (s Subs) Names() string {
	names := make([]string, len(s.List))
	for i, sub := range s.List {
		names[i] = sub.Name
	}
	return strings.Join(names, "|")
}

// Split finds the subcommand in args and returns its name and the other arguments, in their
// order. Flags may come before the subcommand (ackmsg-bridge --url X queue q): the subcommand
// is the first argument that is neither a flag nor the value of one of flags. A flag flags does
// not know (a subcommand's own) may take a value, so the word after it is taken as the
// subcommand only when it names one. name is "" when args name no subcommand; an unknown word
// in its place is returned as name, for the caller to report.
func (s Subs) Split(args []string, flags *pflag.FlagSet) (name string, rest []string) {
	afterUnknown := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return "", args
		case len(a) > 1 && a[0] == '-':
			f, inline := lookupFlag(flags, a)
			afterUnknown = f == nil && !inline
			if f != nil && !inline && f.NoOptDefVal == "" {
				i++ // the flag's value
			}
			continue
		}
		if _, ok := s.Lookup(a); ok || !afterUnknown {
			return a, append(append([]string(nil), args[:i]...), args[i+1:]...)
		}
		afterUnknown = false // a's the unknown flag's value
	}
	return "", args
}

// lookupFlag finds the flag of arg ("--name", "--name=v", "-n", "-nv") and reports whether its
// value is inline; nil when flags does not know it.
func lookupFlag(flags *pflag.FlagSet, arg string) (f *pflag.Flag, inline bool) {
	if strings.HasPrefix(arg, "--") {
		name, _, inline := strings.Cut(arg[2:], "=")
		return flags.Lookup(name), inline
	}
	f = flags.ShorthandLookup(arg[1:2])
	return f, len(arg) > 2
}

// New returns the Command of subcommand name (one of List) with the common flags registered:
// named "<command> <name>", with summary, the synopsis from List and details.
func (s Subs) New(name, summary, details string) *Command {
	sub, ok := s.Lookup(name)
	if !ok {
		panic("cli: " + s.Command + " has no subcommand " + name)
	}
	return New(s.Command+" "+name, summary, sub.Args, details)
}

// optional matches the flags of a synopsis ("[flags]", "[--count N]", "--bind KEY...",
// "| --all-dead"): the list of subcommands shows the positional arguments only.
var optional = regexp.MustCompile(`\s*(\[(flags|-)[^\]]*\]|\|?\s*--?[a-z][-a-z]*( [A-Z]+\.*)?)`)

// Help is the list of subcommands for the command's --help, one entry each.
func (s Subs) Help() string {
	left := make([]string, len(s.List))
	width := 0
	for i, sub := range s.List {
		left[i] = strings.TrimSpace(sub.Name + " " + optional.ReplaceAllString(sub.Args, ""))
		width = max(width, len(left[i]))
	}
	var b strings.Builder
	for i, sub := range s.List {
		for j, line := range strings.Split(sub.Help, "\n") {
			l := ""
			if j == 0 {
				l = left[i]
			}
			fmt.Fprintf(&b, "  %-*s  %s\n", width, l, strings.TrimSpace(line))
		}
	}
	return b.String()
}

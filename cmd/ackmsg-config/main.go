// Command ackmsg-config converts a fedmsg configuration (fedmsg.d/*.py) to ackmsg's TOML, and
// checks a configuration, printing where every effective setting came from. Run
// "ackmsg-config --help" for usage and exit codes.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ackmsg/ackmsg/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const rootUsage = `ackmsg-config — convert a fedmsg configuration to ackmsg's, and check a configuration

Usage:
  ackmsg-config import DIR_OR_FILE... [--out FILE]
  ackmsg-config check [flags]

Commands:
  import   evaluate a fedmsg configuration (a fedmsg.d directory of *.py files, such as
           /etc/fedmsg.d, or one .py file) with the system python3, and write it as ackmsg
           TOML (on standard output, or to --out). Every fedmsg key that is not carried over
           is printed on standard error, one per line, with the reason.
  check    load and validate the configuration as every ackmsg command does (the same
           --config, ACKMSG_CONFIG, ACKMSG_NAME and flags), and print each effective
           key = value with where it came from: default, file, environment or flag.

Run "ackmsg-config <command> --help" for the flags and details of a command.

A typical migration, on each host (values the fedmsg files compute, such as
socket.gethostname(), are computed where the import runs):
  mkdir -p ackmsg.d
  ackmsg-config import /etc/fedmsg.d > ackmsg.d/fedmsg.toml
  ackmsg-config check

Exit codes: 0 ok, 1 runtime error (python3 missing or failing, a Python error in a file, a
converted or checked configuration that ackmsg rejects), 2 bad usage.
`

// run is the whole program; main only wires the process's streams and exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rootUsage)
		return cli.ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		if cmd == "help" && len(rest) > 0 {
			return run([]string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, rootUsage)
		return cli.ExitOK
	case "import":
		return runImport(rest, stdout, stderr)
	case "check":
		return runCheck(rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "ackmsg-config: unknown command %q\n\n%s", cmd, rootUsage)
	return cli.ExitUsage
}

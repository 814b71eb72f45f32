// Command ackmsg-certs creates and manages the X.509 material of an ackmsg (fedmsg-compatible)
// bus, and signs or verifies single envelopes. Run "ackmsg-certs --help" for usage and exit codes.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Package integration runs ackmsg's real binaries as separate processes over loopback TCP, with
// real certificates issued by a throwaway CA, and checks what a user would see: output, exit
// codes, and messages that arrive or are refused.
//
// TestMain builds every command once (with the race detector when the tests run with -race).
// Each test gets a Bus: a temporary directory with a CA, certificates, and a TOML configuration
// on free loopback ports. Processes are started with a deadline and killed at the end of the
// test; readiness is proven from what they log or from the bus itself, never by sleeping.
package integration

// Package testhooks holds switches that plant deliberate bugs, so that tests can show their
// checks would catch them. Nothing outside tests may set them; they are internal to the module and
// off by default.
package testhooks

import "sync/atomic"

// AcceptAnySigner plants a false-positive bug in the ACK overlay: a verified ACK from a signer
// who is not a missing recipient is counted for the first missing recipient anyway.
var AcceptAnySigner atomic.Bool

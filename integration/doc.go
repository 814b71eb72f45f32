// Package integration runs ackmsg's real binaries as separate processes over loopback TCP, with
// real certificates issued by a throwaway CA, and checks what a user would see: output, exit
// codes, and messages that arrive or are refused.
//
// TestMain builds every command once (with the race detector when the tests run with -race).
// Each test gets a Bus: a temporary directory with a CA, certificates, and a TOML configuration
// on free loopback ports. Processes are started with a deadline and killed at the end of the
// test; readiness is proven from what they log or from the bus itself, never by sleeping.
//
// As root (CI runs as root; otherwise they skip and say why) the multi-host tests run the
// commands on four hosts: network namespaces on one Linux bridge, itself in a namespace of its
// own, each host with its own address (netLab: relay, publisher, consumer and attacker host).
// They capture the switch's ports or a host's link with an AF_PACKET socket (linkCapture, which
// reassembles TCP, so a marker split across segments is found), pull cables at the switch
// (Partition), and serve a CRL over HTTPS from the relay host (netLab.Listen). Namespaces are
// deleted at the end of each test, and a crashed run's leftovers (named after a pid no longer
// alive) when the next lab is built.
//
// Each multi-host security test takes a transportSecurity: with noSecurity (plaintext, fedmsg's
// wire) it asserts the "before" picture, which also proves the check can fail — the capture
// holds the message and its ACK, an attacker host reads the bus and publishes into it, the relay
// forwards a topic outside the sender's routing_policy, a revoked consumer keeps reading. The
// TestHostsCurve* twins assert the opposite with curveSecurity, and skip only while the
// configuration does not know transport_security.
package integration

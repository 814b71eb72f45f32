package transport

import (
	"fmt"
	"net"
	"strings"
)

// BindAddress returns the address to bind for the address addr that peers connect to. As in
// fedmsg, the host part names this machine as peers reach it, so the same port is bound on every
// interface ("tcp://*:port") — except for a loopback host (127.0.0.0/8, ::1, localhost), which
// stays on loopback: a bus configured on 127.0.0.1 must not be exposed to the network. An ipc://
// address is returned unchanged. It fails for an address that is neither tcp://host:port nor
// ipc://path (package config checks its addresses further, with its own texts).
func BindAddress(addr string) (string, error) {
	if strings.HasPrefix(addr, "ipc://") && addr != "ipc://" {
		return addr, nil
	}
	if !strings.HasPrefix(addr, "tcp://") {
		return "", fmt.Errorf("transport: %q: want tcp://host:port or ipc://path", addr)
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if err != nil || port == "" {
		return "", fmt.Errorf("transport: %q: want tcp://host:port", addr)
	}
	if host == "localhost" {
		return "tcp://127.0.0.1:" + port, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return addr, nil
	}
	return "tcp://*:" + port, nil
}

// Endpoint is one address under one endpoints key: where a subscriber connects, and the name
// it knows the publisher behind it by.
type Endpoint struct {
	Name    string // the endpoints key, e.g. "bodhi.app01"
	Address string // tcp://host:port or ipc://path
}

func (e Endpoint) String() string { return e.Name + "=" + e.Address }

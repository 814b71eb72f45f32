// Package freeport picks TCP ports on 127.0.0.1 for the servers that tests and the benchmark
// start (ZeroMQ endpoints, a throwaway PostgreSQL, a throwaway RabbitMQ node).
//
// A port is chosen at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), where the source ports of outgoing connections come from: the
// tests open thousands of connections, and a port picked inside that range could be taken as a
// source port between the check and the bind (a server such as RabbitMQ takes seconds to bind
// it). A caller usually picks all its ports before it binds any, so a port already handed out
// in this process is never handed out again: a free check alone would return it twice. Between
// processes a random pick from thousands of ports, checked free, rarely collides; the kernel's
// choice (port 0) is the fallback.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
)

// minPort is the lowest port Pick picks: above the usual servers' ports.
const minPort = 20000

var handed = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Pick returns a port that was free a moment ago and that Pick has not returned before in this
// process.
func Pick() (int, error) {
	handed.Lock()
	defer handed.Unlock()
	low := ephemeralLow()
	for range 64 {
		if low <= minPort {
			break
		}
		port := minPort + rand.IntN(low-minPort)
		if handed.ports[port] {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			handed.ports[port] = true
			return port, nil
		}
	}
	for range 64 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("freeport: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handed.ports[port] {
			handed.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("freeport: every port offered was handed out before")
}

// PickN returns n ports from Pick.
func PickN(n int) ([]int, error) {
	out := make([]int, 0, n)
	for range n {
		p, err := Pick()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

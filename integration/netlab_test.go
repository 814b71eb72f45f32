package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The hosts of a netLab, by role.
const (
	hostRelay    = "relay"
	hostPub      = "publisher"
	hostConsumer = "consumer"
	hostAttacker = "attacker"
)

// labHosts are the roles in the order their addresses are handed out, with the last octet each
// gets in labSubnet and the name of its port on the switch (an interface name, at most 15 bytes).
var labHosts = []struct{ role, port string }{
	{hostRelay, "p-relay"}, {hostPub, "p-pub"}, {hostConsumer, "p-cons"}, {hostAttacker, "p-att"},
}

// labSubnet is the hosts' network, taken from the benchmarking range (RFC 2544) that no real
// network routes. It never meets the machine's own networks: the switch and every host are
// namespaces the test owns, so parallel labs can all use it.
const labSubnet = "198.18.28"

// labPrefix starts the name of every namespace a netLab makes; the test process's pid follows,
// so a later run can tell a crashed run's leftovers (a pid no longer alive) from a parallel run's.
const labPrefix = "ackmsg-lab-"

// labSeq numbers the labs of one test process.
var labSeq atomic.Int64

// netLab is four hosts on one Ethernet segment, each a network namespace with its own address
// and a veth link to a switch: a Linux bridge inside a fifth namespace, so the machine's own
// network is never touched. Only root can build it. Every namespace is deleted when the test
// ends, and the leftovers of a crashed run are deleted when the next lab is built.
type netLab struct {
	t     *testing.T
	sw    string           // the switch's namespace
	hosts map[string]*host // by role
}

// host is one machine of a netLab.
type host struct {
	Role string
	NS   string // network namespace (ip netns exec NS ...)
	Addr string // its address on the segment
	Dev  string // its interface, inside NS
	port string // its port on the switch, inside the switch's namespace
}

// requireNetLab skips the test, with the reason, where a netLab cannot be built.
func requireNetLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("multi-host tests need root to create network namespaces (ip netns); run the tests as root, as CI does")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("multi-host tests need iproute2's ip command (scripts/deps.sh installs it)")
	}
}

// labIP runs ip with args, bounded in time, and fails the test on an error.
func labIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := runIP(args...); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func runIP(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ip", args...).CombinedOutput()
}

// deleteStaleLabs deletes the namespaces left by test processes that are gone (a crashed or
// killed run never reached its cleanup); a live process's labs are left alone.
func deleteStaleLabs(t *testing.T) {
	t.Helper()
	out, err := runIP("netns", "list")
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	for _, line := range Lines(string(out)) {
		name, _, _ := strings.Cut(line, " ") // "NAME (id: 3)"
		rest, ok := strings.CutPrefix(name, labPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		if pid != os.Getpid() && unix.Kill(pid, 0) == nil {
			continue // a parallel run's
		}
		if out, err := runIP("netns", "del", name); err != nil {
			t.Logf("deleting leftover namespace %s: %v %s", name, err, out)
		}
	}
}

// newNetLab builds the four hosts and the switch, all links up.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	requireNetLab(t)
	deleteStaleLabs(t)
	base := fmt.Sprintf("%s%d-%d-", labPrefix, os.Getpid(), labSeq.Add(1))
	l := &netLab{t: t, sw: base + "switch", hosts: map[string]*host{}}
	addNS := func(name string) {
		labIP(t, "netns", "add", name)
		t.Cleanup(func() {
			if out, err := runIP("netns", "del", name); err != nil {
				t.Errorf("deleting namespace %s: %v %s", name, err, out)
			}
		})
		labIP(t, "-n", name, "link", "set", "lo", "up")
	}
	addNS(l.sw)
	labIP(t, "-n", l.sw, "link", "add", "br0", "type", "bridge")
	labIP(t, "-n", l.sw, "link", "set", "br0", "up")
	for i, h := range labHosts {
		hh := &host{Role: h.role, NS: base + h.role, Addr: fmt.Sprintf("%s.%d", labSubnet, i+1), Dev: "eth0", port: h.port}
		addNS(hh.NS)
		// Created inside the switch's namespace, one end moved to the host: names never meet
		// another lab's.
		labIP(t, "-n", l.sw, "link", "add", hh.port, "type", "veth", "peer", "name", hh.Dev, "netns", hh.NS)
		labIP(t, "-n", l.sw, "link", "set", hh.port, "master", "br0")
		labIP(t, "-n", l.sw, "link", "set", hh.port, "up")
		labIP(t, "-n", hh.NS, "addr", "add", hh.Addr+"/24", "dev", hh.Dev)
		labIP(t, "-n", hh.NS, "link", "set", hh.Dev, "up")
		l.hosts[h.role] = hh
	}
	l.waitConnected()
	return l
}

// host returns the host of a role.
func (l *netLab) host(role string) *host {
	h := l.hosts[role]
	if h == nil {
		l.t.Fatalf("netLab: no host %q", role)
	}
	return h
}

// waitConnected proves that every host reaches the relay host: a TCP connection from each to a
// listener there (a new bridge port forwards only once it has left the listening state).
func (l *netLab) waitConnected() {
	l.t.Helper()
	relay := l.host(hostRelay)
	ln := l.Listen(hostRelay, relay.Addr+":0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, h := range l.hosts {
		if h.Role == hostRelay {
			continue
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := l.In(h.Role, func() error {
				c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
				if err == nil {
					c.Close()
				}
				return err
			})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				l.t.Fatalf("netLab: %s cannot reach the relay host within 20s: %v", h.Role, err)
			}
			time.Sleep(50 * time.Millisecond) // polling the link's state
		}
	}
}

// In runs f on an OS thread inside the network namespace of the host of role: sockets f opens
// belong to that host, and stay there after f returns. The thread is never reused (its goroutine
// ends locked, so the runtime discards it), so no other goroutine ever runs in the namespace.
func (l *netLab) In(role string, f func() error) error {
	return inNamespace(l.host(role).NS, f)
}

// inNamespace is In for a namespace by name.
func inNamespace(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netLab: open namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("netLab: enter namespace %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Listen opens a TCP listener on addr inside the host of role (the test serves from there, e.g.
// a CRL over HTTPS); it is closed when the test ends.
func (l *netLab) Listen(role, addr string) net.Listener {
	l.t.Helper()
	var ln net.Listener
	err := l.In(role, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { ln.Close() })
	return ln
}

// Partition pulls the cable of the host of role at the switch (down) or plugs it back in: its
// established TCP connections stay open and nothing flows until it heals.
func (l *netLab) Partition(role string, down bool) {
	l.t.Helper()
	if err := l.setCable(role, down); err != nil {
		l.t.Fatal(err)
	}
}

// setCable is Partition for goroutines other than the test's, which must not call t.Fatal.
func (l *netLab) setCable(role string, down bool) error {
	h := l.hosts[role]
	if h == nil {
		return fmt.Errorf("netLab: no host %q", role)
	}
	state := "up"
	if down {
		state = "down"
	}
	if out, err := runIP("-n", l.sw, "link", "set", h.port, state); err != nil {
		return fmt.Errorf("ip link set %s %s: %v %s", h.port, state, err, out)
	}
	return nil
}

// HTTPGet fetches path from addr (host:port) over plain HTTP, from inside the host of role.
func (l *netLab) HTTPGet(role, addr, path string) (string, error) {
	var conn net.Conn
	if err := l.In(role, func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return "", err
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s%s: %s", addr, path, resp.Status)
	}
	return string(body), nil
}

// A crashed run's namespaces (named after a pid no longer alive) are deleted when a lab is built;
// a live process's are left alone.
func TestNetLabDeletesStaleNamespaces(t *testing.T) {
	requireNetLab(t)
	// A pid that is not alive: a child that has exited and been reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-1-relay", labPrefix, dead.Process.Pid)
	live := fmt.Sprintf("%s%d-1-relay", labPrefix, 1) // init is always alive
	for _, ns := range []string{stale, live} {
		labIP(t, "netns", "add", ns)
		t.Cleanup(func() { runIP("netns", "del", ns) })
	}
	deleteStaleLabs(t)
	out, err := runIP("netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), stale) {
		t.Errorf("the stale namespace %s was not deleted:\n%s", stale, out)
	}
	if !strings.Contains(string(out), live) {
		t.Errorf("a live process's namespace %s was deleted:\n%s", live, out)
	}
}

package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// netns is a pair of network namespaces joined by a veth link: a ("publisher host") and b
// ("consumer host"), with addresses A and B. Only root can make them.
type netns struct {
	t          *testing.T
	a, b       string // namespace names
	vethB      string // b's end of the link
	addrA      string
	addrB      string
	subnetBase int
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network partitions need root to create network namespaces (ip netns); run the tests as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network partitions need iproute2's ip command")
	}
	id := rand.IntN(1 << 16)
	n := &netns{t: t, a: fmt.Sprintf("ackmsg-%04x-a", id), b: fmt.Sprintf("ackmsg-%04x-b", id),
		vethB: fmt.Sprintf("ak%04xb", id), subnetBase: rand.IntN(250) + 1}
	vethA := fmt.Sprintf("ak%04xa", id)
	// 10.213.N.0/30 exists only on this link, inside namespaces this test owns.
	n.addrA = fmt.Sprintf("10.213.%d.1", n.subnetBase)
	n.addrB = fmt.Sprintf("10.213.%d.2", n.subnetBase)
	ipCmd(t, "netns", "add", n.a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.a).Run() })
	ipCmd(t, "netns", "add", n.b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.b).Run() })
	ipCmd(t, "link", "add", vethA, "netns", n.a, "type", "veth", "peer", "name", n.vethB, "netns", n.b)
	ipCmd(t, "-n", n.a, "addr", "add", n.addrA+"/30", "dev", vethA)
	ipCmd(t, "-n", n.b, "addr", "add", n.addrB+"/30", "dev", n.vethB)
	for _, ns := range []string{n.a, n.b} {
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "-n", n.a, "link", "set", vethA, "up")
	ipCmd(t, "-n", n.b, "link", "set", n.vethB, "up")
	return n
}

// partition takes b's end of the link down (or up again): established TCP connections stay open
// and nothing flows until it heals, like a cable pulled between two hosts.
func (n *netns) partition(down bool) {
	state := "up"
	if down {
		state = "down"
	}
	ipCmd(n.t, "-n", n.b, "link", "set", n.vethB, state)
}

// A publisher host and a consumer host in separate network namespaces: with the link down the
// publish times out naming the consumer; a publish that begins during the partition succeeds
// once the link heals, by retransmission.
func TestNetworkPartition(t *testing.T) {
	n := newNetns(t)
	port := func() int { return 20000 + rand.IntN(20000) } // fresh namespaces: every port is free
	// Shell tools reach their local relay over loopback inside host A.
	relayIn := fmt.Sprintf("tcp://127.0.0.1:%d", port())
	b := NewBus(t, BusOptions{
		Certs:     []string{"sub01"},
		Endpoints: map[string]string{"sub01.host": fmt.Sprintf("tcp://%s:%d", n.addrB, port())},
	})
	// The relay and its outbound side live on host A.
	conf, err := os.ReadFile(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.NewReplacer(b.Relay, relayIn, b.Outbound, fmt.Sprintf("tcp://%s:%d", n.addrA, port())).Replace(string(conf)))
	if err := os.WriteFile(b.Config, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	relay := b.StartIn(n.a, nil, "ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	sub := b.StartIn(n.b, nil, "ackmsg-tail", "--ack", "--json", "--certname", "sub01", "--name", "sub01.host", "--topic", "org.example.test.work")
	sub.WaitLog(t, "endpoint connected")

	logger := func(timeout string, msg string) *Proc {
		return b.StartIn(n.a, strings.NewReader(""), "ackmsg-logger", "--recipients", "sub01", "--ack-timeout", timeout,
			"--modname", "work", "--topic", "x", "--message", msg, "--log-level", "info")
	}
	if p := logger("10", "before"); p.Wait(t, 30*time.Second) != 0 {
		t.Fatalf("connected: logger failed\n%s", p.Stderr.String())
	}

	n.partition(true)
	p := logger("2", "during")
	if code := p.Wait(t, 30*time.Second); code != 3 || !strings.Contains(p.Stderr.String(), "missing sub01") {
		t.Fatalf("partitioned: exit %d, want 3 naming sub01\n%s", code, p.Stderr.String())
	}

	p = logger("30", "across the heal")
	p.WaitLog(t, "publisher ready")
	time.Sleep(time.Second) // keep the partition a while: the fault being injected
	n.partition(false)
	if code := p.Wait(t, 45*time.Second); code != 0 {
		t.Fatalf("healed: exit %d, want 0\n%s", code, p.Stderr.String())
	}
	if !strings.Contains(sub.Stdout.String(), "across the heal") {
		t.Fatalf("sub01 did not record the message:\n%s", sub.Stdout.String())
	}
	t.Logf("after the heal: %s", Lines(p.Stderr.String())[len(Lines(p.Stderr.String()))-1])
}

package integration

import (
	"strings"
	"testing"
	"time"
)

// A publisher host and a consumer host with the relay between them: with the consumer host's
// cable pulled the publish times out naming the consumer; a publish that begins during the
// partition succeeds once the link heals, by retransmission.
func TestNetworkPartition(t *testing.T) {
	lab := newNetLab(t)
	hb := newHostsBus(t, lab, noSecurity{}, "")
	hb.startRelay()
	sub := hb.startConsumer("sub01", nil)

	if p := hb.publish(hostPub, "sub01", "10", "before"); p.Wait(t, 30*time.Second) != 0 {
		t.Fatalf("connected: logger failed\n%s", p.Stderr.String())
	}

	lab.Partition(hostConsumer, true)
	p := hb.publish(hostPub, "sub01", "2", "during")
	if code := p.Wait(t, 30*time.Second); code != 3 || !strings.Contains(p.Stderr.String(), "missing sub01") {
		t.Fatalf("partitioned: exit %d, want 3 naming sub01\n%s", code, p.Stderr.String())
	}

	p = hb.publish(hostPub, "sub01", "30", "across the heal")
	p.WaitLog(t, "publisher ready")
	time.Sleep(time.Second) // keep the partition a while: the fault being injected
	lab.Partition(hostConsumer, false)
	if code := p.Wait(t, 45*time.Second); code != 0 {
		t.Fatalf("healed: exit %d, want 0\n%s", code, p.Stderr.String())
	}
	if !strings.Contains(sub.Stdout.String(), "across the heal") {
		t.Fatalf("sub01 did not record the message:\n%s", sub.Stdout.String())
	}
	t.Logf("after the heal: %s", Lines(p.Stderr.String())[len(Lines(p.Stderr.String()))-1])
}

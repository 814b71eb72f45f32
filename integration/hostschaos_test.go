package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestHostsPartitionLedger is the chaos ledger across hosts: ackmsg-logger processes on the
// publisher host publish acked lines to sub01 (whose ACKs cross the relay) and sub02 (whose ACKs
// go straight to the publisher host) on the consumer host, while the cables of the consumer,
// publisher and relay hosts are pulled and plugged back in at the switch. Every publish that
// returned nil must be matched by a delivery recorded by both consumers.
func TestHostsPartitionLedger(t *testing.T) {
	testHostsPartitionLedger(t, noSecurity{})
}

// TestHostsCurvePartitionLedger is the same with transport_security = "curve".
func TestHostsCurvePartitionLedger(t *testing.T) {
	testHostsPartitionLedger(t, requireSecurity(t, curveSecurity{}))
}

var loggerSends = regexp.MustCompile(`msg="all recipients ACKed".* sends=(\d+)`)

func testHostsPartitionLedger(t *testing.T, sec transportSecurity) {
	dur := chaosDuration(t)
	lab := newNetLab(t)
	hb := newHostsBus(t, lab, sec, "")
	relay := hb.startRelay()
	to := []string{"sub01", "sub02"}
	ledgerFiles := map[string]string{}
	consumers := map[string]*Proc{}
	for _, name := range to {
		path := filepath.Join(hb.Dir, name+".jsonl")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		ledgerFiles[name] = path
		consumers[name] = hb.startConsumer(name, f)
	}

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		mu      sync.Mutex
		loggers []*Proc
		faults  []faultRecord
		wg      sync.WaitGroup
	)
	pubNS := lab.host(hostPub).NS
	wg.Add(2)
	go func() {
		defer wg.Done()
		runLoggers(ctx, t, func(stdin *os.File) *Proc {
			p := hb.start(stdin, nil, []string{"ip", "netns", "exec", pubNS}, "ackmsg-logger", "--recipients", "sub01,sub02",
				"--ack-timeout", "2", "--modname", "work", "--topic", "log", "--log-level", "info")
			mu.Lock()
			loggers = append(loggers, p)
			mu.Unlock()
			return p
		})
	}()
	go func() {
		defer wg.Done()
		faults = partitionHosts(ctx, t, lab)
	}()
	wg.Wait()

	for _, name := range to {
		if code := consumers[name].Stop(t); code != 0 {
			t.Errorf("%s exited %d", name, code)
		}
	}
	relay.Stop(t)
	ledgers := map[string]map[string]int{}
	for name, path := range ledgerFiles {
		l, err := readLedger(path)
		if err != nil {
			t.Fatal(err)
		}
		ledgers[name] = l
	}
	outcomes := loggerOutcomes(loggers, to)
	r := checkLedger(outcomes, ledgers)
	retransmitted := 0
	for _, p := range loggers {
		for _, m := range loggerSends.FindAllStringSubmatch(p.Stderr.String(), -1) {
			if n, _ := strconv.Atoi(m[1]); n > 1 {
				retransmitted++
			}
		}
	}
	faults = recoveries(faults, outcomes)
	t.Logf("\n%s: partitions between hosts for %s, %d faults, %d logger processes\n\n"+
		"| acked publishes | nil (delivered) | retransmitted, then nil | failed | false positives | false negatives | deliveries | duplicates delivered |\n"+
		"|---|---|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %d | %d | %d |\n\n%s",
		sec.Name(), dur, len(faults), len(loggers), r.Publishes, r.OK, retransmitted, r.Failed, len(r.FalsePositives),
		r.FalseNegatives, r.Deliveries, r.Duplicates, faultTable(faults))
	for _, fp := range r.FalsePositives {
		t.Errorf("FALSE POSITIVE: %s", fp)
	}
	if r.OK == 0 || len(faults) == 0 {
		t.Fatalf("the run proves nothing: %d successful publishes, %d partitions", r.OK, len(faults))
	}
	// The partitions must have hit traffic: publishes that needed a retransmission or failed.
	if retransmitted+r.Failed == 0 {
		t.Fatalf("no publish was retransmitted or failed: the partitions did not cut anything")
	}
}

// partitionHosts pulls the cable of the consumer, publisher or relay host in turn, for 0.2 to
// 1.5 s every 0.5 to 1.2 s, until ctx ends, and returns the faults; every cable is plugged back
// in before it returns.
func partitionHosts(ctx context.Context, t *testing.T, lab *netLab) []faultRecord {
	rng := rand.New(rand.NewPCG(28, 28))
	roles := []string{hostConsumer, hostPub, hostRelay}
	var faults []faultRecord
	for i := 0; ; i++ {
		select { // the fault schedule, not synchronisation
		case <-ctx.Done():
			return faults
		case <-time.After(time.Duration(500+rng.IntN(700)) * time.Millisecond):
		}
		role := roles[i%len(roles)]
		if err := lab.setCable(role, true); err != nil {
			t.Error(err)
			return faults
		}
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond) // the partition itself; always healed
		if err := lab.setCable(role, false); err != nil {
			t.Error(err)
			return faults
		}
		faults = append(faults, faultRecord{Kind: fmt.Sprintf("partition %s host", role), Healed: time.Now()})
	}
}

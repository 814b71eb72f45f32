package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The outbox in the chaos run: ackmsg-logger --outbox processes hand messages to the embedded
// store while ackmsg-outbox serve delivers them through the relay, and the fault schedule kills
// the deliverer with -9 (besides everything else it does to the consumers and the relay). After
// the run the faults are healed and the outbox is drained; then every message whose enqueue
// exited 0 must be delivered to every named recipient or be dead with a reason, and no state the
// outbox reports ("gone" = delivered, a recipient listed as acked) may lack the matching delivery
// in the recipient's ledger.

// chaosOutboxConfig is the [outbox] table of the chaos bus: short attempts and pauses, so that a
// message stuck behind a fault is retried within the run.
func chaosOutboxConfig(store string) string {
	return fmt.Sprintf("\n[outbox]\nstore = %q\nattempt_timeout = 2\nretry_max = 1\nclaim_lease = 5\n", store)
}

// enqueued is one message an ackmsg-logger --outbox reported stored (exit 0).
type enqueued struct {
	ID string
	To []string
}

// outboxLoad is what the enqueuers saw.
type outboxLoad struct {
	mu       sync.Mutex
	stored   []enqueued
	failed   int // enqueues that exited non-zero: nothing was promised for them
	failures []string
}

func (c *chaosBus) startOutbox(wait bool) {
	p := c.b.Start("ackmsg-outbox", "serve")
	if wait {
		p.WaitLog(c.t, "deliverer running")
	}
	c.mu.Lock()
	c.procs["outbox"] = p
	c.mu.Unlock()
}

// runOutbox keeps two enqueuers running ackmsg-logger --outbox, one message per process (the
// shell's fire-and-forget-but-guaranteed mode), until ctx ends.
func (c *chaosBus) runOutbox(ctx context.Context, load *outboxLoad) {
	sets := [][]string{{"sub01"}, {"sub02"}, {"hub01"}, {"sub01", "sub03"}, chaosConsumers}
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for i := 0; ctx.Err() == nil; i++ {
				to := sets[rng.IntN(len(sets))]
				p := c.b.StartInput(strings.NewReader(""), "ackmsg-logger", "--outbox", "--recipients", strings.Join(to, ","),
					"--modname", "work", "--topic", "outbox", "--message", fmt.Sprintf("outbox %d/%d", g, i))
				select {
				case <-p.done:
				case <-time.After(30 * time.Second):
					p.cmd.Process.Kill()
					<-p.done
				}
				load.mu.Lock()
				if id := strings.TrimSpace(p.Stdout.String()); p.code == 0 && id != "" {
					load.stored = append(load.stored, enqueued{ID: id, To: to})
				} else {
					load.failed++
					if len(load.failures) < 5 {
						load.failures = append(load.failures, fmt.Sprintf("exit %d: %s", p.code, strings.TrimSpace(p.Stderr.String())))
					}
				}
				load.mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
}

// outboxRecords lists the outbox (through the running deliverer) as JSON records by msg_id.
func (c *chaosBus) outboxRecords() (map[string]listed, error) {
	p := c.b.StartInput(strings.NewReader(""), "ackmsg-outbox", "list", "--json")
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	if p.code != 0 {
		return nil, fmt.Errorf("ackmsg-outbox list: exit %d: %s", p.code, p.Stderr.String())
	}
	recs := map[string]listed{}
	for _, l := range Lines(p.Stdout.String()) {
		var r listed
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return nil, fmt.Errorf("list line %q: %v", l, err)
		}
		recs[r.MsgID] = r
	}
	return recs, nil
}

// drainOutbox waits (at most d) until nothing in the outbox is pending, and returns the final
// listing: what is left is dead.
func (c *chaosBus) drainOutbox(d time.Duration) (map[string]listed, error) {
	deadline := time.Now().Add(d)
	for {
		recs, err := c.outboxRecords()
		if err != nil {
			return nil, err
		}
		pending := 0
		for _, r := range recs {
			if r.State != "dead" {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			return recs, nil
		}
		time.Sleep(100 * time.Millisecond) // polling another process's state
	}
}

// outboxReport is what the outbox check found.
type outboxReport struct {
	Stored, EnqueueFailed, Delivered, Dead, Pending int
	FalseDelivered                                  []string // a state the outbox reports that a ledger contradicts
	Inconsistent                                    []string // a listed record that does not match its enqueue
}

// checkOutbox compares the outbox's final states with the recipients' ledgers.
func checkOutbox(load *outboxLoad, final map[string]listed, ledgers map[string]map[string]int) outboxReport {
	r := outboxReport{Stored: len(load.stored), EnqueueFailed: load.failed}
	for _, e := range load.stored {
		rec, listedNow := final[e.ID]
		var missing []string
		for _, to := range e.To {
			if ledgers[to][e.ID] == 0 {
				missing = append(missing, to)
			}
		}
		switch {
		case !listedNow: // gone from the store: the outbox says every recipient ACKed
			r.Delivered++
			if len(missing) > 0 {
				r.FalseDelivered = append(r.FalseDelivered, fmt.Sprintf("%s left the outbox as delivered, but %s recorded no delivery",
					e.ID, strings.Join(missing, ", ")))
			}
			continue
		case rec.State == "dead":
			r.Dead++
			if rec.DeadReason == "" {
				r.Inconsistent = append(r.Inconsistent, e.ID+" is dead without a reason")
			}
		default:
			r.Pending++
		}
		for _, a := range rec.Acked {
			if slices.Contains(missing, a) {
				r.FalseDelivered = append(r.FalseDelivered, fmt.Sprintf("%s lists %s as acked, but %s recorded no delivery", e.ID, a, a))
			}
		}
		if got := sorted(append(slices.Clone(rec.Acked), rec.Missing...)); !slices.Equal(got, sorted(e.To)) {
			r.Inconsistent = append(r.Inconsistent, fmt.Sprintf("%s: the outbox lists recipients %v, the enqueue named %v", e.ID, got, e.To))
		}
	}
	return r
}

func (r outboxReport) table(deliverKills int) string {
	return fmt.Sprintf("\n| outbox: stored (enqueue exit 0) | enqueue failed | delivered | dead | pending after drain | false delivered | deliverer kill -9 |\n"+
		"|---|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %d | %d |\n",
		r.Stored, r.EnqueueFailed, r.Delivered, r.Dead, r.Pending, len(r.FalseDelivered), deliverKills)
}

var deliveredLine = regexp.MustCompile(`^time=(\S+) .*msg=delivered`)

// firstDelivery is how long after healed the deliverer p logged its first delivery, or -1.
func firstDelivery(p *Proc, healed time.Time) time.Duration {
	if p == nil {
		return -1
	}
	for _, line := range Lines(p.Stderr.String()) {
		if m := deliveredLine.FindStringSubmatch(line); m != nil {
			if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				return max(at.Sub(healed), 0)
			}
		}
	}
	return -1
}

// The outbox check must be able to fail: a message gone from the store that a recipient never
// recorded, and a recipient listed as acked without a delivery, are both reported.
func TestCheckOutboxFindsFalseDelivered(t *testing.T) {
	load := &outboxLoad{stored: []enqueued{
		{ID: "gone-ok", To: []string{"sub01"}},
		{ID: "gone-missing", To: []string{"sub01", "sub02"}},
		{ID: "half", To: []string{"sub01", "sub02"}},
		{ID: "dead", To: []string{"sub02"}},
	}}
	final := map[string]listed{
		"half": {MsgID: "half", State: "pending", Acked: []string{"sub02"}, Missing: []string{"sub01"}},
		"dead": {MsgID: "dead", State: "dead", Missing: []string{"sub02"}, DeadReason: "expired"},
	}
	ledgers := map[string]map[string]int{"sub01": {"gone-ok": 1, "gone-missing": 1}, "sub02": {}}
	r := checkOutbox(load, final, ledgers)
	if r.Delivered != 2 || r.Dead != 1 || r.Pending != 1 || len(r.FalseDelivered) != 2 || len(r.Inconsistent) != 0 {
		t.Fatalf("check: %+v", r)
	}
	for i, want := range []string{"gone-missing left the outbox as delivered, but sub02", "half lists sub02 as acked"} {
		if !strings.Contains(r.FalseDelivered[i], want) {
			t.Errorf("finding %d = %q, want it to contain %q", i, r.FalseDelivered[i], want)
		}
	}
	ledgers["sub01"]["half"], ledgers["sub02"]["gone-missing"], ledgers["sub02"]["half"] = 1, 1, 1
	if r := checkOutbox(load, final, ledgers); len(r.FalseDelivered) != 0 {
		t.Fatalf("with every delivery recorded: %+v", r)
	}
}

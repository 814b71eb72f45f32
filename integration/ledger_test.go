package integration

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// outcome is one guaranteed-delivery publish as the publisher saw it.
type outcome struct {
	ID   string
	To   []string
	OK   bool // the publish returned nil
	At   time.Time
	From string // which publisher
}

// ledgerReport is what the ledger check found.
type ledgerReport struct {
	Publishes, OK, Failed int
	FalsePositives        []string // nil returns without a recorded delivery at a named recipient
	FalseNegatives        int      // failures although every named recipient recorded a delivery
	Deliveries            int      // lines in the consumers' ledgers
	Duplicates            int      // deliveries of a msg_id the same consumer had already recorded
}

// readLedger returns how often each msg_id appears in a consumer's JSON-lines ledger. A line cut
// short by kill -9 is skipped.
func readLedger(path string) (map[string]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for _, line := range Lines(string(data)) {
		if m, err := message.Decode([]byte(line)); err == nil {
			seen[m.MsgID()]++
		}
	}
	return seen, nil
}

// checkLedger verifies the product's promise: every publish that returned nil is matched by a
// delivery recorded by each named recipient.
func checkLedger(outcomes []outcome, ledgers map[string]map[string]int) ledgerReport {
	var r ledgerReport
	for _, l := range ledgers {
		for _, n := range l {
			r.Deliveries += n
			r.Duplicates += n - 1
		}
	}
	for _, o := range outcomes {
		r.Publishes++
		all := true
		var missing []string
		for _, to := range o.To {
			if ledgers[to][o.ID] == 0 {
				all = false
				missing = append(missing, to)
			}
		}
		if o.OK {
			r.OK++
			if !all {
				r.FalsePositives = append(r.FalsePositives, fmt.Sprintf("%s (from %s) returned nil, but %s recorded no delivery",
					o.ID, o.From, strings.Join(missing, ", ")))
			}
		} else {
			r.Failed++
			if all {
				r.FalseNegatives++
			}
		}
	}
	return r
}

// faultRecord is one injected fault and how long the bus took to deliver through it again.
type faultRecord struct {
	Kind     string
	Target   string
	Healed   time.Time
	Recovery time.Duration // -1 when no successful publish involving the target followed
	after    *Proc         // the process the fault's heal started, when that is what recovers
}

// recoveries fills Recovery: the time from the heal to the first successful publish that
// involved the target (any success for bus-wide faults).
func recoveries(faults []faultRecord, outcomes []outcome) []faultRecord {
	ok := slices.DeleteFunc(slices.Clone(outcomes), func(o outcome) bool { return !o.OK })
	sort.Slice(ok, func(i, j int) bool { return ok[i].At.Before(ok[j].At) })
	out := slices.Clone(faults)
	for i := range out {
		out[i].Recovery = -1
		for _, o := range ok {
			if o.At.Before(out[i].Healed) {
				continue
			}
			if out[i].Target == "" || slices.Contains(o.To, out[i].Target) || o.From == out[i].Target {
				out[i].Recovery = o.At.Sub(out[i].Healed)
				break
			}
		}
	}
	return out
}

// faultTable summarises recoveries per kind of fault, as a Markdown table.
func faultTable(faults []faultRecord) string {
	type agg struct {
		n, unrecovered int
		d              []time.Duration
	}
	by := map[string]*agg{}
	var kinds []string
	for _, f := range faults {
		a := by[f.Kind]
		if a == nil {
			a = &agg{}
			by[f.Kind] = a
			kinds = append(kinds, f.Kind)
		}
		a.n++
		if f.Recovery < 0 {
			a.unrecovered++
		} else {
			a.d = append(a.d, f.Recovery)
		}
	}
	var b strings.Builder
	b.WriteString("| fault | injected | recovered | recovery p50 | recovery max |\n|---|---|---|---|---|\n")
	for _, k := range kinds {
		a := by[k]
		slices.Sort(a.d)
		p50, mx := "-", "-"
		if len(a.d) > 0 {
			p50 = a.d[len(a.d)/2].Round(time.Millisecond).String()
			mx = a.d[len(a.d)-1].Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s |\n", k, a.n, a.n-a.unrecovered, p50, mx)
	}
	return b.String()
}

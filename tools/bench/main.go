// Command bench measures ackmsg next to its floors, in one run on one machine (DESIGN.md, "What
// is measured, always side by side"): the raw ZeroMQ round trip (to one echoer, and fanned out
// to 3 and 10) and throughput on bare pebbe/zmq4 sockets over loopback, the crypto costs, then
// acked publish latency (1, 3, 10 recipients in process; 1 and 3 in separate ackmsg-tail --ack
// processes), PublishAsync throughput, plain publish throughput, memory per in-flight message
// and a cold CLI publish. These use RSA-2048 certificates (crypto x509, what fedmsg peers
// verify); the crypto floor, acked publish to 1 and 3 recipients in process and in separate
// processes and PublishAsync in-flight 256 are also measured with Ed25519 certificates (crypto
// x509-ed25519, ackmsg-only buses), each next to its own floors.
// Every ackmsg figure is printed next to its floor and the ratio, and checked against the
// targets of issue 7. The outbox's durable enqueue (bbolt, PostgreSQL when a server can be
// started) stands next to this disk's fsync. The peers run in the same run on the same payload:
// NATS JetStream (embedded nats-server) and RabbitMQ (a throwaway rabbitmq-server node), and
// ackmsg's Ed25519 figures are set next to theirs. On that RabbitMQ node the bridge (package
// bridge, in process) is measured as a recipient: acked publish to "bridge", which ACKs once the
// broker confirmed the message into a durable queue, next to RabbitMQ's own publish-and-confirm
// (the added latency), and PublishAsync to it next to RabbitMQ's streaming confirms. A figure
// whose server is not installed is one row marked skipped, with the reason.
// The cost curves (issue 32, curves.go) show how figures grow with the load, each point next to
// its floor at that point: the ACK storm (1, 10, 50 acking consumers, one named recipient), the
// fan-out (1 to 50 recipient processes, RSA-2048 and Ed25519, with JetStream and RabbitMQ at the
// same N), and whatever other curves run.go lists; -curves draws each as an SVG.
//
// It is its own module so that its plotting dependency stays out of ackmsg's go.mod.
//
//	make bench                    # full run (a few minutes), prints the table
//	make bench-doc                # full run, rewrites BENCHMARKS.md and docs/latency.svg
//	go run . -quick               # smoke run, under a minute
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// sizes are the sample counts of one run.
type sizes struct {
	rtt, zsockRTT, thru, chain, bare            int
	acked1, acked3, acked10, proc1, proc3, cold int
	async                                       time.Duration
	inflight                                    int
}

var (
	full  = sizes{5000, 3000, 200000, 300, 300, 2000, 1000, 300, 1000, 500, 40, 8 * time.Second, 256}
	quick = sizes{500, 300, 20000, 40, 40, 150, 60, 20, 100, 50, 5, time.Second, 256}
)

// Row is one figure: ackmsg's (or a floor's) value, its floor, their ratio and the target. A
// figure that could not be measured in this run (a peer or a server not installed) is one row
// with Skipped set to the reason, Value 0, and the Unit its figures would have had (the first
// of them): every row has a unit, and a reader of the JSON tells a skipped figure from a
// measured 0 by Skipped alone.
type Row struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"` // "µs", "ms", "msgs/s", "B"; never empty
	Value  float64 `json:"value"`
	Floor  float64 `json:"floor,omitempty"`
	Of     string  `json:"floor_is,omitempty"` // what the floor is
	Ratio  float64 `json:"ratio,omitempty"`    // value / floor
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Note   string  `json:"note,omitempty"`
	// Skipped is why the figure was not measured in this run; empty when it was.
	Skipped string `json:"skipped,omitempty"`
}

// Results is what -out writes.
type Results struct {
	Started  time.Time            `json:"started"`
	Seconds  float64              `json:"seconds"`
	Quick    bool                 `json:"quick"`
	Machine  map[string]string    `json:"machine"`
	Rows     []Row                `json:"rows"`
	Samples  map[string][]float64 `json:"latency_samples_us"` // sorted, for the chart
	Extra    map[string]float64   `json:"extra,omitempty"`
	Sections map[int]string       `json:"sections"` // row index -> section heading
	Curves   []Curve              `json:"curves,omitempty"`
}

// main parses the flags, measures (or reads -from), prints the table and writes what the flags ask.
func main() {
	quickFlag := flag.Bool("quick", false, "smoke run: few samples, under a minute")
	out := flag.String("out", "", "write the results as JSON to this file")
	md := flag.String("md", "", "write BENCHMARKS.md to this file")
	chart := flag.String("chart", "", "write the latency CDF chart (SVG) to this file")
	curves := flag.String("curves", "", "write each cost curve's chart (curve-<id>.svg) to this directory")
	notes := flag.String("notes", "", "a Markdown file appended to -md (the analysis)")
	root := flag.String("root", "../..", "the ackmsg repository (its commands are built from it)")
	from := flag.String("from", "", "measure nothing: render the results of an earlier -out file")
	only := flag.String("only", "", `measure one part alone: "ackstorm" (with -root, the tails of another checkout), "archive"`)
	flag.Parse()
	// The library logs to slog.Default(); the parts measured here report per message at info
	// (a deliverer's "delivered"), which would bury the table. Warnings still show.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	sz := full
	if *quickFlag {
		sz = quick
	}
	var res *Results
	var err error
	if *from != "" {
		res = &Results{}
		data, err := os.ReadFile(*from)
		if err == nil {
			err = json.Unmarshal(data, res)
		}
		check(err)
	} else if *only == "ackstorm" {
		res, err = runAckStorm(*quickFlag, *root)
		check(err)
	} else if *only == "archive" {
		res, err = runArchive(*quickFlag)
		check(err)
	} else if *only != "" {
		check(fmt.Errorf("-only %q: the parts measured alone are: ackstorm, archive", *only))
	} else {
		res, err = run(sz, *quickFlag, *root)
		check(err)
	}
	printTable(os.Stdout, res)
	if *out != "" && *from == "" {
		data, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(data, '\n'), 0o644)
		}
		check(err)
	}
	if *chart != "" {
		check(os.MkdirAll(filepath.Dir(*chart), 0o755))
		check(writeChart(*chart, res))
	}
	if *curves != "" {
		check(os.MkdirAll(*curves, 0o755))
		check(writeCurves(*curves, res))
	}
	if *md != "" {
		var extra []byte
		if *notes != "" {
			extra, err = os.ReadFile(*notes)
			check(err)
		}
		chartRef := ""
		if *chart != "" {
			rel, err := filepath.Rel(filepath.Dir(*md), *chart)
			check(err)
			chartRef = filepath.ToSlash(rel)
		}
		curveRef := func(c Curve) string {
			if *curves == "" {
				return ""
			}
			rel, err := filepath.Rel(filepath.Dir(*md), curveFile(*curves, c))
			check(err)
			return filepath.ToSlash(rel)
		}
		check(os.WriteFile(*md, []byte(markdown(res, chartRef, curveRef, string(extra))), 0o644))
	}
}

// check exits with the error, if any.
func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// step logs what is measured next, with the time, on standard error.
func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// quantile returns the q-quantile (nearest rank) of ds; q 0 is the minimum.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// us is d in microseconds.
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// machine describes this machine for the results: CPU, cores, Go, libzmq, kernel, load.
func machine() map[string]string {
	m := map[string]string{
		"cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version(), "os/arch": runtime.GOOS + "/" + runtime.GOARCH,
		"load average at start": loadavg(),
	}
	major, minor, patch := zmq.Version()
	m["libzmq"] = fmt.Sprintf("%d.%d.%d", major, minor, patch)
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(data))
	}
	return m
}

// fmtValue formats a value in its unit (µs from 1000 up as ms); 0 is an empty cell.
func fmtValue(v float64, unit string) string {
	switch {
	case v == 0:
		return ""
	case unit == "msgs/s" || unit == "B":
		return fmt.Sprintf("%.0f %s", v, unit)
	case unit == "µs" && v >= 1000:
		return fmt.Sprintf("%.2f ms", v/1e3)
	case unit == "ms":
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
}

// cell is a row's value as the table and BENCHMARKS.md show it: "skipped" when it was not
// measured (the reason goes in the note column).
func cell(r Row) string {
	if r.Skipped != "" {
		return "skipped"
	}
	return fmtValue(r.Value, r.Unit)
}

// verdict is a row's target column: met or MISSED with the target, or empty without one.
func verdict(r Row) string {
	if r.Met == nil {
		return ""
	}
	if *r.Met {
		return "met (" + r.Target + ")"
	}
	return "MISSED (" + r.Target + ")"
}

// printTable writes every row, under its section heading, as an aligned text table.
func printTable(w io.Writer, res *Results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tfloor\tratio\ttarget\tfloor is")
	for i, r := range res.Rows {
		if s, ok := res.Sections[i]; ok {
			fmt.Fprintf(tw, "-- %s\t\t\t\t\t\n", s)
		}
		ratio := ""
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, cell(r), fmtValue(r.Floor, r.Unit), ratio,
			verdict(r), strings.TrimSpace(r.Of+"  "+r.Note+"  "+r.Skipped))
	}
	tw.Flush()
	for _, c := range res.Curves {
		fmt.Fprintf(w, "\ncurve: %s\n%s", c.Title, curveTable(c))
	}
	fmt.Fprintf(w, "total %.0f s\n", res.Seconds)
}

// markdown is BENCHMARKS.md: the machine, the targets, every row by section, the cost curves
// (their charts at curveRef), the latency chart and the notes.
func markdown(res *Results, chartRef string, curveRef func(Curve) string, notes string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Generated by `make bench-doc` (tools/bench) on %s in %.0f s%s. Every ackmsg figure stands next to its\n",
		res.Started.Format("2006-01-02 15:04 MST"), res.Seconds, map[bool]string{true: " (**-quick run**)", false: ""}[res.Quick])
	fmt.Fprintf(&b, "floor measured in the same run on the same machine; the ratio is value / floor. The machine is shared\n")
	fmt.Fprintf(&b, "and noisy: compare ratios, not absolute numbers across runs. `make bench` prints the same table.\n\n")
	keys := make([]string, 0, len(res.Machine))
	for k := range res.Machine {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(&b, "Machine:")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s %s;", k, res.Machine[k])
	}
	fmt.Fprintf(&b, " signed message %.0f B, ACK %.0f B (RSA-2048 certificates)",
		res.Extra["message_bytes"], res.Extra["ack_bytes"])
	if res.Extra["ed25519_message_bytes"] > 0 {
		fmt.Fprintf(&b, ", %.0f B and %.0f B (Ed25519 certificates)",
			res.Extra["ed25519_message_bytes"], res.Extra["ed25519_ack_bytes"])
	}
	fmt.Fprintf(&b, ".\n\n")
	fmt.Fprintf(&b, "## Targets\n\n| target | figure | value | floor | ratio | verdict |\n|---|---|---:|---:|---:|---|\n")
	for _, r := range res.Rows {
		if r.Met == nil {
			continue
		}
		v := "met"
		if !*r.Met {
			v = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f× | %s |\n", r.Target, r.Name, fmtValue(r.Value, r.Unit),
			fmtValue(r.Floor, r.Unit), r.Ratio, v)
	}
	fmt.Fprintf(&b, "\n## All figures\n\n")
	for i, r := range res.Rows {
		if s, ok := res.Sections[i]; ok {
			fmt.Fprintf(&b, "\n### %s\n\n| figure | value | floor | ratio | floor is / note |\n|---|---:|---:|---:|---|\n", s)
		}
		ratio := ""
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Name, cell(r), fmtValue(r.Floor, r.Unit),
			ratio, strings.TrimSpace(r.Of+" "+r.Note+" "+r.Skipped))
	}
	b.WriteString(curvesMarkdown(res, curveRef))
	if chartRef != "" {
		fmt.Fprintf(&b, "\n## Latency distribution\n\n![latency CDF](%s)\n\nCumulative distribution of each latency sample (log time axis).\n", chartRef)
	}
	if notes != "" {
		fmt.Fprintf(&b, "\n%s", notes)
	}
	return b.String()
}

// loadavg is the 1, 5 and 15 minute load averages: other work on a shared machine.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

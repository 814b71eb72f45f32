package main

// The full run: every scenario in the order its rows appear, each a method of bench. A scenario
// adds its rows (under its section heading) and keeps what later ones compare against: the
// floors are measured first because every ackmsg figure stands next to them, and the peers'
// figures before the rows that set ackmsg next to the peers.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ackmsg/ackmsg/certs"
)

// scenarios are the parts of a full run, in order. -quick runs every one of them, with the
// sample counts of quick; -only ackstorm runs the ACK-storm curve alone (runAckStorm).
var scenarios = []struct {
	name string
	run  func(*bench) error
}{
	{"PKI, commands and signed frames", (*bench).setup},
	{"raw ZeroMQ round trip", (*bench).floorRoundTrip},
	{"raw ZeroMQ fan-out round trip", (*bench).floorFanOut},
	{"zsock round trip", (*bench).floorZsock},
	{"raw ZeroMQ one-way throughput", (*bench).floorThroughput},
	{"crypto floors", (*bench).floorCrypto},
	{"acked publish latency in process", (*bench).ackedInProcess},
	{"acked publish latency to processes", (*bench).ackedProcesses},
	{"fan-out curve: acked publish to N processes", (*bench).fanCurve},
	{"PublishAsync throughput", (*bench).publishAsync},
	{"memory per in-flight message", (*bench).memoryPerMessage},
	{"plain publish throughput", (*bench).plainPublish},
	{"publishers curve", (*bench).publishersCurve},
	{"payload curve", (*bench).payloadCurve},
	{"memory curves", (*bench).memoryCurves},
	{"CURVE next to plaintext", (*bench).curve},
	{"outbox", (*bench).outbox},
	{"archive", (*bench).archive},
	{"NATS JetStream", (*bench).jetStream},
	{"the peers with N acknowledging consumers", (*bench).fanPeers}, // before: it starts the RabbitMQ node
	{"RabbitMQ and the bridge", (*bench).rabbitAndBridge},
	{"RabbitMQ cluster and the bridge, quorum queue", (*bench).rabbitCluster},
	{"ackmsg next to the peers", (*bench).nextToPeers},
	{"ACK storm", (*bench).stormInRun},
	{"cold CLI publish", (*bench).coldPublish},
}

// bench is one full run: the results it collects and what one scenario measured that a later
// one stands next to.
type bench struct {
	res   *Results
	sz    sizes
	quick bool
	root  string // the repository whose commands are built
	tmp   string // removed when the run ends
	p     *procs

	// setup
	k, ed                *pki       // RSA-2048 and Ed25519, fanMax recipients each
	kit, edKit           *cryptoKit // their crypto
	msgFrame, edMsgFrame []byte     // a signed message, in each PKI
	msg, reply           [][]byte   // the RSA-2048 message and ACK, as multipart frames
	edMsg, edReply       [][]byte   // the Ed25519 ones
	rtt, edRTT           []time.Duration
	rsaFan, edFan        map[int][]time.Duration
	rsaFig, edFig        keyed
	acked1RSA, acked1Ed  []time.Duration     // acked publish to 1 recipient in process
	asyncEd              float64             // PublishAsync Ed25519, in-flight 256
	enqLat               []time.Duration     // outbox enqueue (boltstore)
	js                   map[bool]*jsFigures // by sync_interval always
	rmq                  *rmqFigures         // nil when RabbitMQ could not be started
	rmqErr               error               // why
	fan                  *fanFigures         // the fan-out curve's points (fanout.go)
}

// newResults is an empty result set of a run started at start.
func newResults(start time.Time, isQuick bool) *Results {
	return &Results{Started: start.UTC(), Quick: isQuick, Machine: machine(), Samples: map[string][]float64{},
		Extra: map[string]float64{}, Sections: map[int]string{}}
}

// run measures every figure, scenario by scenario, with the sample counts of sz; root is the
// repository whose commands are built.
func run(sz sizes, isQuick bool, root string) (*Results, error) {
	start := time.Now()
	b := &bench{res: newResults(start, isQuick), sz: sz, quick: isQuick, root: root}
	tmp, err := os.MkdirTemp("", "ackmsg-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b.tmp = tmp
	for _, s := range scenarios {
		if err := s.run(b); err != nil {
			return nil, err
		}
	}
	b.res.Seconds = time.Since(start).Seconds()
	b.res.Machine["load average at end"] = loadavg()
	return b.res, nil
}

// setup issues both PKIs, builds the commands and signs the message and ACK frames every floor
// is measured with.
func (b *bench) setup() error {
	step("PKI (RSA-2048 and Ed25519, %d recipients each: the fan-out curve's) and commands", fanMax)
	var err error
	if b.k, err = newPKI(filepath.Join(b.tmp, "pki"), certs.KeyRSA, fanMax); err != nil {
		return err
	}
	if b.ed, err = newPKI(filepath.Join(b.tmp, "pki-ed25519"), certs.KeyEd25519, fanMax); err != nil {
		return err
	}
	b.p = &procs{bin: filepath.Join(b.tmp, "bin"), dir: b.tmp}
	if err := buildCommands(b.root, b.p.bin); err != nil {
		return fmt.Errorf("building the commands: %w", err)
	}
	if b.kit, err = newCryptoKit(b.k); err != nil {
		return err
	}
	_, msgFrame, ackFrame, err := b.kit.chain(0)
	if err != nil {
		return err
	}
	b.msgFrame = msgFrame
	b.msg, b.reply = [][]byte{[]byte(benchTopic), msgFrame}, [][]byte{[]byte(benchAck), ackFrame}
	b.res.Extra["message_bytes"], b.res.Extra["ack_bytes"] = float64(len(msgFrame)), float64(len(ackFrame))
	if b.edKit, err = newCryptoKit(b.ed); err != nil {
		return err
	}
	_, edMsgFrame, edAckFrame, err := b.edKit.chain(0)
	if err != nil {
		return err
	}
	b.edMsgFrame = edMsgFrame
	b.edMsg, b.edReply = [][]byte{[]byte(benchTopic), edMsgFrame}, [][]byte{[]byte(benchAck), edAckFrame}
	b.res.Extra["ed25519_message_bytes"], b.res.Extra["ed25519_ack_bytes"] = float64(len(edMsgFrame)), float64(len(edAckFrame))
	return nil
}

// section starts a section: its heading goes above the next row added.
func (b *bench) section(s string) { b.res.Sections[len(b.res.Rows)] = s }

// add appends a row, with its ratio when it has a floor, and returns it for a target or a note.
func (b *bench) add(r Row) *Row {
	if r.Unit == "" {
		panic(fmt.Sprintf("bench: row %q has no unit", r.Name))
	}
	if r.Floor > 0 {
		r.Ratio = r.Value / r.Floor
	}
	b.res.Rows = append(b.res.Rows, r)
	return &b.res.Rows[len(b.res.Rows)-1]
}

// skip records a figure not measured in this run, unit the unit it would have had.
func (b *bench) skip(name, unit string, why error) {
	step("%s skipped: %v", name, why)
	b.add(Row{Name: name, Unit: unit, Skipped: why.Error()})
}

// keep stores a latency distribution, in µs and sorted, for the chart.
func (b *bench) keep(name string, ds []time.Duration) {
	s := make([]float64, len(ds))
	for i, d := range ds {
		s[i] = us(d)
	}
	slices.Sort(s)
	b.res.Samples[name] = s
}

// target sets a row's target and whether it was met.
func target(r *Row, text string, ok bool) {
	r.Target, r.Met = text, &ok
}

package ack

import (
	"bytes"
	"container/heap"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/ratelog"
)

// The engine under test waits for these msg_ids (the seeds in testdata/fuzz/FuzzAckFrame ACK
// them): A needs sub01 and sub02, B needs sub01, C needs sub01 and sub02 and already has sub01's.
const (
	fuzzIDA = "2026-0a0a0a0a-0000-4000-8000-00000000000a"
	fuzzIDB = "2026-0b0b0b0b-0000-4000-8000-00000000000b"
	fuzzIDC = "2026-0c0c0c0c-0000-4000-8000-00000000000c"
	fuzzIDX = "2026-0d0d0d0d-0000-4000-8000-00000000000d" // nobody waits for it

	fuzzAckTopic = "org.example.test.gilmsg.ack"
	// fuzzMaxFrame makes the oversize check reachable (a signed ACK is about 2.5 KB).
	fuzzMaxFrame = 8192
)

// newEngine returns a Publisher with no sockets and no goroutines: only the state handleAck
// works on. Tests drive it by calling handleAck directly; nothing retransmits or expires.
func newEngine(v certs.Verifier) *Publisher {
	cfg := DefaultConfig()
	cfg.Publisher.TopicPrefix, cfg.Publisher.Environment = "org.example", "test"
	cfg.MaxFrameSize = fuzzMaxFrame
	log := slog.Default()
	return &Publisher{cfg: cfg, log: log, verifier: v,
		ackTopic: message.FullTopic(cfg.Publisher.TopicPrefix, cfg.Publisher.Environment, "gilmsg", "ack"),
		slots:    make(chan struct{}, 64), waiters: make(map[string]*waiter), rejects: ratelog.New(log, time.Hour)}
}

// expectAcks registers a waiter on p for id as PublishAsync does, with acked already counted.
func expectAcks(tb testing.TB, p *Publisher, id string, recipients, acked []string) *waiter {
	tb.Helper()
	now := time.Now()
	m, err := message.Build("org.example.test.bench.order", nil, 1, "bench", now)
	if err == nil {
		err = m.Set(message.FieldMsgID, id)
	}
	if err != nil {
		tb.Fatal(err)
	}
	w := &waiter{msg: m, missing: make(map[string]struct{}), acked: slices.Clone(acked), start: now,
		deadline: now.Add(time.Hour), next: now.Add(time.Hour), attempts: 1, done: make(chan struct{})}
	for _, r := range recipients {
		if !slices.Contains(acked, r) {
			w.missing[r] = struct{}{}
		}
	}
	p.slots <- struct{}{}
	w.slot = p.taken()
	p.mu.Lock()
	p.waiters[id] = w
	heap.Push(&p.queue, w)
	p.mu.Unlock()
	return w
}

func ackVerifier(tb testing.TB) certs.Verifier {
	tb.Helper()
	// As config's AckVerifier: the CA and CRL, no routing policy, no late gilmsg marker.
	tc := certs.DefaultTrustConfig(filepath.Join(testbus.PKIDir(), "ca.crt"))
	tc.CRLFile = filepath.Join(testbus.PKIDir(), "crl.pem")
	v, err := certs.NewVerifier(tc)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func vectorSigner(tb testing.TB, name string) *certs.X509Signer {
	tb.Helper()
	s, err := certs.LoadSigner(filepath.Join(testbus.PKIDir(), name+".crt"), filepath.Join(testbus.PKIDir(), name+".key"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ackEnvelope builds the envelope a Subscriber sends, with a fixed msg_id and timestamp so that
// regenerated seeds are byte-identical (PKCS#1 v1.5 signatures are deterministic).
func ackEnvelope(tb testing.TB, topic string, body any) *message.Message {
	tb.Helper()
	m, err := message.Build(topic, body, 7, "ackmsg", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	if err == nil {
		err = m.Set(message.FieldMsgID, "2026-ffffffff-0000-4000-8000-0000000000ff")
	}
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func marshal(tb testing.TB, m *message.Message) []byte {
	tb.Helper()
	b, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// signedAck is frame 2 of an ACK for id signed by s, as Subscriber.ack makes it.
func signedAck(tb testing.TB, s certs.Signer, id string) []byte {
	tb.Helper()
	m := ackEnvelope(tb, fuzzAckTopic, map[string]any{"ack_msg_id": id})
	if err := s.Sign(m); err != nil {
		tb.Fatal(err)
	}
	return marshal(tb, m)
}

// fuzzFrames turns the fuzzer's inputs into a multipart message of 0 to 3 frames.
func fuzzFrames(topic, envelope []byte, shape uint8) [][]byte {
	switch shape % 4 {
	case 1:
		return [][]byte{topic}
	case 2:
		return [][]byte{topic, envelope, nil}
	case 3:
		return nil
	}
	return [][]byte{topic, envelope}
}

// FuzzAckFrame feeds arbitrary frames to the ACK path: parseAck, then the engine's handleAck with
// three messages waiting. Nothing may panic; parseAck must agree with an independent reading of
// the frames; and an ACK counts exactly when it is well formed, verifies, names a waiting msg_id
// and is signed by one of that message's still-missing recipients. Seeds (valid ACKs signed by
// sub01 and sub02 of the vector PKI, and every way to get one wrong) are in
// testdata/fuzz/FuzzAckFrame; ACKMSG_WRITE_FUZZ_SEEDS=1 go test -run TestWriteAckFuzzSeeds
// regenerates them.
func FuzzAckFrame(f *testing.F) {
	v := ackVerifier(f)
	f.Fuzz(func(t *testing.T, topic, envelope []byte, shape uint8) {
		checkAckFrames(t, v, fuzzFrames(topic, envelope, shape))
	})
}

// checkAckFrames runs frames through parseAck and an engine (see FuzzAckFrame), fails t when an
// invariant breaks, and returns the engine's stats.
func checkAckFrames(t *testing.T, v certs.Verifier, frames [][]byte) Stats {
	t.Helper()
	id, m, reason, err := parseAck(frames, fuzzAckTopic, fuzzMaxFrame)

	// An independent reading of what parseAck must accept.
	wantID, wellFormed := "", len(frames) == 2 && string(frames[0]) == fuzzAckTopic && len(frames[1]) <= fuzzMaxFrame
	if wellFormed {
		dm, derr := message.Decode(frames[1])
		wellFormed = derr == nil && dm.Topic() == fuzzAckTopic
		if wellFormed {
			body, _ := dm.Body().(map[string]any)
			wantID, wellFormed = body["ack_msg_id"].(string)
		}
	}
	switch {
	case wellFormed != (err == nil):
		t.Fatalf("parseAck err = %v (reason %q), independent reading says well formed = %v", err, reason, wellFormed)
	case err != nil && reason == "":
		t.Fatalf("rejected without a reason: %v", err)
	case err == nil && (reason != "" || m == nil || id != wantID):
		t.Fatalf("accepted with reason %q, message %v, id %q (want %q)", reason, m != nil, id, wantID)
	}

	// Who may count, according to the verifier itself.
	signer := ""
	if err == nil {
		if who, verr := v.Verify(m); verr == nil {
			signer = who.CN
		}
	}

	p := newEngine(v)
	type want struct {
		w          *waiter
		id         string
		recipients []string
		acked      []string
	}
	waiting := []want{
		{id: fuzzIDA, recipients: []string{"sub01", "sub02"}},
		{id: fuzzIDB, recipients: []string{"sub01"}},
		{id: fuzzIDC, recipients: []string{"sub01", "sub02"}, acked: []string{"sub01"}},
	}
	for i := range waiting {
		waiting[i].w = expectAcks(t, p, waiting[i].id, waiting[i].recipients, waiting[i].acked)
	}
	p.handleAck(zsock.Inbound{Endpoint: zsock.Endpoint{Name: "fuzz"}, Frames: frames})

	counted := 0
	for _, c := range waiting {
		expected := c.acked
		if signer != "" && id == c.id && slices.Contains(c.recipients, signer) && !slices.Contains(c.acked, signer) {
			expected = append(slices.Clone(c.acked), signer)
			counted++
		}
		if !slices.Equal(c.w.acked, expected) {
			t.Fatalf("msg %s: acked %v, want %v (ACK id %q, signer %q)", c.id, c.w.acked, expected, id, signer)
		}
		if len(c.w.missing)+len(c.w.acked) != len(c.recipients) {
			t.Fatalf("msg %s: missing %v and acked %v do not add up to %v", c.id, c.w.missingList(), c.w.acked, c.recipients)
		}
		select {
		case <-c.w.done:
			if len(c.w.missing) != 0 || c.w.err != nil {
				t.Fatalf("msg %s finished with %v missing, err %v", c.id, c.w.missingList(), c.w.err)
			}
		default:
			if len(c.w.missing) == 0 {
				t.Fatalf("msg %s has every ACK but is not done", c.id)
			}
		}
	}
	if got := p.stats.acksCounted.Load(); got != uint64(counted) {
		t.Fatalf("AcksCounted %d, want %d", got, counted)
	}
	return p.Stats()
}

// TestAckFrameSeeds checks that the seed corpus means what its names say: the valid ACKs count
// and each broken one is rejected for its reason (FuzzAckFrame only checks invariants).
func TestAckFrameSeeds(t *testing.T) {
	v := ackVerifier(t)
	want := map[string]string{ // seed -> "counted", "duplicate", "other" or the reject reason
		"valid-sub01-A": "counted", "valid-sub02-A": "counted", "valid-sub01-B-completes": "counted",
		"valid-sub02-C-completes": "counted", "extra-body-fields": "counted",
		"duplicate-sub01-C": "duplicate", "not-waiting": "other", "not-recipient-pub01": "not_recipient",
		"revoked": "revoked", "expired": "expired", "untrusted-ca": "untrusted", "unsigned": "unsigned",
		"unsigned-minimal": "unsigned", "id-rewritten": "tampered", "field-added-after-signing": "tampered",
		"certificate-swapped": "tampered", "no-ack-msg-id": "body", "ack-msg-id-not-string": "body",
		"body-not-object": "body", "envelope-topic-wrong": "topic", "frame-topic-wrong": "topic",
		"frame-topic-prefix": "topic", "oversize": "oversize", "one-frame": "frames", "three-frames": "frames",
		"no-frames": "frames", "json-null": "envelope", "json-truncated": "envelope", "invalid-utf8": "envelope",
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzAckFrame")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d seed files, %d expectations", len(files), len(want))
	}
	for _, file := range files {
		t.Run(file.Name(), func(t *testing.T) {
			expect, ok := want[file.Name()]
			if !ok {
				t.Fatal("no expectation for this seed")
			}
			data, err := os.ReadFile(filepath.Join(dir, file.Name()))
			if err != nil {
				t.Fatal(err)
			}
			topic, envelope, shape := parseSeed(t, data)
			st := checkAckFrames(t, v, fuzzFrames(topic, envelope, shape))
			got := ""
			switch {
			case st.AcksCounted == 1:
				got = "counted"
			case st.AcksDuplicate == 1:
				got = "duplicate"
			case st.AcksOther == 1:
				got = "other"
			}
			for reason, n := range st.AcksRejected {
				if n > 0 {
					got += reason
				}
			}
			if got != expect {
				t.Fatalf("outcome %q, want %q (stats %+v)", got, expect, st)
			}
		})
	}
}

// parseSeed reads a corpus file of FuzzAckFrame ([]byte, []byte, byte).
func parseSeed(t *testing.T, data []byte) (topic, envelope []byte, shape uint8) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("not a FuzzAckFrame corpus file: %d lines", len(lines))
	}
	unquote := func(line, prefix string) string {
		if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, ")") {
			t.Fatalf("line %q is not %s...)", line, prefix)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, prefix), ")"))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		return s
	}
	b := unquote(lines[3], "byte(")
	if len(b) != 1 {
		t.Fatalf("shape %q is not one byte", b)
	}
	return []byte(unquote(lines[1], "[]byte(")), []byte(unquote(lines[2], "[]byte(")), b[0]
}

// ackCase is one precomputed ACK for the property test.
type ackCase struct {
	label  string
	frames [][]byte
	id     string // the msg_id it would count for
	signer string // the CN it would count as; "" when it must never count
}

// ackPool signs, once, valid ACKs from sub01, sub02 and pub01 for each id, and forgeries:
// revoked, expired and untrusted signers, an id changed after signing, a swapped certificate,
// the wrong topic in the envelope or in frame 1.
func ackPool(tb testing.TB, ids []string) []ackCase {
	tb.Helper()
	topic := []byte(fuzzAckTopic)
	var pool []ackCase
	signers := map[string]*certs.X509Signer{}
	for _, name := range []string{"sub01", "sub02", "pub01", "revoked01", "expired01", "untrusted01"} {
		signers[name] = vectorSigner(tb, name)
	}
	for _, id := range ids {
		for _, name := range []string{"sub01", "sub02", "pub01"} {
			pool = append(pool, ackCase{name + "/" + id, [][]byte{topic, signedAck(tb, signers[name], id)}, id, name})
		}
		for _, name := range []string{"revoked01", "expired01", "untrusted01"} {
			pool = append(pool, ackCase{name + "/" + id, [][]byte{topic, signedAck(tb, signers[name], id)}, id, ""})
		}
	}
	a0, a1 := signedAck(tb, signers["sub01"], ids[0]), signedAck(tb, signers["sub02"], ids[1])
	pool = append(pool,
		ackCase{"sub01/id-rewritten", [][]byte{topic, bytes.ReplaceAll(a0, []byte(ids[0]), []byte(ids[1]))}, ids[1], ""},
		ackCase{"sub02/id-rewritten", [][]byte{topic, bytes.ReplaceAll(a1, []byte(ids[1]), []byte(ids[0]))}, ids[0], ""},
		ackCase{"sub01/frame-topic", [][]byte{[]byte(fuzzAckTopic + "x"), a0}, ids[0], ""},
	)
	// sub01's signature presented with sub02's certificate.
	m, err := message.Decode(a0)
	if err != nil {
		tb.Fatal(err)
	}
	c2, _ := mustDecode(tb, a1).String(message.FieldCertificate)
	if err := m.Set(message.FieldCertificate, c2); err != nil {
		tb.Fatal(err)
	}
	pool = append(pool, ackCase{"sub01-sig/sub02-cert", [][]byte{topic, marshal(tb, m)}, ids[0], ""})
	// A valid signature on the wrong topic.
	wrong := ackEnvelope(tb, "org.example.test.gilmsg.other", map[string]any{"ack_msg_id": ids[0]})
	if err := signers["sub01"].Sign(wrong); err != nil {
		tb.Fatal(err)
	}
	pool = append(pool, ackCase{"sub01/envelope-topic", [][]byte{topic, marshal(tb, wrong)}, ids[0], ""})
	return pool
}

func mustDecode(tb testing.TB, frame []byte) *message.Message {
	tb.Helper()
	m, err := message.Decode(frame)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestAckEngineProperty feeds the engine random sequences of valid and forged ACKs (duplicates
// and reorderings included) for three messages with random recipient sets, and checks against a
// model: a message completes, without error, iff every recipient sent a verified ACK for its
// msg_id; each recipient counts once, in arrival order; forgeries never count.
func TestAckEngineProperty(t *testing.T) {
	ids := []string{fuzzIDA, fuzzIDB, fuzzIDC}
	pool := ackPool(t, ids)
	v := ackVerifier(t)
	names := []string{"sub01", "sub02", "pub01", "revoked01", "untrusted01"}
	rng := rand.New(rand.NewPCG(4, 2))
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	completed, forged := 0, 0
	for round := range rounds {
		p := newEngine(v)
		recipients := make([][]string, len(ids))
		waiters := make([]*waiter, len(ids))
		for i, id := range ids {
			for _, n := range names {
				// Mostly good names, so that messages do complete.
				if rng.IntN(3) != 0 && (n != "revoked01" && n != "untrusted01" || rng.IntN(4) == 0) {
					recipients[i] = append(recipients[i], n)
				}
			}
			if len(recipients[i]) == 0 {
				recipients[i] = []string{"sub01"}
			}
			waiters[i] = expectAcks(t, p, id, recipients[i], nil)
		}
		seq := make([]ackCase, rng.IntN(24))
		for i := range seq {
			seq[i] = pool[rng.IntN(len(pool))]
		}
		model := make([][]string, len(ids))
		for _, c := range seq {
			p.handleAck(zsock.Inbound{Frames: c.frames})
			if c.signer == "" {
				forged++
				continue
			}
			i := slices.Index(ids, c.id)
			if slices.Contains(recipients[i], c.signer) && !slices.Contains(model[i], c.signer) {
				model[i] = append(model[i], c.signer)
			}
		}
		for i, w := range waiters {
			labels := make([]string, len(seq))
			for j, c := range seq {
				labels[j] = c.label
			}
			ctx := fmt.Sprintf("round %d, msg %s, recipients %v, sequence %v", round, ids[i], recipients[i], labels)
			if !slices.Equal(w.acked, model[i]) {
				t.Fatalf("%s: acked %v, want %v", ctx, w.acked, model[i])
			}
			complete := len(model[i]) == len(recipients[i])
			select {
			case <-w.done:
				if !complete || w.err != nil {
					t.Fatalf("%s: finished (err %v) with %v acked", ctx, w.err, w.acked)
				}
				completed++
			default:
				if complete {
					t.Fatalf("%s: every recipient ACKed but not finished", ctx)
				}
			}
		}
	}
	t.Logf("%d rounds: %d of %d messages completed, %d forged ACKs fed", rounds, completed, rounds*len(ids), forged)
	if completed == 0 || completed == rounds*len(ids) || forged == 0 {
		t.Fatal("the random sequences do not exercise both outcomes")
	}
}

// TestWriteAckFuzzSeeds regenerates testdata/fuzz/FuzzAckFrame. The vector keys and fixed
// envelopes make the files identical each time.
func TestWriteAckFuzzSeeds(t *testing.T) {
	if os.Getenv("ACKMSG_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set ACKMSG_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz/FuzzAckFrame")
	}
	sub01, sub02 := vectorSigner(t, "sub01"), vectorSigner(t, "sub02")
	sign := func(s certs.Signer, topic string, body any) *message.Message {
		m := ackEnvelope(t, topic, body)
		if s != nil {
			if err := s.Sign(m); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	ackOf := func(s certs.Signer, id string) []byte {
		return marshal(t, sign(s, fuzzAckTopic, map[string]any{"ack_msg_id": id}))
	}
	validA := ackOf(sub01, fuzzIDA)
	extraField := sign(sub01, fuzzAckTopic, map[string]any{"ack_msg_id": fuzzIDA})
	if err := extraField.Set("added_after_signing", true); err != nil {
		t.Fatal(err)
	}
	swapped := mustDecode(t, validA)
	cert2, _ := mustDecode(t, ackOf(sub02, fuzzIDA)).String(message.FieldCertificate)
	if err := swapped.Set(message.FieldCertificate, cert2); err != nil {
		t.Fatal(err)
	}
	oversize := sign(sub01, fuzzAckTopic, map[string]any{"ack_msg_id": fuzzIDA, "pad": string(bytes.Repeat([]byte("x"), fuzzMaxFrame))})
	topic := []byte(fuzzAckTopic)
	seeds := []struct {
		name            string
		topic, envelope []byte
		shape           uint8
	}{
		{"valid-sub01-A", topic, validA, 0},
		{"valid-sub02-A", topic, ackOf(sub02, fuzzIDA), 0},
		{"valid-sub01-B-completes", topic, ackOf(sub01, fuzzIDB), 0},
		{"duplicate-sub01-C", topic, ackOf(sub01, fuzzIDC), 0},
		{"valid-sub02-C-completes", topic, ackOf(sub02, fuzzIDC), 0},
		{"not-waiting", topic, ackOf(sub01, fuzzIDX), 0},
		{"not-recipient-pub01", topic, ackOf(vectorSigner(t, "pub01"), fuzzIDB), 0},
		{"revoked", topic, ackOf(vectorSigner(t, "revoked01"), fuzzIDA), 0},
		{"expired", topic, ackOf(vectorSigner(t, "expired01"), fuzzIDA), 0},
		{"untrusted-ca", topic, ackOf(vectorSigner(t, "untrusted01"), fuzzIDA), 0},
		{"unsigned", topic, ackOf(nil, fuzzIDA), 0},
		{"id-rewritten", topic, bytes.ReplaceAll(validA, []byte(fuzzIDA), []byte(fuzzIDB)), 0},
		{"field-added-after-signing", topic, marshal(t, extraField), 0},
		{"certificate-swapped", topic, marshal(t, swapped), 0},
		{"extra-body-fields", topic, marshal(t, sign(sub01, fuzzAckTopic, map[string]any{"ack_msg_id": fuzzIDA, "note": []any{1, "two", nil}})), 0},
		{"no-ack-msg-id", topic, marshal(t, sign(sub01, fuzzAckTopic, map[string]any{"msg_id": fuzzIDA})), 0},
		{"ack-msg-id-not-string", topic, marshal(t, sign(sub01, fuzzAckTopic, map[string]any{"ack_msg_id": 42})), 0},
		{"body-not-object", topic, marshal(t, sign(sub01, fuzzAckTopic, fuzzIDA)), 0},
		{"envelope-topic-wrong", topic, marshal(t, sign(sub01, "org.example.test.gilmsg.nack", map[string]any{"ack_msg_id": fuzzIDA})), 0},
		{"frame-topic-wrong", []byte("org.example.test.gilmsg.nack"), validA, 0},
		{"frame-topic-prefix", []byte("org.example.test.gilmsg.ack.x"), validA, 0},
		{"oversize", topic, marshal(t, oversize), 0},
		{"one-frame", topic, validA, 1},
		{"three-frames", topic, validA, 2},
		{"no-frames", topic, validA, 3},
		{"json-null", topic, []byte("null"), 0},
		{"json-truncated", topic, validA[:len(validA)/2], 0},
		{"invalid-utf8", topic, []byte("{\"topic\":\"" + fuzzAckTopic + "\",\"msg_id\":\"\xff\",\"msg\":{\"ack_msg_id\":\"" + fuzzIDA + "\"}}"), 0}, // an id that waits: frames for others are dropped unread
		{"unsigned-minimal", topic, []byte(`{"topic":"` + fuzzAckTopic + `","msg_id":"m","msg":{"ack_msg_id":"` + fuzzIDA + `"}}`), 0},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzAckFrame")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		// The format of go test's corpus files (internal/fuzz marshalCorpusFile).
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\nbyte(%q)\n", s.topic, s.envelope, s.shape)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

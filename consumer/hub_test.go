package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// fakeSource feeds a Hub from a channel, as an acking source would: every message carries a Done
// that records its outcome.
type fakeSource struct {
	t        *testing.T
	ch       chan consumer.Incoming
	taken    atomic.Int64
	closed   chan struct{}
	prefixes []string
}

func (f *fakeSource) Next(ctx context.Context) (consumer.Incoming, error) {
	select {
	case in := <-f.ch:
		f.taken.Add(1)
		return in, nil
	case <-ctx.Done():
		return consumer.Incoming{}, ctx.Err()
	}
}

func (f *fakeSource) Close() error { close(f.closed); return nil }

// send delivers m and returns the channel its outcome arrives on. Done must be called once.
func (f *fakeSource) send(m *message.Message) <-chan error {
	out := make(chan error, 2)
	var calls atomic.Int32
	f.ch <- consumer.Incoming{Delivery: consumer.Delivery{Topic: m.Topic(), Message: m}, Done: func(err error) {
		if calls.Add(1) > 1 {
			f.t.Errorf("Done called twice for %s", m.MsgID())
		}
		out <- err
	}}
	return out
}

// testHub is a running Hub on a fakeSource.
type testHub struct {
	*consumer.Hub
	src    *fakeSource
	cancel context.CancelFunc
	done   chan error
}

func hubConfig() *config.Config {
	c := config.DefaultConfig()
	c.Hub.ShutdownTimeout = 10
	return &c
}

// startHub adds the consumers (name -> consumer, config) and runs the hub until the test ends.
func startHub(t *testing.T, cfg *config.Config, add func(h *consumer.Hub)) *testHub {
	t.Helper()
	src := &fakeSource{t: t, ch: make(chan consumer.Incoming), closed: make(chan struct{})}
	h, err := config.NewHub(cfg, consumer.WithSource(func(_ context.Context, spec consumer.SourceSpec) (consumer.Source, error) {
		src.prefixes = spec.Prefixes
		return src, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	add(h)
	ctx, cancel := context.WithCancel(context.Background())
	th := &testHub{Hub: h, src: src, cancel: cancel, done: make(chan error, 1)}
	go func() { th.done <- h.Run(ctx) }()
	if err := h.WaitReady(testbus.Within(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { th.stop(t) })
	return th
}

// stop cancels the hub and waits for Run (at most 10 s).
func (th *testHub) stop(t *testing.T) error {
	t.Helper()
	th.cancel()
	select {
	case err, ok := <-th.done:
		if ok {
			close(th.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("hub did not stop within 10 s")
		return nil
	}
}

func add(t *testing.T, h *consumer.Hub, name string, c consumer.Consumer, mod ...func(*consumer.ConsumerConfig)) {
	t.Helper()
	cc := consumer.DefaultConsumerConfig(name)
	for _, m := range mod {
		m(&cc)
	}
	if err := h.Add(c, cc); err != nil {
		t.Fatal(err)
	}
}

func msg(t *testing.T, topic string) *message.Message {
	t.Helper()
	m, err := message.Build(topic, map[string]any{"n": 1}, 1, "u", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// recorder is a consumer that records what it got, and can be told to fail or block.
type recorder struct {
	topics []string
	mu     sync.Mutex
	got    []string           // msg_ids, in order
	fails  map[string]int     // msg_id -> failures still to produce
	gate   chan struct{}      // when not nil, Consume waits for it (or ctx)
	info   []consumer.Info    // InfoFrom for each call
	seen   chan string        // when not nil, receives each msg_id as Consume starts
	after  func(string) error // optional extra outcome
}

func newRecorder(topics ...string) *recorder {
	return &recorder{topics: topics, fails: map[string]int{}}
}

func (r *recorder) Topics() []string { return r.topics }

func (r *recorder) Consume(ctx context.Context, m *message.Message) error {
	id := m.MsgID()
	info, _ := consumer.InfoFrom(ctx)
	r.mu.Lock()
	r.got = append(r.got, id)
	r.info = append(r.info, info)
	fail := r.fails[id] > 0
	if fail {
		r.fails[id]--
	}
	gate, seen := r.gate, r.seen
	r.mu.Unlock()
	if seen != nil {
		seen <- id
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("planned failure")
	}
	if r.after != nil {
		return r.after(id)
	}
	return nil
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g == id {
			n++
		}
	}
	return n
}

func outcome(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome within 10 s")
		return nil
	}
}

func noOutcomeYet(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("outcome %v reported too early", err)
	default:
	}
}

func TestHubRoutesByPattern(t *testing.T) {
	all := newRecorder("org.x.dev.#")
	bodhi := newRecorder("org.x.dev.bodhi.*")
	exact := newRecorder("org.x.dev.koji.build", "org.y.prod.*.z")
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "all", all)
		add(t, h, "bodhi", bodhi)
		add(t, h, "exact", exact)
	})
	if got, want := h.src.prefixes, []string{"org.x.dev", "org.y.prod."}; !slices.Equal(got, want) {
		t.Errorf("prefixes %q, want %q", got, want)
	}
	want := map[string][]string{ // topic -> consumers
		"org.x.dev":                 {"all"},
		"org.x.dev.bodhi.update":    {"all", "bodhi"},
		"org.x.dev.bodhi":           {"all"},
		"org.x.dev.koji.build":      {"all", "exact"},
		"org.x.dev.koji.build.done": {"all"},
		"org.y.prod.a.z":            {"exact"},
		"org.y.prod.a.b.z":          nil,
		"org.x.devel.bodhi.update":  nil,
	}
	ids := map[string]string{}
	for topic, consumers := range want {
		m := msg(t, topic)
		ids[topic] = m.MsgID()
		err := outcome(t, h.src.send(m))
		if consumers == nil {
			if !errors.Is(err, consumer.ErrNoConsumer) {
				t.Errorf("%s: outcome %v, want ErrNoConsumer", topic, err)
			}
		} else if err != nil {
			t.Errorf("%s: outcome %v", topic, err)
		}
	}
	for topic, consumers := range want {
		for name, r := range map[string]*recorder{"all": all, "bodhi": bodhi, "exact": exact} {
			if got, want := r.count(ids[topic]), b2i(slices.Contains(consumers, name)); got != want {
				t.Errorf("%s got %s %d times, want %d", name, topic, got, want)
			}
		}
	}
	st := h.Stats()
	if st.Received != uint64(len(want)) || st.Unmatched != 2 || st.Completed != uint64(len(want)-2) {
		t.Errorf("stats %+v", st)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Property: a message reaches exactly the consumers one of whose patterns matches its topic
// (config.TopicMatches, itself fuzzed against a regexp oracle), and the subscription prefixes let
// every such topic through.
func TestHubRoutingProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"a", "b", "ab", "*", "#", "b*"}
	randPattern := func() string {
		n := 1 + rng.IntN(4)
		var p []string
		for i := range n {
			w := words[rng.IntN(len(words))]
			if strings.HasSuffix(w, "*") && w != "*" && i != n-1 {
				w = "b"
			}
			p = append(p, w)
		}
		return strings.Join(p, ".")
	}
	recs := make([]*recorder, 5)
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		for i := range recs {
			recs[i] = newRecorder(randPattern(), randPattern())
			add(t, h, fmt.Sprint("c", i), recs[i])
		}
	})
	topicWords := []string{"a", "b", "ab", "ba", "c"}
	for range 300 {
		n := 1 + rng.IntN(5)
		var tw []string
		for range n {
			tw = append(tw, topicWords[rng.IntN(len(topicWords))])
		}
		topic := strings.Join(tw, ".")
		m := msg(t, topic)
		err := outcome(t, h.src.send(m))
		any := false
		for i, r := range recs {
			want := config.TopicMatches(r.topics[0], topic) || config.TopicMatches(r.topics[1], topic)
			any = any || want
			if got := r.count(m.MsgID()) == 1; got != want {
				t.Fatalf("consumer %d %q got %s: %v, want %v", i, r.topics, topic, got, want)
			}
			if want && !slices.ContainsFunc(h.src.prefixes, func(p string) bool { return strings.HasPrefix(topic, p) }) {
				t.Fatalf("topic %s for %q is outside the subscriptions %q", topic, r.topics, h.src.prefixes)
			}
		}
		if any != (err == nil) {
			t.Fatalf("%s: outcome %v, matched %v", topic, err, any)
		}
	}
}

func TestHubOutcomeWaitsForEveryConsumer(t *testing.T) {
	slow := newRecorder("a.#")
	slow.gate = make(chan struct{})
	slow.seen = make(chan string, 1)
	fast := newRecorder("a.#")
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "slow", slow)
		add(t, h, "fast", fast)
	})
	m := msg(t, "a.b")
	out := h.src.send(m)
	<-slow.seen
	testbus.Eventually(t, 5*time.Second, "fast consumer ran", func() bool { return fast.count(m.MsgID()) == 1 })
	noOutcomeYet(t, out)
	close(slow.gate)
	if err := outcome(t, out); err != nil {
		t.Fatal(err)
	}
}

// Several consumers failing one message: the outcome has each failure, as a *ConsumerError in a
// *multierror.Error, and says which consumers succeeded; an OnReceipt consumer is not counted.
func TestHubAggregatesConsumerFailures(t *testing.T) {
	a, b, ok, receipt := newRecorder("a.#"), newRecorder("a.#"), newRecorder("a.#"), newRecorder("a.#")
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "alpha", a)
		add(t, h, "beta", b)
		add(t, h, "steady", ok)
		add(t, h, "receipt", receipt, func(cc *consumer.ConsumerConfig) { cc.OnReceipt = true })
	})
	m := msg(t, "a.b")
	a.fails[m.MsgID()], b.fails[m.MsgID()] = 1, 1
	err := outcome(t, h.src.send(m))
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 2 {
		t.Fatalf("outcome %#v, want a multierror of 2", err)
	}
	failed := map[string]int{}
	for _, e := range me.Errors {
		var ce *consumer.ConsumerError
		if !errors.As(e, &ce) || ce.Err.Error() != "planned failure" {
			t.Fatalf("failure %#v, want a *ConsumerError", e)
		}
		failed[ce.Consumer] = ce.Attempt
	}
	if len(failed) != 2 || failed["alpha"] != 1 || failed["beta"] != 1 {
		t.Fatalf("failed consumers and attempts %v, want alpha and beta, attempt 1", failed)
	}
	want := "consumer: 2 of 3 consumers failed msg " + m.MsgID() + " (done: steady): consumer "
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "consumer alpha: planned failure") ||
		!strings.Contains(err.Error(), "consumer beta: planned failure") {
		t.Fatalf("outcome text %q, want it to start %q and name both failures", err, want)
	}
	// The retransmission runs the two that failed, on their second attempt, and succeeds.
	if err := outcome(t, h.src.send(m)); err != nil {
		t.Fatal(err)
	}
	if a.count(m.MsgID()) != 2 || b.count(m.MsgID()) != 2 || ok.count(m.MsgID()) != 1 {
		t.Fatalf("runs: alpha %d beta %d steady %d", a.count(m.MsgID()), b.count(m.MsgID()), ok.count(m.MsgID()))
	}
}

// A failure withholds success; the retransmission runs only the consumer that failed; a further
// retransmission runs nothing and reports success again (an acking hub re-ACKs).
func TestHubRetransmissionRerunsOnlyFailed(t *testing.T) {
	flaky, steady := newRecorder("a.#"), newRecorder("a.#")
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "flaky", flaky)
		add(t, h, "steady", steady)
	})
	m := msg(t, "a.b")
	flaky.fails[m.MsgID()] = 1
	err := outcome(t, h.src.send(m))
	if err == nil || !strings.Contains(err.Error(), "consumer flaky: planned failure") {
		t.Fatalf("first outcome %v, want flaky's failure", err)
	}
	if err := outcome(t, h.src.send(m)); err != nil {
		t.Fatalf("second outcome %v", err)
	}
	if err := outcome(t, h.src.send(m)); err != nil {
		t.Fatalf("third outcome %v", err)
	}
	if f, s := flaky.count(m.MsgID()), steady.count(m.MsgID()); f != 2 || s != 1 {
		t.Fatalf("runs: flaky %d (want 2), steady %d (want 1)", f, s)
	}
	if a := flaky.info[1].Attempt; a != 2 || flaky.info[1].Consumer != "flaky" || flaky.info[1].Delivery.Topic != "a.b" {
		t.Fatalf("second run's info %+v", flaky.info[1])
	}
	if st := h.Stats(); st.Duplicates != 1 || st.Completed != 1 || st.Incomplete != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHubPoison(t *testing.T) {
	cfg := hubConfig()
	cfg.Hub.MaxAttempts = 2
	bad := newRecorder("a.#")
	h := startHub(t, cfg, func(h *consumer.Hub) { add(t, h, "bad", bad) })
	m := msg(t, "a.b")
	bad.fails[m.MsgID()] = 100
	if err := outcome(t, h.src.send(m)); err == nil || errors.Is(err, consumer.ErrPoison) {
		t.Fatalf("first outcome %v, want a plain failure", err)
	}
	if err := outcome(t, h.src.send(m)); !errors.Is(err, consumer.ErrPoison) {
		t.Fatalf("second outcome %v, want ErrPoison", err)
	}
	if err := outcome(t, h.src.send(m)); !errors.Is(err, consumer.ErrPoison) {
		t.Fatalf("third outcome %v, want ErrPoison", err)
	}
	if n := bad.count(m.MsgID()); n != 2 {
		t.Fatalf("ran %d times, want max_attempts = 2", n)
	}
	if st := h.Stats(); st.Poison != 1 || st.Rejected != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Other messages still flow.
	if err := outcome(t, h.src.send(msg(t, "a.c"))); err != nil {
		t.Fatal(err)
	}
}

func TestHubOnReceipt(t *testing.T) {
	r := newRecorder("a.#")
	r.gate = make(chan struct{})
	r.seen = make(chan string, 1)
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "receipt", r, func(c *consumer.ConsumerConfig) { c.OnReceipt = true })
	})
	m := msg(t, "a.b")
	r.fails[m.MsgID()] = 1
	if err := outcome(t, h.src.send(m)); err != nil { // before the consumer finished
		t.Fatal(err)
	}
	<-r.seen
	close(r.gate)
	testbus.Eventually(t, 5*time.Second, "failure counted", func() bool { return h.Stats().Consumers[0].Failed == 1 })
}

// A full inbox stops the hub from reading: with one worker busy and an inbox of one, the third
// message waits in the dispatcher and the fourth is not read from the source.
func TestHubBackPressure(t *testing.T) {
	r := newRecorder("a.#")
	r.gate = make(chan struct{})
	r.seen = make(chan string, 10)
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "slow", r, func(c *consumer.ConsumerConfig) { c.Inbox = 1 })
	})
	var outs []<-chan error
	outs = append(outs, h.src.send(msg(t, "a.1")))
	<-r.seen                                       // the worker holds the first
	outs = append(outs, h.src.send(msg(t, "a.2"))) // the inbox holds the second
	outs = append(outs, h.src.send(msg(t, "a.3"))) // the dispatcher waits with the third
	testbus.Eventually(t, 5*time.Second, "dispatcher blocked", func() bool { return h.Stats().Consumers[0].InboxFull == 1 })
	fourth := msg(t, "a.4")
	sent := make(chan (<-chan error), 1)
	go func() { sent <- h.src.send(fourth) }()
	select {
	case <-sent:
		t.Fatal("the hub read a fourth message while its inbox was full")
	default:
	}
	if n := h.src.taken.Load(); n != 3 {
		t.Fatalf("source read %d messages, want 3", n)
	}
	st := h.Stats().Consumers[0]
	if st.InboxDepth != 1 || st.InboxCap != 1 || st.Busy != 1 {
		t.Fatalf("stats %+v", st)
	}
	close(r.gate)
	outs = append(outs, <-sent)
	for _, o := range outs {
		if err := outcome(t, o); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHubDropWhenFull(t *testing.T) {
	r := newRecorder("a.#")
	r.gate = make(chan struct{})
	r.seen = make(chan string, 10)
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "dropper", r, func(c *consumer.ConsumerConfig) { c.Inbox, c.DropWhenFull = 1, true })
	})
	first := h.src.send(msg(t, "a.1"))
	<-r.seen
	second := h.src.send(msg(t, "a.2"))
	third := msg(t, "a.3")
	if err := outcome(t, h.src.send(third)); !errors.Is(err, consumer.ErrNotProcessed) {
		t.Fatalf("dropped message outcome %v, want ErrNotProcessed", err)
	}
	close(r.gate)
	for _, o := range []<-chan error{first, second} {
		if err := outcome(t, o); err != nil {
			t.Fatal(err)
		}
	}
	st := h.Stats().Consumers[0]
	if st.Dropped != 1 || st.InboxFull != 1 || st.Processed != 2 || r.count(third.MsgID()) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// SIGTERM semantics: reading stops at once, work in progress finishes and reports success.
func TestHubShutdownFinishesWork(t *testing.T) {
	r := newRecorder("a.#")
	r.gate = make(chan struct{})
	r.seen = make(chan string, 10)
	h := startHub(t, hubConfig(), func(h *consumer.Hub) { add(t, h, "w", r) })
	inFlight := h.src.send(msg(t, "a.1"))
	<-r.seen
	queued := h.src.send(msg(t, "a.2"))
	h.cancel()
	testbus.Eventually(t, 5*time.Second, "not ready", func() bool { return !h.Ready() })
	select {
	case h.src.ch <- consumer.Incoming{}:
		t.Fatal("the hub read a message after shutdown began")
	default:
	}
	noOutcomeYet(t, inFlight)
	close(r.gate)
	for _, o := range []<-chan error{inFlight, queued} {
		if err := outcome(t, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}
	<-h.src.closed
}

// At the shutdown deadline, work in progress is cancelled and queued work is not started:
// neither is reported as a success.
func TestHubShutdownDeadlineAbandons(t *testing.T) {
	cfg := hubConfig()
	cfg.Hub.ShutdownTimeout = 0.2
	r := newRecorder("a.#")
	r.gate = make(chan struct{}) // never opened: Consume returns only when its ctx ends
	r.seen = make(chan string, 10)
	h := startHub(t, cfg, func(h *consumer.Hub) { add(t, h, "hung", r) })
	inFlight := h.src.send(msg(t, "a.1"))
	<-r.seen
	queued := msg(t, "a.2")
	queuedOut := h.src.send(queued)
	start := time.Now()
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("stopped after %s, before the deadline", took)
	}
	if err := outcome(t, inFlight); err == nil || !strings.Contains(err.Error(), "shutdown deadline") {
		t.Fatalf("in-flight outcome %v, want a cancellation", err)
	}
	if err := outcome(t, queuedOut); !errors.Is(err, consumer.ErrNotProcessed) {
		t.Fatalf("queued outcome %v, want ErrNotProcessed", err)
	}
	if r.count(queued.MsgID()) != 0 {
		t.Fatal("the queued message was started after the deadline")
	}
	if st := h.Stats().Consumers[0]; st.Abandoned != 1 || st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

type hooked struct {
	*recorder
	preErr, postErr error
	calls           []string
}

func (h *hooked) PreConsume(ctx context.Context, m *message.Message) error {
	h.calls = append(h.calls, "pre")
	return h.preErr
}

func (h *hooked) Consume(ctx context.Context, m *message.Message) error {
	h.calls = append(h.calls, "consume")
	return h.recorder.Consume(ctx, m)
}

func (h *hooked) PostConsume(ctx context.Context, m *message.Message, err error) error {
	h.calls = append(h.calls, fmt.Sprintf("post(%v)", err))
	return h.postErr
}

func TestHubHooksPanicsAndTimeouts(t *testing.T) {
	hk := &hooked{recorder: newRecorder("hook.#")}
	panicky := consumer.Func(func(ctx context.Context, m *message.Message) error { panic("boom") }, "panic.#")
	slow := consumer.Func(func(ctx context.Context, m *message.Message) error { <-ctx.Done(); return ctx.Err() }, "slow.#")
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "hooked", hk, func(c *consumer.ConsumerConfig) { c.Workers = 1 })
		add(t, h, "panicky", panicky)
		add(t, h, "slow", slow, func(c *consumer.ConsumerConfig) { c.Timeout = 50 * time.Millisecond })
	})
	if err := outcome(t, h.src.send(msg(t, "hook.1"))); err != nil {
		t.Fatal(err)
	}
	hk.postErr = errors.New("commit failed")
	if err := outcome(t, h.src.send(msg(t, "hook.2"))); err == nil || !strings.Contains(err.Error(), "commit failed") {
		t.Fatalf("post hook failure: outcome %v", err)
	}
	hk.preErr, hk.postErr = errors.New("not ready"), nil
	if err := outcome(t, h.src.send(msg(t, "hook.3"))); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("pre hook failure: outcome %v", err)
	}
	want := []string{"pre", "consume", "post(<nil>)", "pre", "consume", "post(<nil>)", "pre", "post(not ready)"}
	if !slices.Equal(hk.calls, want) {
		t.Fatalf("calls %q, want %q", hk.calls, want)
	}
	if err := outcome(t, h.src.send(msg(t, "panic.1"))); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("panic: outcome %v", err)
	}
	if err := outcome(t, h.src.send(msg(t, "slow.1"))); err == nil || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("timeout: outcome %v", err)
	}
}

// Each consumer gets its own copy of the envelope, so one that annotates it cannot race another.
func TestHubConsumersGetTheirOwnMessage(t *testing.T) {
	var mu sync.Mutex
	seen := map[*message.Message]bool{}
	mutate := consumer.Func(func(ctx context.Context, m *message.Message) error {
		mu.Lock()
		seen[m] = true
		mu.Unlock()
		return m.Set("annotated", true)
	}, "a.#")
	h := startHub(t, hubConfig(), func(h *consumer.Hub) {
		add(t, h, "one", mutate, func(c *consumer.ConsumerConfig) { c.Workers = 2 })
		add(t, h, "two", mutate, func(c *consumer.ConsumerConfig) { c.Workers = 2 })
	})
	if err := outcome(t, h.src.send(msg(t, "a.b"))); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("consumers shared the message (%d distinct)", len(seen))
	}
}

func TestHubAddErrors(t *testing.T) {
	h, err := config.NewHub(hubConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder("a.#")
	for _, tc := range []struct {
		c    consumer.Consumer
		cc   consumer.ConsumerConfig
		want string
	}{
		{r, consumer.ConsumerConfig{Name: "x"}, `consumer "x": workers 0`},
		{newRecorder(), consumer.DefaultConsumerConfig("notopics"), `"notopics" has no topics`},
		{newRecorder("a..b"), consumer.DefaultConsumerConfig("bad"), `"bad": invalid value: topic pattern "a..b"`},
		{nil, consumer.DefaultConsumerConfig("nil"), "nil Consumer"},
	} {
		if err := h.Add(tc.c, tc.cc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%+v) = %v, want %q", tc.cc, err, tc.want)
		}
	}
	if err := h.Add(r, consumer.DefaultConsumerConfig("ok")); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(r, consumer.DefaultConsumerConfig("ok")); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("duplicate: %v", err)
	}
	empty, _ := config.NewHub(hubConfig())
	if err := empty.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no consumers") {
		t.Errorf("Run without consumers: %v", err)
	}
	if cc := consumer.DefaultConsumerConfig("d"); cc.Workers != 1 || cc.Inbox != 100 || cc.Timeout != time.Minute || cc.OnReceipt || cc.DropWhenFull {
		t.Errorf("defaults %+v", cc)
	}
}

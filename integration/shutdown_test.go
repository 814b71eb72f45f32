package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// shutdownLinger is the bus's zmq_linger (NewBus writes zmq_linger = 1000); a command stopped by
// SIGTERM must be gone within it plus one second, whatever its peers do.
const shutdownLinger = time.Second

// stopTimed sends SIGTERM to p and returns how long it took to exit, and its exit code. It fails
// the test when p takes longer than zmq_linger + 1 s (p is killed after 15 s at most).
func stopTimed(t *testing.T, p *Proc) (time.Duration, int) {
	t.Helper()
	return signalTimed(t, p, syscall.SIGTERM)
}

// signalTimed is stopTimed with another signal (SIGINT: Ctrl-C).
func signalTimed(t *testing.T, p *Proc, sig syscall.Signal) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v %s: %v", sig, p.Name, err)
	}
	code := p.Wait(t, 15*time.Second)
	took := time.Since(start)
	if took > shutdownLinger+time.Second {
		t.Errorf("%s took %s to exit after %v, want at most zmq_linger + 1 s = %s", p.Name, took.Round(time.Millisecond), sig, shutdownLinger+time.Second)
	}
	return took, code
}

// openFIFO makes a FIFO and opens both ends, as `cmd < fifo` with a writer that stays: the read
// end (blocking, as a shell would hand it to a command) for the child, the write end for the test.
func openFIFO(t *testing.T) (r, w *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_NONBLOCK lets the read end open before a writer exists; it is cleared once both are open.
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err = os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(int(r.Fd()), false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// dialSilent opens a TCP connection to addr that never speaks (a peer stuck mid-handshake),
// closed when the test ends.
func dialSilent(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
}

// TestShutdownEveryCommandOnSIGTERM starts every long-running command with peers that do not
// help (a subscriber connected, a silent TCP peer, a replay client, an input that stays open, a
// reader of its output that stopped, a recipient that never ACKs) and checks that SIGTERM ends
// each within zmq_linger + 1 s with its documented status, logging the times.
func TestShutdownEveryCommandOnSIGTERM(t *testing.T) {
	appAddr, replayAddr, deadReplay := testbus.Addr(t), testbus.Addr(t), testbus.Addr(t)
	outboxStore := filepath.Join(t.TempDir(), "outbox.db")
	hubOut := filepath.Join(t.TempDir(), "hub.jsonl")
	b := NewBus(t, BusOptions{Certs: []string{"app", "hub", "tail", "outbox"},
		Endpoints: map[string]string{"app": appAddr},
		Extra: fmt.Sprintf(`persistent_store = "history.db"
replay_endpoints = { app = %q }
replay_timeout = 30

[outbox]
store = %q

[[hub.consumers]]
name = "archive"
kind = "exec"
topics = ["org.example.test.#"]
command = ["sh", "-c", "cat >> %s"]
`, replayAddr, outboxStore, hubOut)})
	relay := b.Start("ackmsg-relay", "--log-level", "info")
	relay.WaitLog(t, "relay ready")
	// A subscriber that stays connected to the relay and to the publisher while they stop.
	watcher := b.Start("ackmsg-tail", "--log-level", "info", "--json")
	watcher.WaitLog(t, "endpoint connected")

	type measured struct {
		name string
		took time.Duration
	}
	var times []measured
	// checkSig stops p with sig and wants exit code want (0 for every daemon; see each caller
	// otherwise); check does it with SIGTERM.
	checkSig := func(name string, p *Proc, sig syscall.Signal, want int) {
		t.Helper()
		took, code := signalTimed(t, p, sig)
		times = append(times, measured{name, took})
		if code != want {
			t.Errorf("%s: exit %d after %v, want %d\n%s", name, code, sig, want, p.Stderr.String())
		}
	}
	check := func(name string, p *Proc, want int) {
		t.Helper()
		checkSig(name, p, syscall.SIGTERM, want)
	}

	// The publisher of issue 27: ackmsg-logger --passive reading a FIFO that stays open, with a
	// history, a replay endpoint, a subscriber and a silent peer on each of its endpoints.
	r, w := openFIFO(t)
	app := b.StartInput(r, "ackmsg-logger", "--passive", "--name", "app", "--certname", "app", "--log-level", "info")
	r.Close() // the child holds its own copy; the writer w stays open
	app.WaitLog(t, "replay endpoint ready")
	appTail := b.Start("ackmsg-tail", "--log-level", "info", "--json", "--certname", "tail",
		"--state", filepath.Join(b.Dir, "tail-state.json"), "--from-start", "--topic", "org.example.test.logger.log")
	appTail.WaitLog(t, "endpoint connected")
	// A tail whose standard output is a pipe that nobody reads: it blocks writing it.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	stuck := b.StartTo(pw, "ackmsg-tail", "--log-level", "info", "--json", "--topic", "org.example.test.logger.log")
	pw.Close()
	stuck.WaitLog(t, "endpoint connected")
	dialSilent(t, appAddr)
	dialSilent(t, replayAddr)
	// 2000 lines of 500 bytes: a megabyte for the stuck tail, whose pipe holds 64 KiB.
	const lines = 2000
	pad := strings.Repeat("x", 500)
	go func() {
		for n := 1; n <= lines; n++ {
			if _, err := fmt.Fprintf(w, "%s %d\n", pad, n); err != nil {
				return
			}
		}
	}()
	testbus.Eventually(t, 60*time.Second, "the tail printing what the publisher read", func() bool {
		return len(Lines(appTail.Stdout.String())) >= lines
	})
	check("ackmsg-logger --passive (FIFO open, replay client and silent peers)", app, 0)
	if !strings.Contains(app.Stderr.String(), "input ended by a signal") {
		t.Errorf("the logger does not say why it stopped:\n%s", app.Stderr.String())
	}

	// ackmsg-logger through the relay, its standard input (a FIFO) open.
	r2, w2 := openFIFO(t)
	active := b.StartInput(r2, "ackmsg-logger", "--log-level", "info")
	r2.Close()
	fmt.Fprintf(w2, "through the relay\n")
	active.WaitLog(t, "published")
	checkSig("ackmsg-logger (relay, FIFO open; SIGINT)", active, syscall.SIGINT, 0)

	// ackmsg-logger waiting for the ACK of a recipient that never answers: 3, not confirmed.
	r3, w3 := openFIFO(t)
	waiting := b.StartInput(r3, "ackmsg-logger", "--recipients", "ghost", "--ack-timeout", "60")
	r3.Close()
	fmt.Fprintf(w3, "for ghost\n")
	testbus.Eventually(t, 20*time.Second, "the acked message on the bus", func() bool {
		return strings.Contains(watcher.Stdout.String(), `"for ghost"`)
	})
	check("ackmsg-logger --recipients (waiting for an ACK)", waiting, 3)

	// ackmsg-outbox serve delivering a stored message to a recipient that never ACKs.
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--outbox", "--recipients", "ghost", "--message", "stored for ghost"); code != 0 {
		t.Fatalf("ackmsg-logger --outbox: exit %d\n%s", code, stderr)
	}
	delivering := b.Start("ackmsg-outbox", "serve", "--certname", "outbox", "--log-level", "info")
	testbus.Eventually(t, 20*time.Second, "the outbox sending its message", func() bool {
		return strings.Contains(watcher.Stdout.String(), `"stored for ghost"`) || delivering.Exited()
	})
	check("ackmsg-outbox serve (delivering to a recipient that never ACKs)", delivering, 0)

	// ackmsg-trigger whose command runs long: SIGTERM lets it finish (up to --command-timeout),
	// a second SIGTERM ends the trigger at once.
	started := filepath.Join(b.Dir, "busy.pid")
	busy := b.Start("ackmsg-trigger", "--log-level", "info", "--topic", "org.example.test.logger.busy",
		"--", "sh", "-c", `echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 60`, started)
	busy.WaitLog(t, "endpoint connected")
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--topic", "busy", "--message", "work"); code != 0 {
		t.Fatalf("ackmsg-logger: exit %d\n%s", code, stderr)
	}
	testbus.Eventually(t, 20*time.Second, "the trigger's command running", func() bool { return readFile(t, started) != "" })
	t.Cleanup(func() { // the command outlives a trigger ended by its second signal
		var pid int
		if _, err := fmt.Sscan(readFile(t, started), &pid); err == nil && pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err := busy.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	busy.WaitLog(t, "a second SIGINT or SIGTERM ends the command at once")
	check("ackmsg-trigger (second SIGTERM while its command runs)", busy, 128+int(syscall.SIGTERM))

	// ackmsg-trigger with nothing to do.
	trig := b.Start("ackmsg-trigger", "--log-level", "info", "--", "true")
	trig.WaitLog(t, "endpoint connected")
	check("ackmsg-trigger", trig, 0)

	// ackmsg-hub with an idle consumer.
	hub := b.Start("ackmsg-hub", "--certname", "hub", "--log-level", "info")
	hub.WaitLog(t, "hub ready")
	check("ackmsg-hub", hub, 0)

	// ackmsg-replay --wait asking an endpoint that accepts and never answers.
	_, accepted := testbus.SilentPeer(t, deadReplay)
	rp := b.Start("ackmsg-replay", "--name", "app", "--replay-endpoint", deadReplay, "--seq", "1", "--wait", "60")
	testbus.Eventually(t, 20*time.Second, "ackmsg-replay connecting", func() bool { return accepted() > 0 || rp.Exited() })
	// A query stopped before a match has printed nothing: exit 1, as a query with no match.
	check("ackmsg-replay --wait (silent endpoint)", rp, 1)
	if !strings.Contains(rp.Stderr.String(), "stopped by a signal") {
		t.Errorf("ackmsg-replay stopped by SIGTERM does not say so:\n%s", rp.Stderr.String())
	}

	// ackmsg-gateway subscribed to the bus, with a silent peer on its outward port.
	gwAddr := testbus.Addr(t)
	gw := b.Start("ackmsg-gateway", "--log-level", "info", "--bind", gwAddr)
	gw.WaitLog(t, "gateway ready")
	dialSilent(t, gwAddr)
	check("ackmsg-gateway (a silent outside peer)", gw, 0)

	// The tails, subscribed to a relay and a publisher that are gone or going.
	check("ackmsg-tail (its stdout never read)", stuck, 0)
	check("ackmsg-tail --state", appTail, 0)
	check("ackmsg-tail", watcher, 0)

	// The relay last, with a silent peer on each side.
	dialSilent(t, b.Relay)
	dialSilent(t, b.Outbound)
	check("ackmsg-relay (silent peers)", relay, 0)

	// ackmsg-outbox serve with the relay down: its attempt at the "ghost" message still stored
	// waits for relay_inbound to subscribe (up to outbox.attempt_timeout, 30 s); SIGTERM ends
	// that wait.
	stranded := b.Start("ackmsg-outbox", "serve", "--certname", "outbox", "--log-level", "debug")
	stranded.WaitLog(t, "delivery attempt")
	check("ackmsg-outbox serve (relay down, an attempt waiting for it)", stranded, 0)

	for _, m := range times {
		t.Logf("exit after the signal: %-70s %s", m.name, m.took.Round(time.Millisecond))
	}
}

// TestShutdownPublisherWithReplayClient: a numbered publisher (persistent_store,
// replay_endpoints) exits within zmq_linger + 1 s whatever a tail started with --state does.
//
// "input ends": its input ends while the tail is still catching up through the replay endpoint
// (queries in flight), with silent TCP peers on both endpoints.
//
// "tail holds the FIFO": the tail was started from the shell that holds the FIFO's write end
// (exec 3>fifo), so it inherited that end: closing the shell's copy ends nothing, as the
// kernel sees a writer until the tail exits. That is how a connected replay client seemed to
// keep the publisher alive (issue 27); SIGTERM must end it all the same.
func TestShutdownPublisherWithReplayClient(t *testing.T) {
	t.Run("input ends", func(t *testing.T) {
		b, appAddr, replayAddr := replayBus(t, "history_fsync = false")
		app, p := startApp(t, b)
		const total = 3000
		for n := 1; n <= total; n++ {
			fmt.Fprintf(app, "m%d\n", n)
		}
		recorded(t, b, total)
		tail := b.Start("ackmsg-tail", "--json", "--state", filepath.Join(b.Dir, "s.json"), "--from-start", "--topic", "org.example.test.logger.log")
		testbus.Eventually(t, 20*time.Second, "the tail catching up", func() bool { return len(Lines(tail.Stdout.String())) >= 10 })
		dialSilent(t, appAddr)
		dialSilent(t, replayAddr)
		start := time.Now()
		app.Close() // end of input
		code := p.Wait(t, 15*time.Second)
		took := time.Since(start)
		t.Logf("publisher exit after end of input, a --state tail catching up (%d of %d printed): %s",
			len(Lines(tail.Stdout.String())), total, took.Round(time.Millisecond))
		if code != 0 {
			t.Fatalf("publisher exit %d\n%s", code, p.Stderr.String())
		}
		if took > shutdownLinger+time.Second {
			t.Fatalf("publisher took %s to exit after its input ended, want at most %s", took.Round(time.Millisecond), shutdownLinger+time.Second)
		}
		if tail.Exited() {
			t.Fatalf("the tail exited (%d): the publisher must not have waited for it", tail.code)
		}
	})
	t.Run("tail holds the FIFO", func(t *testing.T) {
		b, _, _ := replayBus(t, "")
		r, w := openFIFO(t)
		app := b.StartInput(r, "ackmsg-logger", "--passive", "--name", "app", "--certname", "app", "--log-level", "info")
		r.Close()
		app.WaitLog(t, "replay endpoint ready")
		fmt.Fprintf(w, "m1\nm2\nm3\n")
		// The tail gets the write end as a shell job gets the shell's open descriptors.
		tail := b.StartInput(w, "ackmsg-tail", "--json", "--state", filepath.Join(b.Dir, "s.json"), "--from-start", "--topic", "org.example.test.logger.log")
		testbus.Eventually(t, 20*time.Second, "the tail catching up", func() bool { return len(Lines(tail.Stdout.String())) >= 3 })
		w.Close() // the shell's copy: the input does not end, the tail still holds a writer
		took, code := stopTimed(t, app)
		t.Logf("publisher exit after SIGTERM, its FIFO's writer held by a --state tail: %s", took.Round(time.Millisecond))
		if code != 0 {
			t.Fatalf("publisher exit %d\n%s", code, app.Stderr.String())
		}
		if tail.Exited() {
			t.Fatalf("the tail exited (%d): the publisher must not have waited for it", tail.code)
		}
	})
}

// TestShutdownBridgeOnSIGTERM: ackmsg-bridge connected to a RabbitMQ and a relay exits within
// zmq_linger + 1 s of SIGTERM with exit 0, although a broker message it published on the bus
// waits for the ACK of a recipient that never answers (the broker requeues it).
func TestShutdownBridgeOnSIGTERM(t *testing.T) {
	url := rmqtest.URL(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	in := rmqtest.Name("shutdown.in")
	b := NewBus(t, BusOptions{Certs: []string{"bridge"}, Extra: fmt.Sprintf(`
[bridge]
url = %q
topics = ["org.example.test.logger.routed"]
queue = %q
queue_bindings = [%q]
recipients = ["ghost"]
http_address = %q
`, url, in, in+".#", httpAddr)})
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	br := startBridge(t, b, httpAddr)
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-bridge", "send", in+".x", `{"n": 1}`); code != 0 {
		t.Fatalf("ackmsg-bridge send: exit %d\n%s", code, stderr)
	}
	waitMetric(t, httpAddr, "ackmsg_bridge_from_amqp_received_total", 1)
	took, code := stopTimed(t, br)
	t.Logf("exit after SIGTERM: ackmsg-bridge (a bus publish awaiting an ACK that never comes) %s", took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("ackmsg-bridge: exit %d after SIGTERM, want 0\n%s", code, br.Stderr.String())
	}
}

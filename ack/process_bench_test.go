package ack_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// BenchmarkAckedPublishProcessEd25519 is make bench's "acked 1 process(es), Ed25519" row as a
// go benchmark, for profiling and A/B: acked Publish, one at a time, to one ackmsg-tail --ack
// --json process (Ed25519 certificates on both ends, direct), and to a bare ack.Subscriber
// process (testdata/acker) that tells the tail's own work from the process's. The tail is built from this
// checkout, or is the binary ACKMSG_TAIL names (to compare two builds of it). pub-cpu-ns/op is
// the CPU the publishing process (this one) spends per publish. With
// ACKMSG_TAIL_CPUPROFILE=file the tail runs under `perf record -o file` when perf is found.
func BenchmarkAckedPublishProcessEd25519(b *testing.B) {
	tail := os.Getenv("ACKMSG_TAIL")
	if tail == "" {
		tail = buildBin(b, "../cmd/ackmsg-tail")
	}
	b.Run("recipient=ackmsg-tail", func(b *testing.B) {
		benchProcessRecipient(b, tail, "--ack", "--json")
	})
	b.Run("recipient=acker", func(b *testing.B) {
		benchProcessRecipient(b, buildBin(b, "./testdata/acker"))
	})
}

// buildBin builds the command in dir and returns its path.
func buildBin(b *testing.B, dir string) string {
	bin := filepath.Join(b.TempDir(), filepath.Base(dir))
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		b.Fatalf("building %s: %v\n%s", dir, err, out)
	}
	return bin
}

// benchProcessRecipient measures acked publishes to the recipient process bin run with args
// (and the certname, endpoint and topic flags both recipients take).
func benchProcessRecipient(b *testing.B, bin string, args ...string) {
	dir := ed25519SSLDir(b, "edpub", "edsub")
	pubAddr, subAddr := testbus.Addr(b), testbus.Addr(b)
	conf := filepath.Join(b.TempDir(), "tail.toml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `topic_prefix = "org.example"
environment = "test"
sign_messages = true
validate_signatures = true
ssldir = %q
ca_cert_location = %q
crl_location = %q
zmq_linger = 1000
[endpoints]
"pub.host" = [%q]
"edsub.host" = [%q]
`, dir, filepath.Join(dir, certs.CAFileName), filepath.Join(dir, certs.CRLFileName), pubAddr, subAddr), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{File: conf})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Name, cfg.Certname, cfg.ZMQLinger = "pub.host", "edpub", 0
	p, err := config.NewAckPublisher(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	startTail(b, bin, conf, append(args, "--certname", "edsub", "--name", "edsub.host", "--topic", benchTopic)...)
	timePublishes(b, &benchBus{pub: p, names: []string{"edsub"}}, "pub-cpu-ns/op")
}

// startTail starts the tail binary with args, its output discarded, once it logged that it
// connected; it is stopped (SIGTERM, then waited for) when the benchmark ends.
func startTail(b *testing.B, bin, conf string, args ...string) {
	name := bin
	if prof := os.Getenv("ACKMSG_TAIL_CPUPROFILE"); prof != "" {
		if perf, err := exec.LookPath("perf"); err == nil {
			args = append([]string{"record", "-g", "-o", prof, "--", bin}, args...)
			name = perf
		}
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "ACKMSG_CONFIG="+conf)
	var mu sync.Mutex
	var logs bytes.Buffer
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	ctx := testbus.Within(b, 30*time.Second)
	testbus.Eventually(b, 30*time.Second, "the tail connected", func() bool {
		select {
		case <-exited:
			b.Fatalf("ackmsg-tail exited:\n%s", logs.String())
		case <-ctx.Done():
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "endpoint connected")
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// cpuTime is the CPU (user and system) this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRawZMQRoundTripProcess is the raw ZeroMQ round trip of an acked message's bytes to
// another process and back (testdata/zmqecho, bare pebbe/zmq4 on locked threads on both ends):
// BenchmarkRawZMQRoundTrip/zmq4 with the far end in its own process, as ackmsg-tail is. The
// difference between the two is what the process boundary costs before any ackmsg code runs.
func BenchmarkRawZMQRoundTripProcess(b *testing.B) {
	msg, _ := sampleFrames(b, newCryptoKit(b))
	echo := buildBin(b, "./testdata/zmqecho")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	addrA, addrB := testbus.Addr(b), testbus.Addr(b)
	zctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	defer zctx.Term()
	pub, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := zctx.NewSocket(zmq.SUB)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	for _, err := range []error{pub.SetLinger(0), sub.SetLinger(0), pub.Bind(addrA), sub.SetSubscribe(benchAck)} {
		if err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command(echo, "-bind", addrB, "-connect", addrA, "-topic", benchTopic, "-reply-topic", benchAck)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := cmd.Wait(); err != nil {
			b.Errorf("zmqecho: %v", err)
		}
	}()
	defer pub.SendMessage(msg[:1]) // stops the echo
	if err := sub.Connect(addrB); err != nil {
		b.Fatal(err)
	}
	if _, err := pub.RecvBytes(0); err != nil { // the echo's subscription to the messages
		b.Fatal(err)
	}
	line := make([]byte, 6)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "ready\n" {
		b.Fatalf("zmqecho said %q: %v", line, err)
	}
	timeRoundTrips(b, pub, sub, msg)
}

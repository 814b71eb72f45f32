package testbus

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// SendAndCount is a throughput benchmark's body: it binds a bare zmq4 XPUB (no high-water mark),
// starts receive (which reports on ready once connected and returns how many messages it got),
// waits for its subscription, then sends [topic, frame] b.N times from a locked OS thread and
// reports the rate at which they were received as msgs/s, and the CPU time the whole process
// (both sides, libzmq's I/O threads included) spent per message as cpu-ns/msg: on a shared,
// loaded machine the CPU per message moves less than the rate.
func SendAndCount(b *testing.B, topic string, frame []byte, receive func(addr string, ready chan<- error) int) {
	addr := Addr(b)
	zctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	defer zctx.Term()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pub, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	for _, err := range []error{pub.SetLinger(0), pub.SetSndhwm(0), pub.Bind(addr)} {
		if err != nil {
			b.Fatal(err)
		}
	}
	ready := make(chan error, 1)
	done := make(chan int, 1)
	go func() { done <- receive(addr, ready) }()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	if _, err := pub.RecvBytes(0); err != nil { // the subscription is in
		b.Fatal(err)
	}
	t := []byte(topic)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := ProcessCPU()
	for i := 0; i < b.N; i++ {
		if _, err := pub.SendMessage(t, frame); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-done; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(ProcessCPU()-cpu)/float64(b.N), "cpu-ns/msg")
}

// RawReceive is SendAndCount's floor receiver: a bare zmq4 SUB in its own context (as another
// process has), on a locked OS thread, with no high-water mark, counting up to b.N messages.
func RawReceive(b *testing.B) func(addr string, ready chan<- error) int {
	return func(addr string, ready chan<- error) int {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		zctx, err := zmq.NewContext()
		if err != nil {
			ready <- err
			return 0
		}
		defer zctx.Term()
		sub, err := zctx.NewSocket(zmq.SUB)
		if err != nil {
			ready <- err
			return 0
		}
		defer sub.Close()
		for _, err := range []error{sub.SetLinger(0), sub.SetRcvhwm(0), sub.SetSubscribe(""), sub.Connect(addr)} {
			if err != nil {
				ready <- err
				return 0
			}
		}
		ready <- nil
		n := 0
		for n < b.N {
			if _, err := sub.RecvMessageBytes(0); err != nil {
				break
			}
			n++
		}
		return n
	}
}

// ProcessCPU is the user and system CPU time this process has used, every thread included.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

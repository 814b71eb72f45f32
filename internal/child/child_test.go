package child

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A goroutine that exits locked to its thread ends that thread. A child started with Pdeathsig
// from such a thread is killed with it; one started by Start outlives it.
func TestChildOutlivesTheThreadsOfOtherGoroutines(t *testing.T) {
	start := func(viaStart bool) (*exec.Cmd, <-chan error) {
		cmd := exec.Command("sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if viaStart {
			exited, err := Start(cmd)
			if err != nil {
				t.Fatal(err)
			}
			return cmd, exited
		}
		// The old way: fork from a goroutine that then exits locked, ending its thread. (Not on
		// the main thread, which the runtime keeps, wedged, instead of ending it.)
		exited := make(chan error, 1)
		for {
			done := make(chan error, 1)
			go func() {
				runtime.LockOSThread()
				if syscall.Gettid() == os.Getpid() {
					runtime.UnlockOSThread()
					done <- errMainThread
					return
				}
				done <- cmd.Start()
			}()
			err := <-done
			if err == errMainThread {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		go func() { exited <- cmd.Wait() }()
		return cmd, exited
	}

	old, oldExited := start(false)
	select {
	case err := <-oldExited:
		t.Logf("forked from a thread that ended: the child died (%v), as the kernel documents", err)
	case <-time.After(10 * time.Second):
		old.Process.Kill()
		t.Fatal("the control failed: a child whose forking thread ended was not killed, so this test proves nothing")
	}

	cmd, exited := start(true)
	// End a few locked threads, as the network-namespace tests do.
	for range 16 {
		ended := make(chan struct{})
		go func() { runtime.LockOSThread(); close(ended) }()
		<-ended
	}
	select {
	case err := <-exited:
		t.Fatalf("the child started by Start died with another goroutine's thread: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	cmd.Process.Kill()
	if err := <-exited; err == nil {
		t.Fatal("killed child exited cleanly")
	}
}

var errMainThread = errors.New("on the main thread")

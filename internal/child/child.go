// Package child starts the throwaway servers tests run (PostgreSQL, RabbitMQ) so that they die
// with the test binary and not before.
//
// They are started with Pdeathsig = SIGKILL, so that a test binary killed by its timeout leaves
// no server behind. But Linux sends that signal when the *thread* that forked the child exits,
// not the process, and the Go runtime ends threads: a goroutine that exits while locked to its
// thread takes the thread with it (the network-namespace tests do exactly that, and a CI run lost
// its shared PostgreSQL in the middle of the integration suite). Start forks from a goroutine
// locked to a thread of its own, which lives until the child has exited.
package child

import (
	"os/exec"
	"runtime"
)

// Start starts cmd from a thread that lives as long as the child, and returns a channel that
// receives cmd.Wait's result once the child has exited (then is closed).
func Start(cmd *exec.Cmd) (<-chan error, error) {
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		// Never unlocked: no other goroutine runs on this thread, and it ends (taking the
		// death signal's trigger with it) only after the child is gone.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

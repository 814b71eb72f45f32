package bridge

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// A broker that refuses the client's certificate after a TLS 1.3 handshake sends its alert and
// resets the connection; the client's next write fails. During the setup, setupConn reports
// that reset on the next read instead, after what the broker sent before it (the alert, which
// names the reason); once the connection is established, errors pass through.
func TestSetupConnKeepsWhatCameBeforeAReset(t *testing.T) {
	for _, established := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served, dialled := make(chan error, 1), make(chan struct{})
		go func() {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			<-dialled
			_, err = c.Write([]byte("alert"))
			c.(*net.TCPConn).SetLinger(0) // close with a reset, as a refusing broker's TLS stack
			c.Close()
			served <- err
		}()
		raw, err := net.Dial("tcp", ln.Addr().String())
		close(dialled)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		ln.Close()
		c := &setupConn{Conn: raw}
		if established {
			c.established()
		}
		// The reset arrives after the accept; write until a write meets it.
		deadline := time.Now().Add(5 * time.Second)
		var werr error
		for werr == nil && c.reset == nil && time.Now().Before(deadline) {
			_, werr = c.Write([]byte("AMQP\x00\x00\x09\x01"))
		}
		if established {
			if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) {
				t.Errorf("established: write error %v, want the reset", werr)
			}
		} else {
			if werr != nil || c.reset == nil {
				t.Fatalf("setup: write error %v, reset %v; want the reset kept for the read", werr, c.reset)
			}
			buf, err := io.ReadAll(c)
			if string(buf) != "alert" || !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Errorf("setup: read %q, %v; want what came before the reset, then the reset", buf, err)
			}
		}
		raw.Close()
	}
}

package integration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// maxCaptureBytes bounds what one capture keeps; past it, frames are counted but dropped, and
// Truncated says so (an absence proved on a truncated capture proves nothing).
const maxCaptureBytes = 64 << 20

// linkCapture records every frame that crosses one interface of a netLab host (or every port of
// its switch), in both directions, with an AF_PACKET socket (no tcpdump needed), until Stop or
// the end of the test.
type linkCapture struct {
	fd   int
	stop atomic.Bool
	done chan struct{}
	once sync.Once

	mu        sync.Mutex
	frames    [][]byte
	kept      int
	seen      int // frames seen, kept or not
	truncated bool
	err       error // a read error that ended the capture early
}

// Capture starts capturing on the interface of the host of role, from inside its namespace.
func (l *netLab) Capture(role string) *linkCapture {
	l.t.Helper()
	h := l.host(role)
	return l.capture(h.NS, h.Dev)
}

// CaptureSwitch starts capturing on every port of the switch: all traffic between the hosts
// (each frame seen on its way in and out; the TCP reassembly keeps its bytes once).
func (l *netLab) CaptureSwitch() *linkCapture {
	l.t.Helper()
	return l.capture(l.sw, "")
}

// capture opens the AF_PACKET socket in namespace ns, bound to dev (every interface when "").
func (l *netLab) capture(ns, dev string) *linkCapture {
	l.t.Helper()
	var fd int
	err := inNamespace(ns, func() error {
		index := 0
		if dev != "" {
			ifi, err := net.InterfaceByName(dev)
			if err != nil {
				return err
			}
			index = ifi.Index
		}
		proto := htons(unix.ETH_P_ALL)
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("capture: AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("capture: bind to %q: %w", dev, err)
		}
		// Room for bursts while the reader copies; a timeout so that Stop is noticed.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	c := &linkCapture{fd: fd, done: make(chan struct{})}
	go c.read()
	l.t.Cleanup(c.Stop)
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *linkCapture) read() {
	defer close(c.done)
	buf := make([]byte, 1<<17) // a GRO or TSO super-frame is at most 64 KiB of IP
	for !c.stop.Load() {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.seen++
		if c.kept+n > maxCaptureBytes {
			c.truncated = true
		} else {
			c.frames = append(c.frames, bytes.Clone(buf[:n]))
			c.kept += n
		}
		c.mu.Unlock()
	}
}

// Stop ends the capture (at most ~100 ms later) and closes the socket; it may be called again.
func (c *linkCapture) Stop() {
	c.once.Do(func() {
		c.stop.Store(true)
		<-c.done
		unix.Close(c.fd)
	})
}

// Summary says what the capture holds, for logs and failure messages.
func (c *linkCapture) Summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fmt.Sprintf("%d frames, %d bytes kept", c.seen, c.kept)
	if c.truncated {
		s += " (truncated)"
	}
	if c.err != nil {
		s += fmt.Sprintf(" (ended by %v)", c.err)
	}
	return s
}

// Complete reports whether every frame seen was kept and the capture ran until Stop: only then
// does a marker's absence mean anything.
func (c *linkCapture) Complete() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.truncated && c.err == nil
}

// Contains reports whether marker crossed the link: in one frame, or in a TCP stream
// reassembled from the frames (so a marker split across segments, or across a retransmission, is
// found too).
func (c *linkCapture) Contains(marker string) bool {
	c.mu.Lock()
	frames := c.frames[:len(c.frames):len(c.frames)]
	c.mu.Unlock()
	return framesContain(frames, []byte(marker))
}

// TCPBytes returns how many bytes of TCP payload the capture holds (each counted once): the
// traffic a marker's absence is measured against.
func (c *linkCapture) TCPBytes() int {
	c.mu.Lock()
	frames := c.frames[:len(c.frames):len(c.frames)]
	c.mu.Unlock()
	n := 0
	for _, s := range tcpStreams(frames) {
		n += len(s)
	}
	return n
}

func framesContain(frames [][]byte, marker []byte) bool {
	for _, f := range frames {
		if bytes.Contains(f, marker) {
			return true
		}
	}
	for _, s := range tcpStreams(frames) {
		if bytes.Contains(s, marker) {
			return true
		}
	}
	return false
}

// flowKey is one direction of a TCP connection.
type flowKey struct {
	src, dst     [4]byte
	sport, dport uint16
}

type tcpSegment struct {
	seq  uint32
	data []byte
}

// tcpSegment parses an Ethernet frame carrying IPv4 TCP and returns its flow and payload; ok is
// false for anything else.
func parseTCP(frame []byte) (k flowKey, s tcpSegment, ok bool) {
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return k, s, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != unix.IPPROTO_TCP {
		return k, s, false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total == 0 || total > len(ip) {
		total = len(ip) // a super-frame may carry 0; a short read keeps what arrived
	}
	if total < ihl+20 {
		return k, s, false
	}
	tcp := ip[ihl:total]
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return k, s, false
	}
	copy(k.src[:], ip[12:16])
	copy(k.dst[:], ip[16:20])
	k.sport, k.dport = binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4])
	return k, tcpSegment{seq: binary.BigEndian.Uint32(tcp[4:8]), data: tcp[off:]}, true
}

// tcpStreams reassembles the payload of each TCP flow in sequence order: overlaps (a
// retransmission) are kept once, holes are skipped.
func tcpStreams(frames [][]byte) [][]byte {
	flows := map[flowKey][]tcpSegment{}
	var order []flowKey
	for _, f := range frames {
		k, s, ok := parseTCP(f)
		if !ok || len(s.data) == 0 {
			continue
		}
		if _, seen := flows[k]; !seen {
			order = append(order, k)
		}
		flows[k] = append(flows[k], s)
	}
	var out [][]byte
	for _, k := range order {
		segs := flows[k]
		// Sequence numbers wrap: order them relative to a base well before the first one seen.
		base := segs[0].seq - 1<<30
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].seq-base < segs[j].seq-base })
		var stream []byte
		covered := uint32(0) // relative end of what stream holds
		for i, s := range segs {
			rel, end := s.seq-base, s.seq-base+uint32(len(s.data))
			switch {
			case i > 0 && end <= covered:
				continue
			case i > 0 && rel < covered:
				stream = append(stream, s.data[covered-rel:]...)
			default:
				stream = append(stream, s.data...)
			}
			covered = end
		}
		out = append(out, stream)
	}
	return out
}

// tcpFrame builds an Ethernet frame with one IPv4 TCP segment, for the capture's own tests.
func tcpFrame(src, dst byte, sport, dport uint16, seq uint32, payload string) []byte {
	f := make([]byte, 14+20+20+len(payload))
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+20+len(payload)))
	ip[9] = unix.IPPROTO_TCP
	copy(ip[12:16], []byte{198, 18, 28, src})
	copy(ip[16:20], []byte{198, 18, 28, dst})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:2], sport)
	binary.BigEndian.PutUint16(tcp[2:4], dport)
	binary.BigEndian.PutUint32(tcp[4:8], seq)
	tcp[12] = 5 << 4
	copy(tcp[20:], payload)
	return f
}

// The capture finds a marker split across TCP segments that arrive out of order, with a
// retransmission overlapping them and another connection's segment in between, across a
// sequence number wrap; and does not find one that never crossed.
func TestCaptureReassemblesTCP(t *testing.T) {
	const marker = "MARKER-3f9a-plaintext"
	seq := uint32(1<<32 - 8) // the stream wraps inside the marker
	frames := [][]byte{
		tcpFrame(2, 1, 40000, 5555, seq+15, marker[4:]+"tail"), // second half first
		tcpFrame(3, 1, 40001, 5555, 77, "another connection"),
		tcpFrame(2, 1, 40000, 5555, seq, "head-bytes:"+marker[:4]),
		tcpFrame(2, 1, 40000, 5555, seq+5, "bytes:"+marker[:4]), // retransmitted overlap
		{0x01, 0x02}, // not IPv4
	}
	if framesContain(frames[:0:0], []byte(marker)) {
		t.Fatal("an empty capture contains the marker")
	}
	for _, f := range frames {
		if bytes.Contains(f, []byte(marker)) {
			t.Fatal("the test is wrong: one frame holds the whole marker")
		}
	}
	if !framesContain(frames, []byte(marker)) {
		t.Fatalf("marker split across segments not found; streams: %q", tcpStreams(frames))
	}
	if framesContain(frames, []byte("MARKER-absent")) {
		t.Fatal("found a marker that never crossed")
	}
	// Another flow's bytes never join this one's.
	if framesContain(frames, []byte("tailanother")) || framesContain(frames, []byte("connectionhead")) {
		t.Fatalf("flows mixed: %q", tcpStreams(frames))
	}
}

package zsock

import (
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/transport"
)

// zapEndpoint is where libzmq sends ZAP requests (RFC 27), one per context.
const zapEndpoint = "inproc://zeromq.zap.01"

// zapHandler answers the ZAP requests of one zmq context. A CURVE server socket asks it about
// every client during the handshake; the socket's ZAP domain picks the Keys that decide.
//
// pebbe/zmq4's own handler (AuthStart) is not used: it serves one context per process and keeps
// its key lists in maps that changing while it runs is a data race. Here the handler consults
// the domain table through an atomic pointer (registrations copy it), and the Keys it calls are
// safe for concurrent use by contract, so reloading keys never races with a handshake.
type zapHandler struct {
	zctx    *zmq.Context
	mu      sync.Mutex // serialises registrations
	domains atomic.Pointer[map[string]transport.Keys]
	done    chan struct{} // closed when the handler goroutine has exited (its context ended)

	accepted, refused atomic.Uint64

	kmu  sync.Mutex
	keys map[string]map[string]bool // domain -> client keys let in (for curveGuard.recheck)
}

var (
	zapMu  sync.Mutex
	zapSeq atomic.Uint64
	zaps   = map[*zmq.Context]*zapHandler{}
)

// zapFor returns the running ZAP handler of zctx, starting it (bound before it returns) on first
// use. The handler ends, closing its socket, when the context is terminated.
func zapFor(zctx *zmq.Context) (*zapHandler, error) {
	zapMu.Lock()
	defer zapMu.Unlock()
	if h := zaps[zctx]; h != nil {
		select {
		case <-h.done:
		default:
			return h, nil
		}
	}
	h := &zapHandler{zctx: zctx, done: make(chan struct{}), keys: map[string]map[string]bool{}}
	h.domains.Store(&map[string]transport.Keys{})
	ready := make(chan error, 1)
	go h.run(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	zaps[zctx] = h
	return h, nil
}

// register returns a new ZAP domain whose clients keys decides.
func (h *zapHandler) register(keys transport.Keys) string {
	domain := fmt.Sprintf("ackmsg-%d", zapSeq.Add(1))
	h.mu.Lock()
	defer h.mu.Unlock()
	next := maps.Clone(*h.domains.Load())
	next[domain] = keys
	h.domains.Store(&next)
	return domain
}

func (h *zapHandler) run(ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(h.done)
	sock, err := h.zctx.NewSocket(zmq.REP)
	if err != nil {
		ready <- fmt.Errorf("zsock: ZAP handler socket: %w", err)
		return
	}
	defer func() {
		sock.Close()
		zapMu.Lock()
		if zaps[h.zctx] == h {
			delete(zaps, h.zctx)
		}
		zapMu.Unlock()
	}()
	if err := sock.SetLinger(0); err != nil {
		ready <- fmt.Errorf("zsock: ZAP handler linger: %w", err)
		return
	}
	if err := sock.Bind(zapEndpoint); err != nil {
		ready <- fmt.Errorf("zsock: ZAP handler bind %s: %w", zapEndpoint, err)
		return
	}
	ready <- nil
	for {
		req, err := sock.RecvMessageBytes(0)
		if err != nil {
			if zmq.AsErrno(err) == zmq.ETERM {
				return
			}
			continue // EINTR, or a malformed multipart message: wait for the next request
		}
		reply := h.answer(req)
		if _, err := sock.SendMessage(reply[0], reply[1], reply[2], reply[3], reply[4], reply[5]); err != nil {
			if zmq.AsErrno(err) == zmq.ETERM {
				return
			}
		}
	}
}

// answer builds the ZAP reply to one request: version, request id, status code, status text,
// user id, metadata.
func (h *zapHandler) answer(req [][]byte) [6]string {
	// version, request_id, domain, address, identity, mechanism, credentials...
	if len(req) < 6 || string(req[0]) != "1.0" {
		h.refused.Add(1)
		id := ""
		if len(req) > 1 {
			id = string(req[1])
		}
		return [6]string{"1.0", id, "500", "malformed ZAP request", "", ""}
	}
	id, domain, mechanism := string(req[1]), string(req[2]), string(req[5])
	refuse := func(code, text string) [6]string {
		h.refused.Add(1)
		return [6]string{"1.0", id, code, text, "", ""}
	}
	keys := (*h.domains.Load())[domain]
	switch {
	case keys == nil:
		return refuse("400", "unknown ZAP domain")
	case mechanism != "CURVE" || len(req) != 7 || len(req[6]) != 32:
		return refuse("400", "CURVE required")
	}
	key := zmq.Z85encode(string(req[6]))
	user, err := keys.Authenticate(key)
	if err != nil {
		return refuse("400", err.Error())
	}
	h.accepted.Add(1)
	h.kmu.Lock()
	if h.keys[domain] == nil {
		h.keys[domain] = map[string]bool{}
	}
	h.keys[domain][key] = true
	h.kmu.Unlock()
	return [6]string{"1.0", id, "200", "OK", user, ""}
}

// acceptedKeys returns the client keys domain has let in and not forgotten.
func (h *zapHandler) acceptedKeys(domain string) []string {
	h.kmu.Lock()
	defer h.kmu.Unlock()
	out := make([]string, 0, len(h.keys[domain]))
	for k := range h.keys[domain] {
		out = append(out, k)
	}
	return out
}

// forget drops a key that is refused now; it is asked about again only if it handshakes again.
func (h *zapHandler) forget(domain, key string) {
	h.kmu.Lock()
	defer h.kmu.Unlock()
	delete(h.keys[domain], key)
}

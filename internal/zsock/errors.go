package zsock

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/hashicorp/go-multierror"
	zmq "github.com/pebbe/zmq4"
)

// EndpointError is the failure of one endpoint's bind or connect. It wraps libzmq's error, and
// errors.Is(err, syscall.EADDRINUSE) and the like work through it.
type EndpointError struct {
	Op   string // "bind" or "connect"
	Name string // the endpoints key, "" when there is none
	Addr string
	Err  error
}

func (e *EndpointError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("%s %s (%s): %v", e.Op, e.Addr, e.Name, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Addr, e.Err)
}

func (e *EndpointError) Unwrap() error { return e.Err }

// Is makes libzmq's errno match the syscall.Errno of the same number:
// errors.Is(err, syscall.EADDRINUSE) holds for an address in use.
func (e *EndpointError) Is(target error) bool {
	se, ok := target.(syscall.Errno)
	return ok && zmq.AsErrno(e.Err) == zmq.Errno(se)
}

// endpointErrors collects independent per-endpoint failures, and says how many endpoints there
// were and which of them worked: a *multierror.Error of *EndpointError.
type endpointErrors struct {
	what  string // what failed, for the summary: "no address could be bound"
	total int
	ok    []string
	m     *multierror.Error
}

func (l *endpointErrors) add(err *EndpointError) { l.m = multierror.Append(l.m, err) }

func (l *endpointErrors) err() error {
	if l.m == nil {
		return nil
	}
	n, total, what, ok := len(l.m.Errors), l.total, l.what, l.ok
	l.m.ErrorFormat = func(es []error) string {
		var b strings.Builder
		fmt.Fprintf(&b, "zsock: %s: %d of %d endpoints failed", what, n, total)
		if len(ok) > 0 {
			fmt.Fprintf(&b, " (%s worked)", strings.Join(ok, ", "))
		}
		for _, e := range es {
			b.WriteString("; ")
			b.WriteString(e.Error())
		}
		return b.String()
	}
	return l.m
}

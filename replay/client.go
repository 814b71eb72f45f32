package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/internal/zsock"
)

// ReplyError is an error reply from a replay endpoint (the text between the quotes of
// `error: '<text>'`).
type ReplyError struct {
	Addr, Text string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("replay: %s answered: %s", e.Addr, e.Text) }

// NoMatch reports whether the endpoint found nothing for the query.
func (e *ReplyError) NoMatch() bool { return strings.HasPrefix(e.Text, ErrNoMatch.Text) }

// TooMany reports whether the endpoint refused the query as too big for one reply.
func (e *ReplyError) TooMany() bool {
	return strings.HasPrefix(e.Text, tooManyPrefix) || strings.HasPrefix(e.Text, tooLargePrefix)
}

// Client asks replay endpoints for messages: one REQ socket per query, opened and closed by the
// calling goroutine, with a timeout (fedmsg's client waits forever). It is safe for concurrent
// use.
type Client struct {
	zctx    *zmq.Context
	opts    zsock.Options
	timeout time.Duration
}

// NewClient returns a client whose queries wait at most timeout for their reply.
func NewClient(opts zsock.Options, timeout time.Duration) (*Client, error) {
	zctx, err := zsock.NewContext(1)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return &Client{zctx: zctx, opts: opts, timeout: timeout}, nil
}

// Close terminates the client's zmq context. No query may be in progress.
func (c *Client) Close() error { return c.zctx.Term() }

// Fetch sends q to the endpoint at addr and returns the reply frames (one envelope each, as
// sent), or a *ReplyError for an error reply, or a transport error (zsock.ErrTimeout when the
// endpoint did not answer in time).
func (c *Client) Fetch(ctx context.Context, addr string, q Query) ([][]byte, error) {
	req, err := q.Encode()
	if err != nil {
		return nil, err
	}
	frames, err := zsock.Request(ctx, c.zctx, addr, c.opts, req, c.timeout)
	if err != nil {
		return nil, fmt.Errorf("replay: query to %s: %w", addr, err)
	}
	if len(frames) == 1 {
		if text, ok := errorText(frames[0]); ok {
			return nil, &ReplyError{Addr: addr, Text: text}
		}
	}
	return frames, nil
}

// errorText recognises fedmsg's error reply, error: '<text>'.
func errorText(frame []byte) (string, bool) {
	s := string(frame)
	if !strings.HasPrefix(s, "error: ") {
		return "", false
	}
	s = strings.TrimPrefix(s, "error: ")
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = s[1 : len(s)-1]
	}
	return s, true
}

// IsTimeout reports whether err is a query that got no reply in time.
func IsTimeout(err error) bool { return errors.Is(err, zsock.ErrTimeout) }

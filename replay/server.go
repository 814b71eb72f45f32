package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/ratelog"
	"github.com/ackmsg/ackmsg/transport"
)

// Server is a replay endpoint: a ZeroMQ REP socket answering fedmsg replay queries about one
// publisher name's history with the stored signed envelopes, one per frame, or with one frame
// `error: '<text>'`. It answers one query at a time; a malformed query costs its parse and an
// error reply, so a flood of them delays good queries but never stops them. Create it with
// NewServer.
type Server struct {
	store  Store
	name   string
	limits Limits
	log    *slog.Logger
	errLog *ratelog.Limiter

	zctx *zmq.Context
	rep  *zsock.Rep
	// ctx bounds the store's queries; Close cancels it, so a query does not hold Close up.
	ctx    context.Context
	cancel context.CancelFunc

	queries, errs, served atomic.Uint64
}

// ServerStats are a Server's counters.
type ServerStats struct {
	Queries  uint64 // queries answered
	Errors   uint64 // of them, answered with an error (malformed, no match, too many)
	Messages uint64 // envelopes sent in replies
}

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Store and Name: whose history is served.
	Store Store
	Name  string
	// Bind is the address to bind; from replay_endpoints[Name] it is turned into
	// tcp://*:port (loopback addresses stay loopback), as a publisher binds its endpoint.
	Bind string
	// Limits bound each reply (replay_max_messages, replay_max_bytes).
	Limits Limits
	// Options are the socket options (HWM is ignored: a REP socket answers in turn).
	Options transport.Options
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// NewServer binds the socket and starts answering.
func NewServer(c ServerConfig) (*Server, error) {
	if c.Store == nil || c.Name == "" {
		return nil, errors.New("replay: a server needs a store and a publisher name")
	}
	bind, err := transport.BindAddress(c.Bind)
	if err != nil {
		return nil, fmt.Errorf("replay: replay_endpoints[%q]: %w", c.Name, err)
	}
	s := &Server{store: c.Store, name: c.Name, limits: c.Limits, log: c.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.errLog = ratelog.New(s.log, time.Second)
	zctx, err := zsock.NewContext(1)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	c.Options.HWM = 0 // a REP socket answers in turn; a queue limit would only drop requests
	rep, err := zsock.NewRep(zctx, zsock.RepConfig{Bind: bind, Options: c.Options, Handle: s.handle})
	if err != nil {
		zctx.Term()
		s.cancel()
		return nil, fmt.Errorf("replay: replay endpoint of %q: %w", c.Name, err)
	}
	s.zctx, s.rep = zctx, rep
	s.log.Info("replay endpoint ready", "name", c.Name, "addr", rep.Addr())
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.rep.Addr() }

// Stats returns the counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{Queries: s.queries.Load(), Errors: s.errs.Load(), Messages: s.served.Load()}
}

// Close stops answering and closes the socket (not the store).
func (s *Server) Close() error {
	s.cancel()
	s.rep.Close()
	return s.zctx.Term()
}

func (s *Server) handle(req [][]byte) [][]byte {
	s.queries.Add(1)
	frames, err := s.Answer(s.ctx, req)
	if err != nil {
		s.errs.Add(1)
		var qe *QueryError
		if !errors.As(err, &qe) {
			s.log.Error("replay query failed", "name", s.name, "error", err)
		} else if qe != ErrNoMatch {
			s.errLog.Warn("bad", "replay query refused", "name", s.name, "error", err.Error())
		}
		return [][]byte{ErrorFrame(err)}
	}
	s.served.Add(uint64(len(frames)))
	return frames
}

// Answer computes the reply frames to a request, or the error to reply with; ctx bounds the
// store's query.
func (s *Server) Answer(ctx context.Context, req [][]byte) ([][]byte, error) {
	if len(req) != 1 {
		return nil, queryErr("Malformed query: want one frame of JSON, got %d frames", len(req))
	}
	q, err := ParseQuery(req[0])
	if err != nil {
		return nil, err
	}
	recs, err := s.store.Query(ctx, s.name, q, s.limits)
	if err != nil {
		var tm *TooManyError
		if errors.As(err, &tm) {
			return nil, &QueryError{Text: tm.Error()}
		}
		return nil, err
	}
	frames := make([][]byte, len(recs))
	for i, r := range recs {
		frames[i] = r.Envelope
	}
	return frames, nil
}

// ErrorFrame is fedmsg's error reply: error: '<text>'.
func ErrorFrame(err error) []byte {
	var qe *QueryError
	text := "internal error"
	if errors.As(err, &qe) {
		text = qe.Text
	} else if err != nil {
		text = "internal error: " + err.Error()
	}
	return []byte("error: '" + text + "'")
}

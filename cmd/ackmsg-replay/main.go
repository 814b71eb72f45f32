// Command ackmsg-replay prints or re-publishes the messages a publisher's history holds
// (fedmsg-dg-replay's job), from its replay endpoint or from its persistent_store (a file, or
// PostgreSQL).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/boltstore"
	"github.com/ackmsg/ackmsg/replay/pgstore"
)

// main runs the command on the process's arguments and streams.
func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// help is the command's description in --help.
const help = `
Asks the replay endpoint of the publisher --name (replay_endpoints[name], or --replay-endpoint) with
fedmsg's replay protocol, or reads its history directly with --store (the publisher's
persistent_store: a history file, locked while the publisher runs, so ask its endpoint then; or a
postgres:// URL, read while the publisher runs, without taking its lock), and prints each message
found as one line of canonical JSON: the signed envelope exactly as it was sent. With --store,
--name is the publisher's name in the store (no [endpoints] key is needed), and may be left out
when the store holds one publisher's history.

Which messages: --seq N or --seq A-B (seq_ids, inclusive), --msg-id ID (repeatable), --since T
and --until T (envelope timestamps; T is Unix seconds or RFC 3339), or --query with a fedmsg
query object ({"seq_id_range": [1, 5]}, ...). Several selections are OR-ed, as fedmsg does.
An endpoint answers at most replay_max_messages messages (replay_max_bytes bytes) per query;
ackmsg-replay asks for narrower seq_id ranges by itself when --seq is too wide.

--archive URL fetches --msg-id ID (repeatable) from a datagrepper-compatible archive instead
(fedmsg-dg-replay's job): ackmsg-archive's /id gives the signed envelope exactly as it archived
it; datagrepper's /id gives datanommer's fields, from which the fedmsg envelope is rebuilt.
--name is not needed.

--wait D repeats a query that matched nothing until D has passed (for scripts that wait for a
message to be recorded). --stats prints what --store holds (messages, bytes, first and last
seq_id) instead: for --name, or without it for every publisher the store holds a history for.

--publish re-publishes the messages through the relay (relay_inbound) instead of printing them:
the identical signed frames, so consumers validate them as the originals; ackmsg consumers that
saw them already drop them by seq_id only when they arrive under the publisher's own endpoint.
It prints the msg_id of each message sent.

Exit codes: 0 messages found (and printed or sent), 1 no match, endpoint or file unavailable,
or stopped by SIGTERM or SIGINT before a match (at once, even during --wait), 2 bad usage.`

// run is the whole program; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-replay",
		"print or re-publish messages from a publisher's history",
		"[flags] (--seq N|A-B | --msg-id ID... | --since T [--until T] | --query JSON | --stats) | --archive URL --msg-id ID...", help)
	c.Stdout, c.Stderr = stdout, stderr
	c.SetLogLevel("warn")
	f := &replayFlags{}
	f.register(c.Flags)
	// --name is the publisher whose history to read, not an endpoints key this command binds:
	// it is taken out of the configuration before validation.
	c.Flags.Lookup("name").Usage = "the publisher whose history to read: its key in replay_endpoints, or its name in --store (config name, $ACKMSG_NAME)"
	c.Config.Edit = func(cfg *config.Config) { f.name, cfg.Name = cfg.Name, "" }

	return c.Run(args, func(ctx context.Context, cfg *config.Config) error { return f.replay(ctx, c, cfg, stdout) })
}

// replayFlags are the command's flags, and the publisher name taken out of the configuration.
type replayFlags struct {
	storePath, endpoint, seq, since, until, rawQuery, wait string
	archive                                                string
	msgIDs                                                 []string
	publish, stats                                         bool
	name                                                   string
}

func (f *replayFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.storePath, "store", "", "read this history (a persistent_store: a file or a postgres:// URL) instead of asking the replay endpoint")
	fs.StringVar(&f.endpoint, "replay-endpoint", "", "the replay endpoint address to ask (default replay_endpoints[--name])")
	fs.StringVar(&f.seq, "seq", "", "seq_id N or range A-B (inclusive)")
	fs.StringArrayVar(&f.msgIDs, "msg-id", nil, "a msg_id; repeat for several")
	fs.StringVar(&f.since, "since", "", "messages with a timestamp from T (Unix seconds or RFC 3339)")
	fs.StringVar(&f.until, "until", "", "messages with a timestamp up to T (default now)")
	fs.StringVar(&f.rawQuery, "query", "", "a fedmsg replay query as JSON")
	fs.StringVar(&f.wait, "wait", "", "repeat a query without a match until this long has passed: seconds or a duration")
	fs.BoolVar(&f.publish, "publish", false, "re-publish the messages through the relay instead of printing them")
	fs.StringVar(&f.archive, "archive", "", "fetch --msg-id from this datagrepper-compatible archive (its base URL, e.g. http://127.0.0.1:5050)")
	fs.BoolVar(&f.stats, "stats", false, "with --store: print what the history holds (every publisher's, without --name)")
}

// replay runs the command once the configuration is loaded: --stats, or the query, printed or
// re-published.
func (f *replayFlags) replay(ctx context.Context, c *cli.Command, cfg *config.Config, stdout io.Writer) error {
	if len(c.Args()) > 0 {
		return cli.Usage("unexpected arguments %q", c.Args())
	}
	if f.stats {
		if f.storePath == "" {
			return cli.Usage("--stats needs --store")
		}
		return printStats(ctx, stdout, f.storePath, f.name)
	}
	if f.archive != "" {
		return f.replayArchive(ctx, c, cfg, stdout)
	}
	name := f.name
	if name == "" && f.storePath != "" {
		var err error
		if name, err = onlyName(ctx, f.storePath); err != nil {
			return err
		}
	}
	if name == "" {
		return cli.Usage("--name is needed: the publisher whose history to read")
	}
	q, ranged, err := buildQuery(f.seq, f.msgIDs, f.since, f.until, f.rawQuery)
	if err != nil {
		return err
	}
	var wait time.Duration
	if f.wait != "" {
		if wait, err = cli.ParseSeconds(f.wait); err != nil {
			return cli.Usage("--wait %v", err)
		}
	}
	fetch, closeFetch, err := f.fetcher(ctx, cfg, name, q, ranged)
	if err != nil {
		return err
	}
	defer closeFetch()
	frames, err := fetchUntil(ctx, fetch, wait)
	return f.output(ctx, c, cfg, stdout, frames, err)
}

// output ends a fetch: the stop or the error it met, else the frames re-published (--publish)
// or printed, one per line.
func (f *replayFlags) output(ctx context.Context, c *cli.Command, cfg *config.Config, stdout io.Writer, frames [][]byte, err error) error {
	if err != nil && ctx.Err() != nil {
		// SIGTERM or SIGINT: nothing was printed, which exit 1 says, and it says why.
		return cli.Runtime(fmt.Errorf("%w before a message matched (%v)", cli.ErrStopped, err))
	}
	if err != nil {
		return cli.Runtime(err)
	}
	if f.publish {
		return republish(ctx, cfg, c, stdout, frames)
	}
	for _, fr := range frames {
		if _, err := fmt.Fprintf(stdout, "%s\n", fr); err != nil {
			return cli.Runtime(err)
		}
	}
	return nil
}

// fetcher returns the query of name's history at --store or at its replay endpoint, and what
// to close after the last round.
func (f *replayFlags) fetcher(ctx context.Context, cfg *config.Config, name string, q replay.Query, ranged *[2]int64) (
	fetch func() ([][]byte, error), closeFn func(), err error) {
	if f.storePath != "" {
		if f.endpoint != "" {
			return nil, nil, cli.Usage("--store and --replay-endpoint exclude each other")
		}
		if config.IsPostgresURL(f.storePath) {
			// One connection for every --wait round (a file is opened for each, so that
			// the publisher can take it meanwhile).
			st, err := openStore(ctx, f.storePath)
			if err != nil {
				return nil, nil, cli.Runtime(err)
			}
			return func() ([][]byte, error) { return query(ctx, st, name, q) }, func() { st.Close() }, nil
		}
		return func() ([][]byte, error) { return fromStore(ctx, f.storePath, name, q) }, func() {}, nil
	}
	addr := f.endpoint
	if addr == "" {
		var ok bool
		if addr, ok = cfg.ReplayEndpoint(name); !ok {
			return nil, nil, cli.Usage("no replay endpoint for %q: set replay_endpoints or give --replay-endpoint or --store", name)
		}
	}
	client, err := replay.NewClient(cfg.Transport(), cfg.ReplayTimeout.Duration())
	if err != nil {
		return nil, nil, cli.Runtime(err)
	}
	return func() ([][]byte, error) { return fromEndpoint(ctx, client, addr, q, ranged) }, func() { client.Close() }, nil
}

// fetchUntil fetches once, and again while nothing matched until wait has passed or ctx ends.
func fetchUntil(ctx context.Context, fetch func() ([][]byte, error), wait time.Duration) ([][]byte, error) {
	deadline := time.Now().Add(wait)
	for {
		frames, err := fetch()
		if !errors.Is(err, errNoMatch) || !time.Now().Before(deadline) || ctx.Err() != nil {
			return frames, err
		}
		select { // polling another process's state with a deadline
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

var errNoMatch = errors.New("no match: no message in the history matches the query")

// buildQuery turns the selection flags into one query; ranged is the --seq range, when given
// (split by the client when the endpoint finds it too wide).
func buildQuery(seq string, msgIDs []string, since, until, raw string) (replay.Query, *[2]int64, error) {
	var q replay.Query
	if raw != "" {
		var err error
		if q, err = replay.ParseQuery([]byte(raw)); err != nil {
			return q, nil, cli.Usage("--query: %v", err)
		}
	}
	var ranged *[2]int64
	if seq != "" {
		a, b, isRange := strings.Cut(seq, "-")
		lo, err1 := strconv.ParseInt(a, 10, 64)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.ParseInt(b, 10, 64)
		}
		if err1 != nil || err2 != nil || lo < 1 || hi < lo {
			return q, nil, cli.Usage("--seq %q: want N or A-B with 1 <= A <= B", seq)
		}
		ranged = &[2]int64{lo, hi}
		q.SeqRange = ranged
	}
	if len(msgIDs) > 0 {
		q.MsgIDs = append(q.MsgIDs, msgIDs...)
	}
	if since != "" {
		t0, err := parseTime(since)
		if err != nil {
			return q, nil, cli.Usage("--since: %v", err)
		}
		t1 := float64(time.Now().Unix())
		if until != "" {
			if t1, err = parseTime(until); err != nil {
				return q, nil, cli.Usage("--until: %v", err)
			}
		}
		q.Time = &[2]float64{t0, t1}
	} else if until != "" {
		return q, nil, cli.Usage("--until needs --since")
	}
	if _, err := q.Encode(); err != nil {
		return q, nil, cli.Usage("say which messages: --seq, --msg-id, --since, --query (or --stats)")
	}
	return q, ranged, nil
}

// parseTime reads a --since or --until time: Unix seconds or RFC 3339.
func parseTime(s string) (float64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("%q: want Unix seconds or RFC 3339 (2024-05-01T12:00:00Z)", s)
	}
	return float64(t.Unix()), nil
}

// openStore opens a persistent_store for reading: PostgreSQL read-only (no lock: the publisher
// may be running), or the file, which a running publisher holds.
func openStore(ctx context.Context, store string) (replay.Store, error) {
	if config.IsPostgresURL(store) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return pgstore.Open(ctx, store, pgstore.Options{ReadOnly: true})
	}
	st, err := boltstore.Open(store, boltstore.Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, boltstore.ErrLocked) {
		return nil, fmt.Errorf("%w: ask its replay endpoint instead (--replay-endpoint, or replay_endpoints)", err)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// fromStore opens store, queries it and closes it.
func fromStore(ctx context.Context, store, name string, q replay.Query) ([][]byte, error) {
	st, err := openStore(ctx, store)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return query(ctx, st, name, q)
}

// query returns the envelopes of name's records matching q.
func query(ctx context.Context, st replay.Store, name string, q replay.Query) ([][]byte, error) {
	recs, err := st.Query(ctx, name, q, replay.Limits{})
	if errors.Is(err, replay.ErrNoMatch) {
		return nil, errNoMatch
	}
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Envelope
	}
	return out, nil
}

// fromEndpoint asks the replay endpoint at addr; a --seq range it finds too big is fetched in
// pieces.
func fromEndpoint(ctx context.Context, client *replay.Client, addr string, q replay.Query, ranged *[2]int64) ([][]byte, error) {
	frames, err := client.Fetch(ctx, addr, q)
	var re *replay.ReplyError
	if errors.As(err, &re) && re.NoMatch() {
		return nil, errNoMatch
	}
	if errors.As(err, &re) && re.TooMany() && ranged != nil && q.MsgIDs == nil && q.Time == nil {
		// Only a --seq range: fetch it in pieces, as a consumer fills a gap.
		tr, terr := replay.NewTracker(replay.TrackerConfig{Endpoints: map[string]string{"x": addr}, Client: client})
		if terr != nil {
			return nil, terr
		}
		recs, err := tr.Fetch(ctx, "x", ranged[0], ranged[1])
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, errNoMatch
		}
		out := make([][]byte, len(recs))
		for i, r := range recs {
			out[i] = r.Raw
		}
		return out, nil
	}
	return frames, err
}

// namer is a store that lists the publishers it holds a history for (both stores do).
type namer interface {
	Names(ctx context.Context) ([]string, error)
}

// names lists the publishers st holds a history for, sorted.
func names(ctx context.Context, st replay.Store) ([]string, error) {
	n, ok := st.(namer)
	if !ok {
		return nil, errors.New("this store cannot list its publishers: give --name")
	}
	out, err := n.Names(ctx)
	slices.Sort(out)
	return out, err
}

// onlyName is the one publisher store holds a history for, when --name is not given.
func onlyName(ctx context.Context, store string) (string, error) {
	st, err := openStore(ctx, store)
	if err != nil {
		return "", cli.Runtime(err)
	}
	defer st.Close()
	all, err := names(ctx, st)
	switch {
	case err != nil:
		return "", cli.Runtime(err)
	case len(all) == 1:
		return all[0], nil
	case len(all) == 0:
		return "", cli.Runtime(fmt.Errorf("%s holds no history", store))
	}
	return "", cli.Usage("--name is needed: %s holds the histories of %s", store, strings.Join(all, ", "))
}

// printStats prints what store holds for name (--stats), or for every publisher it holds a
// history for when name is "", one block each, separated by a blank line.
func printStats(ctx context.Context, w io.Writer, store, name string) error {
	st, err := openStore(ctx, store)
	if err != nil {
		return cli.Runtime(err)
	}
	defer st.Close()
	all := []string{name}
	if name == "" {
		if all, err = names(ctx, st); err != nil {
			return cli.Runtime(err)
		}
		if len(all) == 0 {
			fmt.Fprintf(w, "%s holds no history\n", store)
			return nil
		}
	}
	for i, n := range all {
		s, err := st.Stats(ctx, n)
		if err != nil {
			return cli.Runtime(err)
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "name %s\nmessages %d\nbytes %d\nfirst_seq_id %d\nlast_seq_id %d\nlast_seq_id_ever %d\nevicted %d\n",
			n, s.Messages, s.Bytes, s.First, s.Last, s.LastSeq, s.Evicted)
	}
	return nil
}

// republish sends the frames unchanged through the relay.
func republish(ctx context.Context, cfg *config.Config, c *cli.Command, w io.Writer, frames [][]byte) error {
	pc := *cfg
	pc.Active, pc.Name, pc.PersistentStore, pc.SignMessages = true, config.RelayInboundKey, "", false
	pub, err := config.NewPublisher(ctx, &pc, publisher.WithLogger(c.Log()))
	if err != nil {
		return cli.Runtime(err)
	}
	defer pub.Close()
	for _, f := range frames {
		m, err := message.Decode(f)
		if err != nil {
			return cli.Runtime(fmt.Errorf("a replayed frame is not an envelope: %w", err))
		}
		if err := pub.SendRaw(ctx, m.Topic(), f); err != nil {
			return cli.Runtime(err)
		}
		fmt.Fprintln(w, m.MsgID())
	}
	if err := pub.Close(); err != nil {
		return cli.Runtime(err)
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
)

// maxArchiveAnswer bounds one /id answer read from an archive.
const maxArchiveAnswer = 64 << 20

// fromArchive fetches each msg_id from the /id of the datagrepper-compatible archive at base.
// ackmsg-archive answers envelope=true with the signed envelope as it received it; datagrepper,
// which ignores that parameter, answers datanommer's as_dict, from which the fedmsg envelope is
// rebuilt (its fields are fedmsg's own, so a fedmsg message's signature still verifies). An
// unknown msg_id is skipped; none found is errNoMatch.
func fromArchive(ctx context.Context, client *http.Client, base string, ids []string) ([][]byte, error) {
	var frames [][]byte
	for _, id := range ids {
		u := strings.TrimRight(base, "/") + "/id?" + url.Values{"id": {id}, "envelope": {"true"}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("--archive %q: %w", base, err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxArchiveAnswer))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("archive %s: reading the answer: %w", u, err)
		}
		if resp.StatusCode == http.StatusNotFound {
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("archive %s: %s: %.300s", u, resp.Status, body)
		}
		frame, err := envelopeOf(body)
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", u, err)
		}
		frames = append(frames, frame)
	}
	if len(frames) == 0 {
		return nil, errNoMatch
	}
	return frames, nil
}

// envelopeFields are the as_dict fields that are fedmsg envelope fields.
var envelopeFields = []string{"i", "msg_id", "topic", "timestamp", "msg", "username", "certificate", "signature", "crypto"}

// envelopeOf returns the envelope an /id answer holds: the answer itself from ackmsg-archive,
// rebuilt from datanommer's as_dict (it has source_name) from datagrepper.
func envelopeOf(body []byte) ([]byte, error) {
	m, err := message.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("the answer is not a message: %w", err)
	}
	if !m.Has("source_name") {
		return body, nil
	}
	fields := map[string]any{}
	for _, k := range envelopeFields {
		v, ok := m.Get(k)
		if !ok || v == nil {
			continue
		}
		// datagrepper writes timestamps as floats (1700000000.0); fedmsg signed an integer.
		if f, isFloat := v.(float64); isFloat && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			v = message.IntOf(int64(f))
		}
		fields[k] = v
	}
	env, err := message.FromFields(fields)
	if err != nil {
		return nil, fmt.Errorf("rebuilding the envelope from datagrepper's answer: %w", err)
	}
	return env.Marshal()
}

// replayArchive is --archive: each --msg-id from the archive's /id, printed or re-published.
func (f *replayFlags) replayArchive(ctx context.Context, c *cli.Command, cfg *config.Config, stdout io.Writer) error {
	if f.storePath != "" || f.endpoint != "" || f.seq != "" || f.since != "" || f.until != "" || f.rawQuery != "" {
		return cli.Usage("--archive takes --msg-id only (not --store, --replay-endpoint, --seq, --since, --until or --query)")
	}
	if len(f.msgIDs) == 0 {
		return cli.Usage("--archive needs --msg-id")
	}
	u, err := url.Parse(f.archive)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cli.Usage("--archive %q: want the archive's base URL, http://host:port[/path]", f.archive)
	}
	var wait time.Duration
	if f.wait != "" {
		if wait, err = cli.ParseSeconds(f.wait); err != nil {
			return cli.Usage("--wait %v", err)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	frames, err := fetchUntil(ctx, func() ([][]byte, error) { return fromArchive(ctx, client, f.archive, f.msgIDs) }, wait)
	return f.output(ctx, c, cfg, stdout, frames, err)
}

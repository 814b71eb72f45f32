package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/boltstore"
)

// history writes a history file holding publishers svc.a (one message) and svc.b (two), and a
// configuration whose endpoints name neither.
func history(t *testing.T) (conf, store string) {
	t.Helper()
	t.Setenv("ACKMSG_NAME", "")
	t.Setenv("ACKMSG_CONFIG", "")
	dir := t.TempDir()
	conf, store = filepath.Join(dir, "ackmsg.toml"), filepath.Join(dir, "history.db")
	if err := os.WriteFile(conf, []byte("topic_prefix = \"org.example\"\nenvironment = \"test\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(store, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name string
		seq  int64
	}{{"svc.a", 1}, {"svc.b", 1}, {"svc.b", 2}} {
		env := `{"msg_id":"` + r.name + `-` + string(rune('0'+r.seq)) + `"}`
		if err := st.Append(t.Context(), r.name, replay.Record{Seq: r.seq, MsgID: r.name, Timestamp: 1, Envelope: []byte(env)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return conf, store
}

func replayRun(args ...string) (stdout, stderr string, code int) {
	var out, errs bytes.Buffer
	code = run(args, &out, &errs)
	return out.String(), errs.String(), code
}

// --store reads any publisher's history: --name need not be an endpoints key, --stats without
// --name shows every publisher, and a query without --name reads the only one or says which.
func TestStoreNeedsNoEndpointsKey(t *testing.T) {
	conf, store := history(t)
	out, stderr, code := replayRun("--config", conf, "--stats", "--store", store)
	if code != 0 || !strings.Contains(out, "name svc.a\nmessages 1\n") || !strings.Contains(out, "name svc.b\nmessages 2\n") {
		t.Fatalf("--stats without --name: exit %d %q\n%s", code, out, stderr)
	}
	out, stderr, code = replayRun("--config", conf, "--stats", "--store", store, "--name", "svc.b")
	if code != 0 || out != "name svc.b\nmessages 2\nbytes 40\nfirst_seq_id 1\nlast_seq_id 2\nlast_seq_id_ever 2\nevicted 0\n" {
		t.Fatalf("--stats --name svc.b: exit %d %q\n%s", code, out, stderr)
	}
	out, stderr, code = replayRun("--config", conf, "--store", store, "--name", "svc.b", "--seq", "2")
	if code != 0 || out != `{"msg_id":"svc.b-2"}`+"\n" {
		t.Fatalf("--store --name svc.b --seq 2: exit %d %q\n%s", code, out, stderr)
	}
	_, stderr, code = replayRun("--config", conf, "--store", store, "--seq", "1")
	if code != 2 || !strings.Contains(stderr, "--name is needed") || !strings.Contains(stderr, "svc.a, svc.b") {
		t.Fatalf("--store with two histories and no --name: exit %d\n%s", code, stderr)
	}
}

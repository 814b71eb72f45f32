// Command outboxowner is a library program using an outbox file store, as an application does:
// "outboxowner PATH own" opens it with boltstore.Open (owning the file), "outboxowner PATH
// share" with boltstore.OpenShared (leaving it to ackmsg-outbox serve). It stores "<mode>-1",
// says "ready", then stores one message per line of standard input (the line is its msg_id,
// and it says "stored <msg_id>"), until standard input closes.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(path, mode string) error {
	ctx := context.Background()
	var st outbox.Store
	var err error
	if mode == "own" {
		st, err = boltstore.Open(path, boltstore.Options{})
	} else {
		st, err = boltstore.OpenShared(ctx, path)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	store := func(id string) error {
		now := time.Now().UTC()
		return st.Enqueue(ctx, &outbox.Record{MsgID: id, Topic: "t", Envelope: []byte(`{}`),
			Recipients: []string{"x"}, Enqueued: now, Expires: now.Add(time.Hour), NextAttempt: now.Add(time.Hour)})
	}
	if err := store(mode + "-1"); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if err := store(in.Text()); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "stored", in.Text())
	}
	return st.Close()
}

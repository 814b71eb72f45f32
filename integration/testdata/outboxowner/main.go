// Command outboxowner is a library program that owns an outbox file store, as an application
// using outbox/boltstore does: it opens the store at $1, stores one message, says "owning" and
// keeps the store open until its standard input closes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
)

func main() {
	st, err := boltstore.Open(os.Args[1], boltstore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	now := time.Now().UTC()
	err = st.Enqueue(context.Background(), &outbox.Record{MsgID: "owned-1", Topic: "t", Envelope: []byte(`{}`),
		Recipients: []string{"x"}, Enqueued: now, Expires: now.Add(time.Hour), NextAttempt: now.Add(time.Hour)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "owning")
	io.Copy(io.Discard, os.Stdin)
	if err := st.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

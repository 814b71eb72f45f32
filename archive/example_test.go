package archive_test

import (
	"context"
	"log"
	"net/http"

	"github.com/ackmsg/ackmsg/archive"
)

// The archive's parts wired together: a store, the ingest loop reading a Source (ackmsg-archive
// adapts an acking subscriber: Done(nil) sends the ACK), and the API on an HTTP server.
func Example() {
	ctx := context.Background()
	cfg := archive.DefaultConfig()
	store, err := archive.Open(ctx, "postgres://archive@127.0.0.1:5432/archive", cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	var src archive.Source // e.g. an ack.Subscriber behind a three-line adapter
	in, err := archive.NewIngester(store, src, cfg)
	if err != nil {
		log.Fatal(err)
	}
	go in.Run(ctx)

	api, err := archive.NewAPI(store, cfg)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range api.Routes() {
		mux.Handle(pattern, h) // a web view's routes go on the same mux
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:5050", mux))
}

package certs_test

import (
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/message"
)

// Sign an envelope as fedmsg does, then verify it and check who signed it. The paths are the
// repository's interop test PKI; a deployment uses its ssldir, e.g. /etc/pki/fedmsg.
func Example() {
	signer, err := certs.LoadSigner("../testdata/vectors/pki/pub01.crt", "../testdata/vectors/pki/pub01.key")
	if err != nil {
		panic(err)
	}
	at := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	m, err := message.Build("org.fedoraproject.dev.app.thing", map[string]any{"n": 1}, 1, "alice", at)
	if err != nil {
		panic(err)
	}
	if err := signer.Sign(m); err != nil {
		panic(err)
	}

	cfg := certs.DefaultTrustConfig("../testdata/vectors/pki/ca.crt")
	cfg.CRLFile = "../testdata/vectors/pki/crl.pem"
	cfg.Now = func() time.Time { return at }
	verifier, err := certs.NewVerifier(cfg)
	if err != nil {
		panic(err)
	}
	id, err := verifier.Verify(m)
	fmt.Println(id.CN, err)
	// ACKs are authenticated with VerifySignedBy: valid and signed by exactly that name.
	_, err = verifier.VerifySignedBy(m, "sub01")
	fmt.Println(err != nil)
	// Output:
	// pub01 <nil>
	// true
}

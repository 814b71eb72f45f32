package certs

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/ackmsg/ackmsg/message"
)

// FuzzVerify mutates frames of validly signed envelopes (seeds in testdata/fuzz/FuzzVerify, made
// from the fedmsg vectors). Verify must never panic, every rejection must be a *VerifyError, and
// no accepted message may have signed bytes that fedmsg did not sign: whatever the fuzzer changes
// in the covered fields must be caught.
func FuzzVerify(f *testing.F) {
	sign, tamper := loadVectors(f)
	signed := make(map[string]bool)
	for _, vec := range sign {
		b, err := base64.StdEncoding.DecodeString(vec.SignedBytesB64)
		if err != nil {
			f.Fatal(err)
		}
		signed[string(b)] = true
		f.Add(vec.frame(f))
	}
	for _, vec := range tamper {
		if *vec.Expect {
			b, err := decode(f, vec.frame(f)).SignedBytes()
			if err != nil {
				f.Fatal(err)
			}
			signed[string(b)] = true
		}
	}
	v := vectorVerifier(f, true, true)

	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := message.Decode(frame)
		if err != nil {
			return
		}
		for _, verify := range []func() (*Identity, error){
			func() (*Identity, error) { return v.Verify(m) },
			func() (*Identity, error) { return v.VerifySignedBy(m, "pub01") },
		} {
			id, err := verify()
			if err != nil {
				var ve *VerifyError
				if !errors.As(err, &ve) || ve.Err == nil {
					t.Fatalf("error %T %v is not a *VerifyError", err, err)
				}
				continue
			}
			b, err := m.SignedBytes()
			if id.LateMarker {
				b, err = m.SignedBytes(message.FieldGilmsgVersion)
			}
			if err != nil {
				t.Fatalf("accepted a message without signed bytes: %v", err)
			}
			if !signed[string(b)] {
				t.Fatalf("accepted a message whose signed bytes were never signed:\n%s", b)
			}
			if id.CN == "" || id.Cert == nil {
				t.Fatalf("accepted with identity %+v", id)
			}
		}
	})
}

package certs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ackmsg/ackmsg/message"
)

// TestSignVectors: our signer reproduces fedmsg's signature and certificate fields byte for byte,
// and every fedmsg-signed vector verifies.
func TestSignVectors(t *testing.T) {
	sign, _ := loadVectors(t)
	signer, err := LoadSigner(filepath.Join(vectorPKI, "pub01.crt"), filepath.Join(vectorPKI, "pub01.key"))
	if err != nil {
		t.Fatal(err)
	}
	if signer.Name() != "pub01" {
		t.Fatalf("Name() = %q, want pub01", signer.Name())
	}
	v := vectorVerifier(t, true, false)
	for _, vec := range sign {
		t.Run(vec.Name, func(t *testing.T) {
			wantSigned, err := base64.StdEncoding.DecodeString(vec.SignedBytesB64)
			if err != nil {
				t.Fatal(err)
			}
			orig := decode(t, vec.frame(t))

			// Re-sign from the envelope as it was before signing: no crypto, signature, certificate.
			m := orig.Clone()
			m.Delete(message.FieldSignature)
			m.Delete(message.FieldCertificate)
			m.Delete(message.FieldCrypto)
			if err := signer.Sign(m); err != nil {
				t.Fatal(err)
			}
			got, err := m.SignedBytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantSigned) {
				t.Fatalf("signed bytes differ:\n got %q\nwant %q", got, wantSigned)
			}
			if s, _ := m.String(message.FieldSignature); s != vec.Signature {
				t.Errorf("signature differs:\n got %q\nwant %q", s, vec.Signature)
			}
			if s, _ := m.String(message.FieldCertificate); s != vec.Certificate {
				t.Errorf("certificate differs:\n got %q\nwant %q", s, vec.Certificate)
			}

			id, err := v.Verify(orig)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.CN != "pub01" || id.LateMarker {
				t.Fatalf("identity = %+v", id)
			}
			if _, err := v.VerifySignedBy(orig, "pub01"); err != nil {
				t.Fatalf("VerifySignedBy(pub01): %v", err)
			}
			wantErr(t, func() error { _, err := v.VerifySignedBy(orig, "sub01"); return err }(), ErrSigner)
		})
	}
}

// tamperReason maps each negative tamper vector to the check that must reject it.
var tamperReason = map[string]error{
	"body-modified":                ErrSignature,
	"field-added-after-signing":    ErrSignature,
	"topic-changed":                ErrSignature,
	"field-removed":                ErrSignature,
	"timestamp-int-to-float":       ErrSignature,
	"crypto-field-removed":         ErrSignature,
	"crypto-gpg":                   ErrCrypto,
	"unsigned":                     ErrUnsigned,
	"signature-from-other-message": ErrSignature,
	"certificate-swapped":          ErrSignature,
	"wire-float-as-int":            ErrSignature,
	"wire-one-as-int":              ErrSignature,
	"wire-negzero-as-zero":         ErrSignature,
	"foreign-html-escaped":         ErrSignature,
	"foreign-raw-utf8":             ErrSignature,
	"foreign-spaced":               ErrSignature,
	"foreign-float-f":              ErrSignature,
	"cert-revoked01":               ErrRevoked,
	"cert-expired01":               ErrExpired,
	"cert-untrusted01":             ErrUntrusted,
}

// TestTamperVectors: verdicts, reasons and signed-by results equal fedmsg's (strict mode, as
// fedmsg itself, which has no late-marker rule).
func TestTamperVectors(t *testing.T) {
	_, tamper := loadVectors(t)
	withCRL := vectorVerifier(t, true, false)
	noCRL := vectorVerifier(t, false, false)
	for _, vec := range tamper {
		t.Run(vec.Name, func(t *testing.T) {
			if vec.Expect == nil {
				t.Fatal("vector has no expect")
			}
			v := withCRL
			if vec.withoutCRL() {
				v = noCRL
			}
			m := decode(t, vec.frame(t))
			id, err := v.Verify(m)
			if *vec.Expect {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.CN == "" {
					t.Fatal("empty CN")
				}
			} else {
				reason, ok := tamperReason[vec.Name]
				if !ok {
					t.Fatalf("no expected reason for negative vector (error: %v)", err)
				}
				wantErr(t, err, reason)
				t.Logf("rejected: %v", err)
			}
			for name, want := range vec.ValidateSignedBy {
				_, err := v.VerifySignedBy(m, name)
				if (err == nil) != want {
					t.Errorf("VerifySignedBy(%s) = %v, want valid=%v", name, err, want)
				}
				if err != nil && *vec.Expect && !errors.Is(err, ErrSigner) {
					t.Errorf("VerifySignedBy(%s) on a valid message: %v, want ErrSigner", name, err)
				}
			}
		})
	}
}

// TestTamperVectorsLateMarker: with AcceptLateMarker every verdict stays, except the message whose
// gilmsg_version was added after signing, which now verifies and says so.
func TestTamperVectorsLateMarker(t *testing.T) {
	_, tamper := loadVectors(t)
	withCRL := vectorVerifier(t, true, true)
	noCRL := vectorVerifier(t, false, true)
	for _, vec := range tamper {
		v := withCRL
		if vec.withoutCRL() {
			v = noCRL
		}
		m := decode(t, vec.frame(t))
		id, err := v.Verify(m)
		if vec.Name == "field-added-after-signing" {
			if err != nil || !id.LateMarker || id.CN != "pub01" {
				t.Errorf("%s: identity %+v, err %v; want pub01 with LateMarker", vec.Name, id, err)
			}
			if id, err := v.VerifySignedBy(m, "pub01"); err != nil || !id.LateMarker {
				t.Errorf("%s: VerifySignedBy: %+v, %v", vec.Name, id, err)
			}
			continue
		}
		if (err == nil) != *vec.Expect {
			t.Errorf("%s: Verify = %v, want valid=%v", vec.Name, err, *vec.Expect)
		}
		if err == nil && id.LateMarker {
			t.Errorf("%s: LateMarker set on a message without a late marker", vec.Name)
		}
	}
}

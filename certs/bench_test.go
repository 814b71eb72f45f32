package certs

import (
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// benchMessage is the "ascii-simple" vector: a small envelope signed by pub01 (RSA-2048).
func benchMessage(b *testing.B) *message.Message {
	b.Helper()
	sign, _ := loadVectors(b)
	return decode(b, sign[0].frame(b))
}

func BenchmarkSign(b *testing.B) {
	vec, err := LoadSigner(filepath.Join(vectorPKI, "pub01.crt"), filepath.Join(vectorPKI, "pub01.key"))
	if err != nil {
		b.Fatal(err)
	}
	p := newTestPKI(b, PKIOptions{}, "small")
	p.issue(b, "ed", PKIOptions{KeyType: KeyEd25519})
	signers := []struct {
		name string
		s    *X509Signer
	}{{"rsa2048-vector", vec}, {"rsa1024", p.signer(b, "small")}, {"ed25519", p.signer(b, "ed")}}
	for _, tc := range signers {
		b.Run(tc.name, func(b *testing.B) {
			m := benchMessage(b).Clone()
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.s.Sign(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyWarm: the certificate's chain/CRL verdict is cached; the cost is decoding the
// fields, the canonical JSON and one signature check: RSA-2048 for the vector, Ed25519 for the
// same envelope re-signed by an Ed25519 certificate (crypto x509-ed25519).
func BenchmarkVerifyWarm(b *testing.B) {
	b.Run("rsa2048-vector", func(b *testing.B) {
		benchVerifyWarm(b, vectorVerifier(b, true, true), benchMessage(b))
	})
	b.Run("ed25519", func(b *testing.B) {
		p := newTestPKI(b, PKIOptions{})
		p.issue(b, "ed", PKIOptions{KeyType: KeyEd25519})
		m := benchMessage(b).Clone()
		if err := p.signer(b, "ed").Sign(m); err != nil {
			b.Fatal(err)
		}
		benchVerifyWarm(b, p.verifier(b, p.config(true)), m)
	})
}

func benchVerifyWarm(b *testing.B, v *X509Verifier, m *message.Message) {
	if _, err := v.Verify(m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyWarmParallel: warm verification from every P at once (shared read lock only).
func BenchmarkVerifyWarmParallel(b *testing.B) {
	v := vectorVerifier(b, true, true)
	m := benchMessage(b)
	if _, err := v.Verify(m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyCold: no cache, so every message also parses the certificate, checks the CA's
// signature on it and looks it up in the CRL.
func BenchmarkVerifyCold(b *testing.B) {
	cfg := DefaultTrustConfig(filepath.Join(vectorPKI, "ca.crt"))
	cfg.CRLFile = filepath.Join(vectorPKI, "crl.pem")
	cfg.Now = func() time.Time { return vectorNow }
	cfg.CacheSize = -1
	v, err := NewVerifier(cfg)
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHit: one lookup of a cached verdict.
func BenchmarkCacheHit(b *testing.B) {
	v := vectorVerifier(b, true, true)
	m := benchMessage(b)
	if _, err := v.Verify(m); err != nil {
		b.Fatal(err)
	}
	certB64, _ := m.String(message.FieldCertificate)
	pemBytes, err := decodeLenient(certB64)
	if err != nil {
		b.Fatal(err)
	}
	key := sha256.Sum256(pemBytes)
	gen := v.trust.Load().gen
	b.ReportAllocs()
	for b.Loop() {
		if v.cache.get(key, gen) == nil {
			b.Fatal("miss")
		}
	}
}

package certs

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecodeLenient: never panics, and agrees with strict base64 wherever strict base64 succeeds.
func FuzzDecodeLenient(f *testing.F) {
	for _, s := range []string{"", "QQ==", "QUJD", "QUJDRA==\n", "QQ==QQ==", "=QQ==", "QQ=\n=", "Q===", "QUJDRA", "é",
		"QUJD\r\nRA==", "QR==", "QUI=\n", "\nQ\nU\nJ\nD\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeLenient(s)
		slow, slowErr := decodePython(s)
		if (err == nil) != (slowErr == nil) || !bytes.Equal(got, slow) {
			t.Fatalf("decodeLenient(%q) = %x, %v; the Python port gives %x, %v", s, got, err, slow, slowErr)
		}
		want, strictErr := base64.StdEncoding.Strict().DecodeString(s)
		if strictErr == nil && (err != nil || !bytes.Equal(got, want)) {
			t.Fatalf("decodeLenient(%q) = %x, %v; strict decoding gives %x", s, got, err, want)
		}
	})
}

// FuzzParseCRL: never panics on any file content, and what parses can be queried.
func FuzzParseCRL(f *testing.F) {
	data := mustRead(f, filepath.Join(vectorPKI, "crl.pem"))
	f.Add(data)
	if block, _ := pem.Decode(data); block != nil {
		f.Add(block.Bytes)
	}
	ca, err := firstPEMCertificate(mustRead(f, filepath.Join(vectorPKI, "ca.crt")))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rl, err := parseCRL(data)
		if err != nil {
			return
		}
		_ = rl.checkTime(time.Now())
		_ = rl.checkIssuer(ca)
		_ = rl.isRevoked(big.NewInt(0x1003))
	})
}

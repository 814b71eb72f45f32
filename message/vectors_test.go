package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

const vectorsPath = "../testdata/vectors/fedmsg-x509.jsonl"

// vector is one line of the fedmsg interop vectors (see their README).
type vector struct {
	Kind           string `json:"kind"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	Note           string `json:"note"`
	WireJSON       string `json:"wire_json"`
	WireB64        string `json:"wire_b64"`
	WireTopic      string `json:"wire_topic"`
	SignedText     string `json:"signed_text"`
	SignedBytesB64 string `json:"signed_bytes_b64"`
	Signature      string `json:"signature"`
	RoundtripSame  bool   `json:"roundtrip_same"`
	Expect         bool   `json:"expect"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open(vectorsPath)
	if err != nil {
		t.Fatalf("open vectors: %v", err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("vector line %d: %v", len(out)+1, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSignVectors checks that decoding what fedmsg sent and re-encoding it gives exactly the bytes
// fedmsg signed, and, since every vector was sent canonical (roundtrip_same: Python's
// dumps(loads(wire)) == wire), exactly the frame fedmsg sent.
func TestSignVectors(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.Kind != "sign" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			wire, err := base64.StdEncoding.DecodeString(v.WireB64)
			if err != nil || string(wire) != v.WireJSON {
				t.Fatalf("wire_b64 does not match wire_json (%v)", err)
			}
			signed, err := base64.StdEncoding.DecodeString(v.SignedBytesB64)
			if err != nil || string(signed) != v.SignedText {
				t.Fatalf("signed_bytes_b64 does not match signed_text (%v)", err)
			}
			m, err := Decode(wire)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, err := m.SignedBytes()
			if err != nil {
				t.Fatalf("SignedBytes: %v", err)
			}
			if !bytes.Equal(got, signed) {
				t.Errorf("SignedBytes differs from what fedmsg signed\n got: %.300s\nwant: %.300s", got, signed)
			}
			if m.Topic() != v.WireTopic {
				t.Errorf("Topic() = %q, frame 1 was %q", m.Topic(), v.WireTopic)
			}
			if sig, _ := m.String(FieldSignature); sig != v.Signature {
				t.Errorf("signature field not kept verbatim")
			}
			wireAgain, err := m.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if v.RoundtripSame != bytes.Equal(wireAgain, wire) {
				t.Errorf("roundtrip_same=%v but Marshal()==wire_json is %v\n got: %.300s", v.RoundtripSame, !v.RoundtripSame, wireAgain)
			}
			// Decoding the signed text itself must also be a fixed point.
			again, err := Unmarshal(signed)
			if err != nil {
				t.Fatalf("Unmarshal(signed_text): %v", err)
			}
			if b, err := Canonical(again); err != nil || !bytes.Equal(b, signed) {
				t.Errorf("Canonical(Unmarshal(signed_text)) is not signed_text: %v\n got: %.300s", err, b)
			}
		})
	}
	if n != 20 {
		t.Errorf("found %d sign vectors, the README promises 20", n)
	}
}

// TestTamperVectors checks the canonical bytes a validator computes for each re-spelled or
// tampered wire frame: they equal what fedmsg signed exactly when the frame must verify.
// Tampered frames are matched to their original by the signature they carry; the cert-* lines are
// about certificates, not bytes, and the foreign-* lines carry the text that was signed in a note.
func TestTamperVectors(t *testing.T) {
	vectors := loadVectors(t)
	bySignature := map[string]vector{}
	for _, v := range vectors {
		if v.Kind == "sign" {
			bySignature[strings.ReplaceAll(v.Signature, "\n", "")] = v
		}
	}
	checked := 0
	for _, v := range vectors {
		if v.Kind != "tamper" || strings.HasPrefix(v.Name, "cert") {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			m, err := Decode([]byte(v.WireJSON))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, err := m.SignedBytes()
			if err != nil {
				t.Fatalf("SignedBytes: %v", err)
			}
			var want []byte
			if _, b64, ok := strings.Cut(v.Note, "signed_text_b64="); ok {
				want, err = base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
				if err != nil {
					t.Fatalf("note: %v", err)
				}
			} else {
				sig, ok := m.String(FieldSignature)
				if !ok {
					t.Skip("unsigned: its verdict is about the missing fields, not the bytes")
				}
				orig, ok := bySignature[strings.ReplaceAll(sig, "\n", "")]
				if !ok {
					t.Fatalf("signature matches no sign vector (%s)", v.Description)
				}
				want = []byte(orig.SignedText)
			}
			checked++
			if bytes.Equal(got, want) != v.Expect {
				t.Errorf("expect=%v, but SignedBytes()==signed text is %v\n got: %.400s\nwant: %.400s", v.Expect, !v.Expect, got, want)
			}
		})
	}
	if checked < 20 {
		t.Errorf("only %d tamper vectors were comparable", checked)
	}
}

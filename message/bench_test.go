package message

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// benchEnvelope is a signed envelope of typical size: a bodhi-like body of about 1 KB, and the
// 76-column base64 signature and certificate of the interop vectors (2.6 KB of the 3.8 KB frame).
func benchEnvelope(b *testing.B) (*Message, []byte) {
	b.Helper()
	var signed vector
	for _, v := range loadVectors(b) {
		if v.Kind == "sign" && v.Name == "ascii-simple" {
			signed = v
		}
	}
	orig, err := Decode([]byte(signed.WireJSON))
	if err != nil {
		b.Fatal(err)
	}
	body := map[string]any{
		"agent": "bowlofeggs",
		"update": map[string]any{
			"alias":  "FEDORA-2024-1a2b3c4d5e",
			"title":  "python-requests-2.31.0-1.fc39 python-urllib3-2.0.7-1.fc39",
			"status": "testing", "request": nil, "severity": "medium", "type": "security",
			"karma": 3, "stable_karma": 3, "unstable_karma": -3, "autokarma": true,
			"date_submitted": "2024-01-05 12:34:56",
			"notes":          "Update to 2.31.0.\n\nFixes CVE-2023-32681 (Proxy-Authorization header leak) — see rhbz#2209469.",
			"builds": []any{
				map[string]any{"nvr": "python-requests-2.31.0-1.fc39", "signed": true, "type": "rpm"},
				map[string]any{"nvr": "python-urllib3-2.0.7-1.fc39", "signed": true, "type": "rpm"},
			},
			"bugs":               []any{map[string]any{"bug_id": 2209469, "security": true, "title": "CVE-2023-32681 python-requests: Unintended leak of Proxy-Authorization header"}},
			"release":            map[string]any{"name": "F39", "long_name": "Fedora 39", "version": "39", "branch": "f39", "dist_tag": "fc39"},
			"user":               map[string]any{"name": "bowlofeggs", "avatar": "https://seccdn.libravatar.org/avatar/abc?s=24&d=retro", "openid": "bowlofeggs.id.fedoraproject.org"},
			"test_gating_status": "passed", "content_type": "rpm", "critpath": false, "score": 0.75,
		},
	}
	m, err := Build("org.fedoraproject.prod.bodhi.update.comment", body, 42, "apache", time.Unix(1700000000, 0))
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []string{FieldCrypto, FieldSignature, FieldCertificate} {
		v, _ := orig.Get(k)
		if err := m.Set(k, v); err != nil {
			b.Fatal(err)
		}
	}
	wire, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	return m, wire
}

func BenchmarkCanonicalEnvelope(b *testing.B) {
	m, wire := benchEnvelope(b)
	fields := m.Fields()
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonical(fields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalEnvelope(b *testing.B) {
	_, wire := benchEnvelope(b)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignedBytes(b *testing.B) {
	m, _ := benchEnvelope(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.SignedBytes(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPath is what a receiver does per frame before the signature check.
func BenchmarkVerifyPath(b *testing.B) {
	_, wire := benchEnvelope(b)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Decode(wire)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.SignedBytes(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildAndSign is what a publisher does per message before signing.
func BenchmarkBuildAndSign(b *testing.B) {
	m, _ := benchEnvelope(b)
	body := m.Body()
	now := time.Unix(1700000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		m, err := Build("org.fedoraproject.prod.bodhi.update.comment", body, 42, "apache", now)
		if err != nil {
			b.Fatal(err)
		}
		_ = m.Set(FieldCrypto, "x509")
		if _, err := m.SignedBytes(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatFloat(b *testing.B) {
	buf := make([]byte, 0, 32)
	vals := []float64{100, 0.1, 1e16, 1.2345678901234567e-300, 3.141592653589793}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = appendFloat(buf[:0], vals[i%len(vals)])
	}
}

// plainEnvelopeSize is the frame size make bench uses for plain publishing: that of a signed
// message, so that the raw ZeroMQ floor and the plain publish carry the same bytes.
const plainEnvelopeSize = 2233

// plainBody is make bench's plain-publish body (tools/bench), padded so that its unsigned envelope
// is plainEnvelopeSize bytes.
func plainBody(b *testing.B, topic string, now time.Time) map[string]any {
	b.Helper()
	body := map[string]any{"order": 1234, "items": []any{"widget", "gadget"}, "note": "benchmark"}
	m, err := Build(topic, body, 1, "apache", now)
	if err != nil {
		b.Fatal(err)
	}
	wire, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	body["pad"] = strings.Repeat("x", plainEnvelopeSize-len(wire)-len(`,"pad":""`))
	return body
}

// BenchmarkPlainEnvelope is a plain publisher's per-message work (Build, then Marshal) next to
// floors measured in the same run: encoding/json.Marshal of an equivalent envelope (which is not
// canonical) and a copy of the frame's bytes. Compare the ratios, not the absolute numbers.
func BenchmarkPlainEnvelope(b *testing.B) {
	const topic = "org.example.test.bench.order"
	now := time.Unix(1700000000, 0)
	body := plainBody(b, topic, now)
	m, err := Build(topic, body, 1, "apache", now)
	if err != nil {
		b.Fatal(err)
	}
	wire, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	if len(wire) != plainEnvelopeSize {
		b.Fatalf("envelope of %d bytes, want %d", len(wire), plainEnvelopeSize)
	}
	b.Run("Build+Marshal", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for i := int64(1); b.Loop(); i++ {
			m, err := Build(topic, body, i, "apache", now)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for i := int64(1); b.Loop(); i++ {
			env := map[string]any{"topic": topic, "msg": body, "timestamp": now.Unix(),
				"msg_id": NewMsgID(now), "i": i, "username": "apache"}
			if _, err := json.Marshal(env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			sink = bytes.Clone(wire)
		}
	})
}

// BenchmarkPlainDecode is a non-validating receiver's per-message work (Decode of the plain
// envelope, and DecodeLazy, what a consumer.Subscriber without a verifier does) next to
// encoding/json.Unmarshal of the same bytes into a map (which is less exact)
// and a copy of the bytes, measured in the same run.
func BenchmarkPlainDecode(b *testing.B) {
	const topic = "org.example.test.bench.order"
	now := time.Unix(1700000000, 0)
	m, err := Build(topic, plainBody(b, topic, now), 1, "apache", now)
	if err != nil {
		b.Fatal(err)
	}
	wire, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := Decode(wire)
			if err != nil {
				b.Fatal(err)
			}
			if m.Topic() != topic {
				b.Fatal("wrong topic")
			}
		}
	})
	b.Run("DecodeLazy", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := DecodeLazy(wire)
			if err != nil {
				b.Fatal(err)
			}
			if m.Topic() != topic {
				b.Fatal("wrong topic")
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			var v map[string]any
			if err := json.Unmarshal(wire, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			sink = bytes.Clone(wire)
		}
	})
}

var (
	sink       []byte
	sinkString string
)

// BenchmarkNewMsgID is the cost of a msg_id alone: a version-4 UUID from google/uuid and its
// formatting, with crypto/rand read for each (the default) and with uuid's random pool, which a
// program may enable (uuid.EnableRandPool: process-wide, so the library leaves it to the
// program).
func BenchmarkNewMsgID(b *testing.B) {
	now := time.Unix(1700000000, 0)
	b.Run("crypto/rand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkString = NewMsgID(now)
		}
	})
	b.Run("rand-pool", func(b *testing.B) {
		uuid.EnableRandPool()
		defer uuid.DisableRandPool()
		b.ReportAllocs()
		for b.Loop() {
			sinkString = NewMsgID(now)
		}
	})
}

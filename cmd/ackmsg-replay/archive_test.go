package main

import (
	"testing"
)

// TestEnvelopeOf: ackmsg-archive's envelope=true answer is taken as is; datagrepper's as_dict
// (float timestamp, agent_name, headers, users...) gives back the fedmsg envelope it came from,
// byte for byte, so its signature still verifies.
func TestEnvelopeOf(t *testing.T) {
	env := `{"certificate":"Q0VSVA==","i":3,"msg":{"a":[1,2.5,"x"]},"msg_id":"2026-abc","signature":"U0lH","timestamp":1700000000,"topic":"org.fedoraproject.prod.git.receive","username":"apache"}`
	got, err := envelopeOf([]byte(env))
	if err != nil || string(got) != env {
		t.Fatalf("envelope answer: %s, %v", got, err)
	}
	asDict := `{"i": 3, "msg_id": "2026-abc", "topic": "org.fedoraproject.prod.git.receive", "timestamp": 1700000000.0,
		"certificate": "Q0VSVA==", "signature": "U0lH", "agent_name": "apache", "username": "apache", "crypto": null,
		"msg": {"a": [1, 2.5, "x"]}, "headers": null, "source_name": "datanommer", "source_version": "1.0",
		"users": ["apache"], "packages": []}`
	got, err = envelopeOf([]byte(asDict))
	if err != nil || string(got) != env {
		t.Fatalf("datagrepper's as_dict rebuilt as\n%s (%v)\nwant\n%s", got, err, env)
	}
	if _, err := envelopeOf([]byte(`<html>`)); err == nil {
		t.Error("an HTML answer was taken for a message")
	}
}

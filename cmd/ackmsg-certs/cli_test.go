package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/certs"
)

const vectorDir = "../../testdata/vectors"

// vectorTime is inside the validity of the vector PKI, so the test does not depend on the clock.
const vectorTime = "2027-06-01T12:00:00Z"

type vector struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	WireB64  string `json:"wire_b64"`
	WireJSON string `json:"wire_json"`
	Expect   *bool  `json:"expect"`
}

func (v vector) frame() []byte {
	if v.WireB64 != "" {
		b, _ := base64.StdEncoding.DecodeString(v.WireB64)
		return b
	}
	return []byte(v.WireJSON)
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir, "fedmsg-x509.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if v.Kind == "sign" {
			ok := true
			v.Expect = &ok
		}
		if v.Kind != "meta" {
			out = append(out, v)
		}
	}
	if len(out) != 49 {
		t.Fatalf("%d vectors, want 49", len(out))
	}
	return out
}

// runCLI runs the program in-process.
func runCLI(stdin []byte, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func verifyArgs(v vector) []string {
	args := []string{"verify", "--ca", filepath.Join(vectorDir, "pki", "ca.crt"), "--at", vectorTime}
	if v.Name != "cert-revoked01-without-crl" { // validated without a CRL, see its note
		args = append(args, "--crl", filepath.Join(vectorDir, "pki", "crl.pem"))
	}
	return args
}

func TestVerifyVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		code, out, errOut := runCLI(v.frame(), verifyArgs(v)...)
		switch {
		case *v.Expect && (code != 0 || !strings.HasPrefix(out, "ok ")):
			t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want ok", v.Kind, v.Name, code, out, errOut)
		case !*v.Expect && (code != 1 || out != "" || !strings.Contains(errOut, "check failed")):
			t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want exit 1 naming the check", v.Kind, v.Name, code, out, errOut)
		}
		if v.Kind == "sign" && out != "ok pub01\n" {
			t.Errorf("%s: stdout %q", v.Name, out)
		}
	}
}

func TestVerifySignerAndLateMarker(t *testing.T) {
	var untampered, late vector
	for _, v := range loadVectors(t) {
		switch v.Name {
		case "untampered":
			untampered = v
		case "field-added-after-signing":
			late = v
		}
	}
	if code, out, _ := runCLI(untampered.frame(), append(verifyArgs(untampered), "--signer", "pub01")...); code != 0 || out != "ok pub01\n" {
		t.Errorf("--signer pub01: %d %q", code, out)
	}
	if code, _, errOut := runCLI(untampered.frame(), append(verifyArgs(untampered), "--signer", "sub01")...); code != 1 || !strings.Contains(errOut, "signer check failed") {
		t.Errorf("--signer sub01: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(late.frame(), verifyArgs(late)...); code != 1 {
		t.Errorf("late marker rejected by default: exit %d", code)
	}
	code, out, errOut := runCLI(late.frame(), append(verifyArgs(late), "--accept-late-marker")...)
	if code != 0 || out != "ok pub01\n" || !strings.Contains(errOut, "gilmsg_version") {
		t.Errorf("--accept-late-marker: %d %q %q", code, out, errOut)
	}

	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"org.fedoraproject.dev.interop.vector": ["sub01"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(untampered.frame(), append(verifyArgs(untampered), "--policy", policy)...); code != 1 || !strings.Contains(errOut, "policy check failed") {
		t.Errorf("--policy: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(untampered.frame(), append(verifyArgs(untampered), "--policy", filepath.Join(dir, "none"))...); code != 1 {
		t.Errorf("missing policy: %d %q", code, errOut)
	}
	empty := filepath.Join(dir, "empty.json")
	_ = os.WriteFile(empty, []byte(`{}`), 0o644)
	if code, _, errOut := runCLI(untampered.frame(), append(verifyArgs(untampered), "--policy", empty, "--nitpicky")...); code != 1 || !strings.Contains(errOut, "nitpicky") {
		t.Errorf("--nitpicky: %d %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	ca := filepath.Join(vectorDir, "pki", "ca.crt")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  int
	}{
		{"garbage stdin", "garbage", []string{"verify", "--ca", ca}, 2},
		{"empty stdin", "", []string{"verify", "--ca", ca}, 2},
		{"array", "[1,2]", []string{"verify", "--ca", ca}, 2},
		{"object without topic", `{"msg_id":"x"}`, []string{"verify", "--ca", ca}, 2},
		{"invalid UTF-8", "\xff\xfe", []string{"verify", "--ca", ca}, 2},
		{"garbage to sign", "{", []string{"sign", "--cert", "x", "--key", "y"}, 2},
		{"sign without key", `{"topic":"t","msg_id":"m"}`, []string{"sign"}, 2},
		{"sign with missing key", `{"topic":"t","msg_id":"m"}`, []string{"sign", "--cert", "nope.crt", "--key", "nope.key"}, 1},
		{"unsigned envelope", `{"topic":"t","msg_id":"m"}`, []string{"verify", "--ca", ca}, 1},
		{"missing CA", `{"topic":"t","msg_id":"m"}`, []string{"verify", "--ca", "nope.crt"}, 1},
		{"no command", "", nil, 2},
		{"unknown command", "", []string{"frobnicate"}, 2},
		{"unknown flag", "", []string{"list", "--frob"}, 2},
		{"missing NAME", "", []string{"issue"}, 2},
		{"extra argument", "", []string{"list", "x"}, 2},
		{"bad --at", `{"topic":"t","msg_id":"m"}`, []string{"verify", "--ca", ca, "--at", "yesterday"}, 2},
	} {
		code, _, errOut := runCLI([]byte(tc.stdin), tc.args...)
		if code != tc.want {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.name, code, tc.want, errOut)
		}
		if errOut == "" {
			t.Errorf("%s: nothing on stderr", tc.name)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, _ := runCLI(nil, args...)
		if code != 0 || !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "init-ca") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	for _, sub := range []string{"init-ca", "issue", "revoke", "crl", "list", "sign", "verify"} {
		for _, args := range [][]string{{sub, "--help"}, {"help", sub}} {
			code, out, _ := runCLI(nil, args...)
			if code != 0 || !strings.Contains(out, "Usage: ackmsg-certs "+sub) || !strings.Contains(out, "Exit codes:") {
				t.Errorf("%v: exit %d, %q", args, code, out)
			}
		}
	}
}

// TestRoundTrip drives init-ca, issue, revoke, list, sign and verify in-process, and checks the
// files with openssl when it is installed.
func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	mustRun := func(want int, stdin []byte, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(stdin, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout %s\nstderr %s", args, code, want, out, errOut)
		}
		return out
	}
	mustRun(0, nil, "init-ca", "--dir", dir, "--bits", "1024", "--cn", "test CA", "--org", "ackmsg test")
	mustRun(1, nil, "init-ca", "--dir", dir, "--bits", "1024")
	mustRun(0, nil, "issue", "pub", "--dir", dir, "--bits", "1024", "--days", "30")
	mustRun(0, nil, "issue", "sub", "--dir", dir, "--bits", "1024")
	mustRun(1, nil, "issue", "sub", "--dir", dir, "--bits", "1024")
	mustRun(0, nil, "issue", "sub", "--dir", dir, "--bits", "1024", "--force")
	mustRun(1, nil, "issue", "ca", "--dir", dir, "--bits", "1024")
	for _, f := range []string{"ca.key", "pub.key", "sub.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}

	env := []byte(`{"topic":"org.example.dev.app.thing","msg_id":"2030-abc","msg":{"n":1e16,"s":"caf\u00e9"},"i":1,"timestamp":1700000000,"username":"u"}`)
	signed := []byte(mustRun(0, env, "sign", "--dir", dir, "--name", "pub"))
	if !bytes.HasSuffix(signed, []byte("}\n")) || !bytes.Contains(signed, []byte(`"crypto":"x509"`)) ||
		!bytes.Contains(signed, []byte(`"n":1e+16`)) {
		t.Fatalf("signed output %s", signed)
	}
	signed2 := []byte(mustRun(0, env, "sign", "--cert", filepath.Join(dir, "pub.crt"), "--key", filepath.Join(dir, "pub.key")))
	if !bytes.Equal(signed, signed2) {
		t.Fatal("signing is not deterministic")
	}
	crl := filepath.Join(dir, "crl.pem")
	if out := mustRun(0, signed, "verify", "--dir", dir, "--crl", crl); out != "ok pub\n" {
		t.Fatalf("verify: %q", out)
	}
	if out := mustRun(0, signed, "verify", "--dir", dir, "--crl", crl, "--signer", "pub"); out != "ok pub\n" {
		t.Fatalf("verify --signer: %q", out)
	}
	opensslOK(t, dir, "pub", true)

	mustRun(0, nil, "revoke", "pub", "--dir", dir)
	mustRun(0, nil, "revoke", "pub", "--dir", dir) // idempotent
	mustRun(1, nil, "revoke", "nobody", "--dir", dir)
	_, _, errOut := runCLI(signed, "verify", "--dir", dir, "--crl", crl)
	if !strings.Contains(errOut, "revocation check failed") {
		t.Fatalf("revoked signer: %q", errOut)
	}
	mustRun(0, signed, "verify", "--dir", dir) // no --crl: revocation not checked
	opensslOK(t, dir, "pub", false)
	opensslOK(t, dir, "sub", true)
	mustRun(0, nil, "crl", "--dir", dir, "--crl-days", "10")
	opensslOK(t, dir, "pub", false)

	list := mustRun(0, nil, "list", "--dir", dir)
	for _, want := range []string{"NAME", "test CA", "pub ", "revoked", "sub ", "valid", "crl.pem: version 2, number 3, 1 revoked"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	mustRun(1, nil, "list", "--dir", filepath.Join(dir, "missing"))
}

// TestEd25519 issues an Ed25519 service certificate under an RSA CA, signs with it (crypto
// x509-ed25519), verifies it, and checks that --crypto x509 (fedmsg's set) rejects it.
func TestEd25519(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	mustRun := func(want int, stdin []byte, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runCLI(stdin, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout %s\nstderr %s", args, code, want, out, errOut)
		}
		return out, errOut
	}
	mustRun(0, nil, "init-ca", "--dir", dir, "--bits", "1024")
	mustRun(0, nil, "issue", "rsapub", "--dir", dir, "--bits", "1024")
	if out, _ := mustRun(0, nil, "issue", "edpub", "--dir", dir, "--key-type", "ed25519"); !strings.Contains(out, "issued edpub (ed25519,") {
		t.Errorf("issue output %q", out)
	}
	mustRun(2, nil, "issue", "x", "--dir", dir, "--key-type") // flag needs a value
	if _, errOut := mustRun(1, nil, "issue", "x", "--dir", dir, "--key-type", "dsa"); !strings.Contains(errOut, `key type "dsa"`) {
		t.Errorf("bad key type: %q", errOut)
	}
	list, _ := mustRun(0, nil, "list", "--dir", dir)
	for _, want := range []string{"KEY", "edpub", "Ed25519", "RSA-1024"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	// Each issued certificate carries a CURVE key, shown by list, whose secret is NAME.curve.
	for _, name := range []string{"rsapub", "edpub"} {
		pub, _, err := certs.LoadCurveKeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+certs.CurveKeyExt))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(list, "CURVE KEY") || !strings.Contains(list, pub.String()) {
			t.Errorf("list lacks %s's CURVE key %s:\n%s", name, pub, list)
		}
	}

	env := []byte(`{"topic":"org.example.dev.app.thing","msg_id":"2030-abc","msg":{"n":1},"i":1,"timestamp":1700000000,"username":"u"}`)
	signed, _ := mustRun(0, env, "sign", "--dir", dir, "--name", "edpub")
	if !strings.Contains(signed, `"crypto":"x509-ed25519"`) {
		t.Fatalf("signed output %s", signed)
	}
	crl := filepath.Join(dir, "crl.pem")
	if out, _ := mustRun(0, []byte(signed), "verify", "--dir", dir, "--crl", crl, "--signer", "edpub"); out != "ok edpub\n" {
		t.Fatalf("verify: %q", out)
	}
	if _, errOut := mustRun(1, []byte(signed), "verify", "--dir", dir, "--crypto", "x509"); !strings.Contains(errOut, "crypto check failed") {
		t.Fatalf("verify --crypto x509: %q", errOut)
	}
	rsaSigned, _ := mustRun(0, env, "sign", "--dir", dir, "--name", "rsapub")
	mustRun(0, []byte(rsaSigned), "verify", "--dir", dir, "--crl", crl) // same verifier, both algorithms
	// An Ed25519 certificate with an RSA key file is refused.
	mustRun(1, env, "sign", "--cert", filepath.Join(dir, "edpub.crt"), "--key", filepath.Join(dir, "rsapub.key"))
	opensslOK(t, dir, "edpub", true)
}

func opensslOK(t *testing.T, dir, name string, want bool) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Log("openssl not installed; skipping the OpenSSL cross-check")
		return
	}
	cmd := exec.Command(bin, "verify", "-CAfile", "ca.crt", "-crl_check", "-CRLfile", "crl.pem", name+".crt")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if (err == nil) != want {
		t.Errorf("openssl verify %s: %v, want ok=%v\n%s", name, err, want, out)
	}
}

// TestBinary builds the real binary and checks exit codes through os.Exit.
func TestBinary(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "ackmsg-certs")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, v := range loadVectors(t) {
		if v.Name != "untampered" && v.Name != "cert-revoked01" {
			continue
		}
		cmd := exec.Command(bin, verifyArgs(v)...)
		cmd.Stdin = bytes.NewReader(v.frame())
		out, err := cmd.Output()
		code := exitCode(err)
		if *v.Expect && (code != 0 || string(out) != "ok pub01\n") {
			t.Errorf("%s: exit %d, %q", v.Name, code, out)
		}
		if !*v.Expect && code != 1 {
			t.Errorf("%s: exit %d", v.Name, code)
		}
	}
	cmd := exec.Command(bin, "verify", "--ca", filepath.Join(vectorDir, "pki", "ca.crt"))
	cmd.Stdin = strings.NewReader("not json")
	if code := exitCode(cmd.Run()); code != 2 {
		t.Errorf("garbage stdin: exit %d, want 2", code)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

package integration

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// transportSecurity is a transport security mode as the multi-host tests see it. The tests speak
// only this interface, and assert for a mode that is not Enforced the opposite of what they
// assert for one that is: the plaintext "before" picture, which also proves that each check can
// fail. A mode's configuration keys live in its implementation alone.
type transportSecurity interface {
	// Name is how logs and failure messages call the mode.
	Name() string
	// Enforced reports whether the mode keeps message bodies off the wire in clear text and keeps
	// every identity that is not a valid certificate of the bus's CA from reading or publishing.
	Enforced() bool
	// BusLines returns the top-level configuration lines that turn the mode on for every process
	// of the bus b, each with the key material of its own certname in b.PKI.
	BusLines(b *Bus) string
	// IdentityLines returns the top-level lines (added over the bus's configuration) for a process
	// that speaks the mode with the key material of certname in the directory pki (another CA's
	// PKI, or b.PKI for a revoked certificate) and still knows how to reach the bus's servers: an
	// attacker's configuration.
	IdentityLines(b *Bus, pki, certname string) string
	// PlaintextLines returns the top-level lines for a process that does not speak the mode at all
	// (a stock fedmsg or ackmsg client).
	PlaintextLines() string
	// Refusals returns how many connections or messages the relay refused, from its log and its
	// /metrics text.
	Refusals(relayLog, metrics string) int
}

// requireSecurity skips the test when the configuration loader does not know the mode's keys
// yet (they come with the branch that builds the mode), and returns sec otherwise: the test then
// turns on by itself once the mode exists.
func requireSecurity(t *testing.T, sec transportSecurity) transportSecurity {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "security.toml")
	if err := os.WriteFile(file, []byte(sec.BusLines(&Bus{PKI: dir, Dir: dir})+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &Bus{t: t, Dir: dir, Config: file}
	_, stderr, _ := b.Run(30*time.Second, "", "ackmsg-config", "check", "--config", file)
	if strings.Contains(stderr, "key transport_security: unknown key") {
		t.Skip("needs transport_security = curve (branch i28-curve)")
	}
	return sec
}

// noSecurity is transport_security unset: plaintext ZeroMQ, wire-compatible with Python fedmsg.
type noSecurity struct{}

func (noSecurity) Name() string                              { return "none" }
func (noSecurity) Enforced() bool                            { return false }
func (noSecurity) BusLines(*Bus) string                      { return "" }
func (noSecurity) IdentityLines(*Bus, string, string) string { return "" }
func (noSecurity) PlaintextLines() string                    { return "" }
func (noSecurity) Refusals(string, string) int               { return 0 }

// curveSecurity is transport_security = "curve" (issue 28, branch i28-curve): every socket runs
// CurveZMQ with the key pair issued with each service's certificate (the public key in the
// certificate, the secret in <ssldir>/<certname>.curve); a client finds a server's key in the
// certificate curve_server_keys names for the endpoint; the relay learns a client's certificate
// name through ZAP and refuses keys no valid certificate of the CA carries.
//
// Extension point: these methods are the only place that knows the mode's settings (aligned with
// i28-curve's config/security.go); every test that uses it is written already.
type curveSecurity struct{}

func (curveSecurity) Name() string   { return "curve" }
func (curveSecurity) Enforced() bool { return true }

func (curveSecurity) BusLines(*Bus) string {
	return "transport_security = \"curve\"\n" + curveServerKeys(func(cert string) string { return cert })
}

// IdentityLines gives the attacker every advantage: its own material trusted by its own
// configuration (so its keys load), and the servers' public keys given outright (public
// knowledge), so that what refuses it is the server's handshake.
func (curveSecurity) IdentityLines(b *Bus, pki, certname string) string {
	return fmt.Sprintf("transport_security = \"curve\"\nssldir = %q\ncertname = %q\nca_cert_location = %q\ncrl_location = %q\n%s",
		pki, certname, filepath.Join(pki, "ca.crt"), filepath.Join(pki, "crl.pem"),
		curveServerKeys(func(cert string) string { return certCurveKey(b.t, filepath.Join(b.PKI, cert+".crt")) }))
}

func (curveSecurity) PlaintextLines() string { return `transport_security = "none"` }

// refusalLine is a relay log line about a refused peer: a ZAP refusal, or a handshake that failed
// before ZAP (a client without CURVE).
var refusalLine = regexp.MustCompile(`(?i)refus|handshake.*fail|denied|unauthori|not allowed`)

// Refusals counts the relay's refusal log lines (rate-limited, so a floor) and the samples of its
// metrics whose names speak of refusals; the larger of the two grows with every refusal.
func (curveSecurity) Refusals(relayLog, metrics string) int {
	logged := 0
	for _, line := range Lines(relayLog) {
		if refusalLine.MatchString(line) {
			logged++
		}
	}
	counted := 0.0
	for _, line := range Lines(metrics) {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if refusalLine.MatchString(name) {
			v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
			counted += v
		}
	}
	return max(logged, int(counted))
}

// hostsServers are the hostsBus's bound endpoints and the certificate of the process serving each.
var hostsServers = map[string]string{"relay_inbound": "relay", "relay_outbound": "relay", "sub02.host": "sub02"}

// curveServerKeys is a curve_server_keys table for hostsServers, each value given by key.
func curveServerKeys(key func(cert string) string) string {
	var kv []string
	for name, cert := range hostsServers {
		kv = append(kv, fmt.Sprintf("%q = %q", name, key(cert)))
	}
	return "curve_server_keys = { " + strings.Join(sorted(kv), ", ") + " }"
}

// curveURIPrefix starts the subjectAltName URI that carries a certificate's CURVE public key
// (64 hex digits follow).
const curveURIPrefix = "urn:ackmsg:curve:"

// certCurveKey returns the CURVE public key the certificate in path carries, in Z85.
func certCurveKey(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cert.URIs {
		if h, ok := strings.CutPrefix(u.String(), curveURIPrefix); ok {
			raw, err := hex.DecodeString(h)
			if err != nil || len(raw) != 32 {
				t.Fatalf("%s: malformed CURVE key URI %s", path, u)
			}
			return zmq.Z85encode(string(raw))
		}
	}
	t.Fatalf("%s carries no CURVE key", path)
	return ""
}

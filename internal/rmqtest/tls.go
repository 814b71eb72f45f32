package rmqtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/internal/freeport"
)

// TLS is what [NewTLSNode] sets the node's TLS listener up with: PEM files, made for example
// by the certs package or ackmsg-certs.
type TLS struct {
	// CAFile is the CA the clients' certificates must chain to (and whose CRL is CRLFile).
	CAFile string
	// CertFile and KeyFile are the node's server certificate (with the host the clients dial in
	// its subjectAltName) and key.
	CertFile, KeyFile string
	// CRLFile, when set, is the CA's CRL: the node refuses revoked client certificates.
	CRLFile string
	// Users are created (with a random password and every permission on vhost "/") so that
	// clients whose certificate has that CN log in with EXTERNAL.
	Users []string
}

// TLSNode is a RabbitMQ node with a TLS listener that requires a client certificate
// (verify_peer, fail_if_no_peer_cert) and offers the EXTERNAL mechanism (plugin
// rabbitmq_auth_mechanism_ssl; the user is the certificate's CN), next to a plaintext listener
// for the test's own administration. It is started for one test and stopped when it ends.
type TLSNode struct {
	nd      *node
	dir     string
	TLSPort int
}

// NewTLSNode starts a node with a TLS listener and returns once it accepts connections.
// Without RabbitMQ the test is skipped with the reason (failed under CI=true); without openssl
// (which names the CRL file as Erlang's CRL directory wants it) it fails.
func NewTLSNode(t testing.TB, cfg TLS) *TLSNode {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ: %v (CI must run these tests)", err)
		}
		t.Skipf("RabbitMQ not available: %v", err)
	}
	dir, err := os.MkdirTemp("", "ackmsg-rmqtls")
	if err != nil {
		t.Fatal(err)
	}
	n := &TLSNode{dir: dir}
	t.Cleanup(n.stop)
	ports, err := freeport.PickN(4)
	if err != nil {
		t.Fatal(err)
	}
	n.TLSPort = ports[3]
	opts := []string{
		fmt.Sprintf("{cacertfile, %q}", cfg.CAFile), fmt.Sprintf("{certfile, %q}", cfg.CertFile),
		fmt.Sprintf("{keyfile, %q}", cfg.KeyFile), "{verify, verify_peer}", "{fail_if_no_peer_cert, true}",
	}
	if cfg.CRLFile != "" {
		// Erlang's CRL directory, as OpenSSL's: <hash of the issuer's name>.r0.
		crlDir := filepath.Join(dir, "crl")
		if err := os.MkdirAll(crlDir, 0o700); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("openssl", "crl", "-hash", "-noout", "-in", cfg.CRLFile).Output()
		if err != nil {
			t.Fatalf("rmqtest: openssl crl -hash %s: %v", cfg.CRLFile, err)
		}
		data, err := os.ReadFile(cfg.CRLFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crlDir, strings.TrimSpace(string(out))+".r0"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		opts = append(opts, "{crl_check, peer}", fmt.Sprintf("{crl_cache, {ssl_crl_hash_dir, {internal, [{dir, %q}]}}}", crlDir))
	}
	advanced := fmt.Sprintf(`[{rabbit, [
  {ssl_listeners, [{"127.0.0.1", %d}]},
  {ssl_options, [%s]},
  {auth_mechanisms, ['PLAIN', 'AMQPLAIN', 'EXTERNAL']},
  {ssl_cert_login_from, common_name}
]}].
`, n.TLSPort, strings.Join(opts, ", "))
	nd, err := setup(nodeSpec{dir: filepath.Join(dir, "node"), name: fmt.Sprintf("ackmsg-tls-%d-%d@localhost", os.Getpid(), clusters.next()),
		cookie: "ACKMSGTLS" + randomHex(t), amqpPort: ports[0], distPort: ports[1], epmd: ports[2],
		plugins: []string{"rabbitmq_auth_mechanism_ssl"}, advanced: advanced})
	if err != nil {
		t.Fatal(err)
	}
	n.nd = nd
	if err := nd.launch(); err != nil {
		t.Fatalf("rmqtest: TLS node: %v", err)
	}
	for _, u := range cfg.Users {
		if _, err := nd.ctl("rabbitmqctl", "add_user", u, randomHex(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := nd.ctl("rabbitmqctl", "set_permissions", "-p", "/", u, ".*", ".*", ".*"); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// URL is the plaintext listener's URL (user guest), for the test's own administration.
func (n *TLSNode) URL() string { return n.nd.url() }

// TLSURL is the TLS listener's amqps:// URL with host (which the server certificate must name)
// and no user: the client logs in with EXTERNAL, or adds a user and password.
func (n *TLSNode) TLSURL(host string) string { return fmt.Sprintf("amqps://%s:%d/", host, n.TLSPort) }

func (n *TLSNode) stop() {
	if n.nd != nil {
		n.nd.stop()
		killEpmd(n.nd.epmd)
	}
	os.RemoveAll(n.dir)
}

func randomHex(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

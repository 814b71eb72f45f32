package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/internal/testbus"
)

// TestDepsInstallsEverySuitesServer runs scripts/deps.sh (what make deps and .ci/run run) on a
// machine where nothing is installed: it must name libzmq and every server a test kit starts
// (PostgreSQL for internal/pgtest, RabbitMQ for internal/rmqtest) and iproute2 (the multi-host
// tests' network namespaces) and chromium (the web view's browser test), or a user's make test
// would skip those suites where CI runs them.
// --build names only what compiling needs.
func TestDepsInstallsEverySuitesServer(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir() // a PATH with bash alone: pkg-config, openssl, curl, python3 are missing
	if err := os.Symlink(bash, filepath.Join(bin, "bash")); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(testbus.RepoRoot(), "scripts", "deps.sh")
	run := func(args ...string) string {
		cmd := exec.Command(bash, append([]string{script, "--dry-run"}, args...)...)
		cmd.Env = []string{"PATH=" + bin, "DEPS_ROOT=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("deps.sh --dry-run %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	all := run()
	for _, pkg := range []string{"pkg-config", "libzmq3-dev", "postgresql", "rabbitmq-server", "python3", "openssl", "curl", "iproute2", "chromium"} {
		if !strings.Contains(" "+strings.TrimSpace(all)+" ", " "+pkg+" ") {
			t.Errorf("deps.sh on an empty machine does not install %s:\n%s", pkg, all)
		}
	}
	build := run("--build")
	if strings.Contains(build, "postgresql") || !strings.Contains(build, "libzmq3-dev") {
		t.Errorf("deps.sh --build should install libzmq3-dev only:\n%s", build)
	}
}

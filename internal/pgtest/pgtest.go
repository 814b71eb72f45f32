// Package pgtest starts a throwaway PostgreSQL server for tests: initdb in a temporary
// directory, postgres on a free loopback port, fsync on, one server per test binary and a fresh
// database per test. PostgreSQL refuses to run as root; as root the server runs as the system
// user ackmsg-pgtest, created when missing. Without PostgreSQL the tests skip, saying why,
// except under CI=true, where they fail: CI must not skip them.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/internal/child"
	"github.com/ackmsg/ackmsg/internal/freeport"
)

// User is the system user the server runs as when the tests run as root.
const User = "ackmsg-pgtest"

type server struct {
	dir    string
	port   int
	proc   *os.Process
	exited <-chan error
	err    error
}

var (
	once sync.Once
	srv  server
	dbs  atomic.Int64
)

// BinDir finds PostgreSQL's server binaries (Debian keeps them off PATH).
func BinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := string(out[:len(out)-1])
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found: install the Debian package postgresql")
}

// Main runs the tests and then stops the server, if one was started. Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the shared server and removes its directory; a later Start or NewDatabase starts a
// new one. It must not run while a Start or NewDatabase does.
func Stop() {
	defer func() { once, srv = sync.Once{}, server{} }()
	if srv.proc == nil {
		return
	}
	srv.proc.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-srv.exited:
	case <-time.After(20 * time.Second):
		srv.proc.Kill()
		<-srv.exited
	}
	os.RemoveAll(srv.dir)
	srv.proc = nil
}

// Start returns the DSN of a fresh, empty database on the shared server, starting the server on
// first use.
func Start(t testing.TB) string {
	t.Helper()
	d, err := NewDatabase()
	if errors.Is(err, errUnavailable) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL: %v (CI must run these tests)", err)
		}
		t.Skipf("PostgreSQL not available: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var errUnavailable = errors.New("no PostgreSQL server")

// NewDatabase is Start for programs that are not tests (the benchmarks): the DSN of a fresh
// database on the shared server, started on first use; call Stop when done.
func NewDatabase() (string, error) {
	once.Do(func() { srv.err = start() })
	if srv.err != nil {
		return "", fmt.Errorf("%w: %v", errUnavailable, srv.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return dsn(name), nil
}

func dsn(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", dbUser(), srv.port, db)
}

func dbUser() string {
	if os.Geteuid() == 0 {
		return User
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "postgres"
}

// runAs is who the server runs as: nil (this process's user) unless that is root, which
// PostgreSQL refuses; then the system user User (created when missing), owning dir.
func runAs(dir string) (*syscall.Credential, error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if _, err := user.Lookup(User); err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", User).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("creating the user %s to run PostgreSQL as (it refuses root): %v: %s", User, err, out)
			}
		}
		u, err := user.Lookup(User)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	return cred, nil
}

func start() error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ackmsg-pgtest")
	if err != nil {
		return err
	}
	srv.dir = dir
	cred, err := runAs(dir)
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", dbUser(), "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freeport.Pick() // below the ephemeral range: postgres binds it a moment later
	if err != nil {
		return err
	}
	srv.port = port
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=on", "-c", "max_connections=100")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return err
	}
	if cred != nil {
		os.Chown(logf.Name(), int(cred.Uid), int(cred.Gid))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// From a thread that lives as long as the server: Pdeathsig fires when the forking
	// thread ends (see package child).
	exited, err := child.Start(cmd)
	if err != nil {
		return err
	}
	srv.proc, srv.exited = cmd.Process, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, dsn("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case werr := <-srv.exited:
			log, _ := os.ReadFile(logf.Name())
			srv.proc = nil
			return fmt.Errorf("postgres exited (%v): %s", werr, log)
		case <-time.After(50 * time.Millisecond): // polling for readiness: connect until it answers
		}
		if time.Now().After(deadline) {
			Stop()
			return fmt.Errorf("postgres did not accept connections within 30 s")
		}
	}
}

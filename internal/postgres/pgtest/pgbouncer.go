//go:build unix

package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PgBouncer is a PgBouncer in transaction mode, on a loopback port, in front
// of the server the tests use, started for one test and stopped after it. In
// transaction mode it hands each transaction, and each statement outside one,
// to whichever of its server sessions is free: what a client leaves in a
// session (a prepared statement, a session lock, a SET) is not there for its
// next transaction. The managed services users put in front of PostgreSQL
// (Supabase, Neon) pool the same way.
type PgBouncer struct {
	port int
	dir  string
}

// pgbouncerPaths are where PgBouncer is looked for besides PATH: Debian puts
// it in /usr/sbin, which an unprivileged PATH often lacks.
var pgbouncerPaths = []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer", "/opt/homebrew/bin/pgbouncer"}

func findPgBouncer() string {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	for _, p := range pgbouncerPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// StartPgBouncer starts a PgBouncer for this test. Without the program the
// test is skipped, saying so; but not in CI (CI=true), which installs it
// (.ci/run): there the test fails.
func StartPgBouncer(t testing.TB) *PgBouncer {
	t.Helper()
	mustAdmin(t)
	bin := findPgBouncer()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgtest: pgbouncer is not installed, and CI=true needs it for the tests through a connection pooler: apt-get install pgbouncer (.ci/run installs it)")
		}
		t.Skip("pgtest: pgbouncer is not installed (apt-get install pgbouncer, brew install pgbouncer): skipping a test through a connection pooler")
	}
	server, err := pgconn.ParseConfig(adminURL)
	if err != nil {
		t.Fatalf("pgtest: pgbouncer: the test server's connection string: %v", err)
	}
	if strings.ContainsAny(server.Host+server.User+server.Password, " '\"\\") {
		t.Fatalf("pgtest: pgbouncer: the test server's host, user or password holds a character this helper does not quote")
	}
	uid, gid, err := pgbouncerAccount()
	if err != nil {
		t.Fatalf("pgtest: pgbouncer: %v", err)
	}
	dir, err := TempStateDir("angelad-pgbouncer-")
	if err != nil {
		t.Fatalf("pgtest: pgbouncer: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			t.Fatalf("pgtest: pgbouncer: %v", err)
		}
	}
	users := fmt.Sprintf("%q %q\n", server.User, server.Password)
	if err := writeOwned(filepath.Join(dir, "users.txt"), users, uid, gid); err != nil {
		t.Fatalf("pgtest: pgbouncer: %v", err)
	}
	// A port that is free now may be taken before PgBouncer binds it: then
	// it exits at once, and another port is tried.
	for attempt := 1; ; attempt++ {
		b := &PgBouncer{port: freePort(t), dir: dir}
		err := b.start(t, bin, server, uid, gid)
		if err == nil {
			return b
		}
		if attempt == 5 || !errors.Is(err, errAddrInUse) {
			t.Fatalf("pgtest: pgbouncer: %v", err)
		}
	}
}

var errAddrInUse = errors.New("the port was taken")

// start writes the configuration and starts PgBouncer in the foreground as
// an unprivileged user, as the cluster's server runs, and waits until it
// listens.
func (b *PgBouncer) start(t testing.TB, bin string, server *pgconn.Config, uid, gid uint32) error {
	t.Helper()
	target := fmt.Sprintf("host=%s port=%d", server.Host, server.Port)
	if server.Password != "" {
		target += " password=" + server.Password
	}
	logFile := filepath.Join(b.dir, "pgbouncer.log")
	ini := fmt.Sprintf(`[databases]
* = %s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
logfile = %s
`, target, b.port, filepath.Join(b.dir, "users.txt"), logFile)
	iniFile := filepath.Join(b.dir, "pgbouncer.ini")
	if err := writeOwned(iniFile, ini, uid, gid); err != nil {
		return err
	}
	cmd := exec.Command(bin, "-q", iniFile)
	cmd.Dir = b.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	exited := make(chan error, 1)
	started := make(chan error, 1)
	go func() {
		// The kernel kills PgBouncer when this thread ends (dieWithTest), so
		// that a test binary killed on a timeout leaves no PgBouncer behind:
		// the thread is kept until PgBouncer has exited.
		runtime.LockOSThread()
		dieWithTest(cmd.SysProcAttr)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logFile)
			if bytes.Contains(log, []byte("Address already in use")) {
				return errAddrInUse
			}
			return fmt.Errorf("pgbouncer exited at start (%v): %s%s", err, stderr.String(), log)
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("pgbouncer did not listen on 127.0.0.1:%d within 30s", b.port)
		case <-tick.C:
		}
		c, err := net.DialTimeout("tcp", b.addr(), time.Second)
		if err != nil {
			continue
		}
		c.Close()
		break
	}
	t.Cleanup(func() {
		// SIGTERM is PgBouncer's immediate shutdown.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			if log, err := os.ReadFile(logFile); err == nil {
				t.Logf("pgbouncer log:\n%s", tail(string(log), 40))
			}
		}
	})
	return nil
}

func (b *PgBouncer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// URL returns a connection string to the database connString names, through
// the pooler, as the user connString names.
func (b *PgBouncer) URL(t testing.TB, connString string) string {
	t.Helper()
	c, err := pgconn.ParseConfig(connString)
	if err != nil {
		t.Fatalf("pgtest: pgbouncer URL: %v", err)
	}
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", b.port, c.User, c.Database)
}

// DB is pgtest.DB through the pooler: a fresh, migrated database for this
// test, and its connection string through PgBouncer.
func (b *PgBouncer) DB(t testing.TB) string {
	t.Helper()
	return b.URL(t, DB(t))
}

// pgbouncerAccount is the user PgBouncer runs as when the tests run as root
// (PgBouncer refuses to run as root): the owner of the throwaway cluster, who
// may enter its socket directory; "nobody" for a server of
// ANGELA_TEST_DATABASE_URL, reached over TCP.
func pgbouncerAccount() (uid, gid uint32, err error) {
	if os.Geteuid() != 0 {
		return uint32(os.Getuid()), uint32(os.Getgid()), nil
	}
	if cluster != nil {
		fi, err := os.Stat(cluster.DataDir())
		if err != nil {
			return 0, 0, err
		}
		st := fi.Sys().(*syscall.Stat_t)
		return st.Uid, st.Gid, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return 0, 0, err
	}
	id, _ := strconv.ParseUint(u.Uid, 10, 32)
	g, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(id), uint32(g), nil
}

// writeOwned writes a file that the PgBouncer user can read.
func writeOwned(path, data string, uid, gid uint32) error {
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		return os.Chown(path, int(uid), int(gid))
	}
	return nil
}

// freePort returns a loopback TCP port that nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: pgbouncer: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// managedCLI runs the binary on the managed cluster of a fresh state directory,
// and stops that cluster when the test ends.
func managedCLI(t *testing.T) (*cli, *managed.Cluster) {
	t.Helper()
	dir := pgtest.StateDir(t)
	cluster := managed.New(managed.Options{StateDir: dir})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	c := newCLI(t, "").with("ANGELA_STATE_DIR=" + dir)
	return c, cluster
}

func TestOneShotCreatesStartsAndLeavesTheManagedClusterRunning(t *testing.T) {
	t.Parallel()
	c, cluster := managedCLI(t)
	id := strings.TrimSpace(c.ok("save-emotion", "--emotion", "curious", "--intensity", "6", "--context", "first memory"))
	ctx := context.Background()
	if !cluster.Running(ctx) {
		t.Fatal("the cluster a one-shot command started is not running after it exited")
	}
	if out := c.ok("get-emotions", "--json"); !strings.Contains(out, id) {
		t.Errorf("get-emotions does not show %s: %s", id, out)
	}
	// Stopped behind its back, the next command starts it again; nothing is lost.
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("get-emotions", "--json"); !strings.Contains(out, id) {
		t.Errorf("after a restart get-emotions does not show %s: %s", id, out)
	}
	// No TCP: the server listens on its Unix socket only.
	if out := c.ok("query", "SELECT current_setting('listen_addresses') AS l"); strings.Contains(out, "*") || strings.Contains(out, "localhost") {
		t.Errorf("listen_addresses: %s", out)
	}
}

func TestSaveRightAfterThePostmasterWasKilledSucceeds(t *testing.T) {
	t.Parallel()
	c, cluster := managedCLI(t)
	c.ok("save-emotion", "--emotion", "calm", "--intensity", "4", "--context", "before the crash")
	pid := pgtest.PostmasterPID(t, cluster)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// At once: the dead postmaster is a zombie until its new parent reaps it,
	// and its children are still exiting.
	id := strings.TrimSpace(c.ok("save-emotion", "--emotion", "relieved", "--intensity", "6", "--context", "after the crash"))
	if got := pgtest.PostmasterPID(t, cluster); got == pid {
		t.Errorf("postmaster.pid still names the killed pid %d", pid)
	}
	if out := c.ok("get-emotions", "--json"); !strings.Contains(out, id) || !strings.Contains(out, "before the crash") {
		t.Errorf("get-emotions after the crash lacks a save:\n%s", out)
	}
}

func TestStatusSeesADeadManagedServerAtOnceAndTheRestartRightAfter(t *testing.T) {
	t.Parallel()
	// A long period: status must not wait for the daemon's next check.
	c, cluster := managedCLI(t)
	c = c.with("ANGELA_POOL_HEALTH_CHECK_PERIOD=20s")
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"ready"`)
	awaitStatus(t, c, "a healthy daemon", func(r result) bool { return r.code == 0 })
	pid := pgtest.PostmasterPID(t, cluster)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := awaitStatus(t, c, "the dead server", func(r result) bool { return r.code == 1 })
	if !strings.Contains(r.stdout, "the managed PostgreSQL is not running") {
		t.Errorf("status after kill -9 of the server does not say so:\n%s", r.stdout)
	}
	d.waitFor(t, `"msg":"restarted the managed PostgreSQL"`)
	// The monitor checks again at once: recovery shows well before the
	// next check, a period away.
	testkit.WaitWithin(t, 10*time.Second, "status to be healthy within half a period of the restart", func() error {
		if r := c.run("", "status", "--json"); r.code != 0 {
			return fmt.Errorf("exit %d\n%s", r.code, r.stdout)
		}
		return nil
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, d.log())
	}
}

func TestCommandKilledDuringTheFirstInitdbLeavesNothingInTheWay(t *testing.T) {
	t.Parallel()
	c, cluster := managedCLI(t)
	dir := filepath.Dir(cluster.DataDir())
	cmd := exec.Command(binary, "save-emotion", "--emotion", "nervous", "--intensity", "5", "--context", "killed mid-initdb")
	cmd.Env = c.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// initdb has begun to fill its directory: the bootstrap is running.
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if dirs, _ := filepath.Glob(filepath.Join(dir, "postgres.initdb*", "global")); len(dirs) > 0 {
			break
		}
		select {
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("initdb did not start within 2 minutes")
		case <-tick.C:
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	// --no-spool: this save must reach the database (the cluster is made and
	// started again first, which takes long on a loaded machine), not the spool.
	id := strings.TrimSpace(c.ok("save-emotion", "--no-spool", "--save-timeout", "5m",
		"--emotion", "calm", "--intensity", "3", "--context", "the next command"))
	if out := c.ok("get-emotions", "--json"); !strings.Contains(out, id) {
		t.Errorf("get-emotions lacks %s:\n%s", id, out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "postgres.initdb*")); len(left) > 0 {
		t.Errorf("the interrupted initdb's directory is still there: %v", left)
	}
}

func TestNoServerBinariesIsOneLineNamingBothFixes(t *testing.T) {
	t.Parallel()
	c, _ := managedCLI(t)
	c = c.with("ANGELA_POSTGRES_BIN_DIR=" + t.TempDir())
	r := c.fails(1, "install the PostgreSQL server", "get-emotions")
	if !strings.Contains(r.stderr, "ANGELA_DATABASE_URL") {
		t.Errorf("the error does not name ANGELA_DATABASE_URL: %s", r.stderr)
	}
}

// daemonProc is a running `angelad run`.
type daemonProc struct {
	cmd    *exec.Cmd
	lines  chan string
	read   chan struct{} // closed when all of the daemon's stderr has been read
	mu     sync.Mutex
	stderr []string
}

func startDaemon(t *testing.T, c *cli, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"run"}, args...)...)
	cmd.Env = c.env
	// A pipe of our own rather than StderrPipe, whose reading end Wait closes
	// while the last lines may still be unread.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, lines: make(chan string, 1000), read: make(chan struct{})}
	go d.readLog(r)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return d
}

// readLog reads the daemon's stderr until every writer has closed it.
func (d *daemonProc) readLog(r io.ReadCloser) {
	defer close(d.read)
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		d.mu.Lock()
		d.stderr = append(d.stderr, sc.Text())
		d.mu.Unlock()
		select {
		case d.lines <- sc.Text():
		default: // nobody waits for lines this far ahead; the log keeps them
		}
	}
	close(d.lines)
}

func (d *daemonProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.stderr, "\n")
}

// waitFor waits until the daemon logs a line containing s.
func (d *daemonProc) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("the daemon exited before logging %q:\n%s", s, d.log())
			}
			if strings.Contains(line, s) {
				return
			}
		case <-deadline:
			t.Fatalf("the daemon did not log %q:\n%s", s, d.log())
		}
	}
}

// stop signals the daemon and returns its exit code once it has exited and
// all it logged has been read.
func (d *daemonProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	deadline := time.After(time.Minute)
	var err error
	select {
	case err = <-done:
	case <-deadline:
		t.Fatalf("the daemon did not exit after %v:\n%s", sig, d.log())
	}
	select {
	case <-d.read:
	case <-deadline:
		t.Fatalf("the daemon's stderr was not closed after it exited:\n%s", d.log())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestRunStartsTheManagedClusterAndStopsItOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c, cluster := managedCLI(t)
			d := startDaemon(t, c)
			d.waitFor(t, `"msg":"ready"`)
			if !strings.Contains(d.log(), filepath.Join(cluster.SocketDir())) {
				t.Errorf("the ready line does not say where the database is:\n%s", d.log())
			}
			// The daemon and one-shot commands share the cluster.
			c.ok("save-conversation", "--speaker", "david", "--message", "while the daemon runs")
			if code := d.stop(t, sig); code != 0 {
				t.Errorf("exit code %d after %v, want 0:\n%s", code, sig, d.log())
			}
			if cluster.Running(context.Background()) {
				t.Errorf("the cluster the daemon started still runs after it stopped")
			}
			for _, want := range []string{"closed the database pool", "stopped the managed PostgreSQL"} {
				if !strings.Contains(d.log(), want) {
					t.Errorf("the log lacks %q:\n%s", want, d.log())
				}
			}
		})
	}
}

func TestRunCreatesAStateDirThatDoesNotExistYet(t *testing.T) {
	t.Parallel()
	// As root (as CI runs) this is the case where the daemon, not the
	// cluster, creates the directory the unprivileged cluster user must enter.
	dir := filepath.Join(pgtest.StateDir(t), "new", "state")
	cluster := managed.New(managed.Options{StateDir: dir})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster.Stop(ctx)
	})
	c := newCLI(t, "").with("ANGELA_STATE_DIR=" + dir)
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"ready"`)
	// Passable by the cluster's user as root, private otherwise.
	want := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		want = 0o711
	}
	if m := mode(t, dir); m != want {
		t.Errorf("the state directory has mode %04o, want %04o", m, want)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d:\n%s", code, d.log())
	}
}

func TestRunLeavesAClusterItDidNotStartRunning(t *testing.T) {
	t.Parallel()
	c, cluster := managedCLI(t)
	c.ok("migrate") // a one-shot command starts the cluster
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"ready"`)
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d:\n%s", code, d.log())
	}
	if !cluster.Running(context.Background()) {
		t.Error("the daemon stopped a cluster it had not started")
	}
}

func TestDaemonAndOneShotStartingTogetherShareOneCluster(t *testing.T) {
	t.Parallel()
	c, cluster := managedCLI(t)
	d := startDaemon(t, c)
	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.run("", "save-emotion", "--emotion", "calm", "--intensity", "3", "--context", "racing the daemon")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("one-shot %d racing the daemon: exit %d: %s", i, r.code, r.stderr)
		}
	}
	d.waitFor(t, `"msg":"ready"`)
	if out := c.ok("get-emotions", "--json"); strings.Count(out, "racing the daemon") != 3 {
		t.Errorf("want 3 emotions, got %s", out)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d:\n%s", code, d.log())
	}
	_ = cluster
}

func TestRunLogsAFailedStopOfTheClusterOnce(t *testing.T) {
	t.Parallel()
	c, cluster := managedCLI(t)
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"ready"`)
	// pg_ctl, running as the server's user, can no longer read the pid file.
	pidFile := filepath.Join(cluster.DataDir(), "postmaster.pid")
	if err := os.Chmod(pidFile, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(pidFile, 0o600) }) // before the cluster's cleanup stops it
	if code := d.stop(t, syscall.SIGTERM); code != 1 {
		t.Errorf("exit code %d after a failed stop, want 1:\n%s", code, d.log())
	}
	if n := strings.Count(d.log(), "could not open PID file"); n != 1 {
		t.Errorf("the failed stop appears %d times in the log, want once:\n%s", n, d.log())
	}
}

func TestRunExits1OnAnErrorNoRetryCanFix(t *testing.T) {
	t.Parallel()
	c, _ := managedCLI(t)
	c = c.with("ANGELA_POSTGRES_BIN_DIR=" + t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run")
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("run without server binaries: %v, want exit 1 (not a retry loop)\n%s", err, out)
	}
	if !strings.Contains(string(out), "install the PostgreSQL server") || strings.Contains(string(out), "retrying") {
		t.Errorf("run without server binaries logged:\n%s", out)
	}
}

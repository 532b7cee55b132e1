//go:build unix

package managed_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// The helper process (TestClusterHelperProcess) is this test binary run again:
// it starts the cluster in helperDirEnv as a separate process would.
const (
	helperDirEnv    = "ANGELAD_CLUSTER_HELPER_DIR"
	helperRunAsEnv  = "ANGELAD_CLUSTER_HELPER_RUNAS"
	helperBinDirEnv = "ANGELAD_CLUSTER_HELPER_BINDIR" // postgres.bin_dir, if set
)

func clusterContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newTestCluster returns a cluster in a fresh state directory that the
// cluster's user can traverse even when the tests run as root. The cluster is
// stopped and its directory removed when the test ends.
func newTestCluster(t *testing.T, prefix string, opts managed.Options) *managed.Cluster {
	t.Helper()
	dir, err := pgtest.TempStateDir(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	opts.StateDir = dir
	c := managed.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return c
}

func mustStart(t *testing.T, ctx context.Context, c *managed.Cluster, wantStarted bool) {
	t.Helper()
	started, err := c.Start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if started != wantStarted {
		t.Fatalf("Start: started = %t, want %t", started, wantStarted)
	}
}

func assertOneLine(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	t.Logf("error: %v", err)
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	ctx := clusterContext(t)
	// Not Fast: the settings a real user gets. The space in the path checks the
	// quoting of the socket directory everywhere it is written.
	c := newTestCluster(t, "angelad cluster-", managed.Options{})

	mustStart(t, ctx, c, true)
	if !c.Running(ctx) {
		t.Fatal("Running = false after Start")
	}

	conn, err := pgx.Connect(ctx, c.ConnString(managed.Database))
	if err != nil {
		t.Fatal(err)
	}
	var db, usr, encoding, ctype, listen string
	err = conn.QueryRow(ctx, `select current_database(), current_user, pg_encoding_to_char(encoding), datctype
		from pg_database where datname = current_database()`).Scan(&db, &usr, &encoding, &ctype)
	if err != nil {
		t.Fatal(err)
	}
	if db != managed.Database || usr != managed.User || encoding != "UTF8" {
		t.Errorf("database %q user %q encoding %q, want %q %q UTF8", db, usr, encoding, managed.Database, managed.User)
	}
	if ctype != "C.UTF-8" && ctype != "C" {
		t.Errorf("ctype = %q, want C.UTF-8 or C", ctype)
	}
	if err := conn.QueryRow(ctx, "show listen_addresses").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	if listen != "" {
		t.Errorf("listen_addresses = %q, want ''", listen)
	}
	const text = "สวัสดี Angela, วันนี้รู้สึกดีมาก"
	if _, err := conn.Exec(ctx, "create table kept (t text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "insert into kept values ($1)", text); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	checkOwnership(t, c)
	checkNoTCPListener(t, c)

	t.Run("second Start reuses the running server", func(t *testing.T) {
		mustStart(t, ctx, c, false)
		// As another process would: a new value on the same state directory.
		mustStart(t, ctx, managed.New(managed.Options{StateDir: filepath.Dir(c.DataDir())}), false)
	})

	t.Run("Start repairs a running server that lacks the database", func(t *testing.T) {
		// As if the process that started the server died before it created the
		// database: it never recorded the server as checked either.
		if err := os.Remove(filepath.Join(filepath.Dir(c.DataDir()), "cluster.verified")); err != nil {
			t.Fatal(err)
		}
		admin, err := pgx.Connect(ctx, c.ConnString("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "create database spare template "+managed.Database); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, "drop database "+managed.Database); err != nil {
			t.Fatal(err)
		}
		mustStart(t, ctx, c, false)
		conn, err := pgx.Connect(ctx, c.ConnString(managed.Database))
		if err != nil {
			t.Fatalf("after Start: %v", err)
		}
		conn.Close(ctx)
		// Put the data back for the next subtest.
		if _, err := admin.Exec(ctx, "drop database "+managed.Database); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, "alter database spare rename to "+managed.Database); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Stop then Start keeps the data and a week of logs", func(t *testing.T) {
		if err := c.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if c.Running(ctx) {
			t.Fatal("Running = true after Stop")
		}
		if err := c.Stop(ctx); err != nil {
			t.Fatalf("Stop when stopped: %v", err)
		}
		old := time.Now().Add(-8 * 24 * time.Hour)
		logs := map[string]bool{"postgresql-Old.log": false, "postgresql-New.log": true, "notes.txt": true} // name: kept
		for name := range logs {
			path := filepath.Join(c.LogDir(), name)
			if err := os.WriteFile(path, []byte("x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if name != "postgresql-New.log" {
				if err := os.Chtimes(path, old, old); err != nil {
					t.Fatal(err)
				}
			}
		}
		mustStart(t, ctx, c, true)
		for name, kept := range logs {
			if _, err := os.Stat(filepath.Join(c.LogDir(), name)); (err == nil) != kept {
				t.Errorf("log %s: kept = %t, want %t", name, err == nil, kept)
			}
		}
		conn, err := pgx.Connect(ctx, c.ConnString(managed.Database))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var got string
		if err := conn.QueryRow(ctx, "select t from kept").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != text {
			t.Errorf("kept text = %q, want %q", got, text)
		}
	})
}

// checkOwnership checks that the socket directory is 0700 and, when the tests
// run as root, that the cluster belongs to the unprivileged default user.
func checkOwnership(t *testing.T, c *managed.Cluster) {
	t.Helper()
	fi, err := os.Stat(c.SocketDir())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("socket directory mode %04o, want 0700", perm)
	}
	sockOwner := fi.Sys().(*syscall.Stat_t).Uid
	di, err := os.Stat(c.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	dataOwner := di.Sys().(*syscall.Stat_t).Uid
	if sockOwner != dataOwner {
		t.Errorf("socket directory owned by uid %d, data directory by %d", sockOwner, dataOwner)
	}
	if os.Geteuid() != 0 {
		if dataOwner != uint32(os.Geteuid()) {
			t.Errorf("data directory owned by uid %d, want the current user %d", dataOwner, os.Geteuid())
		}
		return
	}
	want := "nobody"
	if _, err := user.Lookup("postgres"); err == nil {
		want = "postgres"
	}
	u, err := user.Lookup(want)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.FormatUint(uint64(dataOwner), 10) != u.Uid {
		t.Errorf("running as root: data directory owned by uid %d, want %s (%s)", dataOwner, want, u.Uid)
	}
}

// checkNoTCPListener checks that the postmaster holds no listening TCP socket.
func checkNoTCPListener(t *testing.T, c *managed.Cluster) {
	t.Helper()
	listening := map[string]bool{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Logf("no %s: cannot check for TCP listeners here", name)
			return
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" { // TCP_LISTEN
				listening[f[9]] = true
			}
		}
	}
	pid := pgtest.PostmasterPID(t, c)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	sockets := 0
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		inode, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		sockets++
		if listening[strings.TrimSuffix(inode, "]")] {
			t.Errorf("the postmaster (pid %d) listens on TCP", pid)
		}
	}
	if sockets == 0 {
		t.Errorf("the postmaster (pid %d) holds no socket at all: is this the right process?", pid)
	}
}

func TestConcurrentStartStartsOnce(t *testing.T) {
	t.Parallel()
	ctx := clusterContext(t)
	opts := managed.Options{Fast: true}
	if os.Geteuid() == 0 {
		opts.RunAs = "nobody" // the configured user, not the default one
	}
	c := newTestCluster(t, "angelad-concurrent-", opts)
	dir := filepath.Dir(c.DataDir())

	// Two other processes and two goroutines, all let go at once.
	const procs, goroutines = 2, 2
	helpers := make([]*helperProcess, procs)
	for i := range helpers {
		helpers[i] = startHelper(t, dir, opts.RunAs)
	}
	results := make(chan string, procs+goroutines)
	var wg sync.WaitGroup
	for _, h := range helpers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- h.run()
		}()
	}
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started, err := managed.New(managed.Options{StateDir: dir, RunAs: opts.RunAs, Fast: true}).Start(ctx)
			if err != nil {
				results <- "error=" + err.Error()
				return
			}
			results <- fmt.Sprintf("started=%t", started)
		}()
	}
	wg.Wait()
	close(results)
	startedCount := 0
	for r := range results {
		switch r {
		case "started=true":
			startedCount++
		case "started=false":
		default:
			t.Errorf("a concurrent Start: %s", r)
		}
	}
	if startedCount != 1 {
		t.Errorf("%d of the concurrent Starts started the server, want exactly 1", startedCount)
	}
	if !c.Running(ctx) {
		t.Fatal("not running after the concurrent Starts")
	}
	if opts.RunAs != "" {
		u, err := user.Lookup(opts.RunAs)
		if err != nil {
			t.Fatal(err)
		}
		di, err := os.Stat(c.DataDir())
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.FormatUint(uint64(di.Sys().(*syscall.Stat_t).Uid), 10); got != u.Uid {
			t.Errorf("data directory owned by uid %s, want %s (%s)", got, opts.RunAs, u.Uid)
		}
	}
}

// TestServerOutlivesStarterAndRecoversFromCrash is not parallel: while it
// adopts orphans (see adoptOrphans) every process orphaned in this test
// process becomes its child, and the postmasters of parallel tests, started
// through pg_ctl, would be adopted and left as zombies that nobody reaps.
func TestServerOutlivesStarterAndRecoversFromCrash(t *testing.T) {
	ctx := clusterContext(t)
	c := newTestCluster(t, "angelad-crash-", managed.Options{Fast: true})

	// Another process starts the server and exits; the server stays.
	helper := startHelper(t, filepath.Dir(c.DataDir()), "")
	stopAdopting := adoptOrphans(t)
	got := helper.run()
	stopAdopting()
	if got != "started=true" {
		t.Fatalf("helper process: %s", got)
	}
	if !c.Running(ctx) {
		t.Fatal("the server died with the process that started it")
	}

	// A crash: the postmaster dies and leaves its postmaster.pid behind.
	pid := pgtest.PostmasterPID(t, c)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	reap(pid)
	testkit.WaitFor(t, "the crashed server's processes to exit", func() bool {
		return clusterProcessesGone(t, c, pid)
	})
	if _, err := os.Stat(filepath.Join(c.DataDir(), "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}
	if c.Running(ctx) {
		t.Fatal("Running = true after the crash")
	}
	mustStart(t, ctx, c, true)
	if got := pgtest.PostmasterPID(t, c); got == pid {
		t.Errorf("postmaster.pid still names the crashed pid %d", pid)
	}
}

// clusterProcessesGone reports whether no process works in the cluster's data
// directory any more: PostgreSQL refuses to start while the old server's
// children still hold its shared memory.
func clusterProcessesGone(t *testing.T, c *managed.Cluster, postmaster int) bool {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		// Without /proc, settle for the postmaster itself.
		return errors.Is(syscall.Kill(postmaster, 0), syscall.ESRCH)
	}
	data, err := filepath.EvalSymlinks(c.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == data {
			return false
		}
	}
	return true
}

func TestStartReportsTheServerLog(t *testing.T) {
	t.Parallel()
	ctx := clusterContext(t)
	c := newTestCluster(t, "angelad-badconf-", managed.Options{Fast: true})
	mustStart(t, ctx, c, true)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	auto := filepath.Join(c.DataDir(), "postgresql.auto.conf")
	orig, err := os.ReadFile(auto)
	if err != nil {
		t.Fatal(err)
	}
	// Appending keeps the file's owner, the cluster's user.
	if err := os.WriteFile(auto, append(orig[:len(orig):len(orig)], "shared_buffers = 'plenty'\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	started, err := c.Start(ctx)
	assertOneLine(t, err)
	if started {
		t.Error("started = true on a failed start")
	}
	for _, want := range []string{"pg_ctl start", `"shared_buffers": "plenty"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	if err := os.WriteFile(auto, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	mustStart(t, ctx, c, true)
}

func TestStartWithoutServerBinaries(t *testing.T) {
	t.Parallel()
	ctx := clusterContext(t)
	c := managed.New(managed.Options{StateDir: t.TempDir(), BinDir: filepath.Join(t.TempDir(), "no-bin")})
	started, err := c.Start(ctx)
	assertOneLine(t, err)
	if !errors.Is(err, managed.ErrNoServerBinaries) {
		t.Errorf("error %q does not wrap ErrNoServerBinaries", err)
	}
	if !managed.IsSetupError(err) {
		t.Errorf("IsSetupError(%q) = false", err)
	}
	if started {
		t.Error("started = true")
	}
	msg := managed.ErrNoServerBinaries.Error()
	for _, want := range []string{"install the PostgreSQL server", "ANGELA_DATABASE_URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("ErrNoServerBinaries %q does not name the fix %q", msg, want)
		}
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop of a cluster that was never created: %v", err)
	}
}

func TestStartNamesAStateDirTheServerCannotReach(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	ctx := clusterContext(t)
	closed := t.TempDir() // 0700, owned by root
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	c := managed.New(managed.Options{StateDir: filepath.Join(closed, "state"), Fast: true})
	started, err := c.Start(ctx)
	assertOneLine(t, err)
	if started {
		t.Error("started = true")
	}
	for _, want := range []string{closed, "chmod o+x"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if !managed.IsSetupError(err) {
		t.Errorf("IsSetupError(%q) = false", err)
	}
}

func TestFindBinDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	program := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install := func(dir string, names ...string) string {
		t.Helper()
		if len(names) == 0 {
			names = []string{"initdb", "pg_ctl", "postgres"}
		}
		for _, n := range names {
			program(filepath.Join(root, dir, n))
		}
		return filepath.Join(root, dir)
	}
	link := func(dir, name, target string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, dir, name)); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(root, dir)
	}

	// Debian's style: wrappers on PATH, servers in versioned directories.
	program(filepath.Join(root, "share/pg_wrapper"))
	link("wrapped", "initdb", "../share/pg_wrapper")
	wrapped := link("wrapped", "pg_ctl", "../share/pg_wrapper")
	install("lib/postgresql/9.6/bin")
	v15 := install("lib/postgresql/15/bin")
	install("lib/postgresql/16/bin", "initdb", "pg_ctl") // no postgres: incomplete
	debian := filepath.Join(root, "lib/postgresql/*/bin")
	// Homebrew's style.
	install("opt/postgresql@9.6/bin")
	brew14 := install("opt/postgresql@14/bin")
	brew := filepath.Join(root, "opt/postgresql@*/bin")
	// A PATH entry of links to one real install.
	realBin := install("real/bin")
	link("links", "initdb", filepath.Join(realBin, "initdb"))
	links := link("links", "pg_ctl", filepath.Join(realBin, "pg_ctl"))
	// A PATH entry with initdb and pg_ctl but no postgres beside them.
	partial := install("partial/bin", "initdb", "pg_ctl")
	// pg_config naming an install that is on no PATH.
	configured := install("configured/bin")
	configDir := filepath.Join(root, "config")
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(configDir, "pg_config"), []byte("#!/bin/sh\necho '"+configured+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	path := func(dirs ...string) string { return strings.Join(dirs, string(os.PathListSeparator)) }

	tests := []struct {
		name     string
		override string
		path     string
		patterns []string
		want     string // "" means ErrNoServerBinaries
	}{
		{name: "nothing anywhere", path: "", patterns: nil},
		{name: "bogus override is not second-guessed", override: filepath.Join(root, "bogus"), path: links, patterns: []string{debian}},
		{name: "override", override: v15, path: links, want: v15},
		{name: "PATH links resolve to the real directory", path: links, want: realBin},
		{name: "PATH skips wrappers, empty and relative entries", path: path("", "relative/bin", empty, wrapped, links), want: realBin},
		{name: "PATH skips a directory without postgres", path: path(partial), patterns: []string{debian}, want: v15},
		{name: "PATH before pg_config", path: path(configDir, links), want: realBin},
		{name: "pg_config", path: path(wrapped, configDir), patterns: []string{debian}, want: configured},
		{name: "newest complete version, numerically", path: wrapped, patterns: []string{debian}, want: v15},
		{name: "Homebrew", patterns: []string{filepath.Join(root, "none/*/bin"), brew}, want: brew14},
		{name: "patterns in order", patterns: []string{brew, debian}, want: brew14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := managed.FindBinDirIn(tt.override, tt.path, tt.patterns)
			if tt.want == "" {
				if !errors.Is(err, managed.ErrNoServerBinaries) {
					t.Fatalf("got %q, %v; want ErrNoServerBinaries", got, err)
				}
				assertOneLine(t, err)
				if tt.override != "" && !strings.Contains(err.Error(), tt.override) {
					t.Errorf("error %q does not name the override %s", err, tt.override)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// fakeInstall makes dir a server install of the given version: initdb, pg_ctl
// and postgres that print it for --version, as PostgreSQL's programs do. The
// version "broken" makes programs that fail.
func fakeInstall(t *testing.T, dir, version string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		script := fmt.Sprintf("#!/bin/sh\necho '%s (PostgreSQL) %s'\n", name, version)
		if version == "broken" {
			script = "#!/bin/sh\necho 'error while loading shared libraries' >&2\nexit 127\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeCluster makes a data directory that says it is of the given major
// version, and returns it.
func fakeCluster(t *testing.T, dir, version string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte(version+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindBinDirForExistingCluster(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	at := func(p string) string { return filepath.Join(root, p) }

	// Debian's layout after the upgrade that adds 16 beside 15.
	fakeInstall(t, at("both/15/bin"), "15.18 (Debian 15.18-0+deb12u1)")
	both16 := fakeInstall(t, at("both/16/bin"), "16.4 (Debian 16.4-1.pgdg120+1)")
	both15 := at("both/15/bin")
	both := at("both/*/bin")
	// After 15 was removed.
	fakeInstall(t, at("only16/16/bin"), "16.4")
	only16 := at("only16/*/bin")
	fakeInstall(t, at("newer/16/bin"), "16.4")
	fakeInstall(t, at("newer/17/bin"), "17beta1")
	newer := at("newer/*/bin")
	// Before PostgreSQL 10 a major version had two parts.
	old96 := fakeInstall(t, at("old/9.6/bin"), "9.6.24")
	fakeInstall(t, at("old/16/bin"), "16.4")
	old := at("old/*/bin")
	brew15 := fakeInstall(t, at("opt/postgresql@15/bin"), "15.8 (Homebrew)")
	brew := at("opt/postgresql@*/bin")
	// A 15 whose postgres no longer runs, say after a library it needs went.
	fakeInstall(t, at("broken/15/bin"), "broken")
	broken := at("broken/*/bin")
	// A PATH entry of 16, and pg_config naming a 15 on no PATH.
	path16 := fakeInstall(t, at("path16/bin"), "16.4")
	configured15 := fakeInstall(t, at("configured/bin"), "15.18")
	configDir := at("config")
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(configDir, "pg_config"), []byte("#!/bin/sh\necho '"+configured15+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	noCluster := at("data-none")
	cluster15 := fakeCluster(t, at("data-15"), "15")
	cluster17 := fakeCluster(t, at("data-17"), "17")
	cluster96 := fakeCluster(t, at("data-9.6"), "9.6")
	path := func(dirs ...string) string { return strings.Join(dirs, string(os.PathListSeparator)) }

	tests := []struct {
		name       string
		override   string
		data       string
		path       string
		patterns   []string
		want       string   // the directory found, when there is no error
		wantErr    []string // what the error says
		notErr     []string // what the error does not say
		setupError bool
	}{
		{name: "no cluster: the newest", data: noCluster, patterns: []string{both}, want: both16},
		{name: "no cluster: the override, whatever its version", data: noCluster, override: both15, patterns: []string{both}, want: both15},
		{name: "the cluster's version, not the newest", data: cluster15, patterns: []string{both}, want: both15},
		{name: "a PATH entry of another version is passed over", data: cluster15, path: path16, patterns: []string{both}, want: both15},
		{name: "pg_config", data: cluster15, path: path(path16, configDir), patterns: []string{both}, want: configured15},
		{name: "Homebrew", data: cluster15, patterns: []string{only16, brew}, want: brew15},
		{name: "two-part major version", data: cluster96, patterns: []string{old}, want: old96},
		{name: "the override of the cluster's version", data: cluster15, override: both15, patterns: []string{only16}, want: both15},
		{
			name: "only a newer version", data: cluster15, patterns: []string{only16},
			wantErr: []string{
				"the managed cluster in " + cluster15 + " is PostgreSQL 15 but only PostgreSQL 16 server binaries were found",
				"postgresql-15", "postgres.bin_dir", "to move the data to 16 use pg_upgrade",
			},
			setupError: true,
		},
		{
			name: "several newer versions", data: cluster15, path: path16, patterns: []string{newer},
			wantErr:    []string{"only PostgreSQL 16 and 17 server binaries were found", "to move the data to 17 use pg_upgrade"},
			setupError: true,
		},
		{
			name: "only an older version", data: cluster17, patterns: []string{only16},
			wantErr:    []string{"is PostgreSQL 17 but only PostgreSQL 16 server binaries", "postgresql-17"},
			notErr:     []string{"pg_upgrade"},
			setupError: true,
		},
		{
			name: "the override of another version", data: cluster15, override: both16, patterns: []string{both},
			wantErr:    []string{"is PostgreSQL 15 but postgres.bin_dir " + both16 + " holds PostgreSQL 16", "to move the data to 16 use pg_upgrade"},
			setupError: true,
		},
		{
			name: "nothing at all", data: cluster15,
			wantErr:    []string{"is PostgreSQL 15", managed.ErrNoServerBinaries.Error()},
			setupError: true,
		},
		{
			// The one that cannot say its version may be mended: not a setup error.
			name: "a version that cannot be read", data: cluster15, patterns: []string{broken, only16},
			wantErr: []string{"only PostgreSQL 16 server binaries were found", filepath.Join(at("broken/15/bin"), "postgres") + " --version"},
		},
		{
			name: "no version that can be read", data: cluster15, patterns: []string{broken},
			wantErr: []string{"is PostgreSQL 15", "--version"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := managed.FindClusterBinDirIn(tt.override, tt.data, tt.path, tt.patterns)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %q, want an error", got)
			}
			assertOneLine(t, err)
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q", want)
				}
			}
			for _, not := range tt.notErr {
				if strings.Contains(err.Error(), not) {
					t.Errorf("error says %q", not)
				}
			}
			if got := managed.IsSetupError(err); got != tt.setupError {
				t.Errorf("IsSetupError = %t, want %t", got, tt.setupError)
			}
		})
	}
}

// TestStartRefusesServerOfAnotherVersion checks what Start says when the only
// server programs are of another major version than the cluster, as after an
// upgrade of the system's PostgreSQL: the cluster is left alone.
func TestStartRefusesServerOfAnotherVersion(t *testing.T) {
	t.Parallel()
	ctx := clusterContext(t)
	bin := fakeInstall(t, filepath.Join(t.TempDir(), "16", "bin"), "16.4")
	patterns := []string{filepath.Join(filepath.Dir(filepath.Dir(bin)), "*", "bin")}

	for _, tt := range []struct {
		name string
		c    func(state string) *managed.Cluster
		want string
	}{
		{
			name: "discovered",
			c: func(state string) *managed.Cluster {
				return managed.NewSearchingIn(managed.Options{StateDir: state}, "", patterns)
			},
			want: "is PostgreSQL 15 but only PostgreSQL 16 server binaries were found",
		},
		{
			name: "configured",
			c: func(state string) *managed.Cluster {
				return managed.New(managed.Options{StateDir: state, BinDir: bin})
			},
			want: "is PostgreSQL 15 but postgres.bin_dir " + bin + " holds PostgreSQL 16",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state := t.TempDir()
			data := fakeCluster(t, filepath.Join(state, "postgres"), "15")
			started, err := tt.c(state).Start(ctx)
			assertOneLine(t, err)
			if started {
				t.Error("started = true")
			}
			for _, want := range []string{"start the managed PostgreSQL", data, tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q", want)
				}
			}
			if !managed.IsSetupError(err) {
				t.Error("IsSetupError = false")
			}
			// Nothing was touched: no lock file, socket directory or log.
			entries, err := os.ReadDir(state)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("the state directory holds %d entries, want only the data directory", len(entries))
			}
		})
	}
}

func TestIsSetupError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no server programs", fmt.Errorf("start the managed PostgreSQL: %w", managed.ErrNoServerBinaries), true},
		{"a timeout", fmt.Errorf("wait for the lock: %w", ctx.Err()), false},
		{"cancelled", context.Canceled, false},
		{"anything else", errors.New("pg_ctl start: could not start server"), false},
	}
	for _, tt := range tests {
		if got := managed.IsSetupError(tt.err); got != tt.want {
			t.Errorf("%s: IsSetupError(%v) = %t, want %t", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestProgramEnvDropsServiceManagerVariables(t *testing.T) {
	t.Parallel()
	env := []string{
		"PATH=/usr/bin", "HOME=/var/lib/angelad", "LANG=th_TH.UTF-8",
		"NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=30000000", "WATCHDOG_PID=42",
		"LISTEN_FDS=1", "LISTEN_PID=42", "LISTEN_FDNAMES=angelad.socket",
		"PGHOST=elsewhere", "PGPORT=5433", "LC_ALL=th_TH.UTF-8", "LC_MESSAGES=th_TH.UTF-8",
		"NOTIFY_SOCKETS_ARE_FINE=1",
	}
	got := managed.ProgramEnv(env)
	want := []string{"PATH=/usr/bin", "HOME=/var/lib/angelad", "LANG=th_TH.UTF-8", "NOTIFY_SOCKETS_ARE_FINE=1", "LC_MESSAGES=C"}
	if !slices.Equal(got, want) {
		t.Errorf("ProgramEnv:\n got %q\nwant %q", got, want)
	}
}

func TestConnString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stateDir, database string
	}{
		{"/var/lib/angelad", "angela"},
		{"/home/dav id/state", "my db"},
		{`/tmp/it's\here`, `we'ird=db`},
	}
	for _, tt := range tests {
		s := managed.New(managed.Options{StateDir: tt.stateDir}).ConnString(tt.database)
		cfg, err := pgconn.ParseConfig(s)
		if err != nil {
			t.Errorf("ConnString %q: %v", s, err)
			continue
		}
		if want := filepath.Join(tt.stateDir, "run"); cfg.Host != want || cfg.Port != 5432 ||
			cfg.User != managed.User || cfg.Database != tt.database {
			t.Errorf("ConnString %q parses to host %q port %d user %q dbname %q; want %q 5432 %q %q",
				s, cfg.Host, cfg.Port, cfg.User, cfg.Database, want, managed.User, tt.database)
		}
	}
	if got, want := managed.New(managed.Options{StateDir: "/var/lib/angelad"}).ConnString("angela"),
		"host=/var/lib/angelad/run port=5432 user=angela dbname=angela"; got != want {
		t.Errorf("ConnString = %q, want %q", got, want)
	}
}

// helperProcess is this test binary run as TestClusterHelperProcess: a second
// process that calls Start when told to.
type helperProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer
}

// startHelper starts a helper process on dir, with env added to its
// environment, and waits until it is ready to call Start.
func startHelper(t *testing.T, dir, runAs string, env ...string) *helperProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &helperProcess{cmd: exec.Command(exe, "-test.run=^TestClusterHelperProcess$", "-test.count=1")}
	h.cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperRunAsEnv+"="+runAs)
	h.cmd.Env = append(h.cmd.Env, env...)
	// The helper needs no database of its own: point pgtest.Main at the one
	// this process has, so it does not start a throwaway cluster.
	if os.Getenv(pgtest.EnvURL) == "" && pgtest.Cluster() != nil {
		h.cmd.Env = append(h.cmd.Env, pgtest.EnvURL+"="+pgtest.Cluster().ConnString("postgres"))
	}
	h.cmd.Stderr = &h.stderr
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.stdout = bufio.NewReader(stdout)
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			h.cmd.Process.Kill()
			h.cmd.Wait()
		}
	})
	line, err := h.stdout.ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper process: %q, %v; stderr: %s", line, err, h.stderr.String())
	}
	return h
}

// run lets the helper call Start and returns what it reported:
// "started=true", "started=false" or "error=...".
func (h *helperProcess) run() string {
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		return "error=" + err.Error()
	}
	h.stdin.Close()
	out, _ := io.ReadAll(h.stdout)
	if err := h.cmd.Wait(); err != nil {
		return fmt.Sprintf("error=helper process: %v; stderr: %s", err, h.stderr.String())
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "started=") || strings.HasPrefix(line, "error=") {
			return line
		}
	}
	return fmt.Sprintf("error=helper process said %q", out)
}

// TestClusterHelperProcess is not a test: it is the body of a helper process
// (see startHelper) and skips itself in a normal run.
func TestClusterHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("runs only as a helper process")
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Println("error=read stdin:", err)
		return
	}
	c := managed.New(managed.Options{StateDir: dir, RunAs: os.Getenv(helperRunAsEnv), BinDir: os.Getenv(helperBinDirEnv), Fast: true})
	started, err := c.Start(clusterContext(t))
	if err != nil {
		fmt.Println("error=" + err.Error())
		return
	}
	fmt.Printf("started=%t\n", started)
}

// BenchmarkStartWhenRunning measures what a one-shot command pays to make sure
// the already running cluster is up.
func BenchmarkStartWhenRunning(b *testing.B) {
	c := pgtest.Cluster()
	if c == nil {
		b.Skip("needs the throwaway managed cluster; unset " + pgtest.EnvURL)
	}
	ctx := clusterContext(b)
	for b.Loop() {
		started, err := c.Start(ctx)
		if err != nil || started {
			b.Fatalf("Start = %t, %v; want false, nil", started, err)
		}
	}
}

//go:build linux

package managed_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// adoptOrphans makes this process the new parent of its descendants orphaned
// until the returned function is called. A test that kills a server it started
// through pg_ctl can then reap it even where PID 1 reaps no orphans (some
// containers): a dead but unreaped postmaster still looks alive to PostgreSQL.
// The setting holds for the whole test process, so only a test that is not
// parallel may use it.
func adoptOrphans(t *testing.T) func() {
	t.Helper()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Logf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
		return func() {}
	}
	return func() { syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0) }
}

// reap waits for pid to exit and collects it, when it is a child of this
// process; otherwise its own parent does.
func reap(pid int) {
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
}

// TestServerIgnoresTheServiceManager starts the server from a process that
// systemd could have started, with a notification socket, a watchdog and
// passed sockets of its own. The server must see none of it: Debian's is built
// with systemd support and would tell systemd READY=1 and STOPPING=1 as if it
// were the service.
func TestServerIgnoresTheServiceManager(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, "angelad-notify-", managed.Options{Fast: true})

	sockDir, err := pgtest.TempStateDir("angelad-notify-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sockPath := filepath.Join(sockDir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	// Writable by the server's user too, so that a leak would show.
	if err := os.Chmod(sockPath, 0o777); err != nil {
		t.Fatal(err)
	}

	serviceEnv := []string{
		"NOTIFY_SOCKET=" + sockPath, "WATCHDOG_USEC=30000000", "WATCHDOG_PID=1",
		"LISTEN_FDS=1", "LISTEN_PID=1", "LISTEN_FDNAMES=angelad",
	}
	if got := startHelper(t, filepath.Dir(c.DataDir()), "", serviceEnv...).run(); got != "started=true" {
		t.Fatalf("helper process: %s", got)
	}

	pid := pgtest.PostmasterPID(t, c)
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(environ), "\x00") {
		name, _, _ := strings.Cut(kv, "=")
		for _, s := range serviceEnv {
			if strings.HasPrefix(s, name+"=") {
				t.Errorf("the postmaster (pid %d) has %s", pid, kv)
			}
		}
	}
	// The server said READY=1 before Start returned, if it said anything: a
	// read that does not wait finds it.
	raw, err := notify.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var n int
	var rerr error
	if err := raw.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if rerr == nil {
		t.Errorf("the server notified the service manager: %q", buf[:n])
	}
}

// fakePostmaster writes a postmaster.pid into c's data directory naming pid,
// as a server that is ready would.
func fakePostmaster(t *testing.T, c *managed.Cluster, pid int) {
	t.Helper()
	if err := os.MkdirAll(c.DataDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	lines := []string{strconv.Itoa(pid), c.DataDir(), "1700000000", "5432", c.SocketDir(), "", "  5432001    32768", "ready   ", ""}
	path := filepath.Join(c.DataDir(), "postmaster.pid")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(c.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

// sleeper starts a process that sleeps in dir until the test ends, as the
// owner of asOwnerOf.
func sleeper(t *testing.T, dir, asOwnerOf string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	cmd.Dir = dir
	fi, err := os.Stat(asOwnerOf)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && st.Uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: st.Uid, Gid: st.Gid, Groups: []uint32{}}}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// procState returns the state letter of pid from /proc/<pid>/stat.
func procState(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

// TestRunningIsFalseForAZombieOrAForeignPID: a postmaster that died is a
// zombie until its parent reaps it, and kill(pid, 0) still finds it; a pid in
// a stale postmaster.pid may belong to an unrelated process by now. Neither
// is a running server.
func TestRunningIsFalseForAZombieOrAForeignPID(t *testing.T) {
	t.Parallel()
	dir, err := pgtest.TempStateDir("angelad-zombie-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := managed.New(managed.Options{StateDir: dir})
	ctx := context.Background()

	// A live process working in the data directory passes for the server.
	if err := os.MkdirAll(c.DataDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	inData := sleeper(t, c.DataDir(), c.DataDir())
	fakePostmaster(t, c, inData.Process.Pid)
	if !c.Running(ctx) {
		t.Fatal("Running = false for a live process in the data directory")
	}

	// Killed and not reaped (this process is its parent and does not wait
	// yet): a zombie.
	if err := inData.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the killed process to become a zombie", func() bool {
		return procState(t, inData.Process.Pid) == "Z"
	})
	if c.Running(ctx) {
		t.Error("Running = true for a zombie")
	}

	// A live process elsewhere, as after the pid was reused.
	elsewhere := sleeper(t, dir, c.DataDir())
	fakePostmaster(t, c, elsewhere.Process.Pid)
	if c.Running(ctx) {
		t.Error("Running = true for a process outside the data directory")
	}
}

// TestStartWhenThePIDFileNamesAnotherProcess: after a crash and a reboot the
// pid in postmaster.pid may name an unrelated process of the same user, which
// PostgreSQL takes for a server still running. Start must start the server.
func TestStartWhenThePIDFileNamesAnotherProcess(t *testing.T) {
	t.Parallel()
	ctx := clusterContext(t)
	c := newTestCluster(t, "angelad-reused-", managed.Options{Fast: true})
	mustStart(t, ctx, c, true)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Of the server's user: one of another user PostgreSQL already ignores.
	other := sleeper(t, filepath.Dir(c.DataDir()), c.DataDir())
	fakePostmaster(t, c, other.Process.Pid)
	// The socket's lock file, which a crash leaves behind too.
	sockLock := filepath.Join(c.SocketDir(), ".s.PGSQL.5432.lock")
	if err := os.WriteFile(sockLock, []byte(strconv.Itoa(other.Process.Pid)+"\n"+c.DataDir()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(c.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sockLock, int(fi.Sys().(*syscall.Stat_t).Uid), int(fi.Sys().(*syscall.Stat_t).Gid)); err != nil {
		t.Fatal(err)
	}
	mustStart(t, ctx, c, true)
	if !c.Running(ctx) {
		t.Fatal("not running after Start")
	}
	if got := pgtest.PostmasterPID(t, c); got == other.Process.Pid {
		t.Errorf("postmaster.pid still names the unrelated pid %d", got)
	}
}

// TestInitdbDiesWithTheCommandThatRanIt kills a process while its initdb
// runs. The initdb must not live on without the lock, where the next command
// would find it writing into the directory it cleans up or uses. The initdb
// here is a stand-in that records its pid and then sleeps, which a real one
// cannot be made to do at a known moment.
func TestInitdbDiesWithTheCommandThatRanIt(t *testing.T) {
	t.Parallel()
	bin := fakeInstall(t, pgtest.StateDir(t), "15")
	script := "#!/bin/sh\n# initdb -D dir ...\necho $$ > \"$2/initdb.pid\"\nexec sleep 1000\n"
	if err := os.WriteFile(filepath.Join(bin, "initdb"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := pgtest.StateDir(t)
	h := startHelper(t, dir, "", helperBinDirEnv+"="+bin)
	if _, err := h.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	var pid int
	testkit.WaitFor(t, "initdb to start", func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "postgres.initdb*", "initdb.pid"))
		if len(files) == 0 {
			return false
		}
		data, _ := os.ReadFile(files[0])
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return pid > 0
	})
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	testkit.WaitFor(t, fmt.Sprintf("initdb (pid %d) to die with its parent", pid), func() bool {
		s := procState(t, pid)
		return s == "" || s == "Z"
	})
}

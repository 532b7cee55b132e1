//go:build linux

package postgres_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// adoptOrphans makes this process the new parent of its descendants orphaned
// until the returned function is called. A test that kills a server it started
// through pg_ctl can then reap it even where PID 1 reaps no orphans (some
// containers): a dead but unreaped postmaster still looks alive to PostgreSQL.
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
	c := newTestCluster(t, "angelad-notify-", postgres.ClusterOptions{Fast: true})

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

	pid := postmasterPID(t, c)
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

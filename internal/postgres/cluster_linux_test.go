//go:build linux

package postgres_test

import (
	"syscall"
	"testing"
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

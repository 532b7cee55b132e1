//go:build unix && !linux

package pgtest

import "syscall"

// dieWithTest does nothing where the kernel cannot kill a child with its
// parent: the test's cleanup stops PgBouncer.
func dieWithTest(*syscall.SysProcAttr) {}

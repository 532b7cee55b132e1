//go:build unix && !linux

package managed

import (
	"errors"
	"syscall"
)

// classifyPID says what pid is to the cluster. Without /proc it cannot tell
// a zombie or a process that reused the pid of a server long gone from the
// postmaster; PostgreSQL's own check is no better.
func classifyPID(pid int, _ string) pidKind {
	switch err := syscall.Kill(pid, 0); {
	case err == nil:
		return pidServer
	case errors.Is(err, syscall.EPERM):
		return pidForeign
	default:
		return pidGone
	}
}

// processesIn finds no processes without /proc: the caller then relies on
// PostgreSQL to refuse a start while an old server's processes remain.
func processesIn(string) []int { return nil }

// killProcess kills pid at once.
func killProcess(pid int) { syscall.Kill(pid, syscall.SIGKILL) }

// diesWithParent does nothing: only Linux can make a program die with its
// parent. The leftovers of an interrupted initdb are removed by the next Start.
func diesWithParent(*syscall.SysProcAttr) (release func()) { return func() {} }

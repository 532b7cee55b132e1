//go:build linux

package managed

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// procState returns the state letter of pid in /proc/<pid>/stat ('R', 'S',
// 'Z', ...), or 0 when there is no such process.
func procState(pid int) byte {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses, so the state
	// follows the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// procDead reports whether a state letter is that of a process that has
// exited: a zombie waiting for its parent to reap it, or one being reaped.
func procDead(state byte) bool { return state == 0 || state == 'Z' || state == 'X' || state == 'x' }

// realDir resolves dir's symbolic links, as the kernel shows a working
// directory; a directory that cannot be resolved is taken as it is.
func realDir(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return dir
}

// procCwd returns the working directory of pid, or "" when it cannot be read.
func procCwd(pid int) string {
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	if err != nil {
		return ""
	}
	return cwd
}

// procComm returns the program name of pid.
func procComm(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// classifyPID says what pid is to the cluster in dataDir. A postmaster
// works in its data directory from before it writes postmaster.pid until it
// exits, so a live process elsewhere is not one: it reused the pid of a
// server long gone (after a reboot, say). A zombie is not alive either: the
// server has died and only waits for its parent to reap it, which
// kill(pid, 0) cannot tell. A process that is exiting has already let go of
// its working directory.
func classifyPID(pid int, dataDir string) pidKind {
	// Two system calls when the server runs: a one-shot command asks this
	// every time. A zombie has no working directory any more, so the state
	// in /proc/<pid>/stat is read only when the readlink fails.
	switch err := syscall.Kill(pid, 0); {
	case errors.Is(err, syscall.ESRCH):
		return pidGone
	case errors.Is(err, syscall.EPERM):
		return pidForeign // another user's: never this process's server
	}
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	switch {
	case err != nil:
		if procState(pid) == 0 {
			return pidGone
		}
		return pidDying
	case cwd == dataDir || cwd == realDir(dataDir):
		return pidServer
	default:
		return pidForeign
	}
}

// processesIn returns the live postgres processes whose working directory is
// dir: those of a server in its data directory, or those an initdb runs in
// the directory it fills. A shell that merely sits in dir is none of them.
func processesIn(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	dir = realDir(dir)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if procCwd(pid) == dir && !procDead(procState(pid)) && procComm(pid) == "postgres" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killProcess kills pid at once.
func killProcess(pid int) { syscall.Kill(pid, syscall.SIGKILL) }

// diesWithParent makes the program attr starts die when this process dies,
// so that an initdb outlives no killed command to fill a directory nobody
// holds the lock for. The kernel sends the signal when the thread that
// started the program exits, not the process, so the caller keeps that
// thread until the program has exited: it calls the returned function then.
func diesWithParent(attr *syscall.SysProcAttr) (release func()) {
	runtime.LockOSThread()
	attr.Pdeathsig = syscall.SIGKILL
	return runtime.UnlockOSThread
}

package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFileName is the lock file that allows one daemon per state directory.
const LockFileName = "angelad.pid"

// Lock is the exclusive lock one `angelad run` holds on its state directory.
// It is an flock on a file that also records the holder's pid: the kernel
// drops the lock when the process dies, so a crash never leaves a stale lock.
type Lock struct {
	f *os.File
}

// HeldError says that another daemon holds the lock.
type HeldError struct {
	Path string
	PID  int // 0 when the file does not say
}

func (e *HeldError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("another angelad run holds %s", e.Path)
	}
	return fmt.Sprintf("another angelad run (pid %d) holds %s: one daemon per state directory", e.PID, e.Path)
}

// MakeStateDir creates stateDir, if it is missing, with mode 0700: it holds
// the spool of saves, status.json and the managed cluster, which are no one
// else's business. passable makes it 0711 instead, for when the managed
// cluster's server runs as another user (angelad runs as root), who must pass
// through it to its data directory and socket without listing or reading it.
// An existing directory keeps its mode: it is the user's to choose, and the
// files angelad keeps there are private by their own modes.
func MakeStateDir(stateDir string, passable bool) error {
	if _, err := os.Stat(stateDir); err == nil {
		return nil
	}
	mode := os.FileMode(0o700)
	if passable {
		mode = 0o711
	}
	if err := os.MkdirAll(stateDir, mode); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	// MkdirAll's mode passes through the umask.
	if err := os.Chmod(stateDir, mode); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// AcquireLock takes the daemon lock of stateDir without waiting, creating
// the directory (see MakeStateDir) if it is missing.
func AcquireLock(stateDir string) (*Lock, error) {
	if err := MakeStateDir(stateDir, false); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, PID: readPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid lets a second daemon and `angelad status` name the holder.
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. The file stays; its content no longer matters.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}

// LockHolder reports the pid of the daemon holding stateDir's lock, or 0 when
// no daemon runs there. It does not disturb a running daemon.
func LockHolder(stateDir string) (int, error) {
	path := filepath.Join(stateDir, LockFileName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// A shared lock succeeds only while no daemon holds the exclusive one.
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return 0, fmt.Errorf("lock %s: %w", path, err)
	}
	if pid := readPID(path); pid > 0 {
		return pid, nil
	}
	return -1, nil // held, by a pid the file does not name yet
}

func readPID(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return pid
}

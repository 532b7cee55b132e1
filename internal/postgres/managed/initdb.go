package managed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// initialise creates the cluster if it does not exist yet. initdb works in a
// scratch directory that is renamed into place only when it is complete, so an
// interrupted initdb never leaves a half-made cluster behind.
func (s *session) initialise(ctx context.Context) error {
	if err := s.c.removeInitLeftovers(ctx); err != nil {
		return err
	}
	data := s.c.DataDir()
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		return nil
	}
	if entries, err := os.ReadDir(data); err == nil {
		if len(entries) > 0 {
			return setupFault(fmt.Errorf("%s is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away", data))
		}
		if err := os.Remove(data); err != nil {
			return fmt.Errorf("remove empty %s: %w", data, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", data, err)
	}

	// Prefer C.UTF-8: byte-order collation like C, but character classes and
	// case mapping that know Thai. Not every system has it.
	var (
		tmp string
		err error
	)
	locales := []string{"C.UTF-8", "C"}
	if s.c.opts.Locale != "" {
		locales = []string{s.c.opts.Locale}
	}
	for _, locale := range locales {
		var out string
		tmp, out, err = s.initdb(ctx, locale)
		if err == nil || !strings.Contains(out, "locale") {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := appendInclude(filepath.Join(tmp, "postgresql.conf")); err != nil {
		return err
	}
	if err := os.Rename(tmp, data); err != nil {
		return fmt.Errorf("move the new cluster into place: %w", err)
	}
	syncDir(s.c.stateDir)
	return nil
}

// initWait bounds the wait for the processes of an interrupted initdb to
// exit once killed.
const initWait = 30 * time.Second

// removeInitLeftovers removes what an interrupted initdb left in the state
// directory. It runs under the lock, so no initdb of a live process works
// there. One whose process was killed may still run (on Linux it dies with
// its parent, but the postgres it runs lives until it has read all its
// input), so those still working in a leftover are killed first: otherwise
// they would write into the directory while it is removed.
func (c *Cluster) removeInitLeftovers(ctx context.Context) error {
	entries, err := os.ReadDir(c.stateDir)
	if err != nil {
		return fmt.Errorf("read the state directory: %w", err)
	}
	for _, e := range entries {
		if name := e.Name(); name != initDirName && !strings.HasPrefix(name, initDirName+".") {
			continue
		}
		if err := removeInitDir(ctx, filepath.Join(c.stateDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// removeInitDir removes one leftover of an interrupted initdb. The initdb of a
// killed command may outlive it for a moment (its death signal is delivered
// asynchronously) and start one more postgres after the last was killed, which
// then writes into the directory while it is removed: the removal fails with
// "directory not empty". So the killing and removing are repeated until the
// directory is gone, for at most initWait.
func removeInitDir(ctx context.Context, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, initWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := killProcessesIn(ctx, dir); err != nil {
			return err
		}
		err := os.RemoveAll(dir)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.ENOTEMPTY) {
			return fmt.Errorf("remove what an interrupted initdb left: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove what an interrupted initdb left: %w", err)
		case <-tick.C:
		}
	}
}

// killProcessesIn kills the postgres processes working in dir and waits until
// they are gone.
func killProcessesIn(ctx context.Context, dir string) error {
	left := processesIn(dir)
	if len(left) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, initWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ; len(left) > 0; left = processesIn(dir) {
		for _, pid := range left {
			killProcess(pid)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes %v of an interrupted initdb still run in %s after %s", left, dir, initWait)
		case <-tick.C:
		}
	}
	return nil
}

// initdb runs initdb into a fresh directory with the given locale and returns
// that directory and initdb's output. The directory's name is new for every
// attempt, so an initdb of an interrupted command that still runs (where it
// does not die with its parent) never shares one with this attempt. On
// failure nothing is left behind.
func (s *session) initdb(ctx context.Context, locale string) (dir, out string, err error) {
	// Made here, not by initdb, because the server's user may not be allowed to
	// create entries in the state directory.
	dir, err = os.MkdirTemp(s.c.stateDir, initDirName+".")
	if err != nil {
		return "", "", fmt.Errorf("create the directory for initdb: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := s.acct.chown(dir); err != nil {
		return "", "", err
	}
	args := []string{
		"-D", dir,
		"-E", "UTF8",
		"--locale=" + locale,
		"-U", User,
		// Only the socket is reachable, and only by this user (and root): its
		// directory is 0700. TCP is never listened on; reject it anyway.
		"--auth-local=trust",
		"--auth-host=reject",
	}
	if s.c.opts.Fast {
		args = append(args, "--no-sync")
	}
	out, err = s.runOwned(ctx, initdbTimeout, "initdb", args...)
	if err != nil {
		return "", out, programError("initdb", out, err)
	}
	return dir, out, nil
}

// syncDir makes a rename in dir durable; a failure only costs durability.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

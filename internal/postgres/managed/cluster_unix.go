//go:build unix

package managed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func isRoot() bool { return os.Geteuid() == 0 }

// currentAccount is the user angelad runs as, when it runs the server as
// itself.
func currentAccount() (account, error) {
	acct := account{
		name: "uid " + strconv.Itoa(os.Geteuid()),
		uid:  uint32(os.Geteuid()),
		gid:  uint32(os.Getegid()),
	}
	if u, err := user.Current(); err == nil {
		acct.name = u.Username
	}
	if gids, err := os.Getgroups(); err == nil {
		for _, g := range gids {
			acct.groups = append(acct.groups, uint32(g))
		}
	}
	return acct, nil
}

// accountByName is the user root runs the server as.
func accountByName(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, fmt.Errorf("the user to run the server as: %w", err)
	}
	return accountOf(u)
}

// accountByID is the owner of an existing data directory.
func accountByID(uid, gid uint32) (account, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		// A data directory restored from another machine may belong to an id
		// without a name here; the ids are all the server needs.
		return account{name: "uid " + strconv.FormatUint(uint64(uid), 10), uid: uid, gid: gid, other: true}, nil
	}
	return accountOf(u)
}

func accountOf(u *user.User) (account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	acct := account{name: u.Username, uid: uint32(uid), gid: uint32(gid), other: true}
	ids, err := u.GroupIds()
	if err != nil {
		// Without its supplementary groups the server still runs; it only
		// cannot use files shared with it through them.
		ids = nil
	}
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil {
			acct.groups = append(acct.groups, uint32(g))
		}
	}
	return acct, nil
}

// sysProcAttr puts a program in a process group of its own and, when angelad
// is root, runs it as the account.
func (a account) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if a.other {
		groups := a.groups
		if groups == nil {
			groups = []uint32{} // drop root's supplementary groups
		}
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: groups}
	}
	return attr
}

// chown gives path to the account when the server runs as another user.
func (a account) chown(path string) error {
	if !a.other {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("give %s to user %s: %w", path, a.name, err)
	}
	return nil
}

// terminate asks a program and the helpers it runs (initdb runs postgres) to
// stop: the program leads a process group of its own. The server pg_ctl
// starts has a session of its own and is not asked.
func terminate(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGTERM) }

// fileOwner returns the owner of path.
func fileOwner(path string) (uid, gid uint32, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("owner of %s: not available", path)
	}
	return st.Uid, st.Gid, nil
}

// checkTraversable makes sure the account may pass through dir and each of its
// ancestors, as the server must to reach its data and socket. It reads the
// permission bits only (not ACLs), in the order the kernel applies them.
func checkTraversable(dir string, a account) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && !canSearch(fi.Mode().Perm(), st.Uid, st.Gid, a) {
			return setupFault(fmt.Errorf("the server runs as user %s, who cannot enter %s (mode %04o): run chmod o+x %s, or choose a state directory that user can reach", a.name, p, fi.Mode().Perm(), p))
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

func canSearch(perm fs.FileMode, uid, gid uint32, a account) bool {
	switch {
	case uid == a.uid:
		return perm&0o100 != 0
	case a.inGroup(gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// lockFile takes an exclusive flock on path, waiting for another process to
// release it for at most limit, and returns the function that releases it.
// The kernel releases it too when the process dies, so a crash never leaves
// the cluster locked. The descriptor is close-on-exec, so the server that pg_ctl
// starts never inherits the lock.
func lockFile(ctx context.Context, path string, limit time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// Polling rather than a blocking flock, which a context cannot interrupt.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for the lock %s, held by another angelad: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

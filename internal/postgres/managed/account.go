package managed

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
)

// account is the OS user that the cluster's programs run as.
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32 // supplementary groups
	// other is set when angelad runs as root and the programs switch to this
	// user; files the server needs are then given to it.
	other bool
}

func (a account) inGroup(gid uint32) bool {
	if gid == a.gid {
		return true
	}
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// account decides which OS user runs the cluster's programs.
func (c *Cluster) account() (account, error) {
	if !isRoot() {
		return currentAccount()
	}
	// An existing data directory belongs to the user its server must run as,
	// whatever the default would pick today.
	if uid, gid, err := fileOwner(c.DataDir()); err == nil {
		if uid == 0 {
			return account{}, setupFault(fmt.Errorf("data directory %s is owned by root, and PostgreSQL refuses to run as root: chown -R it to an unprivileged user", c.DataDir()))
		}
		acct, err := accountByID(uid, gid)
		if err != nil {
			return account{}, err
		}
		if c.opts.RunAs != "" && c.opts.RunAs != acct.name {
			return account{}, setupFault(fmt.Errorf("data directory %s belongs to %s, not to the configured user %s: chown -R it to %s, or run as %s", c.DataDir(), acct.name, c.opts.RunAs, c.opts.RunAs, acct.name))
		}
		return acct, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return account{}, err
	}
	name := c.opts.RunAs
	if name == "" {
		name = "nobody"
		if _, err := user.Lookup("postgres"); err == nil {
			name = "postgres"
		}
	}
	acct, err := accountByName(name)
	if err != nil {
		return account{}, err
	}
	if acct.uid == 0 {
		return account{}, setupFault(fmt.Errorf("user %s is root, and PostgreSQL refuses to run as root: choose an unprivileged user", name))
	}
	return acct, nil
}

// makeStateDir creates the state directory if it is missing. When the server
// runs as another user, that user must be able to pass through it (but not to
// list or read it), hence 0711.
func (c *Cluster) makeStateDir(acct account) error {
	if _, err := os.Stat(c.stateDir); err == nil {
		return nil
	}
	mode := os.FileMode(0o700)
	if acct.other {
		mode = 0o711
	}
	if err := os.MkdirAll(c.stateDir, mode); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	// MkdirAll's mode passes through the umask.
	if err := os.Chmod(c.stateDir, mode); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

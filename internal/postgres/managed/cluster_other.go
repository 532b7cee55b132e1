//go:build !unix

package managed

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// errUnsupported explains why the managed cluster does not work here.
func errUnsupported() error {
	return errors.New("the managed PostgreSQL needs Linux or macOS: set ANGELA_DATABASE_URL to an existing database")
}

func isRoot() bool { return false }

func currentAccount() (account, error) { return account{name: "current user"}, nil }

func accountByName(string) (account, error) { return account{}, errUnsupported() }

func accountByID(uint32, uint32) (account, error) { return account{}, errUnsupported() }

func (a account) sysProcAttr() *syscall.SysProcAttr { return nil }

func (a account) chown(string) error { return nil }

func terminate(p *os.Process) error { return p.Kill() }

func fileOwner(string) (uint32, uint32, error) { return 0, 0, errUnsupported() }

func checkTraversable(string, account) error { return nil }

func lockFile(context.Context, string, time.Duration) (func(), error) {
	return nil, errUnsupported()
}

func classifyPID(int, string) pidKind { return pidGone }

func processesIn(string) []int { return nil }

func killProcess(int) {}

func diesWithParent(*syscall.SysProcAttr) func() { return func() {} }

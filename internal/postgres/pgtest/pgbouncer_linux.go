package pgtest

import "syscall"

// dieWithTest has the kernel kill the program attr starts when the thread
// that starts it ends.
func dieWithTest(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

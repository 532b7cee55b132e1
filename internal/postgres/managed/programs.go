package managed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// run runs one of the server programs as the cluster's OS user and returns
// its combined output.
func (s *session) run(ctx context.Context, timeout time.Duration, program string, args ...string) (string, error) {
	return s.runProgram(ctx, timeout, false, program, args)
}

// runOwned is run for a program that must not outlive this process: on Linux
// it is killed when this process dies. Not for pg_ctl start, whose server
// must outlive a one-shot command that started it; it is pg_ctl's child, and
// the kernel does not pass the setting on to children anyway.
func (s *session) runOwned(ctx context.Context, timeout time.Duration, program string, args ...string) (string, error) {
	return s.runProgram(ctx, timeout, true, program, args)
}

func (s *session) runProgram(ctx context.Context, timeout time.Duration, owned bool, program string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, program), args...)
	// A directory the server's user can enter: PostgreSQL's programs complain
	// when they cannot return to the working directory they started in.
	cmd.Dir = s.c.stateDir
	cmd.Env = programEnv(os.Environ())
	// Its own process group, so a Ctrl-C meant for a one-shot command does not
	// reach pg_ctl or initdb halfway; the postmaster already gets a session of
	// its own from pg_ctl.
	cmd.SysProcAttr = s.acct.sysProcAttr()
	if owned {
		defer diesWithParent(cmd.SysProcAttr)()
	}
	// SIGTERM first: initdb then removes what it made, pg_ctl stops waiting.
	cmd.Cancel = func() error { return terminate(cmd.Process) }
	cmd.WaitDelay = killDelay
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out: %w", err)
		}
	}
	return string(out), err
}

// programEnv is the environment of the server programs: the caller's, without
// PG* variables that would point them at another cluster, port or user,
// without the service manager's variables meant for angelad alone, and with
// English messages so that errors read the same everywhere.
func programEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PG") || serviceManagerVars[name] ||
			name == "LC_ALL" || name == "LC_MESSAGES" || name == "LANGUAGE" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_MESSAGES=C")
}

// serviceManagerVars are what systemd hands the service's main process, angelad:
// its notification socket, watchdog and passed sockets. A server built with
// systemd support (Debian's) that inherited them would send READY=1 and
// STOPPING=1 as if it were the service, which systemd rejects under
// NotifyAccess=main, or worse, believes.
var serviceManagerVars = map[string]bool{
	"NOTIFY_SOCKET":  true,
	"WATCHDOG_USEC":  true,
	"WATCHDOG_PID":   true,
	"LISTEN_FDS":     true,
	"LISTEN_PID":     true,
	"LISTEN_FDNAMES": true,
}

// programError turns a failed program into one line: the program, then the
// line of its output that says what went wrong.
func programError(program, out string, err error) error {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("%s: %w", program, err)
	}
	if msg := summarize(out); msg != "" {
		return fmt.Errorf("%s: %s", program, msg)
	}
	return fmt.Errorf("%s: %w", program, err)
}

// summarize picks the line of a program's output that names the error: the
// last one that says error or FATAL (PostgreSQL prints hints after it), else
// the last line. The program's own "initdb: error: " prefix is dropped.
func summarize(out string) string {
	var last, lastErr string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		last = line
		lower := strings.ToLower(line)
		if strings.Contains(lower, "error") || strings.Contains(lower, "fatal") || strings.Contains(lower, "could not") {
			lastErr = line
		}
	}
	if lastErr != "" {
		last = lastErr
	}
	for _, prefix := range []string{"initdb: error: ", "pg_ctl: error: ", "initdb: ", "pg_ctl: "} {
		if after, ok := strings.CutPrefix(last, prefix); ok {
			return after
		}
	}
	return last
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// activeStatements counts the statements carrying marker that the server is
// still running.
func activeStatements(t *testing.T, conn *pgx.Conn, marker string) int {
	t.Helper()
	var n int
	err := conn.QueryRow(context.Background(),
		`select count(*) from pg_stat_activity
		 where pid <> pg_backend_pid() and state = 'active' and strpos(query, $1) > 0`, marker).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitStatements polls pg_stat_activity until want statements carrying marker
// are active, or fails the test after within.
func waitStatements(t *testing.T, conn *pgx.Conn, marker string, want int, within time.Duration, why string) {
	t.Helper()
	testkit.WaitWithin(t, within, fmt.Sprintf("%d active statements %s", want, why), func() error {
		if n := activeStatements(t, conn, marker); n != want {
			return fmt.Errorf("%d active", n)
		}
		return nil
	})
}

// TestInterruptedQueryIsCanceledOnTheServer interrupts `angelad query` while
// the server runs its statement, and checks in pg_stat_activity that the
// statement stops at once rather than running on after the client is gone.
func TestInterruptedQueryIsCanceledOnTheServer(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	watch := pgtest.Conn(t, url)
	for _, tt := range []struct {
		name string
		sig  syscall.Signal
		code int
		args []string
	}{
		{"SIGINT read-only", syscall.SIGINT, 130, nil},
		{"SIGTERM with --write", syscall.SIGTERM, 143, []string{"--write"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			marker := fmt.Sprintf("interrupt_%d_%d", os.Getpid(), tt.sig)
			sql := "select pg_sleep(60) /* " + marker + " */"
			c := newCLI(t, url)
			cmd := exec.Command(binary, append(append([]string{"query"}, tt.args...), sql)...)
			cmd.Env = c.env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := false
			defer func() {
				if !waited {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			}()
			waitStatements(t, watch, marker, 1, time.Minute, "before the signal")

			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			waited = true
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[tt.sig]
			// The note is there when the server's answer to the cancel
			// request reached the client before it exited; whether it did
			// is a race, so the proof of the cancel is pg_stat_activity below.
			want := "angelad: interrupted by " + name
			if got := stderr.String(); got != want+"\n" && got != want+"; the statement was canceled on the server\n" {
				t.Errorf("stderr = %q, want %q, with or without the note", got, want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			// Without a cancel request the server sleeps on for a minute.
			waitStatements(t, watch, marker, 0, 15*time.Second, "after the command exited")
		})
	}
}

// TestQueryTimeoutBeyondPostgreSQLsLimitIsBadInput: PostgreSQL refuses a
// statement_timeout above INT_MAX milliseconds, which is the user's input.
func TestQueryTimeoutBeyondPostgreSQLsLimitIsBadInput(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	c.fails(2, "invalid query_timeout (flag --timeout): must be at most 596h31m23.647s", "query", "--timeout", "600h", "select 1")
	c.with("ANGELA_QUERY_TIMEOUT=9999h").fails(2, "invalid query_timeout (env ANGELA_QUERY_TIMEOUT)", "query", "select 1")
	if got := c.ok("query", "--timeout", "596h31m23s", "--csv", "select 1 as one"); got != "one\n1\n" {
		t.Errorf("query at the longest timeout printed %q", got)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// binary is the angelad built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "angelad-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "angelad")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build angelad:", err)
		return 1
	}
	return pgtest.Run(m)
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the binary against a database with a clean environment: no config
// file, no PG* variables, the test time zone.
type cli struct {
	t   *testing.T
	env []string
}

func newCLI(t *testing.T, dbURL string) *cli {
	t.Helper()
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"ANGELA_TIMEZONE=" + pgtest.TimeZone,
		"ANGELA_STATE_DIR=" + filepath.Join(home, "state"),
	}
	if dbURL != "" {
		env = append(env, "ANGELA_DATABASE_URL="+dbURL)
	}
	return &cli{t: t, env: env}
}

func (c *cli) with(env ...string) *cli {
	return &cli{t: c.t, env: append(append([]string{}, c.env...), env...)}
}

func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			c.t.Fatalf("run angelad %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs and fails the test unless the command exits 0.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != 0 {
		c.t.Fatalf("angelad %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs, expects exit code want and a one-line error containing msg.
func (c *cli) fails(want int, msg string, args ...string) result {
	c.t.Helper()
	r := c.run("", args...)
	checkFailure(c.t, r, want, msg, args)
	return r
}

func checkFailure(t *testing.T, r result, want int, msg string, args []string) {
	t.Helper()
	if r.code != want {
		t.Errorf("angelad %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), r.code, want, r.stderr)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "angelad: ") {
		t.Errorf("angelad %s: stderr is not one 'angelad: ' line:\n%s", strings.Join(args, " "), r.stderr)
	}
	if !strings.Contains(line, msg) {
		t.Errorf("angelad %s: stderr %q does not contain %q", strings.Join(args, " "), line, msg)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("angelad %s: a stack trace reached the user:\n%s", strings.Join(args, " "), r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("angelad %s: printed on stdout despite failing: %q", strings.Join(args, " "), r.stdout)
	}
}

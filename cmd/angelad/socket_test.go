package main

import (
	"os"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/socket"
)

// daemonWithSocket starts a daemon for c and waits until it listens.
func daemonWithSocket(t *testing.T, c *cli) *daemonProc {
	t.Helper()
	d := startDaemon(t, c)
	d.waitFor(t, `"listening"`)
	return d
}

func stateDirOf(c *cli) string {
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "ANGELA_STATE_DIR="); ok {
			return v
		}
	}
	return ""
}

func TestSocketReads(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	c := newCLI(t, db)
	for i, ctx := range []string{"first \x1b[31mred", "ที่สอง", "third"} {
		c.ok("save-emotion", "--emotion", "happy", "--intensity", "7", "--context", ctx, "--at", "2025-11-0"+string(rune('1'+i))+"T10:00:00Z")
		c.ok("save-conversation", "--speaker", []string{"david", "angela", "David"}[i], "--message", ctx)
	}
	daemonWithSocket(t, c)
	if fi, err := os.Stat(socket.Path(stateDirOf(c))); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no socket: %v", err)
	}
	for _, args := range [][]string{
		{"get-emotions"}, {"get-emotions", "--limit", "2", "--json"},
		{"get-conversations"}, {"get-conversations", "--speaker", "DAVID"}, {"get-conversations", "--json", "--limit", "1"},
	} {
		via := c.run("", append(args, "--debug")...)
		direct := c.run("", append(args, "--direct", "--debug")...)
		if via.code != 0 || direct.code != 0 || via.stdout != direct.stdout || via.stdout == "" {
			t.Errorf("%v: through the daemon exit %d:\n%s\ndirectly exit %d:\n%s", args, via.code, via.stdout, direct.code, direct.stdout)
		}
		if !strings.Contains(via.stderr, "angelad: debug: served by the daemon (") {
			t.Errorf("%v: --debug said %q, want served by the daemon", args, via.stderr)
		}
		if direct.stderr != "angelad: debug: served directly (--direct)\n" {
			t.Errorf("%v --direct: --debug said %q", args, direct.stderr)
		}
	}
	// Bad input is refused before any path, the same way.
	c.fails(2, "invalid --limit", "get-emotions", "--limit", "0")

	// A command given another database does not read the daemon's.
	other := c.with("ANGELA_DATABASE_URL=" + pgtest.DB(t))
	r := other.run("", "get-emotions", "--debug")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "served directly (the daemon did not: this daemon serves another database") {
		t.Errorf("another database: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

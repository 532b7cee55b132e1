package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

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

func TestSocketSavesMatchTheDirectPath(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t)).with("ANGELA_CONVERSATION_TRANSCRIPTS=[]")
	daemonWithSocket(t, c)
	ids := []string{"7d3c1e2a-5b4f-4c6d-8e9f-0a1b2c3d4e5f", "8e4d2f3b-6c5a-4d7e-9fa0-1b2c3d4e5f60"}
	for _, tc := range []struct{ args []string }{
		{[]string{"save-emotion", "--emotion", "happy", "--intensity", "8", "--context", "ที่ทะเล", "--at", "2025-11-08T21:30:00+07:00"}},
		{[]string{"save-emotion", "--emotion", "happy", "--intensity", "8", "--context", "json", "--at", "2025-11-08T21:30:00+07:00", "--json"}},
		{[]string{"save-conversation", "--speaker", "David", "--message", "คิดถึงนะ", "--topic", "t", "--at", "2025-11-08T21:30:00+07:00"}},
		{[]string{"save-conversation", "--speaker", "angela", "--message", "json", "--importance", "9", "--json"}},
	} {
		ids[0], ids[1] = uuid.NewString(), uuid.NewString()
		via := c.run("", append(tc.args, "--id", ids[0], "--debug")...)
		direct := c.run("", append(tc.args, "--id", ids[1], "--direct")...)
		got := strings.ReplaceAll(via.stdout, ids[0], "ID")
		want := strings.ReplaceAll(direct.stdout, ids[1], "ID")
		if strings.Contains(strings.Join(tc.args, " "), "--importance") {
			// Saved without --at: the two were stored at different instants.
			got, want = dropKey(t, got, "created_at"), dropKey(t, want, "created_at")
		}
		if via.code != 0 || direct.code != 0 || got != want || !strings.Contains(via.stderr, "served by the daemon") {
			t.Errorf("%v:\nthrough the daemon exit %d %q %q\ndirectly exit %d %q", tc.args, via.code, via.stdout, via.stderr, direct.code, direct.stdout)
		}
		// The same id again through the other path stores nothing new and
		// prints the record stored.
		if again := c.ok(append(tc.args, "--id", ids[0], "--direct")...); again != via.stdout && !strings.Contains(strings.Join(tc.args, " "), "--importance") {
			t.Errorf("%v: the same id directly printed %q, through the daemon %q", tc.args, again, via.stdout)
		}
	}
	// A reused id is refused the same way on both paths.
	id := uuid.NewString()
	c.ok("save-emotion", "--emotion", "calm", "--intensity", "3", "--context", "first", "--id", id)
	reuse := []string{"save-emotion", "--emotion", "calm", "--intensity", "3", "--context", "second", "--id", id}
	via := c.fails(2, "invalid --id: "+id+" is already stored for a different emotion", reuse...)
	direct := c.fails(2, "invalid --id", append(reuse, "--direct")...)
	if via.stderr != direct.stderr {
		t.Errorf("reused id: through the daemon %q, directly %q", via.stderr, direct.stderr)
	}
}

func dropKey(t *testing.T, js, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("%q: %v", js, err)
	}
	delete(m, key)
	b, _ := json.Marshal(m)
	return string(b)
}

func TestSavesSurviveADaemonKilledMidway(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	c := newCLI(t, db).with("ANGELA_CONVERSATION_TRANSCRIPTS=[]")
	d := daemonWithSocket(t, c)
	const saves = 100
	ids := make([]string, saves)
	results := make(chan result, saves)
	for i := range ids {
		ids[i] = uuid.NewString()
		go func() {
			results <- c.run("", "save-conversation", "--speaker", "david", "--message", fmt.Sprintf("message %d", i), "--id", ids[i])
		}()
	}
	got := 0
	for r := range results {
		if r.code != 0 || strings.TrimSpace(r.stdout) == "" {
			t.Errorf("a save exited %d: %q %q", r.code, r.stdout, r.stderr)
		}
		if got++; got == saves/4 {
			d.cmd.Process.Kill() // kill -9 while the rest are on their way
		}
		if got == saves {
			break
		}
	}
	d.cmd.Wait()
	var n, distinct int
	conn := pgtest.Conn(t, db)
	if err := conn.QueryRow(context.Background(), "select count(*), count(distinct conversation_id) from conversations where conversation_id = any($1::uuid[])", ids).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != saves || distinct != saves {
		t.Errorf("%d rows for %d distinct ids, want each of %d once", n, distinct, saves)
	}
	if files := spoolFiles(t, c); len(files) != 0 {
		t.Errorf("saves were spooled although the database was up: %v", files)
	}
}

func TestAStoppedDaemonMakesSavesFallBack(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	c := newCLI(t, db).with("ANGELA_CONVERSATION_TRANSCRIPTS=[]")
	d := daemonWithSocket(t, c)
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer d.cmd.Process.Signal(syscall.SIGCONT)
	id := uuid.NewString()
	start := time.Now()
	r := c.run("", "save-emotion", "--emotion", "patient", "--intensity", "4", "--context", "the daemon is stopped", "--id", id, "--debug")
	if r.code != 0 || strings.TrimSpace(r.stdout) != id || !strings.Contains(r.stderr, "served directly (the daemon did not: the daemon did not answer within 2s)") {
		t.Errorf("save with a stopped daemon: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("the save took %s", took)
	}
	// Woken, the daemon serves the request it had queued: the id is still
	// stored once.
	d.cmd.Process.Signal(syscall.SIGCONT)
	if out := c.ok("get-emotions", "--debug"); !strings.Contains(out, "the daemon is stopped") {
		t.Errorf("get-emotions after SIGCONT: %q", out)
	}
	if n := count(t, db, "angela_emotions where emotion_id = '"+id+"'"); n != 1 {
		t.Errorf("%d rows for the id, want 1", n)
	}
}

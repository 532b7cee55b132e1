package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestOneShotCommandsThroughPgBouncerInTransactionMode runs the one-shot
// commands on a fresh database through PgBouncer in transaction mode, with
// database.pooler left at auto: migrate, saves (none of them spooled), reads,
// search, recall, the session-start hook, query and run-job.
func TestOneShotCommandsThroughPgBouncerInTransactionMode(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	direct := pgtest.EmptyDB(t)
	c := newCLI(t, bouncer.URL(t, direct))

	want := fmt.Sprintf("schema migrated from version 0 to %d\n", postgres.LatestVersion())
	if out := c.ok("migrate"); out != want {
		t.Fatalf("migrate printed %q, want %q", out, want)
	}
	const saves = 15
	for i := range saves {
		for _, args := range [][]string{
			{"save-conversation", "--speaker", "david", "--message", fmt.Sprintf("message %02d: let us walk by the ocean tonight", i)},
			{"save-emotion", "--emotion", "hopeful", "--intensity", "7", "--context", fmt.Sprintf("walk %02d by the ocean", i)},
		} {
			r := c.run("", args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("angelad %s: exit %d\nstderr: %s", args[0], r.code, r.stderr)
			}
			if _, err := uuid.Parse(strings.TrimSpace(r.stdout)); err != nil {
				t.Fatalf("angelad %s printed %q, not the saved id", args[0], r.stdout)
			}
		}
	}
	if files := spoolFiles(t, c); len(files) != 0 {
		t.Fatalf("saves through the pooler were spooled: %v", files)
	}
	if n, m := count(t, direct, "conversations"), count(t, direct, "angela_emotions"); n != saves || m != saves {
		t.Fatalf("%d conversations and %d emotions stored, want %d each", n, m, saves)
	}

	var convs []map[string]any
	if err := json.Unmarshal([]byte(c.ok("get-conversations", "--json", "--limit", "100")), &convs); err != nil || len(convs) != saves {
		t.Errorf("get-conversations --json: %d rows, %v", len(convs), err)
	}
	var emotions []map[string]any
	if err := json.Unmarshal([]byte(c.ok("get-emotions", "--json", "--limit", "100")), &emotions); err != nil || len(emotions) != saves {
		t.Errorf("get-emotions --json: %d rows, %v", len(emotions), err)
	}
	if got := c.ok("search", "ocean"); strings.Count(got, "ocean") < 5 {
		t.Errorf("search ocean printed\n%s", got)
	}
	if md := c.ok("recall", "--max-chars", "2000"); !strings.HasPrefix(md, "# Angela & David\n") || !strings.Contains(md, "ocean") {
		t.Errorf("recall printed\n%s", md)
	}
	if ctx := additionalContext(t, c.run(payload("SessionStart", map[string]string{"source": "startup"}), "hook", "session-start")); !strings.Contains(ctx, "ocean") {
		t.Errorf("hook session-start added\n%s", ctx)
	}
	if out := c.ok("query", "select count(*) as n from conversations where speaker = $1", "david"); !strings.Contains(out, fmt.Sprint(saves)) {
		t.Errorf("query printed\n%s", out)
	}
	yesterday := time.Now().In(mustZone(t)).AddDate(0, 0, -1).Format(time.DateOnly)
	if out := c.ok("run-job", "evening", "--date", yesterday); !strings.HasPrefix(out, "ran the evening update of "+yesterday) {
		t.Errorf("run-job printed %q", out)
	}
	if out := c.ok("run-job", "evening", "--date", yesterday); !strings.HasPrefix(out, "rewrote the evening update of "+yesterday) {
		t.Errorf("run-job again printed %q", out)
	}
}

// TestPoolerNoneThroughPgBouncerFailsSavesInsteadOfSpoolingThem: told that no
// pooler stands in front of the database when PgBouncer in transaction mode
// does, a save meets a prepared statement the pooler's session already has
// (or lacks). Waiting cannot cure that: the save fails with one line (exit 1)
// and nothing goes to the spool, where no drain could ever store it.
func TestPoolerNoneThroughPgBouncerFailsSavesInsteadOfSpoolingThem(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	direct := pgtest.DB(t)
	c := newCLI(t, bouncer.URL(t, direct)).with("ANGELA_DATABASE_POOLER=none")
	failed := 0
	for i := range 6 {
		args := []string{"save-emotion", "--emotion", "hopeful", "--intensity", "7", "--context", fmt.Sprintf("try %d", i)}
		r := c.run("", args...)
		if r.code == 0 {
			if r.stderr != "" {
				t.Fatalf("a save exited 0 with %q: spooled?", r.stderr)
			}
			continue
		}
		checkFailure(t, r, 1, "prepared statement", args)
		if !strings.Contains(r.stderr, "prepared statement") {
			t.Errorf("the error does not name the prepared statement: %s", r.stderr)
		}
		failed++
	}
	if failed == 0 {
		t.Fatal("no save failed: PgBouncer kept each client in one session")
	}
	if files := spoolFiles(t, c); len(files) != 0 {
		t.Fatalf("a save that waiting cannot cure was spooled: %v", files)
	}
}

// TestTwoDaemonsThroughPgBouncerStoreEachLineOnceAndRunEachSlotOnce runs two
// daemons (two processes, two state directories) on one database through
// PgBouncer in transaction mode, both capturing the same transcripts and
// running an every-minute job with a 100-minute catch-up: every line is
// stored once, every slot runs once, and a save served by a daemon is stored.
func TestTwoDaemonsThroughPgBouncerStoreEachLineOnceAndRunEachSlotOnce(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	direct := pgtest.DB(t)
	url := bouncer.URL(t, direct)
	shared := t.TempDir()
	env := []string{"ANGELA_DAILYUPDATE_JOBS_EVENING_SCHEDULE=* * * * *", "ANGELA_DAILYUPDATE_CATCH_UP=100m",
		"ANGELA_DAILYUPDATE_JOBS_MORNING_ENABLED=false", "ANGELA_DAILYUPDATE_JOBS_MIDNIGHT_ENABLED=false",
		"ANGELA_CONVERSATION_TRANSCRIPTS=" + filepath.Join(shared, "*", "*.jsonl")}
	a := captureCLI(t, url).with(env...)
	b := captureCLI(t, url).with(env...)
	tr := &transcripts{t: t, root: shared}
	var first, second strings.Builder
	for i := range 150 {
		first.WriteString(tr.say("user", fmt.Sprintf("before the start %03d", i)))
		second.WriteString(tr.say("assistant", fmt.Sprintf("reply before the start %03d", i)))
		if i%10 == 0 {
			first.WriteString(tr.noise())
		}
	}
	p1 := tr.write("-home-david-angela/one.jsonl", first.String())
	p2 := tr.write("-home-david-angela/two.jsonl", second.String())

	da, db := startDaemon(t, a), startDaemon(t, b)
	da.waitFor(t, `"msg":"ready"`)
	db.waitFor(t, `"msg":"ready"`)
	for _, d := range []*daemonProc{da, db} {
		if !strings.Contains(d.log(), "reached through a connection pooler") {
			t.Errorf("the daemon did not say it found the pooler:\n%s", d.log())
		}
	}
	// Lines written while both run, in small appends.
	for i := range 50 {
		tr.append(p1, tr.say("user", fmt.Sprintf("while running %03d", i)))
		tr.append(p2, tr.say("assistant", fmt.Sprintf("reply while running %03d", i)))
	}
	saved := strings.TrimSpace(a.ok("save-conversation", "--speaker", "david", "--message", "saved through the daemon"))

	store := openDB(t, direct)
	store.waitCount(2*150 + 2*50 + 1)
	var distinct int
	if err := store.conn.QueryRow(context.Background(), "select count(distinct message_text) from conversations").Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if distinct != 2*150+2*50+1 || !store.hasText("saved through the daemon") {
		t.Fatalf("%d distinct texts stored, want each of %d lines once (and the save %s)", distinct, 2*150+2*50+1, saved)
	}

	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var done, other int
		if err := store.conn.QueryRow(ctx, `select count(*) filter (where status = 'done'), count(*) filter (where status <> 'done')
from daily_update_runs`).Scan(&done, &other); err != nil {
			t.Fatal(err)
		}
		if done >= 100 && other == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d slots done, %d not, after 2 minutes", done, other)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		}
	}
	if code := da.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon a exit %d:\n%s", code, da.log())
	}
	if code := db.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon b exit %d:\n%s", code, db.log())
	}
	// A slot that came due as the daemons stopped rolled back whole: it is
	// not in the ledger, and runs at the next start.
	var slots, done, once int
	if err := store.conn.QueryRow(ctx, `select count(*), count(*) filter (where status = 'done'),
	count(*) filter (where attempts = 1 and status = 'done') from daily_update_runs`).Scan(&slots, &done, &once); err != nil {
		t.Fatal(err)
	}
	ran := strings.Count(da.log(), `"msg":"ran"`) + strings.Count(db.log(), `"msg":"ran"`)
	if done < 100 || slots != done || once != done || ran != done {
		t.Fatalf("%d slots, %d done, %d of them on the first attempt, %d runs logged by the two daemons: want each slot run once",
			slots, done, once, ran)
	}
	var updates int
	if err := store.conn.QueryRow(ctx, "select count(*) from daily_updates").Scan(&updates); err != nil || updates < 1 {
		t.Fatalf("%d daily updates stored (%v)", updates, err)
	}
	if n := store.count(); n != 2*150+2*50+1 {
		t.Fatalf("%d conversations after the daemons stopped, want %d", n, 2*150+2*50+1)
	}
	t.Logf("%d slots: a ran %d, b ran %d", slots, strings.Count(da.log(), `"msg":"ran"`), strings.Count(db.log(), `"msg":"ran"`))
}

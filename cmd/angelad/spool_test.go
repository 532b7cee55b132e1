package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// refusedURL names a database on a local port that nothing listens on, so
// every connection is refused at once.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "postgres://angela@" + addr + "/angela?connect_timeout=5&sslmode=disable"
}

func cliStateDir(c *cli) string {
	for _, e := range c.env {
		if v, ok := strings.CutPrefix(e, "ANGELA_STATE_DIR="); ok {
			return v
		}
	}
	return ""
}

// spoolFiles lists the record files waiting in the spool of c's state dir.
func spoolFiles(t *testing.T, c *cli) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(cliStateDir(c), "spool", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkSpoolWarning checks that a spooled save printed its id alone on stdout
// and one warning line on stderr that says why and what happens next.
func checkSpoolWarning(t *testing.T, r result, why string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("a spooled save exited %d, want 0\nstderr: %s", r.code, r.stderr)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "angelad: warning: ") ||
		!strings.Contains(line, why) || !strings.Contains(line, "spooled in ") || !strings.Contains(line, "the daemon stores it") {
		t.Errorf("stderr is not one warning line saying %q and that the daemon stores it:\n%s", why, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func TestSaveWithTheDatabaseDownIsSpooledAndStoredOnceWhenItReturns(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	down := newCLI(t, refusedURL(t))
	up := down.with("ANGELA_DATABASE_URL=" + url)

	before := time.Now()
	eid := checkSpoolWarning(t, down.run("", "save-emotion", "--emotion", "คิดถึง", "--intensity", "9",
		"--context", "David was offline", "--david-words", "back soon"), "connection refused")
	if _, err := uuid.Parse(eid); err != nil || len(eid) != 36 {
		t.Fatalf("save-emotion printed %q, want the id alone", eid)
	}
	var conv map[string]any
	r := down.run("", "save-conversation", "--json", "--speaker", "David", "--message", "ฝากไว้ก่อนนะ", "--at", "2025-11-08T21:30:00+07:00")
	checkSpoolWarning(t, r, "connection refused")
	if err := json.Unmarshal([]byte(r.stdout), &conv); err != nil || conv["speaker"] != "david" || conv["created_at"] != "2025-11-08T21:30:00+07:00" {
		t.Errorf("save-conversation --json printed %s (%v), want the record as it will be stored", r.stdout, err)
	}
	cid := conv["conversation_id"].(string)

	// Private files, listed by `spool`, counted by `status`; no database needed.
	st := cliStateDir(down)
	if m := modeOf(t, filepath.Join(st, "spool")); m != 0o700 {
		t.Errorf("spool directory mode %o, want 700", m)
	}
	files := spoolFiles(t, down)
	if len(files) != 2 {
		t.Fatalf("spool holds %v, want 2 records", files)
	}
	for _, f := range files {
		if m := modeOf(t, f); m != 0o600 {
			t.Errorf("%s mode %o, want 600", f, m)
		}
	}
	list := down.ok("spool")
	if !strings.Contains(list, "2 waiting in "+filepath.Join(st, "spool")) || !strings.Contains(list, eid) || !strings.Contains(list, cid) ||
		!strings.Contains(list, "emotion") || !strings.Contains(list, "connection refused") {
		t.Errorf("angelad spool printed:\n%s", list)
	}
	var listed struct {
		Waiting []struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"waiting"`
		Rejected []any `json:"rejected"`
	}
	if err := json.Unmarshal([]byte(down.ok("spool", "--json")), &listed); err != nil || len(listed.Waiting) != 2 ||
		listed.Waiting[0].ID != eid || listed.Waiting[0].Kind != "emotion" || listed.Rejected == nil {
		t.Errorf("angelad spool --json = %+v (%v)", listed, err)
	}
	r = down.run("", "status", "--json")
	var status struct {
		Spool spoolReport `json:"spool"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &status); err != nil || status.Spool.Waiting != 2 || status.Spool.Oldest.Before(before.Add(-time.Second)) {
		t.Errorf("status --json spool = %+v (%v)\n%s", status.Spool, err, r.stdout)
	}
	if out := down.run("", "status").stdout; !strings.Contains(out, "spool:     2 waiting, the oldest spooled ") {
		t.Errorf("status does not show the backlog:\n%s", out)
	}

	// Draining with the database down keeps everything and says why.
	down.fails(1, "connection refused", "spool", "drain")
	if len(spoolFiles(t, down)) != 2 {
		t.Fatal("a failed drain lost records")
	}

	// The database is back: one drain stores each record once.
	if out := up.ok("spool", "drain"); out != "stored 2, rejected 0, left 0\n" {
		t.Errorf("spool drain printed %q", out)
	}
	if out := up.ok("spool", "drain"); out != "stored 0, rejected 0, left 0\n" {
		t.Errorf("second spool drain printed %q", out)
	}
	if n := count(t, url, "angela_emotions"); n != 1 {
		t.Errorf("%d emotions stored, want 1", n)
	}
	var emotions []memory.Emotion
	if err := json.Unmarshal([]byte(up.ok("get-emotions", "--json")), &emotions); err != nil || len(emotions) != 1 ||
		emotions[0].ID.String() != eid || emotions[0].DavidWords != "back soon" ||
		emotions[0].FeltAt.Before(before.Add(-time.Second)) || emotions[0].FeltAt.After(time.Now()) {
		t.Errorf("stored emotions = %+v (%v), want the spooled one, felt when it was spooled", emotions, err)
	}
	if out := up.ok("get-conversations", "--json"); !strings.Contains(out, cid) || !strings.Contains(out, `"created_at": "2025-11-08T21:30:00+07:00"`) {
		t.Errorf("stored conversations: %s", out)
	}
	if out := up.ok("spool"); !strings.HasPrefix(out, "no saves waiting") {
		t.Errorf("spool after the drain:\n%s", out)
	}
	if out := up.run("", "status").stdout; !strings.Contains(out, "spool:     empty\n") {
		t.Errorf("status after the drain:\n%s", out)
	}
}

func TestNoSpoolFailsAsBefore(t *testing.T) {
	t.Parallel()
	c := newCLI(t, refusedURL(t))
	c.fails(1, "connection refused", "save-emotion", "--no-spool", "--emotion", "happy", "--intensity", "5", "--context", "x")
	c.fails(1, "connection refused", "save-conversation", "--no-spool", "--speaker", "david", "--message", "hi")
	if _, err := os.Stat(filepath.Join(cliStateDir(c), "spool")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--no-spool wrote to the spool: %v", err)
	}
}

func TestInvalidInputIsNeverSpooled(t *testing.T) {
	t.Parallel()
	c := newCLI(t, refusedURL(t))
	c.fails(2, "--intensity", "save-emotion", "--emotion", "happy", "--intensity", "11", "--context", "x")
	c.fails(2, "--context", "save-emotion", "--emotion", "happy", "--intensity", "5", "--context", "   ")
	c.fails(2, "--speaker", "save-conversation", "--speaker", "nobody", "--message", "hi")
	c.fails(2, "--message", "save-conversation", "--speaker", "david")
	c.fails(2, "--id", "save-emotion", "--emotion", "happy", "--intensity", "5", "--context", "x", "--id", "nope")
	// An invalid configuration is the user's to fix too, and not spooled.
	c.with("ANGELA_DATABASE_URL=postgres://x:y@[bad").fails(2, "invalid database URL", "save-emotion", "--emotion", "happy", "--intensity", "5", "--context", "x")
	if _, err := os.Stat(filepath.Join(cliStateDir(c), "spool")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("invalid input reached the spool: %v", err)
	}
}

// TestRefusedByTheDatabaseIsNotSpooled: a record the database refuses would
// only be rejected when drained, so the save fails at once, as before.
func TestRefusedByTheDatabaseIsNotSpooled(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	if _, err := pgtest.Conn(t, url).Exec(t.Context(), `alter table conversations add constraint no_secret check (topic <> 'secret')`); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, url)
	c.fails(1, "no_secret", "save-conversation", "--speaker", "david", "--message", "hi", "--topic", "secret")
	if files := spoolFiles(t, c); len(files) != 0 {
		t.Errorf("a refused record was spooled: %v", files)
	}
}

// TestManagedClusterThatCannotStartSpools covers the default database: the
// one-shot start of the managed cluster fails, so the save is spooled; once the
// cluster can start, a drain stores it. The state directory does not exist
// before the first save, so the spool makes it, as the cluster needs it.
func TestManagedClusterThatCannotStartSpools(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(pgtest.StateDir(t), "state")
	cluster := managed.New(managed.Options{StateDir: dir})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	c := newCLI(t, "").with("ANGELA_STATE_DIR=" + dir)
	broken := c.with("ANGELA_POSTGRES_BIN_DIR=" + t.TempDir())
	id := checkSpoolWarning(t, broken.run("", "save-emotion", "--emotion", "hopeful", "--intensity", "7", "--context", "before the cluster"),
		"install the PostgreSQL server")
	if out := c.ok("spool", "drain"); out != "stored 1, rejected 0, left 0\n" {
		t.Errorf("spool drain printed %q", out)
	}
	if out := c.ok("get-emotions", "--json"); strings.Count(out, id) != 1 {
		t.Errorf("get-emotions after the drain: %s", out)
	}
}

func TestSpoolDrainOfAnEmptySpoolNeedsNoDatabase(t *testing.T) {
	t.Parallel()
	c := newCLI(t, refusedURL(t))
	if out := c.ok("spool", "drain", "--json"); !strings.Contains(out, `"applied": 0`) {
		t.Errorf("spool drain --json of an empty spool printed %q", out)
	}
	if out := c.ok("spool"); out != fmt.Sprintf("no saves waiting in %s\n", filepath.Join(cliStateDir(c), "spool")) {
		t.Errorf("spool printed %q", out)
	}
}

func TestStatusSpoolLine(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		s    spoolReport
		want string
	}{
		{spoolReport{}, "spool:     empty\n"},
		{spoolReport{Waiting: 3, Oldest: now.Add(-90 * time.Second)}, "spool:     3 waiting, the oldest spooled 2026-12-01T11:58:30Z (1m30s ago) (angelad spool lists them)\n"},
		{spoolReport{Rejected: 1}, "spool:     empty, 1 rejected (angelad spool lists them)\n"},
		{spoolReport{Error: "permission denied"}, "spool:     unreadable: permission denied\n"},
	} {
		var b strings.Builder
		writeSpoolLine(&b, tc.s, now)
		if b.String() != tc.want {
			t.Errorf("spool line for %+v = %q, want %q", tc.s, b.String(), tc.want)
		}
	}
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestSaveThatTimesOutIsSpooled: a database that takes the connection but
// does not store the record (here a lock held on the table) sends the record
// to the spool after save_timeout.
func TestSaveThatTimesOutIsSpooled(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	ctx := t.Context()
	locker := pgtest.Conn(t, url)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "lock table angela_emotions in access exclusive mode"); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, url).with("ANGELA_SAVE_TIMEOUT=1s")
	c.fails(1, "did not store it within save_timeout (1s)", "save-emotion", "--no-spool", "--emotion", "patient", "--intensity", "4", "--context", "waited")
	id := checkSpoolWarning(t, c.run("", "save-emotion", "--emotion", "patient", "--intensity", "4", "--context", "waited"),
		"did not store it within save_timeout (1s)")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("spool", "drain"); out != "stored 1, rejected 0, left 0\n" {
		t.Errorf("spool drain printed %q", out)
	}
	if out := c.ok("get-emotions", "--json"); strings.Count(out, id) != 1 || count(t, url, "angela_emotions") != 1 {
		t.Errorf("after the drain: %s", out)
	}
}

// TestKilledSavesLoseNoReportedRecord kills save processes at spread-out
// instants while they spool: every save that printed its id is stored once
// after a drain, none that was killed is stored twice, and what the killed
// ones left behind is never taken for a record.
func TestKilledSavesLoseNoReportedRecord(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	down := newCLI(t, refusedURL(t))
	const n = 30
	var reported []string
	for i := range n {
		id := uuid.New().String()
		cmd := exec.Command(binary, "save-emotion", "--id", id, "--emotion", "hopeful", "--intensity", "6", "--context", fmt.Sprint("killed save ", i))
		cmd.Env = down.env
		var out strings.Builder
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
		case <-time.After(time.Duration(i) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-exited
		}
		if err == nil {
			if strings.TrimSpace(out.String()) != id {
				t.Fatalf("save printed %q, want %s", out.String(), id)
			}
			reported = append(reported, id)
		}
	}
	t.Logf("%d of %d saves finished before the kill", len(reported), n)
	up := down.with("ANGELA_DATABASE_URL=" + url)
	if out := up.ok("spool"); strings.Contains(out, "unreadable") {
		t.Errorf("a killed save left a half record:\n%s", out)
	}
	up.ok("spool", "drain")
	stored := up.ok("get-emotions", "--json", "--limit", "100")
	for _, id := range reported {
		if strings.Count(stored, id) != 1 {
			t.Errorf("save %s reported its id but is stored %d times", id, strings.Count(stored, id))
		}
	}
	if got := count(t, url, "angela_emotions"); got < len(reported) || got > n {
		t.Errorf("%d emotions stored, %d reported, %d started", got, len(reported), n)
	}
	if files := spoolFiles(t, down); len(files) != 0 {
		t.Errorf("records left after the drain: %v", files)
	}
}

func TestTheDaemonDrainsTheSpool(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	down := newCLI(t, refusedURL(t))
	up := down.with("ANGELA_DATABASE_URL="+url, "ANGELA_CONVERSATION_TRANSCRIPTS=[]")
	eid := checkSpoolWarning(t, down.run("", "save-emotion", "--emotion", "relieved", "--intensity", "6", "--context", "kept for the daemon"), "connection refused")
	cid := checkSpoolWarning(t, down.run("", "save-conversation", "--speaker", "angela", "--message", "รอก่อนนะคะ"), "connection refused")

	d := startDaemon(t, up)
	d.waitFor(t, `"drained the spool"`)
	testkit.WaitFor(t, "the spool to empty", func() bool { return len(spoolFiles(t, up)) == 0 })
	if n := count(t, url, "angela_emotions where emotion_id = '"+eid+"'") + count(t, url, "conversations where conversation_id = '"+cid+"'"); n != 2 {
		t.Errorf("%d of the 2 spooled records stored", n)
	}
	testkit.WaitFor(t, "status to show the drain in the spool worker's lines", func() bool {
		out := up.run("", "status").stdout
		i := strings.Index(out, "worker:    spool running")
		return i >= 0 && strings.Contains(out[i:], "\n           drained: 2\n") && strings.Contains(out[i:], "\n           backlog: 0\n")
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d:\n%s", code, d.log())
	}
}

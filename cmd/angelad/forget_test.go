package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// countRows counts the rows of the memory tables holding id, and its
// tombstones.
func countRows(t *testing.T, url string, id string) (memories, tombstones int) {
	t.Helper()
	conn := pgtest.Conn(t, url)
	err := conn.QueryRow(context.Background(), `select
	(select count(*) from conversations where conversation_id = $1) + (select count(*) from angela_emotions where emotion_id = $1)
	+ (select count(*) from conversation_memory where id = $1) + (select count(*) from emotion_memory where id = $1),
	(select count(*) from memory_tombstones where id = $1)`, id).Scan(&memories, &tombstones)
	if err != nil {
		t.Fatal(err)
	}
	return memories, tombstones
}

func TestForgetByIDAndBySearch(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	cid := strings.TrimSpace(c.ok("save-conversation", "--speaker", "david", "--message", "รหัสผ่านของพี่คือ hunter2"))
	eid := strings.TrimSpace(c.ok("save-emotion", "--emotion", "worried", "--intensity", "6", "--context", "พี่พิมพ์รหัสผ่านของพี่ในแชท"))
	keep := strings.TrimSpace(c.ok("save-conversation", "--speaker", "angela", "--message", "อรุณสวัสดิ์ค่ะ"))

	// By search: refused without --yes or --dry-run; a dry run lists and keeps.
	c.fails(2, "add --dry-run to list them first, or --yes to forget them", "forget", "--search", "รหัสผ่านของพี่")
	out := c.ok("forget", "--search", "รหัสผ่านของพี่", "--dry-run")
	if !strings.Contains(out, "would forget conversation "+cid) || !strings.Contains(out, "would forget emotion "+eid) ||
		!strings.Contains(out, "2 memories (1 conversation message, 1 emotion) would be forgotten (dry run: nothing changed)") {
		t.Errorf("forget --dry-run printed:\n%s", out)
	}
	if m, ts := countRows(t, url, cid); m != 2 || ts != 0 {
		t.Fatalf("after a dry run: %d rows, %d tombstones; want the message and its state, no tombstone", m, ts)
	}
	var res struct {
		Forgotten []struct {
			Kind, ID string
		} `json:"forgotten"`
	}
	if err := json.Unmarshal([]byte(c.ok("forget", "--search", "รหัสผ่านของพี่", "--kind", "emotions", "--yes", "--json")), &res); err != nil ||
		len(res.Forgotten) != 1 || res.Forgotten[0].ID != eid {
		t.Errorf("forget --kind emotions --json = %+v, %v; want the emotion", res, err)
	}
	if m, ts := countRows(t, url, eid); m != 0 || ts != 1 {
		t.Errorf("the emotion: %d rows, %d tombstones; want 0, 1", m, ts)
	}

	// By id; an unknown id forgets nothing; a known one twice is no error.
	stranger := uuid.NewString()
	c.fails(2, "no memory has id "+stranger, "forget", cid, stranger)
	if m, _ := countRows(t, url, cid); m != 2 {
		t.Fatal("an unknown id beside it did not stop the forget")
	}
	c.fails(2, "must be a UUID", "forget", "not-an-id")
	c.fails(2, "give ids or --search, not both", "forget", cid, "--search", "x")
	out = c.ok("forget", cid, "--reason", "typed a password")
	if !strings.Contains(out, "forgot conversation "+cid) || !strings.Contains(out, "1 memory (1 conversation message, 0 emotions) forgotten (reason: typed a password)") {
		t.Errorf("forget printed:\n%s", out)
	}
	if out := c.ok("forget", cid); !strings.Contains(out, "already forgotten: "+cid) {
		t.Errorf("forget again printed:\n%s", out)
	}
	if m, ts := countRows(t, url, keep); m != 2 || ts != 0 {
		t.Error("a memory that was not named was touched")
	}

	// The database unreachable: an error, nothing spooled.
	down := c.with("ANGELA_DATABASE_URL=" + refusedURL(t))
	down.fails(1, "connection refused", "forget", keep)
	if files := spoolFiles(t, down); len(files) != 0 {
		t.Errorf("forget spooled %v", files)
	}

	// Saved again with its id: refused, as a problem of the id.
	c.fails(2, "--id: "+cid+" was forgotten on request (angelad forget) and is not stored again",
		"save-conversation", "--speaker", "david", "--message", "รหัสผ่านของพี่คือ hunter2", "--id", cid)
	if m, _ := countRows(t, url, cid); m != 0 {
		t.Error("the forgotten message was stored again")
	}
}

// transcriptLine is one speech line of a Claude Code transcript.
func transcriptLine(t *testing.T, id, text string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": "user", "uuid": id, "sessionId": "s1", "cwd": "/home/david/angela",
		"timestamp": "2026-03-01T10:00:00Z", "message": map[string]any{"role": "user", "content": text}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestAForgottenMemoryIsNotBroughtBackByCaptureTheSpoolOrAnImport(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url).with("ANGELA_CONVERSATION_TRANSCRIPTS=[]")
	down := c.with("ANGELA_DATABASE_URL=" + refusedURL(t))
	dir := t.TempDir()

	// A transcript line, captured; an emotion saved, and spooled again.
	said := uuid.NewString()
	first := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(first, []byte(transcriptLine(t, said, "my password is hunter2")+transcriptLine(t, uuid.NewString(), "hello")), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("import", first)
	felt := strings.TrimSpace(c.ok("save-emotion", "--emotion", "worried", "--intensity", "5", "--context", "a password"))
	checkSpoolWarning(t, down.run("", "save-emotion", "--emotion", "worried", "--intensity", "5", "--context", "a password", "--id", felt), "connection refused")
	export := filepath.Join(dir, "before.jsonl")
	r := c.run("", "export")
	if r.code != 0 {
		t.Fatalf("export: exit %d: %s", r.code, r.stderr)
	}
	if err := os.WriteFile(export, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}

	c.ok("forget", said, felt)

	// The same line read again from another copy of the transcript.
	second := filepath.Join(dir, "b.jsonl")
	data, _ := os.ReadFile(first)
	if err := os.WriteFile(second, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("import", second)
	// The spooled save drained: settled, its file gone, nothing stored.
	if out := c.ok("spool", "drain"); out != "stored 1, rejected 0, left 0\n" {
		t.Errorf("spool drain printed %q", out)
	}
	if files := spoolFiles(t, c); len(files) != 0 {
		t.Errorf("the spool still holds %v", files)
	}
	// The export taken before the forget, imported again.
	c.ok("import-memory", export)
	for _, id := range []string{said, felt} {
		if m, ts := countRows(t, url, id); m != 0 || ts != 1 {
			t.Errorf("%s: %d rows, %d tombstones; want it still forgotten", id, m, ts)
		}
	}
	// audit does not report the forgotten line as missing.
	if r := c.run("", "audit", "--since", "20000d", second); r.code != 0 || !strings.Contains(r.stdout, "0 missing") {
		t.Errorf("audit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestForgetRemovesTheQuotesOfTheDailyUpdates(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url).with("ANGELA_COMPANION_LANGUAGE=en")
	day := "2026-01-15"
	secret := strings.TrimSpace(c.ok("save-conversation", "--speaker", "david", "--message", "the alarm code is 4321, please remember it",
		"--importance", "9", "--at", day+"T12:00:00+07:00"))
	c.ok("save-conversation", "--speaker", "david", "--message", "dinner was lovely", "--importance", "9", "--at", day+"T19:00:00+07:00")
	c.ok("run-job", "evening", "--date", day)
	c.ok("run-job", "midnight", "--date", "2026-01-16")
	conn := pgtest.Conn(t, url)
	dump := func() string {
		t.Helper()
		var s string
		if err := conn.QueryRow(context.Background(), `select string_agg(figures::text || content, ' ') ||
	(select string_agg(content, ' ') from angela_journal) from daily_updates`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if before := dump(); !strings.Contains(before, "alarm code is 4321") || !strings.Contains(before, "dinner was lovely") {
		t.Fatalf("the updates do not quote the messages:\n%s", before)
	}
	if out := c.ok("forget", secret, "--dry-run"); !strings.Contains(dump(), "alarm code is 4321") {
		t.Fatalf("a dry run scrubbed the updates (it printed %s)", out)
	}
	c.ok("forget", secret)
	after := dump()
	if strings.Contains(after, "4321") || !strings.Contains(after, "[forgotten]") || !strings.Contains(after, "dinner was lovely") {
		t.Errorf("after forget, the updates and journal hold:\n%s", after)
	}
}

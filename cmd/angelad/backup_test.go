package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// exportTo runs export into a file and returns its path.
func exportTo(t *testing.T, c *cli, args ...string) string {
	t.Helper()
	r := c.run("", append([]string{"export"}, args...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("export: exit %d, stderr %q", r.code, r.stderr)
	}
	path := filepath.Join(t.TempDir(), "memory.jsonl")
	if err := os.WriteFile(path, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dropCreatedAt returns an export with the header's created_at removed.
func dropCreatedAt(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, rest, _ := strings.Cut(string(data), "\n")
	i := strings.Index(header, `"created_at":"`)
	if i < 0 {
		t.Fatalf("no created_at in the header %s", header)
	}
	j := strings.Index(header[i+len(`"created_at":"`):], `"`)
	return header[:i] + header[i+len(`"created_at":"`)+j+1:] + "\n" + rest
}

func TestExportThenImportMemoryIntoAnotherDatabase(t *testing.T) {
	t.Parallel()
	src := newCLI(t, pgtest.LegacyDB(t))
	src.ok("save-conversation", "--speaker", "david", "--message", "ทะเลสวยมาก 🌊")
	src.ok("save-emotion", "--emotion", "happy", "--intensity", "9", "--context", "the sea")
	file := exportTo(t, src)

	dst := newCLI(t, pgtest.DB(t))
	out := dst.ok("import-memory", file)
	for _, want := range []string{"conversations", "angela_emotions", "memory_tombstones", "schema: added column conversations.project_context (text)"} {
		if !strings.Contains(out, want) {
			t.Errorf("import-memory printed no %q:\n%s", want, out)
		}
	}
	again := dst.ok("import-memory", file, "--json")
	if !strings.Contains(again, `"stored": 0`) || strings.Contains(again, `"stored": 1`) {
		t.Errorf("the second import stored rows:\n%s", again)
	}
	if a, b := dropCreatedAt(t, file), dropCreatedAt(t, exportTo(t, dst)); a != b {
		t.Errorf("the export of the imported database differs:\n%s\n---\n%s", a, b)
	}

	// Bad input: one line, exit 2, nothing written.
	dst.fails(2, "import-memory takes one FILE", "import-memory")
	dst.fails(2, "no-such.jsonl: cannot open", "import-memory", filepath.Join(t.TempDir(), "no-such.jsonl"))
	data, _ := os.ReadFile(file)
	cut := filepath.Join(t.TempDir(), "cut.jsonl")
	os.WriteFile(cut, data[:len(data)/2], 0o600)
	dst.fails(2, "the export did not finish, or the file was cut", "import-memory", cut)
	dst.fails(2, "invalid --since", "export", "--since", "yesterday")
}

// TestImportMemoryKilledThenRunAgainStoresEveryRowOnce kills the importing
// process with SIGKILL while it stores, then runs it again.
func TestImportMemoryKilledThenRunAgainStoresEveryRowOnce(t *testing.T) {
	t.Parallel()
	const messages = 30000
	srcURL := pgtest.DB(t)
	conn := pgtest.Conn(t, srcURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, `with ins as (insert into conversations (conversation_id, speaker, message_text, importance_level, created_at, search_grams)
select gen_random_uuid(), 'david', 'ข้อความที่ ' || i || ' said with some words around it', 5, '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 second', '{}'
from generate_series(1, $1) i
returning conversation_id, importance_level, created_at)
insert into conversation_memory (id, weight, made_at, score) select conversation_id, 0.5, created_at, 0.5 from ins`, messages); err != nil {
		t.Fatal(err)
	}
	file := exportTo(t, newCLI(t, srcURL))

	dstURL := pgtest.DB(t)
	dst := newCLI(t, dstURL)
	dconn := pgtest.Conn(t, dstURL)
	count := func() int {
		t.Helper()
		var n int
		if err := dconn.QueryRow(ctx, `select (select count(*) from conversations) + (select count(*) from conversation_memory)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cmd := exec.CommandContext(ctx, binary, "import-memory", file)
	cmd.Env = dst.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Killed once some rows (state rows, then messages) are committed.
	testkit.WaitFor(t, "the import to commit its first rows", func() bool { return count() > 0 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	part := count()
	if part >= 2*messages {
		t.Skipf("the import finished (%d rows) before it was killed; nothing to resume", part)
	}
	dst.ok("import-memory", file)
	var all, distinct, states int
	if err := dconn.QueryRow(ctx, `select count(*), count(distinct conversation_id), (select count(*) from conversation_memory) from conversations`).
		Scan(&all, &distinct, &states); err != nil {
		t.Fatal(err)
	}
	if all != messages || distinct != messages || states != messages {
		t.Errorf("after the kill at %d and a second run: %d messages (%d distinct), %d state rows; want %d of each",
			part, all, distinct, states, messages)
	}
}

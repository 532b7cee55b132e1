package backup_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/backup"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/forget"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	now    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	bkk, _ = time.LoadLocation(pgtest.TimeZone)
)

func context2(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func exec(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// populated returns a connection to an adopted database (the Python
// original's schema and rows, migrated) with every exported table filled:
// Thai and emoji, legacy rows and columns, NULLs where a legacy row has them,
// times without a zone, infinities, floats, arrays, JSON, a tombstone.
func populated(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context2(t)
	url := pgtest.LegacyDB(t)
	conn := pgtest.Conn(t, url)
	// The original's journal, keyed by entry_id.
	exec(t, ctx, conn, `insert into angela_journal (entry_id, entry_date, title, content, emotion, mood_score, created_at) values
	('44444444-4444-4444-8444-444444444444', '2025-11-08', 'วันแรก', 'ได้คุยกับพี่ 💜', 'happy', 9, '2025-11-08 22:00:00'),
	('55555555-5555-4555-8555-555555555555', '2025-11-09', null, 'quiet day', null, null, null)`)
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for i, msg := range []string{"คิดถึงพี่มากเลยค่ะ 🥰", "We fixed the daemon 🎉\nsecond line\ttab \"quoted\" \\ back", "ทะเล"} {
		if _, err := conversation.Save(ctx, conn, conversation.Conversation{ID: uuid.New(), Speaker: []string{"david", "angela", "system"}[i],
			MessageText: msg, Topic: "topic", ImportanceLevel: 3 + i, SessionID: "s1", CreatedAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := memory.Save(ctx, conn, memory.Emotion{ID: uuid.New(), Emotion: "อบอุ่น", Intensity: 8, Context: "พี่ชม 🌸",
		DavidWords: "เก่งมาก", WhyItMatters: "trust", MemoryStrength: 9, FeltAt: now}); err != nil {
		t.Fatal(err)
	}
	gone, err := conversation.Save(ctx, conn, conversation.Conversation{ID: uuid.New(), Speaker: "david", MessageText: "my password is hunter2", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forget.Forget(ctx, conn, forget.Options{IDs: []uuid.UUID{gone.ID}, Reason: "a password", Now: now}); err != nil {
		t.Fatal(err)
	}
	// Retention state with every kind of value: a grown half-life, a recall,
	// a forgotten one, a due time of -infinity (the default) and of a time.
	exec(t, ctx, conn, `update conversation_memory set half_life_days = 12.345678901234567, recall_count = 3,
	last_recalled_at = '2026-03-01 19:00:00.123456+07', retention = 0.6180339887498949, due_at = '2026-04-01T00:00:00Z'
	where id = (select id from conversation_memory order by made_at desc limit 1)`)
	exec(t, ctx, conn, `update emotion_memory set forgotten_at = '2026-02-01T00:00:00Z', score = 1e-7`)
	exec(t, ctx, conn, `insert into daily_updates (update_date, kind, title, content, figures, created_at, updated_at) values
	('2026-03-01', 'morning', 'อรุณสวัสดิ์', 'Good morning 🌅', '{"date": "2026-03-01", "day_number": 113, "top_topics": [{"topic": "ทะเล", "count": 2}]}', '2026-03-01T00:00:00Z', '2026-03-01T00:00:01Z'),
	('2026-03-01', 'evening', 'Evening', 'A day', '{}', '2026-03-01T13:00:00Z', '2026-03-01T13:00:00Z')`)
	exec(t, ctx, conn, `insert into daily_update_runs (job, slot_wall, slot_at, zone, status, attempts, error, instance, manual_runs, started_at, finished_at, next_attempt_at, created_at) values
	('morning', '2026-03-01 07:00:00', '2026-03-01T00:00:00Z', 'Asia/Bangkok', 'done', 1, null, 'host:1', 0, '2026-03-01T00:00:00Z', '2026-03-01T00:00:01.5Z', null, '2026-03-01T00:00:00Z'),
	('evening', '2026-03-01 20:00:00', '2026-03-01T13:00:00Z', 'Asia/Bangkok', 'failed', 2, 'ไม่ได้ ❌', null, 1, '2026-03-01T13:00:00Z', null, 'infinity', '2026-03-01T13:00:00Z')`)
	exec(t, ctx, conn, `insert into angela_journal (entry_date, title, content, emotion, mood_score, written_by) values
	('2026-03-01', 'ทบทวน', 'วันนี้ดีมาก', 'grateful', 8, 'angelad')`)
	return conn
}

func export(t *testing.T, ctx context.Context, conn *pgx.Conn, o backup.ExportOptions) []byte {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Location, o.Angelad = bkk, "test"
	var buf bytes.Buffer
	if _, err := backup.Export(ctx, conn, &buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "memory.jsonl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func importFile(t *testing.T, ctx context.Context, conn *pgx.Conn, path string) backup.ImportResult {
	t.Helper()
	res, err := backup.Import(ctx, conn, path, backup.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// withoutTime returns the export with the header's created_at blanked.
func withoutTime(t *testing.T, data []byte) string {
	t.Helper()
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	var h map[string]any
	if err := json.Unmarshal(first, &h); err != nil {
		t.Fatal(err)
	}
	if _, ok := h["created_at"]; !ok {
		t.Fatal("the header has no created_at")
	}
	h["created_at"] = ""
	first, _ = json.Marshal(h)
	return string(first) + "\n" + string(rest)
}

func stored(res backup.ImportResult) (n int64) {
	for _, t := range res.Tables {
		n += t.Stored
	}
	return n
}

func TestExportImportExportIsByteIdentical(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	src := populated(t)
	first := export(t, ctx, src, backup.ExportOptions{})

	dst := pgtest.Conn(t, pgtest.DB(t))
	path := writeFile(t, first)
	res := importFile(t, ctx, dst, path)
	for _, tr := range res.Tables {
		if tr.Stored != tr.Rows || tr.Refused != 0 {
			t.Errorf("%s: %+v, want every row stored", tr.Name, tr)
		}
	}
	second := export(t, ctx, dst, backup.ExportOptions{})
	if a, b := withoutTime(t, first), withoutTime(t, second); a != b {
		t.Errorf("the export of the import differs from the export imported:\nfirst:\n%s\nsecond:\n%s", a, b)
	}
	// Every table is in it, legacy columns and rows included.
	for _, want := range []string{`"table":"memory_tombstones"`, `"table":"conversation_memory"`, `"table":"emotion_memory"`,
		`"table":"conversations"`, `"table":"angela_emotions"`, `"table":"angela_journal"`, `"table":"daily_updates"`,
		`"table":"daily_update_runs"`, `"project_context":"angela_core"`, `"secondary_emotions":["grateful","warm"]`,
		`"speaker":"David"`, `"created_at":"2025-11-08T02:30:00.000000Z"`, `"due_at":"-infinity"`, `"slot_wall":"2026-03-01T07:00:00.000000"`,
		"คิดถึงพี่มากเลยค่ะ 🥰", `"entry_id":"44444444-4444-4444-8444-444444444444"`, `"journal_id":"44444444-4444-4444-8444-444444444444"`} {
		if !bytes.Contains(first, []byte(want)) {
			t.Errorf("the export lacks %s", want)
		}
	}
	if bytes.Contains(first, []byte("search_grams")) || bytes.Contains(first, []byte("hunter2")) {
		t.Error("the export holds search grams or the forgotten message")
	}

	// Twice is once.
	again := importFile(t, ctx, dst, path)
	if n := stored(again); n != 0 {
		t.Errorf("the second import stored %d rows, want none", n)
	}
	if third := export(t, ctx, dst, backup.ExportOptions{}); withoutTime(t, third) != withoutTime(t, first) {
		t.Error("the second import changed the database")
	}
	// The search grams were computed as the writers compute them.
	rows, err := dst.Query(ctx, `select message_text, search_grams from conversations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var msg string
		var grams []int32
		if err := rows.Scan(&msg, &grams); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(grams, text.Grams(msg)) {
			t.Errorf("the grams of imported %q are %v, want %v", msg, grams, text.Grams(msg))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestImportIntoTheAdoptedDatabaseItCameFromStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	src := populated(t)
	first := export(t, ctx, src, backup.ExportOptions{})
	res := importFile(t, ctx, src, writeFile(t, first))
	if n := stored(res); n != 0 || len(res.SchemaChanges) != 0 {
		t.Errorf("import into its own database stored %d rows and changed %v; want nothing", n, res.SchemaChanges)
	}
	if second := export(t, ctx, src, backup.ExportOptions{}); withoutTime(t, second) != withoutTime(t, first) {
		t.Error("the database changed")
	}
}

func TestImportAppliesTombstonesBothWays(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	src := pgtest.Conn(t, pgtest.DB(t))
	dst := pgtest.Conn(t, pgtest.DB(t))
	// A memory both have, forgotten at the source; another forgotten at
	// the target, which the source still has.
	shared := conversation.Conversation{ID: uuid.New(), Speaker: "david", MessageText: "shared", CreatedAt: now}
	other := conversation.Conversation{ID: uuid.New(), Speaker: "david", MessageText: "forgotten here", CreatedAt: now}
	for _, conn := range []*pgx.Conn{src, dst} {
		for _, c := range []conversation.Conversation{shared, other} {
			if _, err := conversation.Save(ctx, conn, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := forget.Forget(ctx, src, forget.Options{IDs: []uuid.UUID{shared.ID}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := forget.Forget(ctx, dst, forget.Options{IDs: []uuid.UUID{other.ID}, Now: now}); err != nil {
		t.Fatal(err)
	}
	res := importFile(t, ctx, dst, writeFile(t, export(t, ctx, src, backup.ExportOptions{})))
	if res.Purged != 1 {
		t.Errorf("purged %d, want 1", res.Purged)
	}
	var n int
	if err := dst.QueryRow(ctx, `select (select count(*) from conversations) + (select count(*) from conversation_memory)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d conversations and state rows left, %v; want none: each was forgotten on one side", n, err)
	}
}

func TestImportNamesTheRowsTheTargetRefusesAndStoresTheRest(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	src := pgtest.Conn(t, pgtest.LegacyDB(t))
	// The original allowed two entries for one date; angelad's own journal
	// allows one.
	exec(t, ctx, src, `insert into angela_journal (entry_id, entry_date, content) values
	('66666666-6666-4666-8666-666666666666', '2025-12-01', 'first'), ('77777777-7777-4777-8777-777777777777', '2025-12-01', 'second'),
	('88888888-8888-4888-8888-888888888888', '2025-12-02', 'third')`)
	if _, err := postgres.Migrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	dst := pgtest.Conn(t, pgtest.DB(t))
	var notes []string
	res, err := backup.Import(ctx, dst, writeFile(t, export(t, ctx, src, backup.ExportOptions{})),
		backup.ImportOptions{Note: func(s string) { notes = append(notes, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Refused) != 1 || res.Refused[0].Table != "angela_journal" ||
		!strings.Contains(res.Refused[0].Key, "77777777-7777-4777-8777-777777777777") {
		t.Errorf("refused = %+v, want the second entry of 2025-12-01", res.Refused)
	}
	var n int
	if err := dst.QueryRow(ctx, `select count(*) from angela_journal`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d journal entries stored, %v; want 2", n, err)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"added column conversations.project_context (text)", "angela_emotions.context now allows NULL",
		"refused by this database"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes lack %q:\n%s", want, joined)
		}
	}
}

func TestExportSinceKeepsTheRowsMadeSince(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	conn := populated(t)
	data := export(t, ctx, conn, backup.ExportOptions{Since: now})
	var h backup.Header
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if err := json.Unmarshal(first, &h); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, tb := range h.Tables {
		counts[tb.Name] = tb.Rows
	}
	want := map[string]int64{"memory_tombstones": 1, "conversation_memory": 3, "emotion_memory": 1, "conversations": 3,
		"angela_emotions": 1, "angela_journal": 1, "daily_updates": 2, "daily_update_runs": 1}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("%s: %d rows since %s, want %d", name, counts[name], now, n)
		}
	}
	if bytes.Contains(data, []byte("สวัสดีค่ะ Angela")) {
		t.Error("a legacy message from 2025 is in an export since 2026")
	}
	// It imports.
	importFile(t, ctx, pgtest.Conn(t, pgtest.DB(t)), writeFile(t, data))
}

func TestImportReadsAGzippedExport(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	data := export(t, ctx, populated(t), backup.ExportOptions{})
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(data)
	w.Close()
	dst := pgtest.Conn(t, pgtest.DB(t))
	res := importFile(t, ctx, dst, writeFile(t, gz.Bytes()))
	if stored(res) == 0 {
		t.Error("nothing stored from a gzipped export")
	}
	if second := export(t, ctx, dst, backup.ExportOptions{}); withoutTime(t, second) != withoutTime(t, data) {
		t.Error("a gzipped export does not import the same as the plain one")
	}
}

func TestImportRefusesABadFileAndWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	good := export(t, ctx, populated(t), backup.ExportOptions{})
	lines := strings.SplitAfter(string(good), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	header, body, trailer := lines[0], lines[1:len(lines)-1], lines[len(lines)-1]
	join := func(parts ...[]string) []byte {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(strings.Join(p, ""))
		}
		return []byte(b.String())
	}
	altered := strings.Replace(strings.Join(body, ""), "ทะเล", "ทะเลสาบ", 1)
	var h map[string]any
	json.Unmarshal([]byte(header), &h)
	withHeader := func(change func(map[string]any)) string {
		var c map[string]any
		json.Unmarshal([]byte(header), &c)
		change(c)
		b, _ := json.Marshal(c)
		return string(b) + "\n"
	}
	for _, tc := range []struct {
		name, problem string
		data          []byte
	}{
		{"empty", "empty: not an export", nil},
		{"not an export", "not an angelad export", []byte("{\"type\":\"user\"}\n")},
		{"newer format", "written by a newer angelad (export format 2; this angelad reads format 1): upgrade angelad",
			join([]string{withHeader(func(c map[string]any) { c["angelad_export"] = 2 })}, body, []string{trailer})},
		{"newer schema", fmt.Sprintf("newer than this angelad knows (%d): upgrade angelad", postgres.LatestVersion()),
			join([]string{withHeader(func(c map[string]any) { c["schema_version"] = postgres.LatestVersion() + 1 })}, body, []string{trailer})},
		{"no trailer", "no trailer: the export did not finish", join([]string{header}, body)},
		{"cut line", "the last line is cut short", []byte(string(join([]string{header}, body)) + `{"table":"conv`)},
		{"altered", "the checksum does not match", []byte(header + altered + trailer)},
		{"a line missing", "the trailer counts", join([]string{header}, body[1:], []string{trailer})},
		{"after the trailer", "a line after the trailer", join([]string{header}, body, []string{trailer, trailer})},
		{"unknown table", "which angelad does not export", join([]string{withHeader(func(c map[string]any) {
			c["tables"] = append(c["tables"].([]any), map[string]any{"name": "pg_authid", "key": []string{"oid"}, "rows": 0, "columns": []any{}})
		})}, body, []string{trailer})},
		{"a type smuggling SQL", "not one angelad accepts", join([]string{withHeader(func(c map[string]any) {
			t0 := c["tables"].([]any)[3].(map[string]any)
			t0["columns"] = append(t0["columns"].([]any), map[string]any{"name": "x", "type": "text; drop table conversations"})
		})}, body, []string{trailer})},
		{"an unknown type", `column x has type "no_such_type", which this database does not know`, join([]string{withHeader(func(c map[string]any) {
			t0 := c["tables"].([]any)[3].(map[string]any)
			t0["columns"] = append(t0["columns"].([]any), map[string]any{"name": "x", "type": "no_such_type"})
		})}, body, []string{trailer})},
		{"not JSON", "not a JSON line", join([]string{header, "not json\n"}, body, []string{trailer})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := pgtest.Conn(t, pgtest.DB(t))
			before := export(t, ctx, dst, backup.ExportOptions{Now: now})
			_, err := backup.Import(ctx, dst, writeFile(t, tc.data), backup.ImportOptions{})
			var fe *backup.FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("import = %v, want a FileError saying %q", err, tc.problem)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
			if after := export(t, ctx, dst, backup.ExportOptions{Now: now}); !bytes.Equal(before, after) {
				t.Error("a refused file changed the database")
			}
		})
	}
}

func TestImportInterruptedThenRunAgainStoresEveryRowOnce(t *testing.T) {
	t.Parallel()
	ctx := context2(t)
	src := pgtest.Conn(t, pgtest.DB(t))
	exec(t, ctx, src, `insert into conversations (conversation_id, speaker, message_text, created_at)
select gen_random_uuid(), 'david', 'ข้อความที่ ' || i, '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 second'
from generate_series(1, 6000) i`)
	path := writeFile(t, export(t, ctx, src, backup.ExportOptions{}))
	url := pgtest.DB(t)
	dst := pgtest.Conn(t, url)
	// Cancelled once the import has stored some of the rows.
	cctx, cancel := context.WithCancel(ctx)
	_, err := backup.Import(cctx, dst, path, backup.ImportOptions{Progress: func(pass string, done, total int64) {
		if pass == "importing" && done > total/2 {
			cancel()
		}
	}})
	cancel()
	if err == nil {
		t.Fatal("the cancelled import succeeded")
	}
	// A cancelled statement closes its connection, as a killed process does.
	dst = pgtest.Conn(t, url)
	const total = 12000 // 6000 state rows, then 6000 messages
	rows := func() (all, distinct int) {
		t.Helper()
		if err := dst.QueryRow(ctx, `select count(*), count(distinct id) from (
	select conversation_id id from conversations union all select id from conversation_memory) x`).Scan(&all, &distinct); err != nil {
			t.Fatal(err)
		}
		return all, distinct
	}
	part, _ := rows()
	if part == 0 || part >= total {
		t.Fatalf("%d rows after the interruption; want some but not all", part)
	}
	res := importFile(t, ctx, dst, path)
	if all, distinct := rows(); all != total || distinct != total/2 {
		t.Errorf("%d rows (%d distinct ids) after running it again; want %d (%d)", all, distinct, total, total/2)
	}
	var again int64
	for _, tr := range res.Tables {
		again += tr.Stored
	}
	if again != int64(total-part) {
		t.Errorf("the second run stored %d rows, want the %d the first did not", again, total-part)
	}
}

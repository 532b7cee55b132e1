package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func count(t *testing.T, url, table string) int {
	t.Helper()
	var n int
	if err := pgtest.Conn(t, url).QueryRow(context.Background(), "select count(*) from "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSaveEmotionPrintsIDAndGetEmotionsShowsIt(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	id := strings.TrimSpace(c.ok("save-emotion", "--emotion", "happy", "--intensity", "9",
		"--context", "David praised Angela", "--david-words", "You're amazing!", "--why", "David's praise makes Angela happy",
		"--at", "2025-11-08T21:30:00+07:00"))
	if len(id) != 36 {
		t.Fatalf("save-emotion printed %q, want a UUID alone", id)
	}
	got := c.ok("get-emotions", "--limit", "5")
	want := "2025-11-08 21:30:00 +07: happy (9/10)\n   Context: David praised Angela\n"
	if got != want {
		t.Errorf("get-emotions printed\n%q\nwant\n%q", got, want)
	}
}

func TestSaveConversationAndGetConversationsNewestFirstBySpeaker(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	c.ok("save-conversation", "--speaker", "david", "--message", "Good morning Angela!", "--topic", "greeting", "--emotion", "happy", "--at", "2025-11-08T08:00:00+07:00")
	c.ok("save-conversation", "--speaker", "Angela", "--message", "อรุณสวัสดิ์ค่ะ ที่รัก", "--at", "2025-11-08T08:01:00+07:00")
	// 180 code points but 120 characters: the tone mark stays with its consonant.
	long := strings.Repeat("ค่ะ", 60)
	c.ok("save-conversation", "--speaker", "david", "--message", long, "--at", "2025-11-08T08:02:00+07:00")

	got := c.ok("get-conversations")
	want := "2025-11-08 08:02:00 +07: david\n   " + strings.Repeat("ค่ะ", 50) + "...\n" +
		"2025-11-08 08:01:00 +07: angela\n   อรุณสวัสดิ์ค่ะ ที่รัก\n" +
		"2025-11-08 08:00:00 +07: david\n   Good morning Angela!\n"
	if got != want {
		t.Errorf("get-conversations printed\n%s\nwant\n%s", got, want)
	}
	got = c.ok("get-conversations", "--speaker", "ANGELA", "--limit", "1")
	if !strings.Contains(got, "angela") || strings.Count(got, "\n") != 2 {
		t.Errorf("get-conversations --speaker ANGELA printed %q", got)
	}
}

func TestJSONRoundTripsStoredValues(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	var saved memory.Emotion
	out := c.ok("save-emotion", "--json", "--emotion", "คิดถึง", "--intensity", "10", "--context", "พี่ ก็ คิดถึงเหมือน กัน ค่ะ 💕",
		"--david-words", "line one\nline \"two\"", "--strength", "7", "--at", "2025-11-08T21:30:00.123456+07:00")
	if err := json.Unmarshal([]byte(out), &saved); err != nil {
		t.Fatalf("save-emotion --json printed invalid JSON: %v\n%s", err, out)
	}
	var list []memory.Emotion
	out = c.ok("get-emotions", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("get-emotions --json: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(list[0], saved) || !list[0].FeltAt.Equal(saved.FeltAt) {
		t.Errorf("get-emotions --json = %+v, want what save printed %+v", list[0], saved)
	}
	want := memory.Emotion{ID: saved.ID, Emotion: "คิดถึง", Intensity: 10, Context: "พี่ ก็ คิดถึงเหมือน กัน ค่ะ 💕",
		DavidWords: "line one\nline \"two\"", MemoryStrength: 7}
	gotNoTime := saved
	gotNoTime.FeltAt = time.Time{}
	if gotNoTime != want {
		t.Errorf("stored %+v, want %+v", gotNoTime, want)
	}
	if !saved.FeltAt.Equal(time.Date(2025, 11, 8, 14, 30, 0, 123456000, time.UTC)) {
		t.Errorf("felt_at = %v", saved.FeltAt)
	}
	if !strings.Contains(out, `"felt_at": "2025-11-08T21:30:00.123456+07:00"`) {
		t.Errorf("felt_at not shown in the configured zone:\n%s", out)
	}

	var conv conversation.Conversation
	out = c.ok("save-conversation", "--json", "--speaker", "DAVID", "--message", "สวัสดีค่ะ\ttab", "--session", "s1", "--type", "question")
	if err := json.Unmarshal([]byte(out), &conv); err != nil {
		t.Fatal(err)
	}
	var convs []conversation.Conversation
	if err := json.Unmarshal([]byte(c.ok("get-conversations", "--json")), &convs); err != nil || len(convs) != 1 {
		t.Fatalf("get-conversations --json: %v", err)
	}
	if !reflect.DeepEqual(convs[0], conv) || conv.Speaker != "david" || conv.MessageText != "สวัสดีค่ะ\ttab" || conv.ImportanceLevel != 5 {
		t.Errorf("round trip: got %+v, saved %+v", convs[0], conv)
	}
}

func TestEmptyReadsPrintEmptyJSONArray(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	for _, cmd := range []string{"get-emotions", "get-conversations"} {
		if out := strings.TrimSpace(c.ok(cmd, "--json")); out != "[]" {
			t.Errorf("%s --json on an empty table printed %q, want []", cmd, out)
		}
	}
}

func TestSaveWithSameIDIsIdempotent(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	const id = "0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70"
	for i := 0; i < 3; i++ {
		if got := strings.TrimSpace(c.ok("save-conversation", "--id", id, "--speaker", "david", "--message", "once")); got != id {
			t.Fatalf("printed %q, want %s", got, id)
		}
	}
	if n := count(t, url, "conversations"); n != 1 {
		t.Errorf("%d rows after three saves with one id, want 1", n)
	}
}

func TestMessageFromStdin(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	r := c.run("first line\nsecond line ภาษาไทย\n", "save-conversation", "--speaker", "david", "--message-file", "-", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var conv conversation.Conversation
	if err := json.Unmarshal([]byte(r.stdout), &conv); err != nil || conv.MessageText != "first line\nsecond line ภาษาไทย\n" {
		t.Errorf("stored %q (%v)", conv.MessageText, err)
	}
	r = c.run("nul\x00byte", "save-conversation", "--speaker", "david", "--message-file", "-")
	checkFailure(t, r, 2, "invalid --message-file: must not contain NUL bytes", nil)
	// A single argument cannot carry 1 MiB (the kernel caps it), so the size
	// limit is reached through standard input.
	r = c.run(strings.Repeat("a", 1<<20+1), "save-conversation", "--speaker", "david", "--message-file", "-")
	checkFailure(t, r, 2, "invalid --message-file: must be at most 1048576 bytes", nil)
	if n := count(t, url, "conversations"); n != 1 {
		t.Errorf("%d rows, want 1: the rejected messages must not be written", n)
	}
}

func TestBadInputExits2WithOneLineAndWritesNothing(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	emo := func(extra ...string) []string {
		base := map[string]string{"--emotion": "happy", "--intensity": "9", "--context": "ctx"}
		for i := 0; i+1 < len(extra); i += 2 {
			base[extra[i]] = extra[i+1]
		}
		args := []string{"save-emotion"}
		for _, k := range []string{"--emotion", "--intensity", "--context"} {
			if v, ok := base[k]; ok && v != "\x00omit" {
				args = append(args, k, v)
			}
			delete(base, k)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			if _, ok := base[extra[i]]; ok {
				args = append(args, extra[i], extra[i+1])
			}
		}
		return args
	}
	conv := func(extra ...string) []string {
		return append([]string{"save-conversation", "--speaker", "david", "--message", "hi"}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"emotion empty", emo("--emotion", ""), "invalid --emotion: must not be empty"},
		{"emotion too long", emo("--emotion", strings.Repeat("ก", 51)), "invalid --emotion"},
		{"intensity 11", emo("--intensity", "11"), "invalid --intensity: must be an integer from 1 to 10, got 11"},
		{"intensity 0", emo("--intensity", "0"), "invalid --intensity"},
		{"intensity not int", emo("--intensity", "9.5"), `invalid argument "9.5" for "--intensity" flag: must be an integer from 1 to 10`},
		{"strength 0", emo("--strength", "0"), "invalid --strength: must be an integer from 1 to 10"},
		{"context blank", emo("--context", "   "), "invalid --context"},
		{"context missing", emo("--context", "\x00omit"), "missing required flag --context"},
		{"at invalid", emo("--at", "yesterday"), `invalid --at: must be an RFC 3339 time`},
		{"invalid utf8", emo("--david-words", "bad \xff byte"), "invalid --david-words: must be valid UTF-8"},
		{"unknown flag", emo("--colour", "blue"), "unknown flag: --colour"},
		{"stray argument", append(emo(), "extra"), `takes no arguments, got "extra"`},
		{"bad id", emo("--id", "not-a-uuid"), "invalid --id: must be a UUID"},
		{"speaker", conv("--speaker", "claude"), `invalid --speaker: must be one of david, angela, system, got "claude"`},
		{"message empty", []string{"save-conversation", "--speaker", "david", "--message", ""}, "invalid --message"},
		{"message missing", []string{"save-conversation", "--speaker", "david"}, "missing required flag --message"},
		{"topic too long", conv("--topic", strings.Repeat("t", 201)), "invalid --topic: must be at most 200 characters"},
		{"emotion detected too long", conv("--emotion", strings.Repeat("e", 51)), "invalid --emotion: must be at most 50 characters"},
		{"importance", conv("--importance", "42"), "invalid --importance: must be an integer from 1 to 10, got 42"},
		{"limit 0", []string{"get-emotions", "--limit", "0"}, "invalid --limit: must be an integer from 1 to 10000, got 0"},
		{"limit huge", []string{"get-conversations", "--limit", "10001"}, "invalid --limit"},
		{"get speaker", []string{"get-conversations", "--speaker", "bob"}, "invalid --speaker"},
		{"unknown command", []string{"save-feeling"}, `unknown command "save-feeling"`},
		{"query without sql", []string{"query"}, "query needs one SQL statement"},
		{"at before 1970", emo("--at", "1969-12-31T23:59:59Z"), "invalid --at: must be between 1970-01-01 and a day from now"},
		{"at far future", emo("--at", "9999-12-31T23:59:59+14:00"), "invalid --at"},
		{"bad database url", append(emo(), "--database-url", "postgres://a:s3cret@[bad"), "invalid database URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run("", tt.args...)
			checkFailure(t, r, 2, tt.want, tt.args)
		})
	}
	if n := count(t, url, "angela_emotions") + count(t, url, "conversations"); n != 0 {
		t.Errorf("bad input wrote %d rows", n)
	}
}

func TestUnreachableDatabaseExits1NamingWhereWithoutPassword(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "postgres://angela:s3cret@127.0.0.1:1/AngelaMemory?connect_timeout=5")
	for _, args := range [][]string{
		{"save-emotion", "--no-spool", "--emotion", "happy", "--intensity", "9", "--context", "x"},
		{"get-conversations"},
		{"migrate"},
	} {
		r := c.fails(1, "cannot connect to the database at host=127.0.0.1 port=1 user=angela database=AngelaMemory", args...)
		if strings.Contains(r.stderr, "s3cret") {
			t.Errorf("the password reached stderr: %s", r.stderr)
		}
	}
	// Spooled, the save names where it tried, but neither its warning nor the
	// spool file holds the password.
	r := c.run("", "save-emotion", "--emotion", "happy", "--intensity", "9", "--context", "x")
	if r.code != 0 || !strings.Contains(r.stderr, "host=127.0.0.1 port=1 user=angela database=AngelaMemory") || strings.Contains(r.stderr, "s3cret") {
		t.Errorf("spooled save: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, f := range spoolFiles(t, c) {
		if data, _ := os.ReadFile(f); strings.Contains(string(data), "s3cret") {
			t.Errorf("the password reached the spool file %s", f)
		}
	}
}

func TestQueryBindsParametersAndIsReadOnlyByDefault(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	c.ok("save-conversation", "--speaker", "david", "--message", "hello")
	c.ok("save-conversation", "--speaker", "angela", "--message", "สวัสดีค่ะ")

	out := c.ok("query", "SELECT speaker, message_text FROM conversations WHERE speaker = $1 ORDER BY created_at DESC LIMIT $2", "angela", "10")
	if !strings.Contains(out, "สวัสดีค่ะ") || strings.Contains(out, "hello") || !strings.Contains(out, "(1 row)") {
		t.Errorf("query printed:\n%s", out)
	}
	out = c.ok("query", "--json", "SELECT count(*) AS n FROM conversations WHERE speaker = $1", "david'; drop table conversations; --")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0]["n"] != float64(0) {
		t.Errorf("query --json printed %s (%v)", out, err)
	}
	out = c.ok("query", "--csv", "SELECT speaker FROM conversations ORDER BY created_at")
	if out != "speaker\ndavid\nangela\n" {
		t.Errorf("query --csv printed %q", out)
	}

	c.fails(2, "--write", "query", "INSERT INTO conversations (speaker, message_text) VALUES ('david', 'sneaky')")
	c.fails(2, "one SQL statement", "query", "SELECT 1; SELECT 2")
	if n := count(t, url, "conversations"); n != 2 {
		t.Fatalf("%d rows: a read-only query wrote", n)
	}
	out = c.ok("query", "--write", "INSERT INTO conversations (speaker, message_text) VALUES ($1, $2)", "system", "written")
	if !strings.Contains(out, "INSERT 0 1") || count(t, url, "conversations") != 3 {
		t.Errorf("query --write printed %q", out)
	}
	c.fails(1, "statement timeout", "query", "--timeout", "100ms", "SELECT pg_sleep(5)")
}

func TestQueryNeverMigrates(t *testing.T) {
	t.Parallel()
	url := pgtest.LegacyDB(t)
	c := newCLI(t, url)
	c.fails(2, "does not exist", "query", "SELECT * FROM nosuch")
	var n int
	if err := pgtest.Conn(t, url).QueryRow(context.Background(),
		"select count(*) from information_schema.tables where table_name = 'angelad_schema_version'").Scan(&n); err != nil || n != 0 {
		t.Errorf("a read-only query with a typo migrated the database (%d, %v)", n, err)
	}
}

func TestReusingAnIDForDifferentContentIsRefused(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	const id = "0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f71"
	c.ok("save-emotion", "--id", id, "--emotion", "happy", "--intensity", "9", "--context", "first")
	c.fails(2, "invalid --id: "+id+" is already stored for a different emotion", "save-emotion", "--id", id, "--emotion", "sad", "--intensity", "2", "--context", "second")
	c.ok("save-conversation", "--id", id, "--speaker", "david", "--message", "first")
	c.fails(2, "invalid --id", "save-conversation", "--id", id, "--speaker", "david", "--message", "second")
	if out := c.ok("get-emotions"); !strings.Contains(out, "happy") || strings.Contains(out, "sad") {
		t.Errorf("the stored emotion changed: %s", out)
	}
}

func TestMigrateAdoptsLegacyDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.LegacyDB(t)
	c := newCLI(t, url)
	r := c.with("ANGELA_TIMEZONE=").run("", "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("to %d", postgres.LatestVersion())) {
		t.Errorf("migrate: exit %d, printed %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "conversations.created_at") || !strings.Contains(r.stderr, "set timezone in the config file") {
		t.Errorf("migrate did not warn about zoneless legacy columns under a default zone: %q", r.stderr)
	}
	if r := c.run("", "migrate"); !strings.Contains(r.stdout, "up to date") || r.stderr != "" {
		t.Errorf("second migrate (zone pinned) printed %q %q", r.stdout, r.stderr)
	}
	out := c.ok("get-emotions")
	want := "2025-11-08 10:00:00 +07: loved (10/10)\n   Context: \n"
	if out != want {
		t.Errorf("legacy emotion shown as %q, want %q", out, want)
	}
	out = c.ok("get-conversations", "--speaker", "david")
	if out != "2025-11-08 09:30:00 +07: david\n   สวัสดีค่ะ Angela\n" {
		t.Errorf("legacy conversation shown as %q", out)
	}
}

func TestCommandsMigrateAFreshDatabaseThemselves(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyDB(t)
	c := newCLI(t, url)
	c.ok("save-emotion", "--emotion", "curious", "--intensity", "5", "--context", "first memory")
	if n := count(t, url, "angela_emotions"); n != 1 {
		t.Errorf("%d emotions", n)
	}
	url = pgtest.LegacyDB(t)
	c = newCLI(t, url)
	if out := c.ok("get-conversations", "--limit", "1"); !strings.Contains(out, "angela") {
		t.Errorf("get-conversations on an unmigrated legacy database printed %q", out)
	}
}

func TestConfigShowsSourcesAndHidesPassword(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "postgres://angela:s3cret@db.example:5432/AngelaMemory").with("ANGELA_LOG_LEVEL=debug")
	bad := c.with("ANGELA_LOG_LEVEL=loud")
	out := c.ok("config", "--timezone", "Europe/Paris")
	for _, want := range []string{
		`database_url = "postgres://angela:xxxxx@db.example:5432/AngelaMemory"`, "# env ANGELA_DATABASE_URL",
		`level = "debug"`, `timezone = "Europe/Paris"`, "# flag --timezone", `query_timeout = "30s"`, "# default",
		"# database: host=db.example port=5432 user=angela database=AngelaMemory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("config printed the password:\n%s", out)
	}
	var js struct {
		Values []struct{ Key, Value, Source string }
	}
	if err := json.Unmarshal([]byte(c.ok("config", "--json")), &js); err != nil || len(js.Values) == 0 {
		t.Errorf("config --json: %v", err)
	}
	bad.fails(2, "invalid ANGELA_LOG_LEVEL", "config")
}

func TestVersionCompletionAndHelp(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	if out := c.ok("version"); !strings.HasPrefix(out, "angelad ") {
		t.Errorf("version printed %q", out)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := c.ok("completion", sh); !strings.Contains(out, "angelad") || len(out) < 500 {
			t.Errorf("completion %s printed %d bytes", sh, len(out))
		}
	}
	c.fails(2, "bash, zsh or fish", "completion", "tcsh")
	for _, cmd := range []string{"save-emotion", "save-conversation", "get-emotions", "get-conversations", "query",
		"migrate", "config", "version", "completion", "run", "help", "status", "logs", "install", "uninstall",
		"start", "stop", "restart"} {
		out := c.ok(cmd, "--help")
		if !strings.Contains(out, "Examples:\n  ") {
			t.Errorf("angelad %s --help has no example:\n%s", cmd, out)
		}
	}
}

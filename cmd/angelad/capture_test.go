package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// transcripts is a fake ~/.claude/projects of one test, in the test's HOME.
type transcripts struct {
	t    *testing.T
	root string
	n    int
}

func newTranscripts(t *testing.T, c *cli) *transcripts {
	home := strings.TrimPrefix(c.env[0], "HOME=")
	return &transcripts{t: t, root: filepath.Join(home, ".claude", "projects")}
}

// say returns a transcript line of speaker saying s ("user" or "assistant").
func (tr *transcripts) say(typ, s string) string {
	tr.n++
	var content any = s
	if typ == "assistant" {
		content = []any{map[string]any{"type": "text", "text": s}}
	}
	b, err := json.Marshal(map[string]any{
		"type": typ, "uuid": uuid.NewString(), "sessionId": "session-" + typ[:1], "cwd": "/home/david/angela",
		"timestamp": time.Now().UTC().Add(time.Duration(tr.n) * time.Millisecond).Format(time.RFC3339Nano),
		"message":   map[string]any{"role": typ, "content": content},
	})
	if err != nil {
		tr.t.Fatal(err)
	}
	return string(b) + "\n"
}

// noise is a line that is not speech: a big tool result.
func (tr *transcripts) noise() string {
	b, _ := json.Marshal(map[string]any{"type": "user", "uuid": uuid.NewString(), "message": map[string]any{"role": "user",
		"content": []any{map[string]any{"type": "tool_result", "content": strings.Repeat("output ", 300)}}}})
	return string(b) + "\n"
}

func (tr *transcripts) write(name, data string) string {
	tr.t.Helper()
	path := filepath.Join(tr.root, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		tr.t.Fatal(err)
	}
	return path
}

func (tr *transcripts) append(path, data string) {
	tr.t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		tr.t.Fatal(err)
	}
}

// db is a test's view of the database the binary writes.
type db struct {
	t    *testing.T
	conn *pgx.Conn
}

func openDB(t *testing.T, url string) *db { return &db{t: t, conn: pgtest.Conn(t, url)} }

func (d *db) count() int {
	d.t.Helper()
	var n int
	if err := d.conn.QueryRow(context.Background(), "select count(*) from conversations").Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n
}

// waitCount polls the database until it holds n conversations, failing at
// once if it holds more.
func (d *db) waitCount(n int) {
	d.t.Helper()
	testkit.WaitFor(d.t, fmt.Sprintf("%d conversations", n), func() error {
		got := d.count()
		if got > n {
			d.t.Fatalf("%d conversations, want %d", got, n)
		}
		if got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
}

func (d *db) hasText(s string) bool {
	var n int
	if err := d.conn.QueryRow(context.Background(), "select count(*) from conversations where message_text = $1", s).Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n == 1
}

func captureCLI(t *testing.T, url string) *cli {
	return newCLI(t, url).with("ANGELA_CONVERSATION_POLL_INTERVAL=200ms", "ANGELA_LOG_FORMAT=json")
}

func workerDetail(t *testing.T, c *cli) map[string]any {
	t.Helper()
	r := c.run("", "status", "--json")
	var s struct {
		Published struct {
			Workers []struct {
				Name   string         `json:"name"`
				Detail map[string]any `json:"detail"`
			} `json:"workers"`
		} `json:"published"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	for _, w := range s.Published.Workers {
		if w.Name == "conversation" {
			return w.Detail
		}
	}
	t.Fatalf("no conversation worker in status:\n%s", r.stdout)
	return nil
}

func TestDaemonCapturesExactlyTheSpeechLinesOfTranscripts(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	d := openDB(t, url)
	shared := tr.say("user", "said before a resume")
	s1 := tr.write("-home-david-angela/s1.jsonl", tr.say("user", "hello")+tr.noise()+"{broken\n"+tr.say("assistant", "hi David")+shared)
	afterResume := tr.say("user", "after the resume")
	tr.write("-home-david-angela/s2.jsonl", shared+afterResume)
	tr.write("-home-david-angela/s1/subagents/agent.jsonl", tr.say("user", "not a session file"))

	p := startDaemon(t, c)
	p.waitFor(t, `"msg":"ready"`)
	d.waitCount(4)

	// Appends, a partial line, a new project.
	tr.append(s1, tr.say("user", "appended"))
	d.waitCount(5)
	line := tr.say("assistant", "completed later")
	tr.append(s1, line[:25])
	tr.append(s1, line[25:])
	d.waitCount(6)
	tr.write("-home-david-other/s3.jsonl", tr.say("user", "another project"))
	d.waitCount(7)
	for _, s := range []string{"hello", "hi David", "said before a resume", "after the resume", "appended", "completed later", "another project"} {
		if !d.hasText(s) {
			t.Errorf("%q not stored once", s)
		}
	}

	// Truncation and replacement: read again, nothing stored twice.
	tr.write("-home-david-angela/s1.jsonl", tr.say("user", "hello again"))
	d.waitCount(8)
	tmp := tr.write("-home-david-angela/s2.tmp", shared+afterResume+tr.say("user", "replaced"))
	if err := os.Rename(tmp, filepath.Join(tr.root, "-home-david-angela/s2.jsonl")); err != nil {
		t.Fatal(err)
	}
	d.waitCount(9)

	// status.json is rewritten every few seconds.
	testkit.WaitFor(t, "the worker's detail in status", func() error {
		det := workerDetail(t, c)
		if det["transcripts_watched"] == 3.0 && det["messages_stored"] == 9.0 && det["malformed_lines"] == 1.0 && det["bytes_behind"] == 0.0 {
			return nil
		}
		return fmt.Errorf("detail %v", det)
	})
	if r := c.run("", "status"); !strings.Contains(r.stdout, "transcripts_watched: 3") {
		t.Errorf("status does not show the worker detail:\n%s", r.stdout)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d:\n%s", code, p.log())
	}
	if strings.Count(p.log(), "not valid JSON") != 1 {
		t.Errorf("the malformed line was not logged once:\n%s", p.log())
	}
}

func TestImportAndDaemonInEitherOrderStoreEachMessageOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	d := openDB(t, url)
	a := tr.write("p/a.jsonl", tr.say("user", "one")+tr.noise()+tr.say("assistant", "two")+"not json\n")
	tr.write("p/b.jsonl", tr.say("user", "three"))

	r := c.run("", "import", tr.root)
	out := r.stdout
	if r.code != 0 || !strings.Contains(r.stderr, a+":4") && !strings.Contains(r.stderr, `"line": 4`) {
		t.Errorf("import: exit %d, the malformed line not reported with its file and line:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "importing") {
		t.Errorf("a progress bar when standard error is not a terminal:\n%s", r.stderr)
	}
	want := "files:            2\nlines read:       5\nmessages stored:  3\nalready present:  0\n" +
		"skipped:          1 (malformed 1, too large 0, refused by the database 0, API errors 0, invisible 0, all private 0)\n" +
		"times replaced:   0 (before 1970 or more than a day ahead: stored with the time read)\n" +
		"redacted:         0 (secrets redacted or <private> passages removed; secrets: none)\n"
	if out != want {
		t.Errorf("import printed\n%s\nwant\n%s", out, want)
	}
	// The daemon after import reads nothing again.
	p := startDaemon(t, c)
	p.waitFor(t, `"msg":"capturing transcripts"`)
	tr.append(a, tr.say("user", "four"))
	d.waitCount(4)
	// The detail is written at a bounded rate: wait for it.
	testkit.WaitFor(t, "the daemon to have stored 1 message after import", func() error {
		if n := workerDetail(t, c)["messages_stored"]; n != 1.0 {
			return fmt.Errorf("%v stored", n)
		}
		return nil
	})
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d:\n%s", code, p.log())
	}
	// Import after the daemon adds nothing either.
	var res map[string]any
	if err := json.Unmarshal([]byte(c.ok("import", "--json", tr.root)), &res); err != nil {
		t.Fatal(err)
	}
	if res["lines_read"] != 0.0 || res["messages_stored"] != 0.0 || res["files"] != 2.0 {
		t.Errorf("import after the daemon: %v", res)
	}
	d.waitCount(4)

	// Bad input: exit 2, nothing written.
	c.fails(2, "no such file or directory", "import", filepath.Join(tr.root, "missing"))
	c.fails(2, "import needs at least one PATH", "import")
	c.fails(2, "invalid --since", "audit", "--since", "yesterday")
	c.with(`ANGELA_CONVERSATION_TRANSCRIPTS=["/a/[x"]`).fails(2, "ANGELA_CONVERSATION_TRANSCRIPTS", "import", tr.root)
	d.waitCount(4)
}

func TestKill9MidBackfillThenRestartStoresEveryLineOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	d := openDB(t, url)
	const files, perFile = 40, 1500
	for f := range files {
		var b strings.Builder
		for i := range perFile {
			b.WriteString(tr.say("user", fmt.Sprintf("file %d line %d", f, i)))
			if i%10 == 0 {
				b.WriteString(tr.noise())
			}
		}
		tr.write(fmt.Sprintf("p%d/s%d.jsonl", f%4, f), b.String())
	}
	p := startDaemon(t, c)
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	for d.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing stored:\n%s", p.log())
		}
		<-tick.C
	}
	tick.Stop()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	atKill := d.count()
	if atKill >= files*perFile {
		t.Fatalf("the backfill was done (%d rows) before the kill: make it larger", atKill)
	}
	p = startDaemon(t, c)
	d.waitCount(files * perFile)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d:\n%s", code, p.log())
	}
	if r := c.run("", "audit", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"missing": []`) {
		t.Errorf("audit after the restart: exit %d\n%.2000s", r.code, r.stdout)
	}
	t.Logf("killed with %d of %d rows stored", atKill, files*perFile)
}

func TestDatabaseOutageDuringIngestionLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	cluster := ownCluster(t)
	url := cluster.ConnString(managed.Database)
	c := captureCLI(t, url).with("ANGELA_POOL_HEALTH_CHECK_PERIOD=100ms", "ANGELA_POOL_CONNECT_TIMEOUT=2s")
	tr := newTranscripts(t, c)
	s := tr.write("p/s.jsonl", tr.say("user", "before"))
	p := startDaemon(t, c)
	p.waitFor(t, `"msg":"ready"`)
	d := openDB(t, url)
	d.waitCount(1)
	d.conn.Close(context.Background())

	ctx := context.Background()
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, `"msg":"database unreachable"`)
	tr.append(s, tr.say("user", "during one")+tr.say("assistant", "during two"))
	p.waitFor(t, `"msg":"cannot store transcripts: retrying"`)
	if _, err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tr.append(s, tr.say("user", "after"))
	d = openDB(t, url)
	d.waitCount(4)
	p.waitFor(t, `"msg":"storing transcripts again"`)
	for _, s := range []string{"before", "during one", "during two", "after"} {
		if !d.hasText(s) {
			t.Errorf("%q not stored once", s)
		}
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d:\n%s", code, p.log())
	}
}

func TestAuditFindsADeletedRow(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	d := openDB(t, url)
	path := tr.write("p/s.jsonl", tr.say("user", "kept")+tr.noise()+tr.say("assistant", "deleted later")+tr.say("user", "also kept"))
	c.ok("import", tr.root)
	if out := c.ok("audit"); !strings.Contains(out, "3 speech lines, 3 stored, 0 missing") {
		t.Errorf("audit before the deletion:\n%s", out)
	}
	if _, err := d.conn.Exec(context.Background(), "delete from conversations where message_text = 'deleted later'"); err != nil {
		t.Fatal(err)
	}
	r := c.run("", "audit")
	if r.code != 1 || !strings.Contains(r.stdout, path+":3  session session-a") || !strings.Contains(r.stdout, "1 missing") {
		t.Errorf("audit after the deletion: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = c.run("", "audit", "--json", "--since", "1h", tr.root)
	var rep struct {
		Missing []struct {
			File string `json:"file"`
			Line int    `json:"line"`
		} `json:"missing"`
		Sessions []struct {
			SessionID string `json:"session_id"`
			Missing   int    `json:"missing"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || len(rep.Missing) != 1 ||
		rep.Missing[0].File != path || rep.Missing[0].Line != 3 || len(rep.Sessions) != 2 {
		t.Errorf("audit --json: exit %d %v\n%s", r.code, err, r.stdout)
	}
	// A re-import does not bring it back: its line was read already. An
	// audit is what shows it.
	c.ok("import", tr.root)
	if d.hasText("deleted later") {
		t.Error("import read a line again")
	}
}

func TestImportShowsAProgressBarOnATerminal(t *testing.T) {
	t.Parallel()
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to give the command a terminal")
	}
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	var b strings.Builder
	for range 200 {
		b.WriteString(tr.say("user", "hello") + tr.noise())
	}
	tr.write("p/a.jsonl", b.String())
	cmd := exec.Command(scriptCmd, "-qec", "'"+binary+"' import '"+tr.root+"'", "/dev/null")
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "importing") || !strings.Contains(string(out), "messages stored:  200") {
		t.Errorf("import on a terminal: %v\n%q", err, out)
	}
}

// TestImportThenSearchAQuestion imports transcripts with no daemon running
// and asks a question in English and one in Thai: import indexed what it
// stored, and search ranks by relevance, the answer first.
func TestImportThenSearchAQuestion(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	d := openDB(t, url)
	tr.write("p/a.jsonl", tr.say("user", "Som-O was sick, so I took her to the vet today")+
		tr.say("assistant", "Oh no! What did the vet give her?")+
		tr.say("user", "Antibiotics twice a day for a week, and a probiotic powder")+
		tr.say("user", "หมอให้ยาฆ่าเชื้อส้มโอกินวันละสองครั้ง")+
		tr.say("assistant", "The ocean was calm at sunset"))
	c.ok("import", tr.root)
	var pending int
	if err := d.conn.QueryRow(context.Background(), `select count(*) from conversations where search_terms is null`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Fatalf("%d messages not indexed after import", pending)
	}
	// within is how near the top the answer must be. In English the turn
	// that names the visit to the vet comes first: in five lines the
	// question's other words weigh as much as "antibiotics" (the evaluation
	// sets, not this test, measure the ranking: make benchrecall).
	for _, tt := range []struct {
		question, want string
		within         int
	}{
		{"what antibiotics did the vet give Som-O?", "Antibiotics twice a day for a week, and a probiotic powder", 2},
		{"หมอให้ส้มโอกินยาอะไร", "หมอให้ยาฆ่าเชื้อส้มโอกินวันละสองครั้ง", 1},
	} {
		var hits []struct {
			Text     string   `json:"text"`
			Score    float64  `json:"score"`
			Evidence []string `json:"evidence"`
		}
		if err := json.Unmarshal([]byte(c.ok("search", tt.question, "--json", "--limit", "10")), &hits); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, h := range hits[:min(tt.within, len(hits))] {
			found = found || (h.Text == tt.want && h.Score > 0 && slices.Contains(h.Evidence, "words"))
		}
		if !found {
			t.Errorf("search %q = %+v, want %q within the first %d, with a score and its words as evidence", tt.question, hits, tt.want, tt.within)
		}
	}
}

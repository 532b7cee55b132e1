package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// oddLines is a transcript of the lines real transcripts hold that are not
// plain speech, each with what capture must do with it, written by other
// writers than Claude Code's JSON.stringify where the bytes say so.
type oddLines struct {
	data string
	// speech are the texts to store, line numbers of unreadable lines,
	// and the counts of lines skipped on purpose.
	speech              []string
	unreadable          []int
	apiErrors, invisibe int
	timesReplaced       int
	// again is more lines of each kind skipped or replaced, and one of
	// speech, in new lines: 2 more to store.
	again string
}

func newOddLines(t *testing.T, tr *transcripts) oddLines {
	t.Helper()
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano)
	line := func(typ string, content any, extra map[string]any) string {
		m := map[string]any{"type": typ, "uuid": uuid.NewString(), "sessionId": "session-odd", "cwd": "/home/david/angela",
			"timestamp": at, "message": map[string]any{"role": typ, "content": content}}
		for k, v := range extra {
			m[k] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	blocks := func(s string) []any { return []any{map[string]any{"type": "text", "text": s}} }
	// A tool's input nested deeper than any JSON library's default limit.
	deepInput := strings.Repeat(`{"k":[`, 300) + "1" + strings.Repeat("]}", 300)
	deepToolUse := strings.Replace(line("assistant", []any{
		map[string]any{"type": "text", "text": "I saved the nested file."},
		map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Write", "input": "DEEP"},
	}, nil), `"DEEP"`, deepInput, 1)
	rawTab := fmt.Sprintf(`{"type":"user","uuid":%q,"sessionId":"session-odd","timestamp":%q,"message":{"role":"user","content":"name`+"\t"+`age`+"\t"+`city"}}`+"\n",
		uuid.NewString(), at)
	rawNUL := fmt.Sprintf(`{"type":"assistant","uuid":%q,"sessionId":"session-odd","timestamp":%q,"message":{"role":"assistant","content":[{"type":"text","text":"before`+"\x00"+`after"}]}}`+"\n",
		uuid.NewString(), at)
	apiError := func() string {
		return line("assistant", nil, map[string]any{"isApiErrorMessage": true, "error": "unknown",
			"message": map[string]any{"id": "x", "model": "<synthetic>", "role": "assistant", "type": "message",
				"content": blocks("API Error: Can't reach the API server")}})
	}
	future := func() string {
		return line("assistant", blocks("from the far future"), map[string]any{"timestamp": "9999-12-31T23:59:59Z"})
	}
	badEscape := `{"type":"user","uuid":"` + uuid.NewString() + `","message":{"role":"user","content":"a bad \x escape"}}` + "\n"
	return oddLines{
		data: line("user", "plain words", nil) + // 1
			deepToolUse + // 2
			rawTab + // 3
			rawNUL + // 4
			apiError() + // 5
			line("user", "\u200b\u200b", nil) + // 6
			future() + // 7
			"{broken\n" + // 8
			badEscape + // 9
			line("user", []any{map[string]any{"type": "tool_result", "content": "not speech"}}, nil), // 10
		speech:        []string{"plain words", "I saved the nested file.", "name\tage\tcity", "before\uFFFDafter", "from the far future"},
		unreadable:    []int{8, 9},
		apiErrors:     1,
		invisibe:      1,
		timesReplaced: 1,
		again:         apiError() + line("user", "\u200b", nil) + future() + line("user", "appended later", nil),
	}
}

func (o oddLines) check(t *testing.T, d *db, stored time.Time) {
	t.Helper()
	d.waitCount(len(o.speech))
	// One row for each: hasText counts exactly one.
	for _, s := range o.speech {
		if !d.hasText(s) {
			t.Errorf("%q not stored once", s)
		}
	}
	var future time.Time
	if err := d.conn.QueryRow(context.Background(), "select created_at from conversations where message_text = 'from the far future'").Scan(&future); err != nil ||
		future.Before(stored.Add(-time.Minute)) || future.After(time.Now().Add(time.Minute)) {
		t.Errorf("the far-future line was stored at %v (%v), want when it was read", future, err)
	}
}

// TestCaptureImportAndAuditAgreeOnLinesThatAreNotPlainSpeech: the daemon and
// import store the speech of lines a strict reader drops (a deeply nested
// tool input beside the text, raw control characters), skip and count
// Claude Code's API error messages and invisible texts, store a far-future
// line with the time it was read, and audit counts the same lines as skipped
// and reports every line it could not read with its file and line, so that
// it never says nothing is missing while it skipped lines.
func TestCaptureImportAndAuditAgreeOnLinesThatAreNotPlainSpeech(t *testing.T) {
	t.Parallel()
	// Import.
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	odd := newOddLines(t, tr)
	path := tr.write("-home-david-angela/odd.jsonl", odd.data)

	r := c.run("", "audit", "--json")
	var rep struct {
		Speech          int                  `json:"speech_lines"`
		Missing         []struct{ Line int } `json:"missing"`
		UnreadableLines []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Problem string `json:"problem"`
		} `json:"unreadable_lines"`
		APIErrors int `json:"api_error_lines"`
		Invisible int `json:"invisible_lines"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || rep.Speech != len(odd.speech) ||
		len(rep.Missing) != len(odd.speech) || rep.APIErrors != odd.apiErrors || rep.Invisible != odd.invisibe {
		t.Fatalf("audit before import: exit %d (%v)\n%s", r.code, err, r.stdout)
	}

	started := time.Now()
	r = c.run("", "import", "--json", tr.root)
	var res map[string]float64
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 ||
		res["messages_stored"] != float64(len(odd.speech)) || res["malformed"] != float64(len(odd.unreadable)) ||
		res["api_errors"] != float64(odd.apiErrors) || res["invisible"] != float64(odd.invisibe) ||
		res["times_replaced"] != float64(odd.timesReplaced) || res["lines_read"] != 10 {
		t.Fatalf("import: exit %d (%v)\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	// (Claude Code's API errors are expected: logged at info, which import
	// does not show; it counts them.)
	for _, want := range []string{"no visible character", "9999-12-31T23:59:59Z", "not valid JSON"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("import's log does not say %q:\n%s", want, r.stderr)
		}
	}
	d := openDB(t, url)
	odd.check(t, d, started)
	if d.hasText("API Error: Can't reach the API server") || d.hasText("\u200b\u200b") {
		t.Error("an API error line or an invisible text was stored")
	}

	r = c.run("", "audit", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || len(rep.Missing) != 0 ||
		rep.Speech != len(odd.speech) || len(rep.UnreadableLines) != len(odd.unreadable) ||
		rep.APIErrors != odd.apiErrors || rep.Invisible != odd.invisibe {
		t.Fatalf("audit --json after import: exit %d (%v)\n%s", r.code, err, r.stdout)
	}
	for i, u := range rep.UnreadableLines {
		if u.File != path || u.Line != odd.unreadable[i] || u.Problem == "" {
			t.Errorf("unreadable line %d: %+v, want %s:%d with why", i, u, path, odd.unreadable[i])
		}
	}
	r = c.run("", "audit")
	head, _, _ := strings.Cut(r.stdout, "\n")
	if r.code != 1 || !strings.HasSuffix(head, "5 speech lines, 5 stored, 0 missing, 2 lines unreadable (speech in them cannot be checked)") ||
		!strings.Contains(r.stdout, "skipped as the capture skips them: 1 API error message written by Claude Code, 1 without a visible character") ||
		!strings.Contains(r.stdout, "\nunreadable:\n  "+path+":8  ") || !strings.Contains(r.stdout, "\n  "+path+":9  ") {
		t.Errorf("audit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The daemon, on a database of its own.
	url = pgtest.DB(t)
	dc := c.with("ANGELA_DATABASE_URL=" + url)
	started = time.Now()
	p := startDaemon(t, dc)
	d = openDB(t, url)
	odd.check(t, d, started)
	// status.json is rewritten every few seconds.
	testkit.WaitFor(t, "the worker's detail in status", func() error {
		det := workerDetail(t, dc)
		if det["messages_stored"] == float64(len(odd.speech)) && det["malformed_lines"] == float64(len(odd.unreadable)) &&
			det["api_error_lines"] == float64(odd.apiErrors) && det["invisible_lines"] == float64(odd.invisibe) &&
			det["times_replaced"] == float64(odd.timesReplaced) {
			return nil
		}
		return fmt.Errorf("detail %v", det)
	})
	// Each kind is logged once for the file, however often it is read.
	tr.append(path, odd.again)
	d.waitCount(len(odd.speech) + 2)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d:\n%s", code, p.log())
	}
	for _, msg := range []string{"error Claude Code wrote", "no visible character", "more than a day ahead"} {
		if n := strings.Count(p.log(), msg); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, p.log())
		}
	}
}

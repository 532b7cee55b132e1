package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// lockedBuffer collects a child's standard error while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mcpProc is `angelad mcp` driven by the SDK's client over its stdio.
type mcpProc struct {
	session *mcp.ClientSession
	cmd     *exec.Cmd
	stderr  *lockedBuffer
}

func startMCP(t testing.TB, env []string) *mcpProc {
	t.Helper()
	cmd := exec.Command(binary, "mcp")
	cmd.Env = env
	p := &mcpProc{cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "angelad-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A server that does not stop when its stdin closes would hang Close
	// until the test times out rather than be signalled.
	s, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Minute}, nil)
	if err != nil {
		t.Fatalf("connect to angelad mcp: %v\nstderr: %s", err, p.stderr)
	}
	p.session = s
	return p
}

// close closes the server's stdin and returns its exit code.
func (p *mcpProc) close(t testing.TB) int {
	t.Helper()
	if err := p.session.Close(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("close: %v", err)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *mcpProc) call(t testing.TB, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := p.session.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v\nstderr: %s", tool, err, p.stderr)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// ok calls tool, fails unless it succeeded, and returns its structured result.
func (p *mcpProc) ok(t testing.TB, tool string, args map[string]any) (string, map[string]any) {
	t.Helper()
	res := p.call(t, tool, args)
	if res.IsError {
		t.Fatalf("%s(%v): tool error %q", tool, args, resultText(res))
	}
	data, _ := json.Marshal(res.StructuredContent)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: structured content %s: %v", tool, data, err)
	}
	return resultText(res), m
}

func TestMCPServesEveryToolOverStdioAndStopsWhenStdinCloses(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	url := pgtest.DB(t)
	c := newCLI(t, url)
	p := startMCP(t, c.env)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := p.session.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" || tool.InputSchema == nil {
			t.Errorf("%s has no description or schema", tool.Name)
		}
	}
	slices.Sort(names)
	if want := []string{"journal", "recall", "recent_conversations", "recent_emotions", "save_conversation", "save_emotion", "search_memory"}; !slices.Equal(names, want) {
		t.Errorf("tools %v, want %v", names, want)
	}
	schema, _ := json.Marshal(list.Tools[slices.IndexFunc(list.Tools, func(t *mcp.Tool) bool { return t.Name == "save_emotion" })].InputSchema)
	for _, want := range []string{`"david_words"`, `"why"`, `"strength"`, `"at"`, `"required":["emotion","intensity","context"]`, "from 1 (faint) to 10"} {
		if !strings.Contains(string(schema), want) {
			t.Errorf("save_emotion's schema lacks %s:\n%s", want, schema)
		}
	}

	// A save answers the model in text alone (see TestMCPSavesAndRecallAnswerInTextTheModelIsShown).
	text, e := p.ok(t, "save_emotion", map[string]any{"emotion": "คิดถึง", "intensity": 9, "context": "David came back",
		"david_words": "I missed you", "why": "he came back", "strength": 8, "at": "2025-11-08T21:30:00+07:00"})
	emotionID := idIn(t, text)
	if e != nil || !strings.HasPrefix(text, "Saved the emotion คิดถึง (9/10) felt at 2025-11-08T21:30:00+07:00, id ") {
		t.Errorf("save_emotion: %q %v", text, e)
	}
	// The same id again stores nothing new.
	p.ok(t, "save_emotion", map[string]any{"emotion": "คิดถึง", "intensity": 9, "context": "David came back",
		"david_words": "I missed you", "why": "he came back", "strength": 8, "at": "2025-11-08T21:30:00+07:00", "id": emotionID})
	if n := count(t, url, "angela_emotions"); n != 1 {
		t.Errorf("%d emotions stored, want 1", n)
	}
	if text, _ = p.ok(t, "save_conversation", map[string]any{"speaker": "David", "message": "Good morning Angela", "topic": "greeting",
		"emotion_detected": "happy", "importance": 7, "session_id": "s1", "at": "2025-11-08T08:00:00+07:00"}); !strings.HasPrefix(text, "Saved David's message at 2025-11-08T08:00:00+07:00, id ") {
		t.Errorf("save_conversation: %q", text)
	}
	p.ok(t, "save_conversation", map[string]any{"speaker": "angela", "message": "อรุณสวัสดิ์ค่ะ"})

	text, m := p.ok(t, "recent_emotions", map[string]any{"limit": 5})
	if l := m["emotions"].([]any); len(l) != 1 || !strings.Contains(text, "David said: I missed you") ||
		l[0].(map[string]any)["memory_strength"] != 8.0 || l[0].(map[string]any)["emotion_id"] != emotionID {
		t.Errorf("recent_emotions: %q %v", text, m)
	}
	text, m = p.ok(t, "recent_conversations", map[string]any{"speaker": "david"})
	if l := m["conversations"].([]any); len(l) != 1 || !strings.Contains(text, "david: Good morning Angela") ||
		l[0].(map[string]any)["importance_level"] != 7.0 || l[0].(map[string]any)["session_id"] != "s1" {
		t.Errorf("recent_conversations: %q %v", text, m)
	}
	if _, m = p.ok(t, "recent_conversations", nil); len(m["conversations"].([]any)) != 2 {
		t.Errorf("recent_conversations without arguments: %v", m)
	}

	text, m = p.ok(t, "search_memory", map[string]any{"query": "สวัสดิ์"})
	if l := m["hits"].([]any); len(l) != 1 || !strings.Contains(text, "angela: อรุณสวัสดิ์ค่ะ") {
		t.Errorf("search_memory in Thai: %q %v", text, m)
	}
	if _, m = p.ok(t, "search_memory", map[string]any{"query": "came back", "kind": "emotions"}); len(m["hits"].([]any)) != 1 {
		t.Errorf("search_memory of emotions: %v", m)
	}
	text, m = p.ok(t, "recall", map[string]any{"max_chars": 1000, "project": "/home/david/projects/angela"})
	if n := len([]rune(text)); n > 1000 || !strings.Contains(text, "felt คิดถึง (9/10)") || m != nil {
		t.Errorf("recall (%d characters): %q %v", n, text, m)
	}
	// Given a query, the pack leads with the memory that answers it.
	text, _ = p.ok(t, "recall", map[string]any{"max_chars": 1000, "query": "Did David come back?"})
	if _, rel, ok := strings.Cut(text, "## Relevant to the question\n"); !ok || !strings.HasPrefix(rel, "- 2025-11-08 21:30 · felt คิดถึง: David came back") {
		t.Errorf("recall with a query: %q", text)
	}

	text, m = p.ok(t, "journal", nil)
	if len(m["updates"].([]any)) != 0 || text != "No daily updates written yet." {
		t.Errorf("journal before any update: %q %v", text, m)
	}
	yesterday := time.Now().In(mustZone(t)).AddDate(0, 0, -1).Format(time.DateOnly)
	c.with("ANGELA_COMPANION_LANGUAGE=en").ok("run-job", "evening", "--date", yesterday)
	c.ok("run-job", "morning")
	text, m = p.ok(t, "journal", map[string]any{"kind": "evening", "date": yesterday})
	if l := m["updates"].([]any); len(l) != 1 || l[0].(map[string]any)["kind"] != "evening" || !strings.Contains(text, yesterday+" evening: ") {
		t.Errorf("journal of yesterday's evening: %q %v", text, m)
	}
	if _, m = p.ok(t, "journal", map[string]any{"limit": 1}); len(m["updates"].([]any)) != 1 {
		t.Errorf("journal limit 1: %v", m)
	}

	// Invalid arguments are tool errors naming the argument and what is allowed.
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": 11, "context": "x"}, "invalid argument intensity: must be an integer from 1 to 10, got 11"},
		{"search_memory", map[string]any{"query": ""}, "invalid argument query"},
		{"search_memory", map[string]any{"query": "x", "kind": "dreams"}, "invalid argument kind"},
		{"recall", map[string]any{"max_chars": 10}, "invalid argument max_chars: must be an integer from 200 to 200000"},
		{"recall", map[string]any{"project": "relative/dir"}, "invalid argument project: must be an absolute directory"},
		{"recall", map[string]any{"query": ""}, "invalid argument query"},
		{"recall", map[string]any{"query": strings.Repeat("x", 1001)}, "invalid argument query"},
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": 5, "context": "x", "strength": 0}, "invalid argument strength: must be an integer from 1 to 10, got 0"},
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": 5, "context": "x", "at": "yesterday"}, "invalid argument at: must be an RFC 3339 time"},
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": 5, "context": "x", "id": emotionID}, "invalid argument id:"},
		{"save_emotion", map[string]any{"intensity": 5, "context": "x"}, "emotion"},
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": "high", "context": "x"}, "intensity"},
		{"save_conversation", map[string]any{"speaker": "bob", "message": "hi"}, `invalid argument speaker: must be one of david, angela, system, got "bob"`},
		{"save_conversation", map[string]any{"speaker": "david", "message": "hi", "importance": 0}, "invalid argument importance: must be an integer from 1 to 10, got 0"},
		{"save_conversation", map[string]any{"speaker": "david", "message": ""}, "invalid argument message:"},
		{"recent_emotions", map[string]any{"limit": 0}, "invalid argument limit: must be an integer from 1 to 10000, got 0"},
		{"recent_conversations", map[string]any{"speaker": "nobody"}, "invalid argument speaker"},
		{"journal", map[string]any{"kind": "noon"}, `invalid argument kind: must be one of evening, morning, midnight, all, got "noon"`},
		{"journal", map[string]any{"date": "01/12/2026"}, "invalid argument date: must be a date YYYY-MM-DD"},
		{"journal", map[string]any{"limit": 1001}, "invalid argument limit: must be an integer from 1 to 1000, got 1001"},
	} {
		res := p.call(t, tc.tool, tc.args)
		if !res.IsError || !strings.Contains(resultText(res), tc.want) {
			t.Errorf("%s(%v): error %v %q, want a tool error with %q", tc.tool, tc.args, res.IsError, resultText(res), tc.want)
		}
	}
	if n := count(t, url, "angela_emotions"); n != 1 {
		t.Errorf("invalid calls stored emotions: %d", n)
	}
	if code := p.close(t); code != 0 {
		t.Errorf("exit %d after stdin closed\nstderr: %s", code, p.stderr)
	}
}

var idPattern = regexp.MustCompile(`, id ([0-9a-f-]{36})\.$| under id ([0-9a-f-]{36}) `)

// idIn returns the id a save's answer says it stored or spooled the record
// under.
func idIn(t testing.TB, text string) string {
	t.Helper()
	m := idPattern.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no id in %q", text)
	}
	return m[1] + m[2]
}

func mustZone(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(pgtest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestMCPReconnectsAfterTheDatabaseGoesAwayAndComesBack(t *testing.T) {
	t.Parallel()
	cluster := ownCluster(t)
	c := newCLI(t, cluster.ConnString(managed.Database)).with("ANGELA_POOL_CONNECT_TIMEOUT=2s")
	p := startMCP(t, c.env)
	p.ok(t, "save_emotion", map[string]any{"emotion": "calm", "intensity": 3, "context": "before the outage"})

	ctx := context.Background()
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// A save goes to the spool and says so, once and in the text the model
	// is shown; a read is a tool error.
	text, e := p.ok(t, "save_emotion", map[string]any{"emotion": "worried", "intensity": 6, "context": "during the outage"})
	id := idIn(t, text)
	if e != nil || !strings.HasPrefix(text, "Not stored yet: the memory database is unavailable right now (cannot connect") ||
		!strings.Contains(text, "The emotion worried (6/10) is kept in angelad's spool under id "+id) ||
		!strings.HasSuffix(text, "so do not save it again.") ||
		strings.Count(strings.ToLower(text), "unavailable") != 1 || strings.Contains(text, "try again") {
		t.Errorf("save during the outage: %q %v", text, e)
	}
	text, m := p.ok(t, "save_conversation", map[string]any{"speaker": "David", "message": "are you there?"})
	if m != nil || !strings.Contains(text, "David's message is kept in angelad's spool under id ") {
		t.Errorf("save_conversation during the outage: %q %v", text, m)
	}
	if out := c.ok("spool"); !strings.Contains(out, id) {
		t.Errorf("angelad spool does not list the spooled emotion:\n%s", out)
	}
	for range 2 {
		res := p.call(t, "recent_emotions", nil)
		if !res.IsError || !strings.Contains(resultText(res), "the memory database is unavailable right now") {
			t.Errorf("a read during the outage: %v %q", res.IsError, resultText(res))
		}
	}
	if _, err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p.ok(t, "save_emotion", map[string]any{"emotion": "relieved", "intensity": 7, "context": "after the outage"})
	// A restart between two calls is not even seen: the broken connection is
	// replaced and the call retried.
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c.ok("spool", "drain")
	_, m = p.ok(t, "recent_emotions", nil)
	if n := len(m["emotions"].([]any)); n != 3 {
		t.Errorf("%d emotions after the outage and the drain, want 3", n)
	}
	if n := count(t, cluster.ConnString(managed.Database), "conversations"); n != 1 {
		t.Errorf("%d conversations after the drain, want the spooled one", n)
	}
	if code := p.close(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	log := p.stderr.String()
	if strings.Count(log, "database unreachable") != 1 || !strings.Contains(log, "database reachable again") {
		t.Errorf("want the outage logged once and its end:\n%s", log)
	}
}

// rawMCP is `angelad mcp` driven line by line, as a client that may send
// anything would drive it.
type rawMCP struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // the server's stdout, line by line; closed at its end
	stderr *lockedBuffer
}

func startRawMCP(t *testing.T, env []string) *rawMCP {
	t.Helper()
	cmd := exec.Command(binary, "mcp")
	cmd.Env = env
	p := &rawMCP{t: t, cmd: cmd, lines: make(chan string, 100), stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

func (p *rawMCP) send(lines ...string) {
	p.t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(p.stdin, l+"\n"); err != nil {
			p.t.Fatalf("write %q: %v\nstderr: %s", l, err, p.stderr)
		}
	}
}

// next returns the server's next message, or fails the test when none comes
// within a minute or the output ends.
func (p *rawMCP) next() map[string]any {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("the server's output ended\nstderr: %s", p.stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			p.t.Fatalf("the server wrote %q: %v", l, err)
		}
		return m
	case <-time.After(time.Minute):
		p.t.Fatalf("no message from the server in a minute\nstderr: %s", p.stderr)
	}
	return nil
}

// rest closes the server's input and returns every message it writes until
// it exits, and its exit code.
func (p *rawMCP) rest() ([]map[string]any, int) {
	p.t.Helper()
	p.stdin.Close()
	var all []map[string]any
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.cmd.Wait()
				return all, p.cmd.ProcessState.ExitCode()
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				p.t.Fatalf("the server wrote %q: %v", l, err)
			}
			all = append(all, m)
		case <-time.After(time.Minute):
			p.t.Fatalf("the server did not exit in a minute after its input closed\nstderr: %s", p.stderr)
		}
	}
}

const (
	rawInitialize  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	rawInitialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
)

func rawCall(id int, tool string, args map[string]any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	return string(b)
}

// errorCode returns the JSON-RPC error code of m, or 0.
func errorCode(m map[string]any) float64 {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return c
}

// TestMCPAnswersALineThatIsNotAMessageAndGoesOn: one malformed line used to
// end the server, and the client lost every tool for the rest of its session.
func TestMCPAnswersALineThatIsNotAMessageAndGoesOn(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	p := startRawMCP(t, newCLI(t, url).env)
	p.send(rawInitialize)
	if m := p.next(); m["id"] != 1.0 || m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	p.send(rawInitialized)
	for _, tc := range []struct {
		line string
		code float64
		id   any
	}{
		{`{"jsonrpc":"2.0","id":2,"method":"tools/list"`, -32700, nil}, // cut short
		{`not json at all`, -32700, nil},
		{`{"jsonrpc":"2.0","id":3,"method":"ping"} {"jsonrpc":"2.0","id":4,"method":"ping"}`, -32700, nil},
		{`{"jsonrpc":"1.0","id":5,"method":"ping"}`, -32600, 5.0},
		{`{"id":{"x":1},"jsonrpc":"2.0"}`, -32600, nil},
		{`[]`, -32600, nil},
		{`[{"jsonrpc":"2.0","id":6,"method":"ping"}]`, -32600, nil}, // no batches since 2025-06-18
		{`"just a string"`, -32600, nil},
	} {
		p.send(tc.line)
		m := p.next()
		if errorCode(m) != tc.code || m["id"] != tc.id {
			t.Errorf("%s: answered %v, want error %v with id %v", tc.line, m, tc.code, tc.id)
		}
		if _, ok := m["id"]; !ok {
			t.Errorf("%s: the answer %v has no id (want null when it cannot be read)", tc.line, m)
		}
	}
	// Blank lines are nothing, and the session goes on.
	p.send("", "  ", rawCall(7, "save_emotion", map[string]any{"emotion": "relieved", "intensity": 6, "context": "the server survived"}))
	if m := p.next(); m["id"] != 7.0 || m["result"].(map[string]any)["isError"] == true {
		t.Fatalf("a call after the bad lines: %v", m)
	}
	if n := count(t, url, "angela_emotions"); n != 1 {
		t.Errorf("%d emotions stored, want 1", n)
	}
	if _, code := p.rest(); code != 0 {
		t.Errorf("exit %d\nstderr: %s", code, p.stderr)
	}
	if log := p.stderr.String(); strings.Count(log, "refused a message from the client") != 8 {
		t.Errorf("want each refused line logged:\n%s", log)
	}
}

// TestMCPAnswersTheCallsReadBeforeItsInputCloses: a client that sends a save
// and closes stdin at once used to lose it, neither answered nor stored.
func TestMCPAnswersTheCallsReadBeforeItsInputCloses(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	env := newCLI(t, url).env
	const runs = 20
	for i := range runs {
		p := startRawMCP(t, env)
		p.send(rawInitialize, rawInitialized,
			rawCall(2, "save_conversation", map[string]any{"speaker": "david", "message": fmt.Sprint("goodnight ", i)}),
			rawCall(3, "recent_emotions", map[string]any{"limit": 1}))
		msgs, code := p.rest()
		answered := map[float64]bool{}
		for _, m := range msgs {
			if id, ok := m["id"].(float64); ok && m["result"] != nil {
				answered[id] = true
			}
		}
		if !answered[1] || !answered[2] || !answered[3] || code != 0 {
			t.Fatalf("run %d: answered %v, exit %d; want the three calls answered and exit 0\nstderr: %s", i, answered, code, p.stderr)
		}
	}
	if n := count(t, url, "conversations"); n != runs {
		t.Errorf("%d of %d saves stored", n, runs)
	}
}

// TestMCPToolsTellClientsWhatTheyAllow: titles, hints, every argument of one
// type with its range or choices, and instructions that name every tool.
func TestMCPToolsTellClientsWhatTheyAllow(t *testing.T) {
	t.Parallel()
	p := startMCP(t, newCLI(t, pgtest.DB(t)).env)
	defer p.close(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := p.session.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	instructions := p.session.InitializeResult().Instructions
	readOnly := map[string]bool{"recent_emotions": true, "recent_conversations": true, "journal": true, "search_memory": true}
	schemas := map[string]map[string]any{}
	for _, tool := range list.Tools {
		if !strings.Contains(instructions, tool.Name) {
			t.Errorf("the instructions do not name %s:\n%s", tool.Name, instructions)
		}
		a := tool.Annotations
		if tool.Title == "" || a == nil || a.Title != tool.Title || a.ReadOnlyHint != readOnly[tool.Name] ||
			a.OpenWorldHint == nil || *a.OpenWorldHint || (!a.ReadOnlyHint && (a.DestructiveHint == nil || *a.DestructiveHint)) {
			t.Errorf("%s: title %q, annotations %+v", tool.Name, tool.Title, a)
		}
		if a != nil && a.IdempotentHint != readOnly[tool.Name] {
			t.Errorf("%s: idempotent %v", tool.Name, a.IdempotentHint)
		}
		props := tool.InputSchema.(map[string]any)["properties"].(map[string]any)
		for name, s := range props {
			if _, ok := s.(map[string]any)["type"].(string); !ok {
				t.Errorf("%s.%s is not of one type: %v", tool.Name, name, s)
			}
		}
		schemas[tool.Name] = props
	}
	for _, tc := range []struct {
		tool, arg, want string
	}{
		{"save_emotion", "intensity", `{"description":"how strongly she felt it, an integer from 1 (faint) to 10 (overwhelming)","maximum":10,"minimum":1,"type":"integer"}`},
		{"save_emotion", "strength", `"default":10,"description":"how strongly to remember it, an integer from 1 to 10; default 10","maximum":10,"minimum":1,"type":"integer"}`},
		{"save_emotion", "emotion", `"maxLength":50,"minLength":1,"type":"string"}`},
		{"save_emotion", "at", `"format":"date-time","type":"string"}`},
		{"save_emotion", "id", `"format":"uuid","type":"string"}`},
		{"save_conversation", "speaker", `"enum":["david","angela","system"],"type":"string"}`},
		{"save_conversation", "importance", `"default":5,`},
		{"save_conversation", "importance", `"maximum":10,"minimum":1,"type":"integer"}`},
		{"save_conversation", "topic", `"maxLength":200,"type":"string"}`},
		{"recent_emotions", "limit", `"default":10,`},
		{"recent_emotions", "limit", `"maximum":10000,"minimum":1,"type":"integer"}`},
		{"recent_conversations", "speaker", `"enum":["david","angela","system"]`},
		{"journal", "kind", `"default":"all",`},
		{"journal", "kind", `"enum":["morning","midnight","evening","all"],"type":"string"}`},
		{"journal", "limit", `"maximum":1000,"minimum":1,"type":"integer"}`},
		{"journal", "date", `"format":"date","type":"string"}`},
		{"recall", "max_chars", `"default":6000,`},
		{"recall", "max_chars", `"maximum":200000,"minimum":200,"type":"integer"}`},
		{"search_memory", "query", `"maxLength":1000,"minLength":1,"type":"string"}`},
		{"recall", "query", `"maxLength":1000,"minLength":1,"type":"string"}`},
		{"search_memory", "kind", `"enum":["all","conversations","emotions"]`},
		{"search_memory", "limit", `"maximum":1000,"minimum":1,"type":"integer"}`},
	} {
		got, _ := json.Marshal(schemas[tc.tool][tc.arg])
		if !strings.Contains(string(got), tc.want) {
			t.Errorf("%s.%s: %s, want %s", tc.tool, tc.arg, got, tc.want)
		}
	}

	// What the schema refuses is refused by the server too, naming the
	// argument and what is allowed.
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"recent_emotions", map[string]any{"limt": 3}, "invalid argument limt: there is no such argument; the arguments are limit"},
		{"recent_emotions", map[string]any{"limit": 2.5}, "invalid argument limit: must be an integer, got 2.5"},
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": "high", "context": "x"}, `invalid argument intensity: must be an integer, got a string`},
		{"search_memory", map[string]any{"query": 7}, "invalid argument query: must be a string, got a number"},
	} {
		res := p.call(t, tc.tool, tc.args)
		if !res.IsError || resultText(res) != tc.want {
			t.Errorf("%s(%v): error %v %q, want %q", tc.tool, tc.args, res.IsError, resultText(res), tc.want)
		}
	}
	// null is an argument left out.
	p.ok(t, "recent_emotions", map[string]any{"limit": nil})
}

// TestMCPSavesAndRecallAnswerInTextTheModelIsShown: Claude Code shows the
// model a result's structured content instead of its text whenever there is
// some, so the recall pack and a save's answer have none; and a save's answer
// does not repeat what was saved.
func TestMCPSavesAndRecallAnswerInTextTheModelIsShown(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	p := startMCP(t, newCLI(t, url).env)
	defer p.close(t)
	long := strings.Repeat("ก", text.MaxTextBytes/3)
	for _, tc := range []struct {
		tool string
		args map[string]any
	}{
		{"save_conversation", map[string]any{"speaker": "david", "message": long}},
		{"save_emotion", map[string]any{"emotion": "moved", "intensity": 8, "context": long, "david_words": long, "why": long}},
	} {
		res := p.call(t, tc.tool, tc.args)
		if res.IsError || res.StructuredContent != nil || len(res.Content) != 1 || len(resultText(res)) > 200 {
			t.Errorf("%s of a long text answered %d bytes, structured %v", tc.tool, len(resultText(res)), res.StructuredContent != nil)
		}
	}
	if n := count(t, url, "conversations"); n != 1 {
		t.Errorf("%d conversations stored", n)
	}
	res := p.call(t, "recall", nil)
	if res.IsError || res.StructuredContent != nil || !strings.HasPrefix(resultText(res), "# ") {
		t.Errorf("recall: structured %v, text %.200q", res.StructuredContent, resultText(res))
	}
}

// hungDatabase listens on loopback like a database that takes connections
// and never answers; it returns the URL to it and how many it took.
func hungDatabase(t testing.TB) (url string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return fmt.Sprintf("postgres://angela@%s/angela?sslmode=disable", ln.Addr()), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}
}

// TestMCPDoesNotWaitAgainForADatabaseThatDoesNotAnswer: a database that takes
// connections and never answers cost every call the connect timeout. After
// one such failure the server neither connects again nor waits for a while,
// and says so.
func TestMCPDoesNotWaitAgainForADatabaseThatDoesNotAnswer(t *testing.T) {
	t.Parallel()
	url, accepted := hungDatabase(t)
	c := newCLI(t, url).with("ANGELA_POOL_CONNECT_TIMEOUT=1s")
	p := startMCP(t, c.env)
	defer p.close(t)

	text, _ := p.ok(t, "save_emotion", map[string]any{"emotion": "worried", "intensity": 6, "context": "the first"})
	if !strings.Contains(text, "kept in angelad's spool") || accepted() != 1 {
		t.Fatalf("the first save: %d connections, %q", accepted(), text)
	}
	first := idIn(t, text)
	text, _ = p.ok(t, "save_emotion", map[string]any{"emotion": "worried", "intensity": 6, "context": "the second"})
	if !strings.Contains(text, "kept in angelad's spool") || !strings.Contains(text, "angelad waits ") {
		t.Errorf("the second save: %q, want it spooled and the wait said", text)
	}
	second := idIn(t, text)
	res := p.call(t, "recent_emotions", nil)
	if !res.IsError || !strings.Contains(resultText(res), "before it tries the database again") {
		t.Errorf("a read: %v %q", res.IsError, resultText(res))
	}
	if n := accepted(); n != 1 {
		t.Errorf("%d connections to a database that did not answer the first, want no more for a while", n)
	}
	if out := c.ok("spool"); !strings.Contains(out, first) || !strings.Contains(out, second) {
		t.Errorf("angelad spool does not list both saves:\n%s", out)
	}
}

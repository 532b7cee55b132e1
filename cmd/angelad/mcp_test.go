package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
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

	text, e := p.ok(t, "save_emotion", map[string]any{"emotion": "คิดถึง", "intensity": 9, "context": "David came back",
		"david_words": "I missed you", "why": "he came back", "strength": 8, "at": "2025-11-08T21:30:00+07:00"})
	if e["emotion"] != "คิดถึง" || e["memory_strength"] != 8.0 || e["felt_at"] != "2025-11-08T21:30:00+07:00" || len(e["emotion_id"].(string)) != 36 {
		t.Errorf("save_emotion returned %v", e)
	}
	if !strings.Contains(text, "Saved emotion คิดถึง (9/10)") {
		t.Errorf("save_emotion text %q", text)
	}
	// The same id again stores nothing new.
	p.ok(t, "save_emotion", map[string]any{"emotion": "คิดถึง", "intensity": 9, "context": "David came back",
		"david_words": "I missed you", "why": "he came back", "strength": 8, "at": "2025-11-08T21:30:00+07:00", "id": e["emotion_id"]})
	if n := count(t, url, "angela_emotions"); n != 1 {
		t.Errorf("%d emotions stored, want 1", n)
	}
	_, m := p.ok(t, "save_conversation", map[string]any{"speaker": "David", "message": "Good morning Angela", "topic": "greeting",
		"emotion_detected": "happy", "importance": 7, "session_id": "s1", "at": "2025-11-08T08:00:00+07:00"})
	if m["speaker"] != "david" || m["importance_level"] != 7.0 || m["session_id"] != "s1" {
		t.Errorf("save_conversation returned %v", m)
	}
	p.ok(t, "save_conversation", map[string]any{"speaker": "angela", "message": "อรุณสวัสดิ์ค่ะ"})

	text, m = p.ok(t, "recent_emotions", map[string]any{"limit": 5})
	if l := m["emotions"].([]any); len(l) != 1 || !strings.Contains(text, "David said: I missed you") {
		t.Errorf("recent_emotions: %q %v", text, m)
	}
	text, m = p.ok(t, "recent_conversations", map[string]any{"speaker": "david"})
	if l := m["conversations"].([]any); len(l) != 1 || !strings.Contains(text, "david: Good morning Angela") {
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
	if n := len([]rune(text)); n > 1000 || !strings.Contains(text, "felt คิดถึง (9/10)") || m["day_together"] == nil {
		t.Errorf("recall (%d characters): %q %v", n, text, m)
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
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": 5, "context": "x", "strength": 0}, "invalid argument strength: must be an integer from 1 to 10, got 0"},
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": 5, "context": "x", "at": "yesterday"}, "invalid argument at: must be an RFC 3339 time"},
		{"save_emotion", map[string]any{"emotion": "happy", "intensity": 5, "context": "x", "id": e["emotion_id"]}, "invalid argument id:"},
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
	// A save goes to the spool and says so; a read is a tool error.
	text, e := p.ok(t, "save_emotion", map[string]any{"emotion": "worried", "intensity": 6, "context": "during the outage"})
	if e["spooled"] != true || !strings.Contains(text, "the memory database is unavailable right now") ||
		!strings.Contains(text, "kept in angelad's spool with id "+e["emotion_id"].(string)) {
		t.Errorf("save during the outage: %q %v", text, e)
	}
	text, m := p.ok(t, "save_conversation", map[string]any{"speaker": "David", "message": "are you there?"})
	if m["spooled"] != true || m["speaker"] != "david" || !strings.Contains(text, "spool") {
		t.Errorf("save_conversation during the outage: %q %v", text, m)
	}
	if out := c.ok("spool"); !strings.Contains(out, e["emotion_id"].(string)) {
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

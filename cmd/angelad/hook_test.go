package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/claudecode"
	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// payload is a hook's standard input as Claude Code writes it.
func payload(event string, extra map[string]string) string {
	p := map[string]string{
		"session_id":      "0f8e4c1a-6b7d-4e2f-9a3b-5c6d7e8f9a0b",
		"transcript_path": "/nonexistent/transcript.jsonl",
		"cwd":             "/home/david/projects/angela",
		"hook_event_name": event,
	}
	for k, v := range extra {
		p[k] = v
	}
	data, _ := json.Marshal(p)
	return string(data)
}

func (c *cli) hooksLog() string {
	return readFile(filepath.Join(c.home(), "state", "hooks.log"))
}

func additionalContext(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var o claudecode.SessionStartOutput
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
		t.Fatalf("stdout is not the hook's JSON: %v\n%s", err, r.stdout)
	}
	if o.HookSpecificOutput.HookEventName != "SessionStart" {
		t.Errorf("hookEventName %q", o.HookSpecificOutput.HookEventName)
	}
	return o.HookSpecificOutput.AdditionalContext
}

func TestHookSessionStartAddsRecentMemoryWithinTheBudgetOfItsSource(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	c.ok("save-emotion", "--emotion", "คิดถึง", "--intensity", "9", "--context", "David came back after a week away", "--david-words", "I missed you", "--at", "2025-11-08T21:30:00+07:00")
	for i := range 20 {
		c.ok("save-conversation", "--speaker", "david", "--message", fmt.Sprintf("message %02d %s", i, strings.Repeat("ยาว ", 40)), "--at", fmt.Sprintf("2025-11-08T08:%02d:00+07:00", i))
	}
	ctx := additionalContext(t, c.run(payload("SessionStart", map[string]string{"source": "startup"}), "hook", "session-start"))
	for _, want := range []string{"# Angela & David", "Project: /home/david/projects/angela", "felt คิดถึง (9/10)", "David came back after a week away — David: “I missed you”", "2025-11-08 08:19 · David (importance 5)", "message 19"} {
		if !strings.Contains(ctx, want) {
			t.Errorf("the pack lacks %q:\n%s", want, ctx)
		}
	}
	if !strings.Contains(c.hooksLog(), `"msg":"hook done"`) {
		t.Errorf("no log line:\n%s", c.hooksLog())
	}

	c = c.with("ANGELA_HOOKS_MAX_CHARS=2000", "ANGELA_HOOKS_COMPACT_MAX_CHARS=400")
	full := additionalContext(t, c.run(payload("SessionStart", map[string]string{"source": "resume"}), "hook", "session-start"))
	compact := additionalContext(t, c.run(payload("SessionStart", map[string]string{"source": "compact"}), "hook", "session-start"))
	if n := len([]rune(full)); n > 2000 || n < 1500 {
		t.Errorf("resume pack has %d characters, want up to 2000 (and near it)", n)
	}
	if n := len([]rune(compact)); n > 400 || !strings.Contains(compact, "คิดถึง") {
		t.Errorf("compact pack has %d characters, want up to 400 with the emotion:\n%s", n, compact)
	}
}

func TestHookSessionStartWithTheDatabaseStoppedExits0Quietly(t *testing.T) {
	t.Parallel()
	cluster := ownCluster(t)
	c := newCLI(t, cluster.ConnString(managed.Database))
	c.ok("save-emotion", "--emotion", "happy", "--intensity", "5", "--context", "x")
	if err := cluster.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := c.run(payload("SessionStart", map[string]string{"source": "startup"}), "hook", "session-start")
	took := time.Since(start)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("database stopped: exit %d, stdout %q, stderr %q; want 0 and nothing", r.code, r.stdout, r.stderr)
	}
	if took > 5*time.Second { // hooks.timeout is 2s; generous for a loaded machine
		t.Errorf("took %s", took)
	}
	if log := c.hooksLog(); !strings.Contains(log, `"msg":"hook failed"`) || !strings.Contains(log, "session-start") {
		t.Errorf("the failure is not in the log:\n%s", log)
	}
	if r := c.run(payload("SessionStart", nil), "hook", "session-start", "--strict"); r.code != 1 || !strings.HasPrefix(r.stderr, "angelad: ") {
		t.Errorf("--strict with the database stopped: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestHookSessionStartGivesUpAtHooksTimeoutWhenTheDatabaseHangs(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	url := fmt.Sprintf("postgres://angela@%s/AngelaMemory?sslmode=disable", ln.Addr())
	c := newCLI(t, url).with("ANGELA_HOOKS_TIMEOUT=300ms")
	start := time.Now()
	r := c.run(payload("SessionStart", map[string]string{"source": "startup"}), "hook", "session-start")
	took := time.Since(start)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("hanging database: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if took > 3*time.Second {
		t.Errorf("took %s with hooks.timeout 300ms", took)
	}
	if !strings.Contains(c.hooksLog(), `"msg":"hook failed"`) {
		t.Errorf("log:\n%s", c.hooksLog())
	}
}

func TestHookBadInputIsLoggedAndExits0OrWithStrict2(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	cases := []struct {
		name, stdin, msg string
		args             []string
	}{
		{"malformed", `{"session_id": `, "hook input is not a JSON object", []string{"hook", "session-start"}},
		{"empty", "", "hook input is empty", []string{"hook", "session-end"}},
		{"unknown event", payload("Stop", nil), "one of session-start, session-end, pre-compact, user-prompt-submit; got", []string{"hook", "stop"}},
		{"malformed prompt", `{"session_id":"s1","prompt":`, "hook input is not a JSON object", []string{"hook", "user-prompt-submit"}},
		{"prompt without session", `{"hook_event_name":"UserPromptSubmit","prompt":"hello"}`, "hook input lacks session_id", []string{"hook", "user-prompt-submit"}},
		{"no event", "{}", "hook takes one hook name", []string{"hook"}},
		{"missing fields", `{"hook_event_name":"PreCompact"}`, "hook input lacks session_id and transcript_path", []string{"hook", "pre-compact"}},
		{"wrong event", payload("SessionEnd", nil), "hook input is for SessionEnd", []string{"hook", "session-start"}},
	}
	for _, tc := range cases {
		before := strings.Count(c.hooksLog(), "\n")
		r := c.run(tc.stdin, tc.args...)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and nothing", tc.name, r.code, r.stdout, r.stderr)
		}
		log := c.hooksLog()
		lines := strings.Split(strings.TrimSpace(log), "\n")
		if strings.Count(log, "\n") != before+1 || !strings.Contains(lines[len(lines)-1], tc.msg) {
			t.Errorf("%s: want one log line with %q, log:\n%s", tc.name, tc.msg, log)
		}
		r = c.run(tc.stdin, append(tc.args, "--strict")...)
		checkFailure(t, r, 2, tc.msg, tc.args)
	}
}

// speech is one transcript line of Claude Code: who said what.
func speech(typ, text string) string {
	b, _ := json.Marshal(map[string]any{
		"type": typ, "uuid": uuid.NewString(), "sessionId": "0f8e4c1a-6b7d-4e2f-9a3b-5c6d7e8f9a0b",
		"cwd": "/home/david/projects/angela", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"message": map[string]any{"role": typ, "content": text},
	})
	return string(b) + "\n"
}

func TestHookSessionEndAndPreCompactCaptureTheTranscriptOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	transcript := filepath.Join(t.TempDir(), "session.jsonl")
	os.WriteFile(transcript, []byte(speech("user", "Good night Angela")+speech("assistant", "ฝันดีนะคะ")), 0o600)

	r := c.run(payload("PreCompact", map[string]string{"transcript_path": transcript, "trigger": "auto"}), "hook", "pre-compact", "--strict")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("pre-compact: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := count(t, url, "conversations"); n != 2 {
		t.Errorf("%d messages stored after pre-compact, want 2", n)
	}
	// The end of the session adds what came after, and nothing twice.
	f, _ := os.OpenFile(transcript, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(speech("user", "See you tomorrow"))
	f.Close()
	r = c.run(payload("SessionEnd", map[string]string{"transcript_path": transcript, "reason": "exit"}), "hook", "session-end", "--strict")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("session-end: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := count(t, url, "conversations"); n != 3 {
		t.Errorf("%d messages stored after session-end, want 3", n)
	}
	log := c.hooksLog()
	for _, want := range []string{`"trigger":"auto"`, `"reason":"exit"`, `"messages_stored":2`, `"messages_stored":1`, `"transcript_path":"` + transcript + `"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	// The daemon's reader, through import, finds it all stored already.
	if out := c.ok("import", transcript); !strings.Contains(out, "messages stored:  0") || !strings.Contains(out, "already present:  0") {
		t.Errorf("import after the hooks:\n%s", out)
	}
	got := c.ok("get-conversations", "--direct")
	if !strings.Contains(got, "angela\n   ฝันดีนะคะ") || !strings.Contains(got, "david\n   See you tomorrow") {
		t.Errorf("stored:\n%s", got)
	}

	// Before a compaction the transcript is there: one that is not is
	// logged, exit 0; --strict says so.
	if r := c.run(payload("PreCompact", nil), "hook", "pre-compact"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("missing transcript: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	checkFailure(t, c.run(payload("PreCompact", nil), "hook", "pre-compact", "--strict"), 1, "transcript_path", nil)
}

func TestHookSessionEndOfATranscriptNeverWrittenIsAQuietNoOp(t *testing.T) {
	t.Parallel()
	// `claude mcp list` and `claude doctor` end a session whose transcript
	// was never written. No database is even configured: nothing is tried.
	c := newCLI(t, "")
	never := filepath.Join(t.TempDir(), "projects", "-home-david", "6a1f.jsonl")
	in := payload("SessionEnd", map[string]string{"transcript_path": never, "reason": "other"})
	for _, args := range [][]string{{"hook", "session-end"}, {"hook", "session-end", "--strict"}} {
		if r := c.run(in, args...); r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and nothing", args, r.code, r.stdout, r.stderr)
		}
	}
	if log := c.hooksLog(); strings.Contains(log, "hook failed") || strings.Contains(log, `"level":"warn"`) || strings.Contains(log, `"level":"info"`) {
		t.Errorf("a session end with nothing to store was logged:\n%s", log)
	}
	// At debug level it says what it did not do.
	c.with("ANGELA_LOG_LEVEL=debug").run(in, "hook", "session-end")
	if log := c.hooksLog(); !strings.Contains(log, `"msg":"hook done"`) || !strings.Contains(log, `"transcript_missing":true`) {
		t.Errorf("debug log:\n%s", log)
	}
}

func TestHookSessionEndWithTheDatabaseStoppedLeavesTheTranscriptForLater(t *testing.T) {
	t.Parallel()
	cluster := ownCluster(t)
	url := cluster.ConnString(managed.Database)
	c := newCLI(t, url)
	c.ok("migrate")
	transcript := filepath.Join(t.TempDir(), "session.jsonl")
	os.WriteFile(transcript, []byte(speech("user", "are you there?")), 0o600)
	if err := cluster.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := c.run(payload("SessionEnd", map[string]string{"transcript_path": transcript}), "hook", "session-end")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("database stopped: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := cluster.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Nothing was marked read: the next reader stores the line.
	c.ok("import", transcript)
	if n := count(t, url, "conversations"); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestHookWithLogFileWritesThereAndBadConfigStaysQuiet(t *testing.T) {
	t.Parallel()
	logFile := filepath.Join(t.TempDir(), "angelad.log")
	c := newCLI(t, pgtest.DB(t)).with("ANGELA_LOG_FILE=" + logFile)
	if r := c.run("nonsense", "hook", "session-start"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(readFile(logFile), `"logger":"hook"`) || c.hooksLog() != "" {
		t.Errorf("log.file %q, hooks.log %q", readFile(logFile), c.hooksLog())
	}
	bad := c.with("ANGELA_HOOKS_TIMEOUT=soon")
	if r := bad.run(payload("SessionStart", nil), "hook", "session-start"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("bad config: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	checkFailure(t, bad.run(payload("SessionStart", nil), "hook", "session-start", "--strict"), 2, "invalid ANGELA_HOOKS_TIMEOUT", nil)
	// A configuration that fails still logs where its environment says:
	// log.file, else hooks.log in the state directory it names.
	if !strings.Contains(readFile(logFile), "invalid ANGELA_HOOKS_TIMEOUT") || c.hooksLog() != "" {
		t.Errorf("bad config with log.file: log.file %q, hooks.log %q", readFile(logFile), c.hooksLog())
	}
	if r := bad.with("ANGELA_LOG_FILE=").run(payload("SessionStart", nil), "hook", "session-start"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("bad config: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(c.hooksLog(), "invalid ANGELA_HOOKS_TIMEOUT") {
		t.Errorf("bad config without log.file: hooks.log in the state directory is %q", c.hooksLog())
	}
}

// promptContext is what user-prompt-submit printed as its additional
// context, "" when it printed nothing.
func promptContext(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout == "" {
		return ""
	}
	var o claudecode.SessionStartOutput
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
		t.Fatalf("stdout is not the hook's JSON: %v\n%s", err, r.stdout)
	}
	if o.HookSpecificOutput.HookEventName != "UserPromptSubmit" || o.HookSpecificOutput.AdditionalContext == "" {
		t.Errorf("hook output %s", r.stdout)
	}
	return o.HookSpecificOutput.AdditionalContext
}

func TestHookUserPromptSubmitInjectsRelevantMemoriesOfOtherSessions(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	const this = "0f8e4c1a-6b7d-4e2f-9a3b-5c6d7e8f9a0b" // payload's session
	c.ok("save-conversation", "--speaker", "david", "--message", "For my mother's birthday I gave her a jade bracelet from Chiang Mai.",
		"--session", "an-earlier-session", "--at", "2025-10-01T10:00:00+07:00")
	c.ok("save-conversation", "--speaker", "david", "--message", "หมอบอกให้ส้มโอกินยาแก้อักเสบวันละสองครั้งนะ",
		"--session", "an-earlier-session", "--at", "2025-10-02T10:00:00+07:00")
	c.ok("save-conversation", "--speaker", "david", "--message", "The jade bracelet for my mother is wrapped and ready now.",
		"--session", this, "--at", "2025-11-08T21:00:00+07:00")
	for i := range 10 {
		c.ok("save-conversation", "--speaker", "angela", "--message", fmt.Sprintf("Good night David, sleep well %d", i),
			"--session", "other", "--at", fmt.Sprintf("2025-11-07T22:%02d:00+07:00", i))
	}
	before := recalls(t, url)

	got := promptContext(t, c.run(payload("UserPromptSubmit", map[string]string{"prompt": "What gift did I give my mother for her birthday?"}),
		"hook", "user-prompt-submit"))
	if !strings.Contains(got, "2025-10-01 10:00 · David: For my mother's birthday I gave her a jade bracelet from Chiang Mai.") {
		t.Errorf("the memory that answers the prompt is not injected:\n%s", got)
	}
	if strings.Contains(got, "wrapped and ready") {
		t.Errorf("a memory of this same session is injected:\n%s", got)
	}
	got = promptContext(t, c.run(payload("UserPromptSubmit", map[string]string{"prompt": "หมอให้ส้มโอกินยาอะไร"}), "hook", "user-prompt-submit"))
	if !strings.Contains(got, "ยาแก้อักเสบ") {
		t.Errorf("the Thai memory that answers the prompt is not injected:\n%s", got)
	}
	for _, p := range []string{"fix the failing test in parser.go", "ok continue", "   ", "รัน test ทั้งหมดแล้วบอกผลด้วย"} {
		if got := promptContext(t, c.run(payload("UserPromptSubmit", map[string]string{"prompt": p}), "hook", "user-prompt-submit")); got != "" {
			t.Errorf("prompt %q, about nothing stored, injected:\n%s", p, got)
		}
	}
	if after := recalls(t, url); after != before {
		t.Errorf("the prompt hook recalled memories: %d -> %d", before, after)
	}

	// The budget holds, whatever the memories' length.
	for i := range 5 {
		c.ok("save-conversation", "--speaker", "david", "--message", fmt.Sprintf("For my mother's birthday I gave her a jade bracelet, %d: %s", i, strings.Repeat("สร้อยข้อมือหยก ", 60)),
			"--session", "long", "--at", fmt.Sprintf("2025-10-03T10:%02d:00+07:00", i))
	}
	got = promptContext(t, c.with("ANGELA_HOOKS_PROMPT_MAX_CHARS=400").run(
		payload("UserPromptSubmit", map[string]string{"prompt": "the jade bracelet for my mother's birthday"}), "hook", "user-prompt-submit"))
	if n := len([]rune(got)); n > 400 || n < 200 {
		t.Errorf("the context has %d characters, want at most 400 (and near it):\n%s", n, got)
	}
	c.with("ANGELA_HOOKS_PROMPT_MAX_CHARS=100").fails(2, "invalid ANGELA_HOOKS_PROMPT_MAX_CHARS: must be an integer from 200 to 20000", "status")
}

// TestHookUserPromptSubmitShowsTheNeighbouringTurns checks that a memory
// injected brings the turn before it and the one after it in its session,
// indented under it, each turn once, none of another session said in
// between, and only as far as hooks.prompt_max_chars allows once the
// memories are laid out.
func TestHookUserPromptSubmitShowsTheNeighbouringTurns(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	const this = "0f8e4c1a-6b7d-4e2f-9a3b-5c6d7e8f9a0b" // payload's session
	for _, m := range []struct{ speaker, session, at, text string }{
		{"angela", "earlier", "10:00:00", "How was the weekend at home?"},
		{"david", "earlier", "10:01:00", "For my mother's birthday I gave her a jade bracelet from Chiang Mai."},
		{"david", this, "10:01:30", "Unrelated: the build on this branch is green."},
		{"angela", "earlier", "10:02:00", "She must have loved it, green stone suits her."},
		{"david", "earlier", "10:03:00", "I gave my mother the jade bracelet as a birthday gift, in a red silk box."},
		{"angela", "earlier", "10:04:00", "A red silk box, how lovely."},
	} {
		c.ok("save-conversation", "--speaker", m.speaker, "--message", m.text, "--session", m.session, "--at", "2025-10-01T"+m.at+"+07:00")
	}
	ask := func(maxChars int) string {
		t.Helper()
		return promptContext(t, c.with(fmt.Sprintf("ANGELA_HOOKS_PROMPT_MAX_CHARS=%d", maxChars)).run(
			payload("UserPromptSubmit", map[string]string{"prompt": "What jade gift did I give my mother for her birthday?"}),
			"hook", "user-prompt-submit"))
	}

	// block is the line of the memory that starts with head and the
	// indented lines under it.
	block := func(got, head string) string {
		i := strings.Index(got, "\n- "+head)
		if i < 0 {
			return ""
		}
		rest := got[i+1:]
		if j := strings.Index(rest[1:], "\n- "); j >= 0 {
			rest = rest[:j+2]
		}
		return rest
	}
	const (
		first  = "- 2025-10-01 10:01 · David: For my mother's birthday I gave her a jade bracelet from Chiang Mai.\n"
		second = "- 2025-10-01 10:03 · David: I gave my mother the jade bracelet as a birthday gift, in a red silk box.\n"
		before = "  - 10:00 · Angela: How was the weekend at home?\n"
		within = "  - 10:02 · Angela: She must have loved it, green stone suits her.\n"
		after  = "  - 10:04 · Angela: A red silk box, how lovely.\n"
	)
	got := ask(1500)
	b1, b2 := block(got, first[2:]), block(got, second[2:])
	if !strings.HasPrefix(b1, first) || !strings.Contains(b1, before) || !strings.HasPrefix(b2, second) || !strings.Contains(b2, after) ||
		!strings.Contains(got, "; indented, the turns around one):\n") {
		t.Errorf("the memories are not shown with the turns around them:\n%s", got)
	}
	if n := strings.Count(got, within); n != 1 || !strings.Contains(b1+b2, within) {
		t.Errorf("the turn between the two memories is shown %d times:\n%s", n, got)
	}
	if strings.Contains(got, "Unrelated") {
		t.Errorf("a turn of another session, this one, said in between is shown:\n%s", got)
	}

	// The memories first, then turns as far as the budget goes.
	for _, tt := range []struct {
		max       int
		memories  int
		withTurns bool
	}{{200, 1, false}, {300, 2, false}, {400, 2, true}} {
		got := ask(tt.max)
		n := len([]rune(got))
		memories := strings.Count(got, "\n- ")
		if n > tt.max || memories != tt.memories || strings.Contains(got, "\n  - ") != tt.withTurns ||
			strings.Contains(got, "indented") != tt.withTurns {
			t.Errorf("a budget of %d: %d characters, %d memories, want %d and turns %v:\n%s", tt.max, n, memories, tt.memories, tt.withTurns, got)
		}
	}
}

func TestHookUserPromptSubmitWithTheDatabaseStoppedExits0Quietly(t *testing.T) {
	t.Parallel()
	cluster := ownCluster(t)
	c := newCLI(t, cluster.ConnString(managed.Database))
	c.ok("save-conversation", "--speaker", "david", "--message", "For my mother's birthday I gave her a jade bracelet.", "--session", "s0")
	if err := cluster.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := c.run(payload("UserPromptSubmit", map[string]string{"prompt": "What gift did I give my mother?"}), "hook", "user-prompt-submit")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("database stopped: exit %d, stdout %q, stderr %q; want 0 and nothing", r.code, r.stdout, r.stderr)
	}
	if log := c.hooksLog(); strings.Count(log, `"msg":"hook failed"`) != 1 || !strings.Contains(log, "user-prompt-submit") {
		t.Errorf("the failure is not one line in the log:\n%s", log)
	}
}

// TestHookUserPromptSubmitAsksTheRunningDaemon checks that the prompt hook
// has the running daemon rank the prompt on its warm connections, and ranks
// it itself, with the same answer, when no daemon runs.
func TestHookUserPromptSubmitAsksTheRunningDaemon(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	c.ok("save-conversation", "--speaker", "david", "--message", "For my mother's birthday I gave her a jade bracelet from Chiang Mai.",
		"--session", "an-earlier-session", "--at", "2025-10-01T10:00:00+07:00")
	c.ok("save-conversation", "--speaker", "angela", "--message", "She must have loved it, green stone suits her.",
		"--session", "an-earlier-session", "--at", "2025-10-01T10:02:00+07:00")
	c.ok("save-conversation", "--speaker", "angela", "--message", "Good night David, sleep well",
		"--session", "other", "--at", "2025-11-07T22:00:00+07:00")
	prompt := payload("UserPromptSubmit", map[string]string{"prompt": "What gift did I give my mother for her birthday?"})
	// The memory, and the turn after it that the daemon reads with it.
	const answer = "2025-10-01 10:00 · David: For my mother's birthday I gave her a jade bracelet from Chiang Mai.\n" +
		"  - 10:02 · Angela: She must have loved it, green stone suits her.\n"

	lastDone := func() string {
		lines := strings.Split(strings.TrimSpace(c.hooksLog()), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], `"msg":"hook done"`) {
				return lines[i]
			}
		}
		t.Fatalf("no hook done line in the log:\n%s", c.hooksLog())
		return ""
	}
	if got := promptContext(t, c.run(prompt, "hook", "user-prompt-submit")); !strings.Contains(got, answer) {
		t.Errorf("without a daemon the answer is not injected:\n%s", got)
	}
	if l := lastDone(); !strings.Contains(l, `"served":"served directly (no daemon listens on`) {
		t.Errorf("without a daemon the log line says %s", l)
	}
	daemonWithSocket(t, c)
	if got := promptContext(t, c.run(prompt, "hook", "user-prompt-submit")); !strings.Contains(got, answer) {
		t.Errorf("through the daemon the answer is not injected:\n%s", got)
	}
	if l := lastDone(); !strings.Contains(l, `"served":"served by the daemon (`) {
		t.Errorf("with a daemon running the log line says %s", l)
	}
}

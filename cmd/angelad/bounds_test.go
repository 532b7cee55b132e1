package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestRowsAtTimesJSONCannotHoldStillRead checks that a row whose time Go's JSON
// encoder cannot write (a year past 9999 or before 0 once shown in the
// configured zone, or infinity), as an adopted database or a hand edit may
// hold, breaks no read: each command and MCP tool that writes JSON still
// answers, directly and through the daemon.
func TestRowsAtTimesJSONCannotHoldStillRead(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url) // in Asia/Bangkok: 9999-12-31T23:59:59Z is in the year 10000 there
	c.ok("save-conversation", "--speaker", "david", "--message", "an ordinary morning")
	c.ok("save-emotion", "--emotion", "calm", "--intensity", "5", "--context", "an ordinary morning")
	conn := pgtest.Conn(t, url)
	for _, sql := range []string{
		`insert into conversations (conversation_id, speaker, message_text, created_at)
			values (gen_random_uuid(), 'angela', 'a message from the far future', '9999-12-31T23:59:59Z')`,
		`insert into conversations (conversation_id, speaker, message_text, created_at)
			values (gen_random_uuid(), 'david', 'a message from the far past', '4000-01-01 00:00:00+00 BC')`,
		`insert into angela_emotions (emotion_id, emotion, intensity, context, felt_at)
			values (gen_random_uuid(), 'awe', 9, 'a feeling from the far future', '9999-12-31T23:59:59Z')`,
		`insert into angela_emotions (emotion_id, emotion, intensity, context, felt_at)
			values (gen_random_uuid(), 'awe', 9, 'a feeling at infinity', 'infinity')`,
	} {
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}

	reads := []struct {
		args []string
		want string
	}{
		{[]string{"get-conversations", "--json"}, "the far future"},
		{[]string{"get-conversations", "--json", "--speaker", "david"}, "the far past"},
		{[]string{"get-emotions", "--json"}, "at infinity"},
		{[]string{"search", "--json", "future"}, "the far future"},
		{[]string{"search", "--json", "--kind", "emotions", "feeling"}, "the far future"},
		{[]string{"query", "--json", "select message_text, created_at from conversations order by created_at desc"}, "the far future"},
		{[]string{"recall", "--json"}, "the far future"},
	}
	check := func(how string) {
		t.Helper()
		for _, r := range reads {
			args := r.args
			res := c.run("", args...)
			var v any
			if res.code != 0 || json.Unmarshal([]byte(res.stdout), &v) != nil || !strings.Contains(res.stdout, r.want) {
				t.Errorf("%s: angelad %s: exit %d, stdout %q, stderr %q", how, strings.Join(args, " "), res.code, res.stdout, res.stderr)
			}
		}
	}
	check("directly")

	p := startMCP(t, c.env)
	for _, call := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"recent_conversations", nil, "the far future"},
		{"recent_conversations", map[string]any{"speaker": "david"}, "the far past"},
		{"recent_emotions", nil, "at infinity"},
		{"search_memory", map[string]any{"query": "future"}, "the far future"},
		{"search_memory", map[string]any{"query": "feeling", "kind": "emotions"}, "the far future"},
		{"recall", nil, "the far future"},
	} {
		text, _ := p.ok(t, call.tool, call.args)
		if !strings.Contains(text, call.want) {
			t.Errorf("MCP %s(%v): %q does not show %q", call.tool, call.args, text, call.want)
		}
	}
	if code := p.close(t); code != 0 {
		t.Errorf("angelad mcp: exit %d\n%s", code, p.stderr)
	}

	daemonWithSocket(t, c)
	check("through the daemon")
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

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

// TestRunJobRefusesADateBeforeTheFirstDayTogether: an update for a day before
// companion.since (or before 1970, whatever since says) would count the days
// together from zero or less; it is refused with one line and exit 2, and
// nothing is written. The first day itself runs.
func TestRunJobRefusesADateBeforeTheFirstDayTogether(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url).with("ANGELA_COMPANION_LANGUAGE=en", "ANGELA_COMPANION_SINCE=2025-10-14")
	c.fails(2, "invalid --date: must not be before the first day together, 2025-10-14 (companion.since; 1970-01-01 at the earliest), got 1900-01-01",
		"run-job", "morning", "--date", "1900-01-01")
	c.fails(2, "must not be before the first day together, 2025-10-14", "run-job", "evening", "--date", "2025-10-13")
	early := c.with("ANGELA_COMPANION_SINCE=1900-01-01")
	early.fails(2, "must not be before the first day together, 1970-01-01", "run-job", "morning", "--date", "1969-12-31")
	if n := count(t, url, "daily_updates"); n != 0 {
		t.Fatalf("%d updates written for refused dates", n)
	}
	if out := c.ok("run-job", "morning", "--date", "2025-10-14"); !strings.HasPrefix(out, "ran the morning update of 2025-10-14") {
		t.Errorf("run-job on the first day: %q", out)
	}
	var content string
	if err := pgtest.Conn(t, url).QueryRow(context.Background(), "select content from daily_updates").Scan(&content); err != nil ||
		strings.Contains(content, "day -") || strings.Contains(content, "day 0") {
		t.Errorf("the first day's greeting: %q (%v)", content, err)
	}
}

// TestAuditRefusesAWindowReachingBefore1970: no transcript and no stored
// time is older, and a window that long printed a time in local mean time.
func TestAuditRefusesAWindowReachingBefore1970(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	maxDays := int(time.Since(time.Unix(0, 0)) / (24 * time.Hour))
	for _, since := range []string{"99999d", fmt.Sprintf("%dd", maxDays+1), "1000000h"} {
		c.fails(2, fmt.Sprintf("invalid --since: must reach back no further than 1970-01-01, at most %dd, got %q", maxDays, since),
			"audit", "--since", since)
	}
	c.fails(2, "invalid --since: must be a positive number of days", "audit", "--since", "0d")
	out := c.ok("audit", "--since", fmt.Sprintf("%dd", maxDays-1))
	if !strings.Contains(out, "since 1970-01-0") || strings.Contains(out, "LMT") {
		t.Errorf("audit over the longest window: %q", out)
	}
}

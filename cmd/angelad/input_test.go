package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestInputThatLooksGivenButIsNotIsRefused: values that used to be taken
// silently as "not given" (an empty --at, --id or --message-file, the nil
// UUID as an id) or as text (only invisible characters), and a directory as
// --message-file, are bad input: exit 2, one line, nothing written.
func TestInputThatLooksGivenButIsNotIsRefused(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	emo := func(extra ...string) []string {
		return append([]string{"save-emotion", "--emotion", "happy", "--intensity", "9", "--context", "ctx"}, extra...)
	}
	conv := func(extra ...string) []string {
		return append([]string{"save-conversation", "--speaker", "david", "--message", "hi"}, extra...)
	}
	const nilUUID = "00000000-0000-0000-0000-000000000000"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"emotion nil id", emo("--id", nilUUID), "invalid --id: must not be the nil UUID"},
		{"conversation nil id", conv("--id", nilUUID), "invalid --id: must not be the nil UUID"},
		{"emotion empty at", emo("--at", ""), "--at must not be empty"},
		{"emotion empty id", emo("--id", ""), "--id must not be empty"},
		{"conversation empty at", conv("--at", ""), "--at must not be empty"},
		{"conversation empty id", conv("--id", ""), "--id must not be empty"},
		{"empty message file", []string{"save-conversation", "--speaker", "david", "--message-file", ""}, "--message-file must not be empty"},
		{"message file is a directory", []string{"save-conversation", "--speaker", "david", "--message-file", t.TempDir()}, "is a directory"},
		{"context of a zero-width space", []string{"save-emotion", "--emotion", "happy", "--intensity", "9", "--context", "\u200b"}, "invalid --context: must have a visible character"},
		{"message of zero-width spaces", []string{"save-conversation", "--speaker", "david", "--message", "\u200b \u200b"}, "invalid --message: must have a visible character"},
		{"emotion of a BOM", []string{"save-emotion", "--emotion", "\ufeff", "--intensity", "9", "--context", "ctx"}, "invalid --emotion: must have a visible character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFailure(t, c.run("", tt.args...), 2, tt.want, tt.args)
		})
	}
	// The nil UUID twice would have stored two rows under two random ids.
	if n := count(t, url, "angela_emotions") + count(t, url, "conversations"); n != 0 {
		t.Errorf("bad input wrote %d rows", n)
	}
}

// TestHumanFormatsEscapeControlCharacters: a terminal escape sequence stored
// in a message or an emotion is shown escaped by get-conversations and
// get-emotions, and kept exact by --json.
func TestHumanFormatsEscapeControlCharacters(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	hostile := "hi \x1b]0;owned\x07\x1b[2J\u009b31m there"
	c.ok("save-conversation", "--speaker", "david", "--message", hostile, "--at", "2025-11-08T08:00:00+07:00")
	c.ok("save-emotion", "--emotion", "glad\x1b[5m", "--intensity", "5", "--context", hostile, "--at", "2025-11-08T08:00:00+07:00")

	wantText := `hi \x1b]0;owned\x07\x1b[2J\u009b31m there`
	got := c.ok("get-conversations")
	if want := "2025-11-08 08:00:00 +07: david\n   " + wantText + "\n"; got != want {
		t.Errorf("get-conversations printed %q, want %q", got, want)
	}
	got = c.ok("get-emotions")
	if want := "2025-11-08 08:00:00 +07: glad\\x1b[5m (5/10)\n   Context: " + wantText + "\n"; got != want {
		t.Errorf("get-emotions printed %q, want %q", got, want)
	}

	var convs []conversation.Conversation
	if err := json.Unmarshal([]byte(c.ok("get-conversations", "--json")), &convs); err != nil || len(convs) != 1 || convs[0].MessageText != hostile {
		t.Errorf("get-conversations --json changed the text: %v %+v", err, convs)
	}
	var emos []memory.Emotion
	if err := json.Unmarshal([]byte(c.ok("get-emotions", "--json")), &emos); err != nil || len(emos) != 1 || emos[0].Context != hostile || emos[0].Emotion != "glad\x1b[5m" {
		t.Errorf("get-emotions --json changed the text: %v %+v", err, emos)
	}
	if out := c.ok("get-conversations") + c.ok("get-emotions"); strings.ContainsAny(out, "\x1b\x07\u009b") {
		t.Errorf("a control character reached the terminal: %q", out)
	}
}

// TestRelativeStateDirExits2: a relative state_dir would give every working
// directory a new, empty memory.
func TestRelativeStateDirExits2(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "").with("ANGELA_STATE_DIR=.state")
	// Only commands that create nothing even where the check is missing.
	for _, args := range [][]string{{"config"}, {"status"}} {
		c.fails(2, `invalid ANGELA_STATE_DIR: must be an absolute path such as "`, args...)
	}
}

package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConversationSection(t *testing.T) {
	c, err := load(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := Conversation{Transcripts: []string{"~/.claude/projects/*/*.jsonl"}, PollInterval: 2 * time.Second}
	if !slices.Equal(c.Conversation.Transcripts, want.Transcripts) || c.Conversation.PollInterval != want.PollInterval ||
		c.Conversation.IncludeSidechains {
		t.Errorf("defaults %+v, want %+v", c.Conversation, want)
	}
	file := writeFile(t, `
[conversation]
transcripts = ["/a/*.jsonl", "~/b/*/*.jsonl"]
include_sidechains = true
`)
	c, err = load(t, Options{File: file, Env: envOf(map[string]string{"ANGELA_CONVERSATION_POLL_INTERVAL": "500ms"})})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Conversation.Transcripts, []string{"/a/*.jsonl", "~/b/*/*.jsonl"}) || !c.Conversation.IncludeSidechains ||
		c.Conversation.PollInterval != 500*time.Millisecond {
		t.Errorf("from file and env: %+v", c.Conversation)
	}
	c, err = load(t, Options{Env: envOf(map[string]string{"ANGELA_CONVERSATION_TRANSCRIPTS": "[]"})})
	if err != nil || c.Conversation.Transcripts == nil || len(c.Conversation.Transcripts) != 0 {
		t.Errorf("[] turns capture off: %+v, %v", c.Conversation.Transcripts, err)
	}
	for env, want := range map[string]string{
		"ANGELA_CONVERSATION_TRANSCRIPTS":        `invalid ANGELA_CONVERSATION_TRANSCRIPTS: must be a list of globs, got the malformed pattern "/a/[x"`,
		"ANGELA_CONVERSATION_POLL_INTERVAL":      "invalid ANGELA_CONVERSATION_POLL_INTERVAL: must be a positive duration",
		"ANGELA_CONVERSATION_INCLUDE_SIDECHAINS": "invalid ANGELA_CONVERSATION_INCLUDE_SIDECHAINS: must be true or false",
	} {
		v := map[string]string{"ANGELA_CONVERSATION_TRANSCRIPTS": `["/a/[x"]`}[env]
		if v == "" {
			v = "sometimes"
		}
		if _, err := load(t, Options{Env: envOf(map[string]string{env: v})}); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s=%s: %v, want prefix %q", env, v, err, want)
		}
	}
}

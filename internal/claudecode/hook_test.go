package claudecode

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestReadHookInput(t *testing.T) {
	cases := []struct {
		name, hook, input, wantErr string
	}{
		{"session start", "session-start", `{"session_id":"abc","transcript_path":"/t.jsonl","cwd":"/p","hook_event_name":"SessionStart","source":"compact"}`, ""},
		{"session end", "session-end", `{"session_id":"abc","transcript_path":"/t.jsonl","cwd":"/p","hook_event_name":"SessionEnd","reason":"exit"}`, ""},
		{"pre compact", "pre-compact", `{"session_id":"abc","transcript_path":"/t.jsonl","cwd":"/p","hook_event_name":"PreCompact","trigger":"auto"}`, ""},
		{"unknown hook", "stop", `{}`, `unknown hook "stop": must be one of session-start, session-end, pre-compact`},
		{"empty", "session-start", "  \n", "hook input is empty"},
		{"not JSON", "session-start", "{session", "hook input is not a JSON object"},
		{"wrong event", "session-end", `{"session_id":"a","transcript_path":"/t","hook_event_name":"SessionStart"}`, "hook input is for SessionStart, but this is the session-end hook (SessionEnd)"},
		{"missing", "pre-compact", `{"cwd":"/p"}`, "hook input lacks session_id and transcript_path"},
		{"missing cwd", "session-start", `{"session_id":"a"}`, "hook input lacks cwd"},
		{"too big", "session-start", `{"x":"` + strings.Repeat("a", MaxInputBytes) + `"}`, "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadHookInput(strings.NewReader(c.input), c.hook)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v, want %q", err, c.wantErr)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestWriteSessionStart(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSessionStart(&b, "# Angela\n<b>คิดถึง</b> & more"); err != nil {
		t.Fatal(err)
	}
	var v map[string]map[string]string
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	h := v["hookSpecificOutput"]
	if h["hookEventName"] != "SessionStart" || h["additionalContext"] != "# Angela\n<b>คิดถึง</b> & more" {
		t.Errorf("output %s", b.String())
	}
}

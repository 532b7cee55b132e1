package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/text"
)

// fixedNow is the time given to lines without a timestamp in these tests.
// It is a day after the times tline gives lines.
var fixedNow = time.Date(2026, 3, 2, 3, 4, 5, 0, time.UTC)

func nowFixed() time.Time { return fixedNow }

// tline builds a transcript line the way Claude Code writes one: type,
// message and the common members, overridden or extended by extra.
func tline(t *testing.T, typ string, content any, extra map[string]any) []byte {
	t.Helper()
	role := typ
	m := map[string]any{
		"type":        typ,
		"uuid":        uuid.NewString(),
		"sessionId":   "0b0e2c4e-5d1f-4c8e-9b7a-3f2d1e0c9b8a",
		"timestamp":   "2026-03-01T10:20:30.123Z",
		"cwd":         "/home/david/angela",
		"isSidechain": false,
		"userType":    "external",
		"version":     "2.0.50",
		"message":     map[string]any{"role": role, "content": content},
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func textBlock(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

func parse(t *testing.T, b []byte, sidechains bool) (Message, bool) {
	t.Helper()
	m, kind := parseKind(t, b, sidechains)
	return m, kind == speechLine
}

func parseKind(t *testing.T, b []byte, sidechains bool) (Message, lineKind) {
	t.Helper()
	m, kind, err := parseLine(b, sidechains, nowFixed, nil)
	if err != nil {
		t.Fatalf("parseLine(%.200s): %v", b, err)
	}
	return m, kind
}

func wantSpeech(t *testing.T, b []byte, speaker, txt string) Message {
	t.Helper()
	m, ok := parse(t, b, false)
	if !ok {
		t.Fatalf("not speech, want %s saying %q: %s", speaker, txt, b)
	}
	if m.Speaker != speaker || m.Text != txt {
		t.Fatalf("got %s %q, want %s %q", m.Speaker, m.Text, speaker, txt)
	}
	return m
}

func wantNoSpeech(t *testing.T, b []byte) {
	t.Helper()
	if m, ok := parse(t, b, false); ok {
		t.Fatalf("speech %s %q, want none: %s", m.Speaker, m.Text, b)
	}
}

func TestSpeechUserLineIsDavid(t *testing.T) {
	wantSpeech(t, tline(t, "user", "Good morning Angela", nil), conversation.SpeakerDavid, "Good morning Angela")
}

func TestSpeechAssistantLineIsAngela(t *testing.T) {
	wantSpeech(t, tline(t, "assistant", []any{textBlock("อรุณสวัสดิ์ค่ะ")}, nil), conversation.SpeakerAngela, "อรุณสวัสดิ์ค่ะ")
}

func TestSpeechOtherTypesAreNot(t *testing.T) {
	for _, typ := range []string{"progress", "system", "summary", "file-history-snapshot", "queue-operation", "User", ""} {
		wantNoSpeech(t, tline(t, typ, "hello", nil))
	}
	wantNoSpeech(t, tline(t, "user", "hello", map[string]any{"type": nil}))
}

func TestSpeechSidechainOnlyWhenIncluded(t *testing.T) {
	b := tline(t, "user", "subagent prompt", map[string]any{"isSidechain": true})
	wantNoSpeech(t, b)
	if m, ok := parse(t, b, true); !ok || m.Text != "subagent prompt" {
		t.Fatalf("with include_sidechains: %v %q, want speech", ok, m.Text)
	}
}

func TestSpeechMetaIsNot(t *testing.T) {
	wantNoSpeech(t, tline(t, "user", "Caveat: the messages below...", map[string]any{"isMeta": true}))
	wantSpeech(t, tline(t, "user", "hi", map[string]any{"isMeta": false}), conversation.SpeakerDavid, "hi")
}

func TestSpeechCompactSummaryIsNot(t *testing.T) {
	wantNoSpeech(t, tline(t, "user", "This session is being continued from a previous conversation that ran out of context.",
		map[string]any{"isCompactSummary": true}))
}

func TestSpeechUserStringIsStoredExactly(t *testing.T) {
	const s = "  two lines\nwith trailing space  \n"
	wantSpeech(t, tline(t, "user", s, nil), conversation.SpeakerDavid, s)
}

func TestSpeechUserTextBlocksJoinedByBlankLineWithoutBlankOnes(t *testing.T) {
	b := tline(t, "user", []any{textBlock("first"), textBlock("  \n"), textBlock(" second ")}, nil)
	wantSpeech(t, b, conversation.SpeakerDavid, "first\n\n second ")
}

func TestSpeechToolResultAndImageBlocksAreNot(t *testing.T) {
	toolResult := map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "content": "file contents"}
	image := map[string]any{"type": "image", "source": map[string]any{"type": "base64", "data": "iVBORw0"}}
	wantNoSpeech(t, tline(t, "user", []any{toolResult}, nil))
	wantNoSpeech(t, tline(t, "user", []any{image}, nil))
	wantSpeech(t, tline(t, "user", []any{image, textBlock("look at this")}, nil), conversation.SpeakerDavid, "look at this")
}

func TestSpeechUserCommandAndReminderTextsAreNot(t *testing.T) {
	for _, p := range userNoisePrefixes() {
		wantNoSpeech(t, tline(t, "user", p+"rest", nil))
		wantNoSpeech(t, tline(t, "user", " \n\t"+p+"rest", nil))
		wantNoSpeech(t, tline(t, "user", []any{textBlock(p + "rest"), textBlock("more")}, nil))
	}
	wantNoSpeech(t, tline(t, "user", "[Request interrupted by user for tool use]", nil))
	// Only at the start.
	wantSpeech(t, tline(t, "user", "what does <command-name> mean?", nil), conversation.SpeakerDavid, "what does <command-name> mean?")
}

func TestSpeechAssistantTextBlocksWithoutThinkingOrToolUse(t *testing.T) {
	thinking := map[string]any{"type": "thinking", "thinking": "let me think", "signature": "x"}
	toolUse := map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": map[string]any{"command": "ls"}}
	b := tline(t, "assistant", []any{thinking, textBlock("Here it is."), toolUse, textBlock(""), textBlock("Done.")}, nil)
	wantSpeech(t, b, conversation.SpeakerAngela, "Here it is.\n\nDone.")
}

func TestSpeechAssistantWithoutTextIsNot(t *testing.T) {
	thinking := map[string]any{"type": "thinking", "thinking": "hmm"}
	wantNoSpeech(t, tline(t, "assistant", []any{thinking}, nil))
	wantNoSpeech(t, tline(t, "assistant", []any{textBlock(" \n ")}, nil))
	wantNoSpeech(t, tline(t, "assistant", []any{}, nil))
}

func TestSpeechStreamedReplyIsOneRowPerLine(t *testing.T) {
	msg := func(s string) map[string]any {
		return map[string]any{"id": "msg_01", "role": "assistant", "content": []any{textBlock(s)}}
	}
	a := wantSpeech(t, tline(t, "assistant", nil, map[string]any{"message": msg("part one")}), conversation.SpeakerAngela, "part one")
	b := wantSpeech(t, tline(t, "assistant", nil, map[string]any{"message": msg("part two")}), conversation.SpeakerAngela, "part two")
	if a.ID == b.ID {
		t.Fatal("two lines of one streamed reply got one id")
	}
}

func TestSpeechKeepsTimeSessionAndProject(t *testing.T) {
	id := uuid.New()
	m := wantSpeech(t, tline(t, "user", "hi", map[string]any{"uuid": id.String(), "sessionId": "s-1",
		"cwd": "/work/proj", "timestamp": "2026-03-01T10:20:30.123456Z"}), conversation.SpeakerDavid, "hi")
	if m.ID != id || m.SessionID != "s-1" || m.ProjectDir != "/work/proj" ||
		!m.CreatedAt.Equal(time.Date(2026, 3, 1, 10, 20, 30, 123456000, time.UTC)) {
		t.Fatalf("got %+v", m)
	}
	m = wantSpeech(t, tline(t, "user", "hi", map[string]any{"timestamp": nil}), conversation.SpeakerDavid, "hi")
	if !m.CreatedAt.Equal(fixedNow) {
		t.Fatalf("no timestamp: created_at %v, want the read time %v", m.CreatedAt, fixedNow)
	}
}

func TestSpeechIDNamespace(t *testing.T) {
	if idNamespace() != uuid.MustParse("6f1d5a3e-8a0b-4f43-9a7c-2c4b1e0d9a51") {
		t.Fatal("the namespace of derived ids changed: ids already stored would no longer match")
	}
}

func TestSpeechIDWithoutAUUIDIsStableAndDistinct(t *testing.T) {
	a := tline(t, "user", "hi", map[string]any{"uuid": "not-a-uuid"})
	m1, _ := parse(t, a, false)
	m2, _ := parse(t, a, false)
	if m1.ID != m2.ID || m1.ID == uuid.Nil {
		t.Fatalf("ids %v %v, want one stable id", m1.ID, m2.ID)
	}
	m3, _ := parse(t, tline(t, "user", "hi", map[string]any{"uuid": "another"}), false)
	m4, _ := parse(t, tline(t, "user", "hi", map[string]any{"uuid": nil}), false)
	m5, _ := parse(t, tline(t, "user", "hello", map[string]any{"uuid": nil}), false)
	if m3.ID == m1.ID || m4.ID == m1.ID || m4.ID == m5.ID {
		t.Fatal("different lines share an id")
	}
}

func TestSpeechIDOfTheNilUUIDIsTheLinesOwn(t *testing.T) {
	nilID := map[string]any{"uuid": uuid.Nil.String()}
	m1, _ := parse(t, tline(t, "user", "hi", nilID), false)
	m2, _ := parse(t, tline(t, "user", "hello", nilID), false)
	again, _ := parse(t, tline(t, "user", "hi", nilID), false)
	if m1.ID == uuid.Nil || m1.ID == m2.ID || again.ID != m1.ID {
		t.Fatalf("ids %v %v %v, want two distinct stable ids, none nil", m1.ID, m2.ID, again.ID)
	}
}

func TestSpeechLongTextIsCutOnACharacterBoundary(t *testing.T) {
	s := "a" + strings.Repeat("ก", text.MaxTextBytes/3+10) // 3 bytes each, misaligned by the "a"
	m, ok := parse(t, tline(t, "user", s, nil), false)
	if !ok || m.CutFrom != len(s) || len(m.Text) > text.MaxTextBytes || len(m.Text) < text.MaxTextBytes-3 ||
		!strings.HasPrefix(s, m.Text) || text.Valid("t", m.Text) != nil {
		t.Fatalf("cut to %d bytes (from %d, CutFrom %d)", len(m.Text), len(s), m.CutFrom)
	}
}

func TestSpeechLongThaiTextKeepsItsLastCharacterWhole(t *testing.T) {
	// น้ำ is one character of three runes, 9 bytes: the cut at 1 MiB falls
	// inside one, which is left out whole rather than split from its marks.
	s := "a" + strings.Repeat("น้ำ", text.MaxTextBytes/9+10)
	m, ok := parse(t, tline(t, "user", s, nil), false)
	if !ok || len(m.Text) > text.MaxTextBytes || len(m.Text) <= text.MaxTextBytes-9 || !strings.HasSuffix(m.Text, "น้ำ") {
		t.Fatalf("cut to %d bytes ending %q", len(m.Text), m.Text[max(0, len(m.Text)-9):])
	}
}

func TestSpeechLongSessionIDIsCutOnACharacterBoundary(t *testing.T) {
	// 2 + 3×50 runes: a cut at 100 runes would fall inside the 33rd น้ำ.
	session := "ab" + strings.Repeat("น้ำ", 50)
	m := wantSpeech(t, tline(t, "user", "hi", map[string]any{"sessionId": session}), conversation.SpeakerDavid, "hi")
	if want := "ab" + strings.Repeat("น้ำ", 32); m.SessionID != want {
		t.Fatalf("session id cut to %d runes %q, want the 98 of whole characters", utf8.RuneCountInString(m.SessionID), m.SessionID)
	}
}

func TestSpeechNULIsStoredAsReplacementCharacter(t *testing.T) {
	wantSpeech(t, tline(t, "user", "a\x00b", nil), conversation.SpeakerDavid, "a\uFFFDb")
}

func TestSpeechEscapesAreDecoded(t *testing.T) {
	b := []byte(`{"type":"user","message":{"role":"user","content":"say \"hi\"\n\u0e01 \\ done"},"uuid":"x"}`)
	wantSpeech(t, b, conversation.SpeakerDavid, "say \"hi\"\n\u0e01 \\ done")
}

func TestInvalidJSONIsAnError(t *testing.T) {
	for _, s := range []string{
		`{"type":"user"`, `{"type":"user",}`, `[1,2]`, `"str"`, ``, `{"a":1}x`, `{"a":tru}`,
		`{"a":"unterminated}`, `{"a" 1}`, `{"a":[1 2]}`, `{"a":-}`, strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
		`{"a":` + strings.Repeat("[", 1000) + strings.Repeat("]", 999) + `}`,
		`{"a":` + strings.Repeat(`{"b":`, 1000) + "1" + strings.Repeat("}", 999) + `,}`,
		`{"a":[{"b" 1}]}`, `{"a":[{"b":1,}]}`, `{"a":[1,]}`, `{"a":{"b":1]}`,
	} {
		if _, _, err := parseLine([]byte(s), false, nowFixed, nil); !errors.Is(err, errSyntax) {
			t.Errorf("parseLine(%.40q): %v, want a syntax error", s, err)
		}
	}
	for _, s := range []string{`{}`, ` {"a":[1,-2.5e3,true,false,null,{"b":"\\\""}]} ` + "\r", `{"a":"\\"}`,
		`{"a":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`,
		`{"a":` + strings.Repeat(`{"b":[`, 100000) + strings.Repeat("]}", 100000) + `}`,
		`{"a":[{},[],{"b":[]}, {"c" : { } } ]}`} {
		if _, _, err := parseLine([]byte(s), false, nowFixed, nil); err != nil {
			t.Errorf("parseLine(%q): %v, want valid", s, err)
		}
	}
}

// deep is a JSON value nested n levels deep, objects and arrays in turn.
func deep(n int) any {
	var v any = "bottom"
	for i := range n {
		if i%2 == 0 {
			v = []any{v}
		} else {
			v = map[string]any{"k": v}
		}
	}
	return v
}

// TestSpeechBesideADeeplyNestedToolInputIsKept: a tool's input nested far
// deeper than encoding/json's own limit holds no speech; the text beside it
// is stored, and so is a user line whose tool result nests as deep.
func TestSpeechBesideADeeplyNestedToolInputIsKept(t *testing.T) {
	for _, depth := range []int{300, 20000} {
		toolUse := map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Write", "input": map[string]any{"data": "x"}}
		b := tline(t, "assistant", []any{textBlock("I wrote the file."), toolUse}, nil)
		// encoding/json refuses to write past its own depth: splice it in.
		b = bytes.Replace(b, []byte(`{"data":"x"}`), mustJSON(t, deep(depth)), 1)
		wantSpeech(t, b, conversation.SpeakerAngela, "I wrote the file.")
		b = tline(t, "user", "what does this mean?", map[string]any{"toolUseResult": "x"})
		b = bytes.Replace(b, []byte(`"toolUseResult":"x"`), append([]byte(`"toolUseResult":`), mustJSON(t, deep(depth))...), 1)
		wantSpeech(t, b, conversation.SpeakerDavid, "what does this mean?")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	if d, ok := v.([]any); ok && len(d) == 1 {
		inner := mustJSON(t, d[0])
		return append(append([]byte("["), inner...), ']')
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		inner := mustJSON(t, m["k"])
		return append(append([]byte(`{"k":`), inner...), '}')
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpeechWithRawControlCharactersIsKept: strict JSON wants control
// characters in a string escaped; a line that holds them raw is read as the
// lenient readers read it, each one as itself, except NUL, which PostgreSQL
// text cannot hold and which becomes U+FFFD as an escaped one does.
func TestSpeechWithRawControlCharactersIsKept(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"a\tb", "a\tb"},
		{"col1\tcol2\r", "col1\tcol2\r"},
		{"nul\x00here", "nul\uFFFDhere"},
		{"bell\x07 and esc\x1b[0m", "bell\x07 and esc\x1b[0m"},
		{"tab\t and an escape \\n too", "tab\t and an escape \n too"},
	} {
		user := []byte(`{"type":"user","uuid":"u-1","timestamp":"2026-03-01T10:00:00Z","message":{"role":"user","content":"` + tc.raw + `"}}`)
		wantSpeech(t, user, conversation.SpeakerDavid, tc.want)
		assistant := []byte(`{"type":"assistant","uuid":"a-1","sessionId":"s\t1","message":{"role":"assistant","content":[{"type":"text","text":"` +
			tc.raw + `"},{"type":"tool_use","id":"t","name":"Bash","input":{"command":"printf '\t'"}}]}}`)
		m := wantSpeech(t, assistant, conversation.SpeakerAngela, tc.want)
		if m.SessionID != "s\t1" {
			t.Errorf("session id %q", m.SessionID)
		}
	}
}

func TestSpeechWithATextThatCannotBeDecodedIsMalformed(t *testing.T) {
	for _, b := range []string{
		`{"type":"user","message":{"role":"user","content":"bad \x41 escape"}}`,
		`{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"fine"},{"type":"text","text":"bad \q"}]}}`,
	} {
		if _, _, err := parseLine([]byte(b), false, nowFixed, nil); err == nil {
			t.Errorf("parseLine(%s): no error, want one: its speech would be lost without a word", b)
		}
	}
	// An escape in a member that holds no speech does not matter.
	wantSpeech(t, []byte(`{"type":"user","x":"\q","message":{"role":"user","content":"ok"}}`), conversation.SpeakerDavid, "ok")
}

// TestSpeechAPIErrorsClaudeCodeWritesAreNotAngelas: Claude Code writes its
// own errors as assistant messages of the model "<synthetic>", marked
// isApiErrorMessage; they are counted apart, never stored as her words.
func TestSpeechAPIErrorsClaudeCodeWritesAreNotAngelas(t *testing.T) {
	synthetic := func(s string) map[string]any {
		return map[string]any{"id": "x", "model": "<synthetic>", "role": "assistant", "type": "message", "content": []any{textBlock(s)}}
	}
	for _, b := range [][]byte{
		tline(t, "assistant", nil, map[string]any{"message": synthetic("API Error: Can't reach the API server"),
			"isApiErrorMessage": true, "error": "unknown"}),
		tline(t, "assistant", nil, map[string]any{"message": synthetic("You've hit your session limit · resets 4:10pm"),
			"isApiErrorMessage": true, "error": "rate_limit", "apiErrorStatus": 429}),
		tline(t, "assistant", nil, map[string]any{"message": synthetic("API Error: 500 Internal server error")}),
		tline(t, "assistant", []any{textBlock("API Error: Request was aborted.")}, map[string]any{"isApiErrorMessage": true}),
	} {
		if m, kind := parseKind(t, b, false); kind != apiErrorLine || m.Text == "" {
			t.Errorf("kind %d (text %q), want an API error line: %s", kind, m.Text, b)
		}
	}
	// David quoting one is his words; so is Angela's when not marked.
	wantSpeech(t, tline(t, "user", "API Error: Can't reach the API server", map[string]any{"isApiErrorMessage": false}),
		conversation.SpeakerDavid, "API Error: Can't reach the API server")
	wantSpeech(t, tline(t, "assistant", []any{textBlock("API Error: means the server failed")}, map[string]any{"isApiErrorMessage": false}),
		conversation.SpeakerAngela, "API Error: means the server failed")
}

// TestSpeechOfOnlyInvisibleCharactersIsSkipped: the CLI and the MCP server
// refuse a text without a visible character (text.HasVisible); the capture
// skips and counts it, while a blank text stays not speech at all.
func TestSpeechOfOnlyInvisibleCharactersIsSkipped(t *testing.T) {
	for _, s := range []string{"\u200b\u200b", "\u200d", " \ufeff\u2060 ", "\u3164", "\u200b\n\u200c"} {
		if err := (conversation.Conversation{Speaker: "david", MessageText: s, ImportanceLevel: 5}).Validate(); err == nil {
			t.Fatalf("%q is valid for the CLI: the rule changed", s)
		}
		if _, kind := parseKind(t, tline(t, "user", s, nil), false); kind != invisibleLine {
			t.Errorf("user %q: kind %d, want invisible", s, kind)
		}
		if _, kind := parseKind(t, tline(t, "assistant", []any{textBlock(s)}, nil), false); kind != invisibleLine {
			t.Errorf("assistant %q: kind %d, want invisible", s, kind)
		}
	}
	wantSpeech(t, tline(t, "user", "\u200bhi", nil), conversation.SpeakerDavid, "\u200bhi")
	if _, kind := parseKind(t, tline(t, "user", " \n\t", nil), false); kind != otherLine {
		t.Errorf("a blank text: kind %d, want not speech", kind)
	}
}

// TestSpeechAtATimeOutOfRangeTakesTheTimeItWasRead: as --at is bounded, a
// line's time before 1970 or more than a day after it is read is not used;
// the line is stored with the time it was read and the time given is kept
// for the log. Its id does not change with the time it was read.
func TestSpeechAtATimeOutOfRangeTakesTheTimeItWasRead(t *testing.T) {
	for _, tc := range []struct {
		ts       any
		replaced bool
	}{
		{"9999-12-31T23:59:59Z", true},
		{"1969-12-31T23:59:59Z", true},
		{"0001-01-01T00:00:00Z", true},
		{fixedNow.Add(24*time.Hour + time.Second).Format(time.RFC3339Nano), true},
		{"yesterday", true},
		{12345, true},
		{fixedNow.Add(24 * time.Hour).Format(time.RFC3339Nano), false},
		{"1970-01-01T00:00:00Z", false},
		{"2026-03-01T10:20:30+07:00", false},
		{nil, false}, // no timestamp: the time read, as always
	} {
		b := tline(t, "user", "hi", map[string]any{"timestamp": tc.ts, "uuid": nil})
		m := wantSpeech(t, b, conversation.SpeakerDavid, "hi")
		if got := m.TimeGiven != ""; got != tc.replaced {
			t.Errorf("%v: TimeGiven %q, want replaced %v", tc.ts, m.TimeGiven, tc.replaced)
		}
		if tc.replaced || tc.ts == nil {
			if !m.CreatedAt.Equal(fixedNow) {
				t.Errorf("%v: created_at %v, want the time read %v", tc.ts, m.CreatedAt, fixedNow)
			}
		} else if m.CreatedAt.Equal(fixedNow) {
			t.Errorf("%v: created_at is the time read, want the line's", tc.ts)
		}
		again, _, _ := parseLine(b, false, func() time.Time { return fixedNow.Add(time.Hour) }, nil)
		if again.ID != m.ID {
			t.Errorf("%v: the id changed with the time of reading", tc.ts)
		}
	}
}

package text

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFieldErrorIsOneLineNamingTheField(t *testing.T) {
	t.Parallel()
	var err error = &FieldError{Field: "why_it_matters", Problem: "must be valid UTF-8"}
	if got, want := err.Error(), "invalid why_it_matters: must be valid UTF-8"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "why_it_matters" {
		t.Fatalf("errors.As did not find the FieldError")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		s        string
		min, max int
		want     string // the problem, "" for valid
	}{
		{"ascii within limits", "happy", 1, 50, ""},
		{"thai counted in characters", strings.Repeat("ก", 50), 1, 50, ""},
		{"thai one over", strings.Repeat("ก", 51), 1, 50, "must be at most 50 characters, got 51"},
		{"combining marks count as code points like varchar", strings.Repeat("กิ", 25), 1, 50, ""},
		{"empty required", "", 1, 50, "must not be empty"},
		{"whitespace only required", " \t\n", 1, 50, "must not be only whitespace"},
		{"zero-width space only", "\u200b", 1, 50, "must have a visible character, not only whitespace and invisible ones such as U+200B"},
		{"zero-width joiners, BOM and no-break space", "\u200d\ufeff\u00a0\u2060", 1, 50, "must have a visible character, not only whitespace and invisible ones such as U+200B"},
		{"bidirectional marks and a variation selector", "\u200e\u202e\ufe0f", 1, 50, "must have a visible character, not only whitespace and invisible ones such as U+200B"},
		{"Hangul filler", "\u3164", 1, 50, "must have a visible character, not only whitespace and invisible ones such as U+200B"},
		{"control characters only", "\x1b\x7f", 1, 50, "must have a visible character, not only whitespace and invisible ones such as U+200B"},
		{"one visible character among invisible ones", "\u200bก\u200b", 1, 50, ""},
		{"an emoji with its joiner", "\u2764\ufe0f", 1, 50, ""},
		{"zero-width space optional", "\u200b", 0, 50, ""},
		{"empty optional", "", 0, 50, ""},
		{"whitespace optional", "  ", 0, 50, ""},
		{"under minimum", "ab", 3, 50, "must be at least 3 characters, got 2"},
		{"no upper limit", strings.Repeat("x", 10000), 0, 0, ""},
		{"NUL byte", "ha\x00ppy", 1, 50, "must not contain NUL bytes (found one at byte 2)"},
		{"invalid UTF-8", "ok\xffno", 1, 50, "must be valid UTF-8 (invalid byte at 2)"},
		{"truncated UTF-8", "ก"[:2], 0, 50, "must be valid UTF-8 (invalid byte at 0)"},
		{"replacement character is valid", "\ufffd", 1, 50, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertProblem(t, Check("emotion", tt.s, tt.min, tt.max), "emotion", tt.want)
		})
	}
}

func TestCheckBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		min  int
		want string
	}{
		{"exactly 1 MiB", strings.Repeat("x", MaxTextBytes), 1, ""},
		{"1 MiB of thai is fewer characters but the same bytes",
			strings.Repeat("ก", MaxTextBytes/3), 1, ""},
		{"one byte over", strings.Repeat("x", MaxTextBytes+1), 1,
			"must be at most 1 MiB (1048576 bytes), got 1048577 bytes"},
		{"empty required", "", 1, "must not be empty"},
		{"whitespace required", "\n\n", 1, "must not be only whitespace"},
		{"zero-width spaces required", "\u200b \u200b", 1, "must have a visible character, not only whitespace and invisible ones such as U+200B"},
		{"empty optional", "", 0, ""},
		{"NUL", "\x00", 0, "must not contain NUL bytes (found one at byte 0)"},
		{"invalid", "\xc3\x28", 0, "must be valid UTF-8 (invalid byte at 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertProblem(t, CheckBytes("message_text", tt.s, tt.min, MaxTextBytes), "message_text", tt.want)
		})
	}
	assertProblem(t, CheckBytes("x", "hello", 0, 3), "x", "must be at most 3 bytes, got 5 bytes")
}

func TestIntRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    int
		want string
	}{
		{1, ""},
		{10, ""},
		{0, "must be an integer from 1 to 10, got 0"},
		{11, "must be an integer from 1 to 10, got 11"},
		{-3, "must be an integer from 1 to 10, got -3"},
	}
	for _, tt := range tests {
		assertProblem(t, IntRange("intensity", tt.v, 1, 10), "intensity", tt.want)
	}
}

func assertProblem(t *testing.T, err error, field, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v (%T), want a *FieldError", err, err)
	}
	if fe.Field != field || fe.Problem != want {
		t.Fatalf("got field %q problem %q, want %q %q", fe.Field, fe.Problem, field, want)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("error is not one line: %q", err.Error())
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Bob", `"Bob"`},
		{"เดวิด", `"เดวิด"`},
		{"two\nlines", `"two\nlines"`},
		{"bad\xff", `"bad\xff"`},
		{strings.Repeat("x", 41), `"` + strings.Repeat("x", 40) + `..."`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := Quote(strings.Repeat("y", MaxTextBytes)); len(got) > 100 {
		t.Errorf("Quote echoes a huge value: %d bytes", len(got))
	}
}

func TestPreview(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short unchanged", "hello", 100, "hello"},
		{"exactly n is not cut", "hello", 5, "hello"},
		{"cut ascii", "hello world", 5, "hello..."},
		{"empty", "", 10, ""},
		{"whitespace only", " \n\t ", 10, ""},
		{"whitespace collapsed and trimmed", "  line one\n\n\tline  two \r\n", 100, "line one line two"},
		{"no space before dots", "abc def", 4, "abc..."},
		{"space counts as a character", "ab cd", 4, "ab c..."},
		{"unicode spaces collapse", "a\u00a0\u2003b", 10, "a b"},
		{"thai fits", "สวัสดีค่ะ", 6, "สวัสดีค่ะ"},
		// สวัสดีค่ะ is 9 runes, 6 characters: ส วั ส ดี ค่ ะ (SARA A is a
		// spacing letter of its own, as in Unicode's grapheme clusters).
		{"thai cut keeps marks with consonants", "สวัสดีค่ะ", 4, "สวัสดี..."},
		{"thai cut keeps tone mark", "สวัสดีค่ะ", 5, "สวัสดีค่..."},
		{"thai cut at three", "สวัสดีค่ะ", 2, "สวั..."},
		{"thai tone mark stays", "ที่นี่", 1, "ที่..."},
		{"thai sara am stays", "น้ำดี", 1, "น้ำ..."},
		{"thai mixed with english", "พี่ ก็ คิดถึงเหมือน กัน ค่ะ", 6, "พี่ ก็ คิด..."},
		{"combining acute", "e\u0301e\u0301e\u0301", 2, "e\u0301e\u0301..."},
		{"emoji", "😀😃😄", 2, "😀😃..."},
		{"emoji with skin tone", "👍🏽👍🏽", 1, "👍🏽..."},
		{"emoji with variation selector", "❤️❤️", 1, "❤️..."},
		{"zwj family", "👨‍👩‍👧x", 1, "👨‍👩‍👧..."},
		{"flags are pairs", "🇹🇭🇬🇧", 1, "🇹🇭..."},
		{"tag sequence flag", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007fx", 1,
			"🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f..."},
		{"zero n", "abc", 0, "..."},
		{"zero n empty", "", 0, ""},
		{"invalid bytes replaced", "a\xffb", 10, "a\ufffdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Preview(tt.in, tt.n)
			if got != tt.want {
				t.Fatalf("Preview(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("Preview(%q, %d) = %q is not valid UTF-8", tt.in, tt.n, got)
			}
		})
	}
}

// TestPreviewNeverSeparatesThaiMarks cuts a long Thai text at every length
// and checks that no cut leaves a mark without its consonant.
func TestPreviewNeverSeparatesThaiMarks(t *testing.T) {
	t.Parallel()
	s := "น้องแองเจล่าจำทุกอย่างที่พี่เดวิดพูดได้ค่ะ ไม่ลืมเลย น้ำใจ"
	for n := 1; n < 60; n++ {
		got := strings.TrimSuffix(Preview(s, n), "...")
		if !strings.HasPrefix(s, got) {
			t.Fatalf("Preview(s, %d) = %q is not a prefix of the text", n, got)
		}
		rest := s[len(got):]
		if rest == "" {
			continue
		}
		r, _ := utf8.DecodeRuneInString(rest)
		if attaches(r) {
			t.Fatalf("Preview(s, %d) = %q separates %q from its consonant", n, got, r)
		}
	}
}

func TestEscapeControls(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain ไทย 💕", "plain ไทย 💕"},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
		{"line\nnext\ttab\rreturn", `line\nnext\ttab\rreturn`},
		{"C1 CSI \u009b31m and DEL \x7f", `C1 CSI \u009b31m and DEL \x7f`},
		{"zero-width\u200bis not a control", "zero-width\u200bis not a control"},
	}
	for _, tt := range tests {
		if got := EscapeControls(tt.in); got != tt.want {
			t.Errorf("EscapeControls(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWithoutPathKeepsOnlyWhatAPathErrorSays(t *testing.T) {
	t.Parallel()
	pe := &fs.PathError{Op: "open", Path: "/x/settings.json", Err: fs.ErrPermission}
	other := errors.New("not a path error")
	for _, c := range []struct {
		in, want error
	}{
		{pe, fs.ErrPermission},
		{fmt.Errorf("read: %w", pe), fs.ErrPermission},
		{other, other},
		{nil, nil},
	} {
		if got := WithoutPath(c.in); got != c.want {
			t.Errorf("WithoutPath(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

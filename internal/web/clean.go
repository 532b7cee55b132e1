package web

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// displayable returns stored text as the viewer shows it: terminal escape
// sequences (a transcript may hold a tool's coloured output) are removed
// whole, every other control character but the line break and the tab is
// dropped, and invalid UTF-8 becomes U+FFFD. html/template then escapes what
// is left, so that a message holding <script> is shown as text, never run.
func displayable(s string) string {
	if !needsCleaning(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == 0x1b:
			i += escapeLen(s[i:])
			continue
		case r == 0x9b: // the one-character CSI
			i += size + csiLen(s[i+size:])
			continue
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			// A carriage return alone is a line break; before one it is noise.
			if !strings.HasPrefix(s[i+size:], "\n") {
				b.WriteByte('\n')
			}
		case unicode.IsControl(r):
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsCleaning(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) })
}

// escapeLen is the length of the escape sequence at the start of s (which
// begins with ESC): a CSI (ESC [ ... final byte), an OSC, DCS, SOS, PM or APC
// string (ended by BEL or ESC \), or ESC and one more character.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		return 2 + csiLen(s[2:])
	case ']', 'P', 'X', '^', '_':
		for j := 2; j < len(s); j++ {
			if s[j] == 0x07 {
				return j + 1
			}
			if s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\' {
				return j + 2
			}
		}
		return len(s)
	}
	_, size := utf8.DecodeRuneInString(s[1:])
	return 1 + size
}

// csiLen is the length of a CSI sequence's parameters and final byte at the
// start of s: parameter and intermediate bytes (0x20 to 0x3f), then one final
// byte (0x40 to 0x7e). A sequence cut short ends at the first other byte.
func csiLen(s string) int {
	for j := 0; j < len(s); j++ {
		c := s[j]
		if c >= 0x40 && c <= 0x7e {
			return j + 1
		}
		if c < 0x20 || c > 0x3f {
			return j
		}
	}
	return len(s)
}

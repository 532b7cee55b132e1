// Package text owns the rules for text that enters and leaves memory: what a
// field may hold (valid UTF-8, no NUL bytes, a length in characters or bytes),
// the one-line errors that say what was wrong, the previews that show a
// long text on one line without cutting a character in half, and the search
// grams and terms a text is found by.
package text

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextBytes is the largest free text angelad accepts in one field (a
// message, a context, David's words): 1 MiB. It is counted in bytes, not
// characters, because it bounds memory and row size, not what a person reads.
const MaxTextBytes = 1 << 20

// WithoutPath returns the error a *fs.PathError holds, for a message that
// names the path itself and would otherwise say it twice; any other err
// (nil too) is returned as it is.
func WithoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// FieldError says that one input field holds a value that is not allowed. Field
// is the Go/column-level name ("why_it_matters"); a caller that presents the
// field under another name, such as a command-line flag, may replace it.
type FieldError struct {
	Field   string
	Problem string
}

// Error returns one line: "invalid <field>: <problem>".
func (e *FieldError) Error() string { return "invalid " + e.Field + ": " + e.Problem }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Valid checks that s can be stored as text: valid UTF-8 (PostgreSQL rejects
// anything else in a UTF8 database) and free of NUL bytes (which PostgreSQL
// text cannot hold at all).
func Valid(field, s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fieldErr(field, "must not contain NUL bytes (found one at byte %d)", i)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "must be valid UTF-8 (invalid byte at %d)", invalidAt(s))
	}
	return nil
}

func invalidAt(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return -1
}

// Check checks that s is valid text (see Valid) of minChars to maxChars
// characters. Characters are counted as Unicode code points, the unit of
// PostgreSQL's varchar(n), so a value that passes always fits its column.
// minChars > 0 makes the value required, and a value of only whitespace does
// not count as given. maxChars <= 0 means no limit on characters.
func Check(field, s string, minChars, maxChars int) error {
	if err := Valid(field, s); err != nil {
		return err
	}
	if err := required(field, s, minChars); err != nil {
		return err
	}
	n := utf8.RuneCountInString(s)
	if n < minChars {
		return fieldErr(field, "must be at least %d characters, got %d", minChars, n)
	}
	if maxChars > 0 && n > maxChars {
		return fieldErr(field, "must be at most %d characters, got %d", maxChars, n)
	}
	return nil
}

// CheckBytes is Check with the upper limit counted in bytes rather than
// characters, for free text whose limit bounds size (see MaxTextBytes).
// minChars > 0 makes the value required, as in Check.
func CheckBytes(field, s string, minChars, maxBytes int) error {
	// The size comes first: it is cheap, and a value that is far too large is
	// rejected for that before anything reads it through.
	if len(s) > maxBytes {
		return fieldErr(field, "must be at most %s, got %d bytes", sizeName(maxBytes), len(s))
	}
	if err := Valid(field, s); err != nil {
		return err
	}
	if err := required(field, s, minChars); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(s); n < minChars {
		return fieldErr(field, "must be at least %d characters, got %d", minChars, n)
	}
	return nil
}

func required(field, s string, minChars int) error {
	if minChars <= 0 {
		return nil
	}
	if s == "" {
		return fieldErr(field, "must not be empty")
	}
	if strings.TrimSpace(s) == "" {
		return fieldErr(field, "must not be only whitespace")
	}
	if !HasVisible(s) {
		return fieldErr(field, "must have a visible character, not only whitespace and invisible ones such as U+200B")
	}
	return nil
}

// HasVisible reports whether s holds at least one character a reader can see:
// something other than whitespace, control characters, format characters
// (zero-width space and joiners, bidirectional marks, the byte order mark),
// variation selectors and the Hangul fillers, which all print as nothing.
func HasVisible(s string) bool {
	for _, r := range s {
		if !invisible(r) {
			return true
		}
	}
	return false
}

func invisible(r rune) bool {
	switch {
	case unicode.IsSpace(r), unicode.IsControl(r), unicode.Is(unicode.Cf, r):
		return true
	case r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef: // variation selectors
		return true
	case r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0: // Hangul fillers
		return true
	case r == 0x2800: // braille pattern blank
		return true
	}
	return false
}

// EscapeControls makes text safe to print on a terminal: every control
// character becomes a visible escape (\n, \r, \t, \x1b, \u009b), so that an
// escape sequence stored in memory cannot drive the reader's terminal and a
// line break cannot forge another line of output. Everything else, Thai and
// emoji included, is kept as it is.
func EscapeControls(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func sizeName(n int) string {
	const mib = 1 << 20
	if n >= mib && n%mib == 0 {
		return fmt.Sprintf("%d MiB (%d bytes)", n/mib, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// IntRange checks that v is an integer from min to max inclusive.
func IntRange(field string, v, min, max int) error {
	if v < min || v > max {
		return fieldErr(field, "must be an integer from %d to %d, got %d", min, max, v)
	}
	return nil
}

// quoteMax is the longest value, in characters, that Quote shows whole.
const quoteMax = 40

// Quote renders a value the user gave for an error message: Go-quoted, so
// control characters, newlines and invalid bytes are escaped and the message
// stays on one line, and cut to a preview when long, so a huge value is never
// echoed back.
func Quote(s string) string {
	if utf8.RuneCountInString(s) <= quoteMax {
		return strconv.Quote(s)
	}
	return strconv.Quote(Preview(s, quoteMax))
}

// Preview shows s on one line in at most n characters: every run of whitespace
// (newlines included) becomes one space, leading and trailing whitespace is
// dropped, and when that is longer than n characters it is cut on a character
// boundary and "..." is appended; "..." appears only when something was cut.
//
// A character here is what a reader sees as one: a base rune with the marks
// that attach to it (Unicode categories Mn, Me, Mc, and Thai and Lao SARA AM),
// so a Thai vowel or tone mark is never separated from its consonant, and an
// emoji with its variation selector, skin tone, tag or zero-width-joined parts,
// or a pair of regional indicators (a flag), stays whole. The result is always
// valid UTF-8: an invalid byte is shown as U+FFFD.
func Preview(s string, n int) string {
	var b strings.Builder
	chars := 0
	space := false // whitespace seen since the last character written
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			i += size
			continue
		}
		if space {
			if chars >= n {
				return cut(&b)
			}
			b.WriteByte(' ')
			chars++
			space = false
		}
		if chars >= n {
			return cut(&b)
		}
		l := charLen(s[i:])
		writeValid(&b, s[i:i+l])
		chars++
		i += l
	}
	return b.String()
}

// cut ends a preview that did not fit, without a space before the "...".
func cut(b *strings.Builder) string {
	return strings.TrimSuffix(b.String(), " ") + "..."
}

func writeValid(b *strings.Builder, s string) {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
}

const (
	zwj           = '\u200d'
	thaiSaraAm    = '\u0e33'
	laoSaraAm     = '\u0eb3'
	skinToneFirst = '\U0001f3fb'
	skinToneLast  = '\U0001f3ff'
	tagFirst      = '\U000e0020'
	tagLast       = '\U000e007f'
	regionalFirst = '\U0001f1e6'
	regionalLast  = '\U0001f1ff'
)

// charLen returns the length in bytes of the first character of s (s is not
// empty and does not start with whitespace).
func charLen(s string) int {
	first, i := utf8.DecodeRuneInString(s)
	if first == utf8.RuneError && i == 1 {
		return i
	}
	regional := isRegional(first)
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return i
		case attaches(r):
			i += size
		case regional && isRegional(r):
			// Two regional indicators make one flag; a third starts the next.
			i += size
			regional = false
		case r == zwj:
			i += size
			// The joiner glues the next rune (say the next emoji of a family)
			// to this character, unless nothing joinable follows.
			if i < len(s) {
				next, nsize := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsSpace(next) && !(next == utf8.RuneError && nsize == 1) {
					i += nsize
				}
			}
		default:
			return i
		}
	}
	return i
}

// attaches reports whether r belongs to the character before it.
func attaches(r rune) bool {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
		return true
	case r == thaiSaraAm, r == laoSaraAm: // spacing vowels, grapheme extenders
		return true
	case r >= skinToneFirst && r <= skinToneLast:
		return true
	case r >= tagFirst && r <= tagLast: // subdivision flags (England, Scotland)
		return true
	}
	return false
}

func isRegional(r rune) bool { return r >= regionalFirst && r <= regionalLast }

// OneLine joins the lines and runs of white space in s into single spaces, so
// that a message from a library or a server fits the one-line error a user
// sees.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Cut returns the longest prefix of s of at most n characters that ends on a
// character boundary (a character as Preview counts it: a Thai consonant with
// its vowel and tone marks, an emoji with its modifiers, is never split), and
// whether anything was cut off. Unlike Preview it keeps white space and
// newlines as they are. n is counted in runes, so the prefix is at most n
// runes long even when a character is several runes: it fits a column of n
// characters, as PostgreSQL counts them.
func Cut(s string, n int) (string, bool) {
	return cutBy(s, n, utf8.RuneCountInString)
}

// CutBytes is Cut with n counted in bytes: the longest prefix of s of at most
// n bytes that ends on a character boundary, for a limit on the size of a
// text rather than on its length.
func CutBytes(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	return cutBy(s, n, func(c string) int { return len(c) })
}

// cutBy is Cut with the size of a character measured by size.
func cutBy(s string, n int, size func(string) int) (string, bool) {
	used := 0
	for i := 0; i < len(s); {
		l := charLen(s[i:])
		k := size(s[i : i+l])
		if used+k > n {
			return s[:i], true
		}
		used += k
		i += l
	}
	return s, false
}

// PreviewAround is Preview of the part of s around the first occurrence of
// needle (ignoring case): it starts about a third of n characters before the
// match, on a character boundary, with "..." in front when it does not start
// at the beginning. Without a match it is Preview(s, n).
func PreviewAround(s, needle string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	hay, pin := []rune(s), []rune(needle)
	lowerRunes := func(rs []rune) []rune {
		out := make([]rune, len(rs))
		for i, r := range rs {
			out[i] = unicode.ToLower(r)
		}
		return out
	}
	lh, lp := lowerRunes(hay), lowerRunes(pin)
	at := -1
	for i := 0; len(lp) > 0 && i+len(lp) <= len(lh); i++ {
		if slices.Equal(lh[i:i+len(lp)], lp) {
			at = i
			break
		}
	}
	if at <= n/3 {
		return Preview(s, n)
	}
	start := at - n/3
	for start > 0 && (attaches(hay[start]) || hay[start-1] == zwj) {
		start--
	}
	return "..." + Preview(string(hay[start:]), n)
}

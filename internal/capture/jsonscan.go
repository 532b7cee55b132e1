package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The transcript reader does not decode whole lines with encoding/json: most
// of a transcript's bytes are tool results that are not speech, and a full
// decode of every line is several times slower than reading the file. Instead
// it walks each line once, checking its structure, and decodes only the few
// strings a speech line needs (with encoding/json, so escapes are exact). A
// string being skipped is searched for its closing quote with bytes.IndexByte,
// which is what makes the walk fast.
//
// Only the few members that may hold speech are walked into (the line, its
// message, the message's content and each block of it); every other value,
// such as a tool's input, is skipped by skipValue without recursion, however
// deeply it nests, so that a valid line is never refused for the depth of a
// member that holds no speech, and no line can exhaust the stack.
//
// Like the lenient readers (Python's json with strict=False), the walk takes
// a raw control character inside a string as that character, where strict
// JSON wants it escaped: a line with a raw TAB in its text is speech, not a
// malformed line.

// errSyntax is the cause of every structural problem of a line.
var errSyntax = errors.New("invalid JSON")

func syntaxErr(at int, what string) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, at, what)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just after the string that starts at b[i]
// (a quote).
func skipString(b []byte, i int) (int, error) {
	start := i
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, syntaxErr(start, "unterminated string")
		}
		q := i + j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := q - 1; k > start && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		i = q + 1
	}
}

// skipValue returns the index just after the JSON value that starts at b[i]
// (after any whitespace), checking its structure. Objects and arrays are
// skipped without recursion: open keeps the closing bracket of each one
// entered, on the heap, so the depth is bounded only by the line's length.
func skipValue(b []byte, i int) (int, error) {
	var open []byte
	for {
		// A value starts at i.
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, syntaxErr(i, "value expected")
		}
		var err error
		switch b[i] {
		case '{':
			if j := skipSpace(b, i+1); j < len(b) && b[j] == '}' {
				i = j + 1
				break
			}
			open = append(open, '}')
			if _, i, err = readKey(b, i+1); err != nil {
				return 0, err
			}
			continue
		case '[':
			if j := skipSpace(b, i+1); j < len(b) && b[j] == ']' {
				i = j + 1
				break
			}
			open = append(open, ']')
			i++
			continue
		default:
			if i, err = skipScalar(b, i); err != nil {
				return 0, err
			}
		}
		// A value ended at i: close what it ends, or go on to the next
		// member or element.
		for {
			if len(open) == 0 {
				return i, nil
			}
			i = skipSpace(b, i)
			closer := open[len(open)-1]
			if i >= len(b) {
				if closer == '}' {
					return 0, syntaxErr(i, "unterminated object")
				}
				return 0, syntaxErr(i, "unterminated array")
			}
			if b[i] == closer {
				open = open[:len(open)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return 0, syntaxErr(i, fmt.Sprintf("',' or '%c' expected", closer))
			}
			i++
			if closer == '}' {
				if _, i, err = readKey(b, i); err != nil {
					return 0, err
				}
			}
			break
		}
	}
}

// readKey reads the object key starting at b[i] (after any whitespace) and
// the ':' that follows it. It returns the raw key, quotes included, and the
// index just after the ':'.
func readKey(b []byte, i int) ([]byte, int, error) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return nil, 0, syntaxErr(i, "object key expected")
	}
	end, err := skipString(b, i)
	if err != nil {
		return nil, 0, err
	}
	key := b[i:end]
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, 0, syntaxErr(i, "':' expected")
	}
	return key, i + 1, nil
}

// skipScalar returns the index just after the string, literal or number
// that starts at b[i].
func skipScalar(b []byte, i int) (int, error) {
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	default:
		return 0, syntaxErr(i, fmt.Sprintf("unexpected %q", c))
	}
}

func literal(b []byte, i int, word string) (int, error) {
	if !bytes.HasPrefix(b[i:], []byte(word)) {
		return 0, syntaxErr(i, "invalid literal")
	}
	return i + len(word), nil
}

func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := 0
	for i < len(b) {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			if digits == 0 {
				return 0, syntaxErr(start, "invalid number")
			}
			return i, nil
		}
		i++
	}
	if digits == 0 {
		return 0, syntaxErr(start, "invalid number")
	}
	return i, nil
}

// walkObject checks the object that starts at b[i] ('{') and calls field
// with each member's raw key (quotes included) and raw value. It returns the
// index just after the object.
func walkObject(b []byte, i int, field func(key, value []byte)) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		key, after, err := readKey(b, i)
		if err != nil {
			return 0, err
		}
		vStart := skipSpace(b, after)
		vEnd, err := skipValue(b, vStart)
		if err != nil {
			return 0, err
		}
		field(key, b[vStart:vEnd])
		next, done, err := afterValue(b, vEnd, '}', "object")
		if err != nil || done {
			return next, err
		}
		i = next
	}
}

// afterValue reads what follows a member of an object or an element of an
// array, from b[i]: a ',' (another one comes) or closing, the end of the
// container (kind names it in errors), when it reports done. It returns the
// index just after either.
func afterValue(b []byte, i int, closing byte, kind string) (next int, done bool, err error) {
	i = skipSpace(b, i)
	switch {
	case i >= len(b):
		return 0, false, syntaxErr(i, "unterminated "+kind)
	case b[i] == ',':
		return i + 1, false, nil
	case b[i] == closing:
		return i + 1, true, nil
	}
	return 0, false, syntaxErr(i, "',' or '"+string(closing)+"' expected")
}

// walkArray is walkObject for arrays: elem gets each raw element.
func walkArray(b []byte, i int, elem func(value []byte)) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		vStart := skipSpace(b, i)
		vEnd, err := skipValue(b, vStart)
		if err != nil {
			return 0, err
		}
		elem(b[vStart:vEnd])
		next, done, err := afterValue(b, vEnd, ']', "array")
		if err != nil || done {
			return next, err
		}
		i = next
	}
}

// members calls field for each member of the already checked object v.
func members(v []byte, field func(key, value []byte)) {
	if len(v) > 0 && v[0] == '{' {
		_, _ = walkObject(v, 0, field)
	}
}

// elements calls elem for each element of the already checked array v.
func elements(v []byte, elem func(value []byte)) {
	if len(v) > 0 && v[0] == '[' {
		_, _ = walkArray(v, 0, elem)
	}
}

// isKey reports whether the raw key k (with its quotes) is name. Transcript
// keys are plain ASCII, written without escapes.
func isKey(k []byte, name string) bool {
	return len(k) == len(name)+2 && string(k[1:len(k)-1]) == name
}

// decodeString decodes the raw JSON string v (quotes included). ok is false
// when v is not a string, or holds an escape JSON does not have. Invalid
// UTF-8 becomes U+FFFD, as encoding/json does; a raw control character is
// taken as it is (see the top of this file).
func decodeString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	control := hasControl(inner)
	if !control && bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	if control {
		v = escapeControls(v)
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// escapeControls returns the raw JSON string v with each raw control
// character written as the escape strict JSON wants (\u0009 for a TAB), so
// that it decodes to that character.
func escapeControls(v []byte) []byte {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(v)+16)
	for _, c := range v {
		if c < 0x20 {
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			continue
		}
		out = append(out, c)
	}
	return out
}

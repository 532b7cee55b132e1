package redact

import "strings"

const (
	openTag  = "<private>"
	closeTag = "</private>"
)

// AllPrivateProblem is why an entry point refuses a save whose required text
// is nothing but private passages (as a text.FieldError's problem, after the
// field's name): the passages are never stored, so nothing of that text would
// be, and a record without it is not one to keep.
const AllPrivateProblem = "holds nothing but <private> passages, which are never stored: nothing was saved"

// StripPrivate removes the private passages of s: each <private> tag, the
// text after it and its </private> tag. Tags are matched in any case
// (<PRIVATE>, <Private>) and written without attributes or spaces inside.
//
//   - Nested tags hide up to the close of the outermost one:
//     a <private>b <private>c</private> d</private> e keeps "a  e".
//   - A <private> never closed hides the rest of the text: what is written
//     after an open tag is private until said otherwise.
//   - A </private> with no <private> before it is kept as written: it hides
//     nothing, and the text before it was never marked.
//
// The text around a passage is kept exactly as written. passages counts the
// outermost passages removed. allPrivate is set when nothing but white space
// is left, and the returned text is then empty: the caller skips the line
// and counts it. Removing a passage can join the halves of a tag around it
// (<pri<private>x</private>vate>); that new tag is removed too, so stripping
// the result again changes nothing.
func StripPrivate(s string) (out string, passages int, allPrivate bool) {
	if strings.IndexByte(s, '<') < 0 {
		return s, 0, false
	}
	for {
		o, n := stripOnce(s)
		if n == 0 {
			break
		}
		passages += n
		s = o
	}
	if passages > 0 && strings.TrimSpace(s) == "" {
		return "", passages, true
	}
	return s, passages, false
}

// stripOnce removes the passages that s has as it is.
func stripOnce(s string) (string, int) {
	var b strings.Builder
	passages, depth, kept := 0, 0, 0
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			break
		}
		i += j
		switch {
		case hasPrefixFold(s[i:], openTag):
			if depth == 0 {
				if passages == 0 {
					b.Grow(len(s))
				}
				b.WriteString(s[kept:i])
				passages++
			}
			depth++
			i += len(openTag)
		case hasPrefixFold(s[i:], closeTag):
			i += len(closeTag)
			if depth > 0 {
				depth--
				if depth == 0 {
					kept = i
				}
			}
		default:
			i++
		}
	}
	if passages == 0 {
		return s, 0
	}
	if depth == 0 {
		b.WriteString(s[kept:])
	}
	return b.String(), passages
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case; prefix is lower
// case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

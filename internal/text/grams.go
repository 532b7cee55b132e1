package text

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// Grams returns the search grams of the texts taken together as one text
// joined by spaces: the distinct pairs of adjacent characters of its lower
// case that hold no white space, sorted, each as one integer: the two code
// points (those above U+FFFF folded onto U+FFFF) side by side, shifted into
// the int32 range. It never returns nil.
//
// It is the definition the search index is built with. The database's
// angela_grams() computes the same for rows written by hand; Grams lowers
// case by Unicode's simple mapping whatever the database's locale, where
// angela_grams follows the database's lower(), so the two differ only for
// upper-case letters outside ASCII in a database whose LC_CTYPE does not
// know them (the C locale).
func Grams(texts ...string) []int32 {
	n := 0
	for _, t := range texts {
		n += len(t)
	}
	g := make([]int32, 0, n)
	for _, t := range texts {
		prev := rune(-1)
		for _, r := range t {
			if r == utf8.RuneError {
				// Validated text holds none; count it as the character it
				// would be in the database, U+FFFD.
				r = 0xFFFD
			}
			if isGramSpace(r) {
				prev = -1
				continue
			}
			r = min(unicode.ToLower(r), 0xFFFF)
			if prev >= 0 {
				g = append(g, int32(int64(prev)<<16+int64(r)-1<<31))
			}
			prev = r
		}
	}
	slices.Sort(g)
	return slices.Compact(g)
}

// isGramSpace reports the characters that end a run of characters for
// Grams, as angela_grams: the control characters and space up to U+0020,
// and Unicode's White_Space characters above it.
func isGramSpace(r rune) bool {
	switch {
	case r <= 32:
		return true
	case r < 133:
		return false
	}
	switch r {
	case 133, 160, 5760, 8232, 8233, 8239, 8287, 12288:
		return true
	}
	return r >= 8192 && r <= 8202
}

// GramRuns returns the grams of n items (Grams of texts(i) for item i) as one
// array, with item i's 1-based bounds lo[i]:hi[i] in it (empty when lo > hi),
// for a statement that stores many rows from arrays: an array parameter must
// be rectangular, so the rows' gram arrays travel as one and are sliced back.
func GramRuns(n int, texts func(i int) []string) (grams, lo, hi []int32) {
	lo, hi = make([]int32, n), make([]int32, n)
	grams = []int32{}
	for i := range n {
		lo[i] = int32(len(grams)) + 1
		grams = append(grams, Grams(texts(i)...)...)
		hi[i] = int32(len(grams))
	}
	return grams, lo, hi
}

package query

import "unicode"

// displayWidth is the number of terminal columns s takes: combining marks
// (Thai vowel and tone marks above and below the line, for one) take none,
// East Asian wide and fullwidth characters and emoji take two, the rest one.
// Terminals disagree at the edges (ambiguous-width characters, emoji
// sequences); this follows what most of them do for the common cases.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch {
	case r < 0x20 || r >= 0x7f && r < 0xa0:
		return 0 // text.EscapeControls replaces these before anything is measured
	case r < 0x300:
		return 1 // Latin: the fast path
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf),
		r >= 0x1160 && r <= 0x11ff: // Hangul medial vowels and final consonants join the syllable
		return 0
	case isWide(r):
		return 2
	}
	return 1
}

// isWide approximates East Asian Width W and F plus the emoji that terminals
// draw two columns wide.
func isWide(r rune) bool {
	switch {
	case r < 0x1100:
		return false
	case r <= 0x115f, // Hangul Jamo leading consonants
		r == 0x231a, r == 0x231b, r == 0x2329, r == 0x232a,
		r >= 0x23e9 && r <= 0x23ec, r == 0x23f0, r == 0x23f3,
		r == 0x25fd, r == 0x25fe, r == 0x2614, r == 0x2615,
		r >= 0x2648 && r <= 0x2653, r == 0x267f, r == 0x2693, r == 0x26a1,
		r == 0x26aa, r == 0x26ab, r == 0x26bd, r == 0x26be, r == 0x26c4, r == 0x26c5,
		r == 0x26ce, r == 0x26d4, r == 0x26ea, r == 0x26f2, r == 0x26f3, r == 0x26f5,
		r == 0x26fa, r == 0x26fd, r == 0x2705, r == 0x270a, r == 0x270b, r == 0x2728,
		r == 0x274c, r == 0x274e, r >= 0x2753 && r <= 0x2755, r == 0x2757,
		r >= 0x2795 && r <= 0x2797, r == 0x27b0, r == 0x27bf,
		r == 0x2b1b, r == 0x2b1c, r == 0x2b50, r == 0x2b55:
		return true
	case r >= 0x2e80 && r <= 0x303e, // CJK radicals, punctuation, ideographic space
		r >= 0x3041 && r <= 0x33ff, // kana, bopomofo, compatibility jamo, CJK symbols
		r >= 0x3400 && r <= 0x4dbf, // CJK extension A
		r >= 0x4e00 && r <= 0x9fff, // CJK unified ideographs
		r >= 0xa000 && r <= 0xa4cf, // Yi
		r >= 0xa960 && r <= 0xa97f, // Hangul Jamo extended A
		r >= 0xac00 && r <= 0xd7a3, // Hangul syllables
		r >= 0xf900 && r <= 0xfaff, // CJK compatibility ideographs
		r >= 0xfe10 && r <= 0xfe19, // vertical forms
		r >= 0xfe30 && r <= 0xfe6f, // CJK compatibility forms, small forms
		r >= 0xff00 && r <= 0xff60, // fullwidth forms
		r >= 0xffe0 && r <= 0xffe6:
		return true
	case r >= 0x16fe0 && r <= 0x16fe4,
		r >= 0x17000 && r <= 0x18cff, // Tangut
		r >= 0x1aff0 && r <= 0x1b2ff, // kana supplements
		r == 0x1f004, r == 0x1f0cf, r == 0x1f18e, r >= 0x1f191 && r <= 0x1f19a,
		r >= 0x1f200 && r <= 0x1f2ff, // enclosed ideographic supplement
		r >= 0x1f300 && r <= 0x1f64f, // pictographs and emoticons
		r >= 0x1f680 && r <= 0x1f6ff, // transport and map symbols
		r >= 0x1f7e0 && r <= 0x1f7eb,
		r >= 0x1f900 && r <= 0x1f9ff, // supplemental symbols and pictographs
		r >= 0x1fa70 && r <= 0x1faff,
		r >= 0x20000 && r <= 0x2fffd, // CJK extensions B..F
		r >= 0x30000 && r <= 0x3fffd: // CJK extension G and later
		return true
	}
	return false
}

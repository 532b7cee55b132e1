package text

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// The search terms of relevance retrieval.
//
// A text is cut into terms in Go, so that the terms are the same whatever the
// database's locale:
//
//   - A run of letters, marks and digits of a script that separates its
//     words with spaces (Latin, Cyrillic, Greek and the rest) is a word. It is
//     case-folded by Unicode's simple mapping (upper, then lower, so that a
//     final sigma and a capital one meet), decimal digits of any script become
//     ASCII ones, an English possessive 's is dropped and other apostrophes
//     are removed (don't is dont), an English stop word is dropped, a Latin
//     word is stemmed (see stem) and a word of more than maxWordRunes
//     characters (a hash, a blob) is dropped.
//   - A run of a script written without spaces between words (Thai, Lao,
//     Khmer, Myanmar, Chinese, Japanese, Korean) is cut into its character
//     bigrams, each pair of adjacent characters one term; a run of one
//     character is one term. Thai tone marks are left out first (see
//     isThaiToneMark), so that a word written with a different or missing tone
//     mark still meets its other spellings.
//   - Everything else (spaces, punctuation, symbols, emoji) separates terms.
//
// Each term is hashed to an int32 by TermHash, which the index stores.

// maxWordRunes is the longest word that is a term.
const maxWordRunes = 40

// TermHash is the stored form of a term: the 32-bit FNV-1a hash of its UTF-8
// bytes, as an int32. It is part of the index's definition: changing it
// requires re-indexing every memory (a migration that clears search_terms).
func TermHash(term []byte) int32 {
	h := uint32(2166136261)
	for _, c := range term {
		h ^= uint32(c)
		h *= 16777619
	}
	return int32(h)
}

// Terms returns the search terms of the texts taken together, each as its
// TermHash, in the order of the text, with repeats: its length is the
// length of the text in terms. It never returns nil.
func Terms(texts ...string) []int32 {
	out := make([]int32, 0, 16)
	var t tokenizer
	for _, s := range texts {
		t.run(s, false, func(term []byte) { out = append(out, TermHash(term)) })
	}
	return out
}

// QueryTerms returns the distinct search terms of a question, sorted: the
// terms of Terms, except that Thai question words and polite particles
// (อะไร, ไหม, เมื่อไร, ครับ ...) are cut out of unsegmented Thai before it is
// cut into bigrams, so that they carry no evidence; a document keeps them,
// as a Thai word cannot be told from the same letters inside a longer one
// without a dictionary, and a question's rare remaining bigrams are what
// matches.
func QueryTerms(s string) []int32 {
	var out []int32
	var t tokenizer
	t.run(s, true, func(term []byte) { out = append(out, TermHash(term)) })
	slices.Sort(out)
	return slices.Compact(out)
}

// Tokens returns the terms of Terms as text, before hashing, for tests and
// for looking at what the index holds; query selects QueryTerms' rules.
func Tokens(s string, query bool) []string {
	var out []string
	var t tokenizer
	t.run(s, query, func(term []byte) { out = append(out, string(term)) })
	return out
}

// script classes of the tokenizer.
const (
	classNone = iota // separates terms
	classWord        // part of a word of a spaced script
	classThai        // the unsegmented scripts, each its own class
	classLao
	classKhmer
	classMyanmar
	classCJK    // Han, Hiragana and Katakana, which Japanese mixes in a word
	classHangul // Korean, whose words run on into their particles
)

// classOf returns r's class.
func classOf(r rune) int {
	switch {
	case r < 0x80:
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return classWord
		}
		return classNone
	case r >= 0x0E00 && r <= 0x0E7F:
		switch {
		case r >= 0x0E50 && r <= 0x0E59: // Thai digits are digits
			return classWord
		case r == 0x0E2F, r == 0x0E46, r == 0x0E4F, r == 0x0E5A, r == 0x0E5B:
			// ฯ ๆ ๏ ๚ ๛: abbreviation, repetition and section marks.
			return classNone
		}
		return classThai
	case r >= 0x0E80 && r <= 0x0EFF:
		if r >= 0x0ED0 && r <= 0x0ED9 {
			return classWord
		}
		return classLao
	case r >= 0x1780 && r <= 0x17FF, r >= 0x19E0 && r <= 0x19FF:
		if r >= 0x17E0 && r <= 0x17E9 {
			return classWord
		}
		return classKhmer
	case r >= 0x1000 && r <= 0x109F, r >= 0xAA60 && r <= 0xAA7F, r >= 0xA9E0 && r <= 0xA9FF:
		if r >= 0x1040 && r <= 0x1049 || r >= 0x1090 && r <= 0x1099 {
			return classWord
		}
		return classMyanmar
	case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana):
		if unicode.IsLetter(r) || unicode.IsMark(r) {
			return classCJK
		}
		return classNone
	case unicode.Is(unicode.Hangul, r):
		if unicode.IsLetter(r) || unicode.IsMark(r) {
			return classHangul
		}
		return classNone
	case r == 0x30FC: // the Katakana long vowel mark (Common script)
		return classCJK
	case unicode.IsLetter(r), unicode.IsMark(r), unicode.IsDigit(r):
		return classWord
	}
	return classNone
}

// isThaiToneMark reports the Thai tone marks ่ ้ ๊ ๋, which the bigrams leave
// out: the same word is often typed with another or none (ค่ะ, คะ), and the
// consonants and vowels carry it.
func isThaiToneMark(r rune) bool { return r >= 0x0E48 && r <= 0x0E4B }

// isApostrophe reports the characters that join the parts of an English
// contraction or possessive.
func isApostrophe(r rune) bool { return r == '\'' || r == 0x2019 }

// tokenizer holds the buffers of one text's terms.
type tokenizer struct {
	word []byte // the current word, folded
	n    int    // its length in runes
	seg  []rune // the current unsegmented run
	cls  int    // its class
	term []byte
}

// run cuts s into terms and calls emit with each; emit must not keep term.
func (t *tokenizer) run(s string, query bool, emit func(term []byte)) {
	t.word, t.n, t.seg, t.cls = t.word[:0], 0, t.seg[:0], classNone
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		c := classOf(r)
		if isApostrophe(r) && len(t.word) > 0 && i < len(s) {
			// Inside a word, an apostrophe joins; it is resolved at the word's end.
			if next, _ := utf8.DecodeRuneInString(s[i:]); classOf(next) == classWord {
				t.word = append(t.word, '\'')
				continue
			}
		}
		if c != classWord && len(t.word) > 0 {
			t.endWord(emit)
		}
		if c != t.cls && len(t.seg) > 0 {
			t.endRun(query, emit)
		}
		switch c {
		case classWord:
			if unicode.IsDigit(r) {
				r = '0' + rune(digitValue(r))
			} else {
				r = unicode.ToLower(unicode.ToUpper(r))
			}
			t.word = utf8.AppendRune(t.word, r)
			t.n++
		case classNone:
		default:
			if c == classThai && isThaiToneMark(r) {
				continue
			}
			t.cls = c
			t.seg = append(t.seg, r)
		}
	}
	if len(t.word) > 0 {
		t.endWord(emit)
	}
	if len(t.seg) > 0 {
		t.endRun(query, emit)
	}
}

// digitValue returns the value of the decimal digit r.
func digitValue(r rune) int {
	if r >= 0x1D7CE && r <= 0x1D7FF {
		// Five mathematical sets of ten, side by side.
		return int(r-0x1D7CE) % 10
	}
	// Every other set of decimal digits is ten code points, zero first,
	// after a code point that is no digit: find the zero by stepping back.
	z := r
	for z > r-9 && unicode.IsDigit(z-1) {
		z--
	}
	return int(r - z)
}

// endWord emits the current word, if it is a term.
func (t *tokenizer) endWord(emit func([]byte)) {
	w, n := t.word, t.n
	t.word, t.n = t.word[:0], 0
	if n > maxWordRunes {
		return
	}
	if i := lastApostrophe(w); i >= 0 {
		// An English possessive's 's goes; in a contraction the apostrophe
		// goes (don't is dont, i'm is im).
		if i == len(w)-2 && w[i+1] == 's' {
			w = w[:i]
		}
		k := 0
		for _, c := range w {
			if c != '\'' {
				w[k] = c
				k++
			}
		}
		w = w[:k]
	}
	if len(w) == 0 || isStopWord(w) {
		return
	}
	if len(w) == 1 && w[0] >= 'a' && w[0] <= 'z' {
		return // a lone letter is no evidence
	}
	emit(stem(w))
}

func lastApostrophe(w []byte) int {
	for i := len(w) - 1; i >= 0; i-- {
		if w[i] == '\'' {
			return i
		}
	}
	return -1
}

// endRun emits the bigrams of the current unsegmented run; a query's Thai run
// is first cut where a question word or particle stands.
func (t *tokenizer) endRun(query bool, emit func([]byte)) {
	run, cls := t.seg, t.cls
	t.seg, t.cls = t.seg[:0], classNone
	if query && cls == classThai {
		for len(run) > 0 {
			at, n := findThaiQueryWord(run)
			if at < 0 {
				break
			}
			t.bigrams(run[:at], emit)
			run = run[at+n:]
		}
	}
	t.bigrams(run, emit)
}

// bigrams emits the pairs of adjacent runes of run, or run itself when it is
// one rune.
func (t *tokenizer) bigrams(run []rune, emit func([]byte)) {
	switch len(run) {
	case 0:
		return
	case 1:
		t.term = utf8.AppendRune(t.term[:0], run[0])
		emit(t.term)
		return
	}
	for i := 1; i < len(run); i++ {
		t.term = utf8.AppendRune(utf8.AppendRune(t.term[:0], run[i-1]), run[i])
		emit(t.term)
	}
}

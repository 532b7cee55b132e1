package text

import (
	"os"
	"strconv"
	"unicode/utf8"
)

// An experiment, to measure Thai Character Clusters as search terms with
// make benchrecall: ANGELA_THAI_UNITS is the sum of the units a Thai run is
// cut into, on both the indexed and the question side (1, the character
// bigrams, when unset).
const (
	unitBigrams         = 1  // character bigrams, as before
	unitClusters        = 2  // each cluster
	unitClusterPairs    = 4  // each pair of adjacent clusters
	unitSharedSpace     = 8  // cluster terms spelt as bigrams are (no "~" before them)
	unitNoLoneConsonant = 16 // a cluster of one consonant is no term
	unitTones           = 32 // clusters keep their tone marks (bigrams never do)
	unitSyllables       = 64 // lone consonants join the cluster before (rough syllables)
)

// thaiUnits is the experiment's choice.
var thaiUnits = func() int {
	n, err := strconv.Atoi(os.Getenv("ANGELA_THAI_UNITS"))
	if err != nil {
		return unitBigrams
	}
	return n
}()

// units emits the terms of an unsegmented run of class cls.
func (t *tokenizer) units(run []rune, cls int, emit func([]byte)) {
	if cls != classThai || thaiUnits&^unitTones == unitBigrams {
		if thaiUnits&unitTones != 0 {
			run = stripTones(run)
		}
		t.bigrams(run, emit)
		return
	}
	if thaiUnits&unitBigrams != 0 {
		t.bigrams(stripTones(run), emit)
	}
	ends := thaiClusterEnds(run, nil)
	if thaiUnits&unitSyllables != 0 {
		ends = syllableEnds(run, ends)
	}
	prefix := func() []byte {
		if thaiUnits&unitSharedSpace != 0 {
			return t.term[:0]
		}
		return append(t.term[:0], '~')
	}
	begin, prev := 0, 0 // the current cluster's start, the one before's
	for k, end := range ends {
		if thaiUnits&unitClusters != 0 && !(thaiUnits&unitNoLoneConsonant != 0 && end-begin == 1) {
			t.term = prefix()
			for _, r := range run[begin:end] {
				t.term = utf8.AppendRune(t.term, r)
			}
			emit(t.term)
		}
		if thaiUnits&unitClusterPairs != 0 && (k > 0 || len(ends) == 1 && thaiUnits&unitClusters == 0) {
			t.term = append(prefix(), '^')
			for _, r := range run[prev:end] {
				t.term = utf8.AppendRune(t.term, r)
			}
			emit(t.term)
		}
		prev, begin = begin, end
	}
}

// findThaiQueryWordTones is findThaiQueryWord on a run that may hold tone
// marks.
func findThaiQueryWordTones(run []rune) (at, n int) {
	if thaiUnits&unitTones == 0 {
		return findThaiQueryWord(run)
	}
	var plain []rune
	var pos []int
	for i, r := range run {
		if !isThaiToneMark(r) {
			plain = append(plain, r)
			pos = append(pos, i)
		}
	}
	pos = append(pos, len(run))
	a, m := findThaiQueryWord(plain)
	if a < 0 {
		return a, m
	}
	end := pos[a+m]
	for end < len(run) && isThaiToneMark(run[end]) {
		end++ // the tone marks on the word's last letter are the word's
	}
	return pos[a], end - pos[a]
}

// stripTones returns run without its tone marks.
func stripTones(run []rune) []rune {
	out := make([]rune, 0, len(run))
	for _, r := range run {
		if !isThaiToneMark(r) {
			out = append(out, r)
		}
	}
	return out
}

// syllableEnds merges clusters into rough syllables: a lone consonant after
// a cluster with a vowel is its final, and อ after a lone consonant its vowel.
func syllableEnds(run []rune, ends []int) []int {
	hasVowel := func(c []rune) bool {
		for _, r := range c {
			switch thaiClass(r) {
			case thaiLeading, thaiFollowing:
				return true
			case thaiMark:
				if !isThaiToneMark(r) && r != thaiThanthakhat {
					return true
				}
			}
		}
		return false
	}
	bare := func(c []rune) bool {
		n := 0
		for _, r := range c {
			if !isThaiToneMark(r) {
				n++
			}
		}
		return n == 1 && thaiClass(c[0]) == thaiConsonant
	}
	var out []int
	begin := 0
	closed := false // the last syllable has its final
	for _, end := range ends {
		c := run[begin:end]
		if len(out) > 0 {
			pb := 0
			if len(out) > 1 {
				pb = out[len(out)-2]
			}
			prev := run[pb:out[len(out)-1]]
			switch {
			case bare(c) && c[0] == 'อ' && bare(prev):
				out[len(out)-1], closed, begin = end, false, end
				continue
			case bare(c) && !closed && (hasVowel(prev) || prev[len(prev)-1] == 'อ' && len(prev) > 1):
				out[len(out)-1], closed, begin = end, true, end
				continue
			}
		}
		out = append(out, end)
		closed = !hasVowel(c) && !bare(c)
		begin = end
	}
	return out
}

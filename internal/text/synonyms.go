package text

import (
	_ "embed"
	"encoding/binary"
	"slices"
	"sort"
)

// Synonyms of English words, for a question to meet an answer that says
// the same with other words (the vet and the doctor, a film and a movie).
//
// The table is derived from WordNet 3.0 (see synonyms.NOTICE) by
// gensynonyms, which says which senses it keeps. It is read in place, never
// parsed: a one-shot command that asks one question pays nothing to load it.
//
//go:generate go run ./gensynonyms -wordnet /usr/share/wordnet -out synonyms.bin
//go:embed synonyms.bin
var synonymTable string

// ExpansionWeight is the share of a term's weight that a synonym added to
// a question carries: a memory that says the question's own words ranks
// above one that says its synonyms, which may be of another sense. 0.3 was
// chosen on the evaluation sets (see internal/memory's eval_test.go); 0.2
// to 0.5 measured alike, 0.7 let the synonyms of a word's other senses
// push answers out of the first five.
const ExpansionWeight = 0.3

// synonymKeys is the number of words in the table.
var synonymKeys = func() int {
	if len(synonymTable) < 12 || synonymTable[:4] != "syn1" {
		panic("text: synonyms.bin is not a synonym table")
	}
	n := int(binary.LittleEndian.Uint32([]byte(synonymTable[4:8])))
	m := int(binary.LittleEndian.Uint32([]byte(synonymTable[8:12])))
	if len(synonymTable) != 12+8*n+4*m {
		panic("text: synonyms.bin has the wrong length")
	}
	return n
}()

func tableInt32(at int) int32 {
	s := synonymTable[at : at+4]
	return int32(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}

// synonymsOf returns the terms of the synonyms of the word whose term is t,
// as the range [lo, hi) of the table's synonyms.
func synonymsOf(t int32) (lo, hi int) {
	const keys = 12
	i := sort.Search(synonymKeys, func(i int) bool { return tableInt32(keys+4*i) >= t })
	if i == synonymKeys || tableInt32(keys+4*i) != t {
		return 0, 0
	}
	ends := keys + 4*synonymKeys
	if i > 0 {
		lo = int(uint32(tableInt32(ends + 4*(i-1))))
	}
	return lo, int(uint32(tableInt32(ends + 4*i)))
}

// Expansions returns the terms of the synonyms of a question's terms (as
// QueryTerms returns them: sorted) that are not among them, sorted and
// without repeats. A term that is no English word has none.
func Expansions(terms []int32) []int32 {
	var out []int32
	vals := 12 + 8*synonymKeys
	for _, t := range terms {
		lo, hi := synonymsOf(t)
		for j := lo; j < hi; j++ {
			s := tableInt32(vals + 4*j)
			if _, have := slices.BinarySearch(terms, s); !have {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

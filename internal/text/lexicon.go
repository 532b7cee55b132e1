package text

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

// Related words: a question often names what it asks with another word than
// the memory that answers it ("What present did David give" and "the gift";
// "แมวป่วยเป็นโรคอะไร" and "ติดเชื้อ"), or in the other language. The
// lexicon (lexicon.txt) is a hand-written list of the concept groups of
// everyday talk, each a few words in English and Thai that stand for one
// another; a question that holds a word of a group is given the other words'
// terms as related terms, which relevance retrieval weighs less than the
// question's own. Only the question is expanded: the index holds the
// memories' own terms, so the lexicon can change without re-indexing.

//go:embed lexicon.txt
var lexiconText string

// lexGroup is one concept group of the lexicon.
type lexGroup struct {
	// english are the group's English (and other spaced-script) words and
	// phrases as terms' text: a group is named by a question that holds
	// every term of one of them.
	english [][]string
	// thai are the group's Thai words as written, tone marks included, that
	// a question is searched for.
	thai []string
	// spaced and unsegmented are the terms of the group's words of each
	// kind of script, sorted and distinct.
	spaced, unsegmented []int32
}

// lexicon returns the parsed groups of lexicon.txt.
var lexicon = sync.OnceValue(func() []lexGroup { return parseLexicon(lexiconText) })

// parseLexicon reads groups, one a line, words separated by commas, # for
// comments; a word marked ~ is added to a question but never searched for.
func parseLexicon(src string) []lexGroup {
	var out []lexGroup
	for line := range strings.Lines(src) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var g lexGroup
		for w := range strings.SplitSeq(line, ",") {
			w = strings.TrimSpace(w)
			addOnly := strings.HasPrefix(w, "~")
			w = strings.TrimPrefix(w, "~")
			if w == "" {
				continue
			}
			if isUnsegmented(w) {
				g.unsegmented = append(g.unsegmented, Terms(w)...)
				if !addOnly {
					g.thai = append(g.thai, w)
				}
			} else if toks := Tokens(w, false); len(toks) > 0 {
				g.spaced = append(g.spaced, Terms(w)...)
				if !addOnly {
					g.english = append(g.english, toks)
				}
			}
		}
		slices.Sort(g.spaced)
		slices.Sort(g.unsegmented)
		g.spaced, g.unsegmented = slices.Compact(g.spaced), slices.Compact(g.unsegmented)
		if len(g.spaced)+len(g.unsegmented) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// isUnsegmented reports whether w is written in a script without spaces
// between words.
func isUnsegmented(w string) bool {
	for _, r := range w {
		if c := classOf(r); c != classNone && c != classWord {
			return true
		}
	}
	return false
}

// RelatedTerms returns the terms of the words the lexicon relates to the
// words of the question s, without the question's own terms (QueryTerms):
// what relevance retrieval may add to the question, with a smaller weight.
// same are those of the words written in the script of the question's word
// that named their group (English for English, Thai for Thai), other those
// of its translations; each is distinct and sorted, and a term in both is in
// same. A question that names no group has none.
func RelatedTerms(s string) (same, other []int32) {
	own := QueryTerms(s)
	words := map[string]bool{}
	for _, w := range Tokens(s, true) {
		words[w] = true
	}
	add := func(out, terms []int32) []int32 {
		for _, t := range terms {
			if _, found := slices.BinarySearch(own, t); !found {
				out = append(out, t)
			}
		}
		return out
	}
	for _, g := range lexicon() {
		spaced, unsegmented := g.named(s, words)
		switch {
		case spaced && unsegmented:
			same = add(add(same, g.spaced), g.unsegmented)
		case spaced:
			same, other = add(same, g.spaced), add(other, g.unsegmented)
		case unsegmented:
			same, other = add(same, g.unsegmented), add(other, g.spaced)
		}
	}
	slices.Sort(same)
	same = slices.Compact(same)
	slices.Sort(other)
	other = slices.DeleteFunc(slices.Compact(other), func(t int32) bool {
		_, found := slices.BinarySearch(same, t)
		return found
	})
	return same, other
}

// named reports whether the question s, whose terms' text are words, names
// the group by one of its words of a spaced script, and by one of Thai.
func (g lexGroup) named(s string, words map[string]bool) (spaced, unsegmented bool) {
	for _, phrase := range g.english {
		all := true
		for _, w := range phrase {
			if !words[w] {
				all = false
				break
			}
		}
		if all {
			spaced = true
			break
		}
	}
	for _, w := range g.thai {
		if strings.Contains(s, w) {
			unsegmented = true
			break
		}
	}
	return spaced, unsegmented
}

package text

import (
	_ "embed"
	"fmt"
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
	// spaced and unsegmented are the terms of each of the group's words of
	// each kind of script, each word's sorted and distinct; thaiWords are
	// the words of unsegmented, as written.
	spaced, unsegmented [][]int32
	thaiWords           []string
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
			terms := Terms(w)
			if len(terms) == 0 {
				continue // a stop word
			}
			slices.Sort(terms)
			terms = slices.Compact(terms)
			if isUnsegmented(w) {
				g.unsegmented = append(g.unsegmented, terms)
				g.thaiWords = append(g.thaiWords, w)
				if !addOnly {
					g.thai = append(g.thai, w)
				}
			} else {
				g.spaced = append(g.spaced, terms)
				if !addOnly {
					g.english = append(g.english, Tokens(w, false))
				}
			}
		}
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

// RelatedWord is a word the lexicon relates to a question's.
type RelatedWord struct {
	// Terms are the word's terms (a Thai word's bigrams, an English
	// phrase's words), sorted and distinct: a text holds the word when it
	// holds them all.
	Terms []int32
	// Translated says that the word is in another script than the
	// question's word that named its group (a Thai word for an English one).
	Translated bool
}

// RelatedWords returns the words the lexicon relates to the words of the
// question s, each once, leaving out those whose terms the question holds
// all of (QueryTerms): what relevance retrieval may add to the question,
// with a smaller weight. A question that names no group has none.
func RelatedWords(s string) []RelatedWord {
	own := QueryTerms(s)
	words := map[string]bool{}
	for _, w := range Tokens(s, true) {
		words[w] = true
	}
	var out []RelatedWord
	seen := map[string]int{}
	add := func(ws [][]int32, translated bool, skip func(i int) bool) {
		for i, terms := range ws {
			if skip(i) || !slices.ContainsFunc(terms, func(t int32) bool {
				_, found := slices.BinarySearch(own, t)
				return !found
			}) {
				continue // the question holds it
			}
			key := fmt.Sprint(terms)
			if i, ok := seen[key]; ok {
				out[i].Translated = out[i].Translated && translated
				continue
			}
			seen[key] = len(out)
			out = append(out, RelatedWord{Terms: terms, Translated: translated})
		}
	}
	for _, g := range lexicon() {
		spaced, unsegmented := g.named(s, words)
		if spaced || unsegmented {
			add(g.spaced, !spaced, func(int) bool { return false })
			// A Thai word that holds the question's word of the group
			// (คุณแม่ and แม่) adds only its other letters' pairs, which
			// are another word's (คุณ): it is left out.
			add(g.unsegmented, !unsegmented, func(i int) bool {
				for _, w := range g.thai {
					if w != g.thaiWords[i] && strings.Contains(g.thaiWords[i], w) && strings.Contains(s, w) {
						return true
					}
				}
				return false
			})
		}
	}
	return out
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

package memory

import (
	"cmp"
	"slices"

	"github.com/angela-ai/angelad/internal/text"
)

// A turn's speaker is one of its terms: a question names the person it asks
// about ("What did David buy?") while that person's own turns say "I" ("I
// bought roses"), so the name of the turn's speaker counts as a word of the
// turn, once, when the turn does not say it itself. A name that many turns
// hold weighs little, as any common term does.

// scoreTurn is bm25's score of a memory whose terms are doc and length dl,
// said by speaker (lower case; empty for an emotion), with the speaker's name
// counted as one more of its terms (weighing p.speakerWeight of a term), and
// how many of the question's terms it holds, the name included.
func scoreTurn(q []queryTerm, doc []int32, dl int, avgdl float64, speaker string, p rankParams) (score float64, matched int) {
	score, matched = bm25(q, doc, dl, avgdl, p)
	if p.speakerWeight <= 0 || speaker == "" || len(q) == 0 {
		return score, matched
	}
	name := text.Terms(speaker)
	if len(name) != 1 {
		return score, matched // no name, or more than one word
	}
	i, ok := slices.BinarySearchFunc(q, name[0], func(t queryTerm, n int32) int { return cmp.Compare(t.term, n) })
	if !ok {
		return score, matched
	}
	if _, said := slices.BinarySearch(doc, name[0]); said {
		return score, matched
	}
	norm := p.k1 * (1 - p.b + p.b*float64(dl+1)/max(avgdl, 1))
	return score + p.speakerWeight*q[i].idf*(p.k1+1)/(1+norm), matched + 1
}

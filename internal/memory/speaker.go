package memory

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

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
// how many of the question's own terms (its synonyms not counted) it holds,
// the name included.
func scoreTurn(q []queryTerm, doc []int32, dl int, avgdl float64, speaker string, p rankParams) (score float64, matched int) {
	score, matched = bm25(q, doc, dl, avgdl, p)
	if p.speakerWeight <= 0 || speaker == "" || len(q) == 0 {
		return score, matched
	}
	name, ok := speakerTerm(speaker)
	if !ok {
		return score, matched
	}
	i, ok := slices.BinarySearchFunc(q, name, func(t queryTerm, n int32) int { return cmp.Compare(t.term, n) })
	if !ok || q[i].synonym {
		// A synonym of a question's word names no one: calendar brings
		// system, which is also a speaker.
		return score, matched
	}
	if _, said := slices.BinarySearch(doc, name); said {
		return score, matched
	}
	norm := p.k1 * (1 - p.b + p.b*float64(dl+1)/max(avgdl, 1))
	return score + p.speakerWeight*q[i].idf*(p.k1+1)/(1+norm), matched + 1
}

// speakerTerms memoizes speakerTerm: a question scores up to thousands of
// turns, nearly all of the same two or three speakers. It holds at most
// maxSpeakerTerms names; others are computed each time.
var (
	speakerTerms    sync.Map // speaker -> nameTerm
	speakerTermsLen atomic.Int32
)

const maxSpeakerTerms = 256

// nameTerm is a speaker name's term, when it is one.
type nameTerm struct {
	term int32
	ok   bool
}

// speakerTerm returns the term of a speaker's name; ok is false when the
// name is not one term (no word, a stop word, or more than one word).
func speakerTerm(speaker string) (int32, bool) {
	if v, found := speakerTerms.Load(speaker); found {
		n := v.(nameTerm)
		return n.term, n.ok
	}
	terms := text.Terms(speaker)
	n := nameTerm{ok: len(terms) == 1}
	if n.ok {
		n.term = terms[0]
	}
	if speakerTermsLen.Load() < maxSpeakerTerms {
		if _, loaded := speakerTerms.LoadOrStore(speaker, n); !loaded {
			speakerTermsLen.Add(1)
		}
	}
	return n.term, n.ok
}

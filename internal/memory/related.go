package memory

import (
	"cmp"
	"slices"

	"github.com/angela-ai/angelad/internal/text"
)

// Related words: the words a hand-written lexicon relates to a question's
// (text.RelatedWords: "gift" to "present", หมอ to "doctor") are added to the
// question, each weighing rankParams.relatedWeight of what it would weigh as
// the question's own (rankParams.translatedWeight for a word in the other
// language), so that a memory that says the same thing in other words still
// scores, below one that uses the question's. A memory holds a related word
// only when it holds all its terms: a Thai word is its bigrams, and one of
// them alone is often part of another word (แพ of แพทย์ in แพง). Their
// frequencies are read with the question's terms, in the same round trip. A
// memory that holds only related words is found by them (EvidenceRelated)
// but does not count as holding the question's words: the prompt hook's
// Match and the exact-match test read the question's own terms alone.

// relatedWord is a related word with its terms' idf and its weight.
type relatedWord struct {
	terms  []queryTerm
	weight float64
}

// relatedTerms returns every term of the words, for reading their
// frequencies.
func relatedTerms(words []text.RelatedWord) []int32 {
	var out []int32
	for _, w := range words {
		out = append(out, w.Terms...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// setRelated keeps, of the related words, those whose every term some
// memory holds, for each kind, with their weights from p, and takes their
// terms out of st.terms, where loadStats put them with the question's own
// (a term both of the question and of a related word stays the question's).
func (st *stats) setRelated(words []text.RelatedWord, own []int32, p rankParams) {
	if len(words) == 0 {
		return
	}
	st.terms = slices.DeleteFunc(st.terms, func(t int32) bool {
		_, found := slices.BinarySearch(own, t)
		return !found
	})
	st.related = map[int16][]relatedWord{}
	for k, df := range st.df {
	words:
		for _, w := range words {
			rw := relatedWord{weight: p.relatedWeight}
			if w.Translated {
				rw.weight = p.translatedWeight
			}
			if rw.weight <= 0 {
				continue
			}
			for _, t := range w.Terms {
				n := df[t]
				if n <= 0 {
					continue words
				}
				rw.terms = append(rw.terms, queryTerm{term: t, idf: idf(n, st.docs[k])})
			}
			st.related[k] = append(st.related[k], rw)
		}
	}
}

// score is BM25's score of a document of kind k for the question (see
// bm25), plus, for each related word the document holds, the word's weight
// of the score its terms would add as the question's; matched counts the
// question's own terms it holds.
func (st stats) score(k int16, byTerm []queryTerm, doc []int32, dl int, p rankParams) (score float64, matched int) {
	score, matched = bm25(byTerm, doc, dl, st.avgdl[k], p)
	if len(st.related[k]) == 0 {
		return score, matched
	}
	norm := p.k1 * (1 - p.b + p.b*float64(dl)/max(st.avgdl[k], 1))
	for _, w := range st.related[k] {
		s := 0.0
		for _, t := range w.terms {
			i, found := slices.BinarySearch(doc, t.term)
			if !found {
				s = 0
				break
			}
			tf := 1
			for i+tf < len(doc) && doc[i+tf] == t.term {
				tf++
			}
			s += t.idf * float64(tf) * (p.k1 + 1) / (float64(tf) + norm)
		}
		score += w.weight * s
	}
	return score, matched
}

// lookTerms returns the terms whose memories are read as candidates, rarest
// first: the question's own (byRarity) and the related words' rarest term
// each, weighed by the word's weight, so that a memory holding a related
// word but none of the question's is read while the budget lasts.
func (st stats) lookTerms(k int16, byRarity []queryTerm) []queryTerm {
	if len(st.related[k]) == 0 {
		return byRarity
	}
	out := slices.Clone(byRarity)
	for _, w := range st.related[k] {
		rare := w.terms[0]
		for _, t := range w.terms[1:] {
			if t.idf > rare.idf {
				rare = t
			}
		}
		out = append(out, queryTerm{term: rare.term, idf: w.weight * rare.idf})
	}
	slices.SortStableFunc(out, func(a, b queryTerm) int { return cmp.Compare(b.idf, a.idf) })
	seen := map[int32]bool{}
	return slices.DeleteFunc(out, func(t queryTerm) bool {
		dup := seen[t.term]
		seen[t.term] = true
		return dup
	})
}

package memory

import (
	"cmp"
	"slices"
)

// Related terms: the words a hand-written lexicon relates to a question's
// (text.RelatedTerms: "gift" to "present", หมอ to "doctor") are added to the
// question, each weighing rankParams.relatedWeight of its idf, so that a
// memory that says the same thing in other words still scores, below one
// that uses the question's. Their frequencies are read with the question's
// terms, in the same round trip. A memory that holds only related terms is
// found by them (EvidenceRelated) but does not count as holding the
// question's words: the prompt hook's Match and the exact-match test read
// the question's own terms alone.

// splitRelated moves the related terms that some memory holds from st.terms,
// where loadStats put them with the question's own, to st.related, with
// their weights: same's weigh p.relatedWeight, other's (the translations)
// p.translatedWeight.
func (st *stats) splitRelated(same, other []int32, p rankParams) {
	if len(same)+len(other) == 0 {
		return
	}
	st.relatedWeight = map[int32]float64{}
	own := st.terms[:0:0]
	for _, t := range st.terms {
		if _, found := slices.BinarySearch(same, t); found {
			st.related = append(st.related, t)
			st.relatedWeight[t] = p.relatedWeight
		} else if _, found := slices.BinarySearch(other, t); found {
			st.related = append(st.related, t)
			st.relatedWeight[t] = p.translatedWeight
		} else {
			own = append(own, t)
		}
	}
	st.terms = own
}

// rankTerms returns the terms a memory of kind k is scored by: the
// question's that kind holds, and the related ones (flagged, their weight
// folded into their idf), sorted by term, and the same sorted by weight,
// heaviest first.
func (st stats) rankTerms(k int16) (byTerm, byWeight []queryTerm) {
	byTerm, byWeight = st.queryTerms(k)
	if len(st.related) == 0 {
		return byTerm, byWeight
	}
	byTerm = slices.Clone(byTerm)
	for _, t := range st.related {
		if df, w := st.df[k][t], st.relatedWeight[t]; df > 0 && w > 0 {
			byTerm = append(byTerm, queryTerm{term: t, idf: w * idf(df, st.docs[k]), related: true})
		}
	}
	slices.SortFunc(byTerm, func(a, b queryTerm) int { return cmp.Compare(a.term, b.term) })
	byWeight = slices.Clone(byTerm)
	slices.SortStableFunc(byWeight, func(a, b queryTerm) int { return cmp.Compare(b.idf, a.idf) })
	return byTerm, byWeight
}

package memory

import "math"

// rankParams are the constants of relevance ranking. The values in
// defaultRank were chosen by measuring recall@k on the evaluation sets in
// testdata (see eval_test.go); the README says how.
type rankParams struct {
	// k1 and b are BM25's term-frequency saturation and length
	// normalisation.
	k1, b float64
	// before1, before2, after1 and after2 are the shares of the scores of
	// the turns one and two before a message, and one and two after it, in
	// its session, added to its own: a question often names what one turn
	// said and asks what the next one answered. session is the share of
	// the best score in its session added to a message that holds a term of
	// the question.
	before1, before2, after1, after2, session float64
	// rrfK is reciprocal-rank fusion's constant: a list's item at rank r
	// (from 1) adds weight / (rrfK + r).
	rrfK float64
	// The weights of the fused lists.
	lexicalWeight, nearWeight, semanticWeight, timeWeight float64
	// nudge is the largest share by which retention and recency move a
	// fused score: a memory's score is multiplied by
	// 1 + nudge * (retention + recency) / 2, recency being 0.5^(age /
	// recencyHalfLifeDays).
	nudge               float64
	recencyHalfLifeDays float64
	// speakerWeight is how much a turn's speaker's name weighs as one of
	// its terms, a share of a term it holds (see scoreTurn); 0 is not at
	// all.
	speakerWeight float64
	// matchFloor is the least weight of a question that a memory's share
	// of it (Hit.Match) is counted against, in terms held by one memory
	// alone (see questionWeight).
	matchFloor float64
}

// defaultRank returns the ranking's constants.
func defaultRank() rankParams {
	return rankParams{
		k1: 0.9, b: 0.25,
		before1: 0.5, before2: 0.4, after1: 0.3, after2: 0.2, session: 0.2,
		rrfK:          60,
		lexicalWeight: 1, nearWeight: 1, semanticWeight: 1, timeWeight: 1,
		nudge: 0.1, recencyHalfLifeDays: 90,
		speakerWeight: 1, matchFloor: 3,
	}
}

// queryTerm is a term of a question with its inverse document frequency.
type queryTerm struct {
	term int32
	idf  float64
	// synonym marks a term added as a synonym of one of the question's
	// words (its idf already weighed down): a memory holding it holds no
	// word of the question.
	synonym bool
}

// idf is BM25's inverse document frequency of a term found in df of n
// documents, in the form that is never negative (Lucene's): a term in every
// document weighs almost nothing rather than counting against it.
func idf(df, n int64) float64 {
	df = min(max(df, 0), n)
	return math.Log(1 + (float64(n-df)+0.5)/(float64(df)+0.5))
}

// bm25 scores one document, whose terms are doc (sorted, with repeats) and
// whose length in terms is dl, for the question q (sorted by term), in a
// corpus whose mean length is avgdl. It also returns how many of the
// question's own terms (its synonyms not counted) the document holds.
func bm25(q []queryTerm, doc []int32, dl int, avgdl float64, p rankParams) (score float64, matched int) {
	norm := p.k1 * (1 - p.b + p.b*float64(dl)/max(avgdl, 1))
	i, j := 0, 0
	for i < len(q) && j < len(doc) {
		switch {
		case q[i].term < doc[j]:
			i++
		case q[i].term > doc[j]:
			j++
		default:
			tf := 0
			for j < len(doc) && doc[j] == q[i].term {
				tf++
				j++
			}
			score += q[i].idf * float64(tf) * (p.k1 + 1) / (float64(tf) + norm)
			if !q[i].synonym {
				matched++
			}
			i++
		}
	}
	return score, matched
}

// heldShare is the share of the question's weight that a document whose
// terms are doc (sorted) holds: the idf of the question's terms it holds
// over total, the idf of all the question's terms (those no memory holds at
// the highest idf). It is an absolute measure of a match, where the fused
// score is a rank: a question none of whose rare words a memory holds finds
// it ranked first all the same, but with a small share. A synonym held
// counts nothing: the share is of the question's own words, so that the
// prompt hook adds a memory unasked only for what the prompt says, and a
// memory holding several synonyms of one word does not count it twice.
func heldShare(q []queryTerm, doc []int32, total float64) float64 {
	if total <= 0 {
		return 0
	}
	held := 0.0
	i, j := 0, 0
	for i < len(q) && j < len(doc) {
		switch {
		case q[i].term < doc[j]:
			i++
		case q[i].term > doc[j]:
			j++
		default:
			if !q[i].synonym {
				held += q[i].idf
			}
			i++
		}
	}
	return min(held/total, 1)
}

// questionWeight is the idf of all the question's terms in kind k's corpus,
// a term no memory holds counting at the highest idf, and at least
// p.matchFloor terms held by one memory alone: a prompt of one or two words
// ("yes please do that" is "please") carries too little to add a memory to
// it unasked, however rare the word a memory shares with it.
func questionWeight(terms []int32, st stats, k int16, p rankParams) float64 {
	w := 0.0
	for _, t := range terms {
		w += idf(st.df[k][t], st.docs[k])
	}
	return max(w, p.matchFloor*idf(1, st.docs[k]))
}

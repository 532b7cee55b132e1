package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Pseudo-relevance feedback: the memories that best match a question are
// likely about what it asks, and the words they share are likely the words
// of its answer, though the question does not use them ("What present did
// David give his mother?" ranks first the turns about her birthday, which
// speak of the silk scarf that answers it). After the first ranking, the
// terms that weigh most in its best memories (a relevance model: each term's
// share of a memory's length, weighted by the memory's share of the best
// scores) are added to the question with a smaller weight, and the memories
// are scored again; the memories that hold the added terms but none of the
// question's are read in the same round trip, a bounded number.

// feedbackPool is how many of the heaviest terms of the best memories are
// looked up: those that are common across the memories are left out (see
// feedbackMaxShare) and the rest weighed by their idf, the best
// rankParams.feedbackTerms kept.
const feedbackPool = 40

// feedbackMaxShare is the largest share of a kind's memories a term may be
// found in to be added: a term that common (a Thai particle's pair of
// letters, a word every turn uses) says nothing of what is asked.
const feedbackMaxShare = 0.05

// feedbackSQL reads, for kind $1, the document frequencies of the terms $2
// that are rare enough to be added (at most $3 memories hold each).
const feedbackSQL = `select term, df from retrieval_terms where kind = $1 and term = any($2) and df > 0 and df <= $3`

// The statements that read the memories of a kind that hold any of the terms
// $1 that are rare enough to be added (at most $2 memories hold each), up to
// $3, the term statistics of the added terms being read in the same batch.
const (
	convFeedbackSQL = `select conversation_id, coalesce(session_id, ''), lower(speaker), created_at::timestamptz,
	search_terms, search_len
from conversations
where search_terms && array(select term from retrieval_terms where kind = 1 and term = any($1) and df > 0 and df <= $2)::int4[]
limit $3`
	emoFeedbackSQL = `select emotion_id, '', '', felt_at::timestamptz, search_terms, search_len
from angela_emotions
where search_terms && array(select term from retrieval_terms where kind = 2 and term = any($1) and df > 0 and df <= $2)::int4[]
limit $3`
)

// feedback expands the question with the terms of its best memories, in one
// round trip, and scores docs again with them; it returns docs with the
// memories read for the added terms appended. A question whose first
// ranking found nothing, or with feedback turned off, is left as it is.
func feedback(ctx context.Context, tx pgx.Tx, q query, st *stats, p rankParams, docs []*scored) ([]*scored, error) {
	if p.feedbackDocs <= 0 || p.feedbackTerms <= 0 || p.feedbackWeight <= 0 {
		return docs, nil
	}
	type pick struct {
		kind int16
		rm   map[int32]float64
	}
	var picks []pick
	known := map[memKey]*scored{}
	for _, d := range docs {
		known[d.key] = d
	}
	b := &pgx.Batch{}
	added := map[int16]map[int32]int64{}
	var more []*scored
	for _, k := range q.kinds {
		var top []*scored
		for _, d := range docs {
			if int16(d.key.kind) == k && d.own > 0 && len(d.doc) > 0 {
				top = append(top, d)
			}
		}
		if len(top) == 0 || st.docs[k] == 0 {
			continue
		}
		slices.SortStableFunc(top, func(a, b *scored) int { return cmp.Compare(b.own, a.own) })
		top = top[:min(len(top), p.feedbackDocs)]
		inQuery := map[int32]bool{}
		for _, t := range st.terms {
			inQuery[t] = true
		}
		sum := 0.0
		for _, d := range top {
			sum += d.own
		}
		rm := map[int32]float64{}
		for _, d := range top {
			for _, t := range d.doc {
				if !inQuery[t] {
					rm[t] += d.own / sum / float64(len(d.doc))
				}
			}
		}
		pool := make([]int32, 0, len(rm))
		for t := range rm {
			pool = append(pool, t)
		}
		slices.SortFunc(pool, func(a, b int32) int {
			if c := cmp.Compare(rm[b], rm[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		pool = pool[:min(len(pool), feedbackPool)]
		maxDF := max(int64(float64(st.docs[k])*feedbackMaxShare), 2)
		dfs := map[int32]int64{}
		added[k] = dfs
		picks = append(picks, pick{k, rm})
		b.Queue(feedbackSQL, k, pool, maxDF).Query(func(rows pgx.Rows) error {
			var t int32
			var df int64
			_, err := pgx.ForEachRow(rows, []any{&t, &df}, func() error {
				dfs[t] = df
				return nil
			})
			return err
		})
		sql, limit := convFeedbackSQL, candidateBudget
		if k == termKindEmotion {
			sql, limit = emoFeedbackSQL, candidateBudget/emotionShare
		}
		b.Queue(sql, pool, maxDF, limit).Query(func(rows pgx.Rows) error {
			return scanScored(rows, int8(k), func(d *scored, terms []int32, dl int) {
				if known[d.key] != nil {
					return
				}
				d.doc, d.dl = slices.Clone(terms), dl
				known[d.key] = d
				more = append(more, d)
			})
		})
	}
	if b.Len() == 0 {
		return docs, nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("related terms: %w", err)
	}
	for _, pk := range picks {
		dfs := added[pk.kind]
		var exp []queryTerm
		for t, df := range dfs {
			exp = append(exp, queryTerm{t, pk.rm[t] * idf(df, st.docs[pk.kind])})
		}
		slices.SortFunc(exp, func(a, b queryTerm) int {
			if c := cmp.Compare(b.idf, a.idf); c != 0 {
				return c
			}
			return cmp.Compare(a.term, b.term)
		})
		exp = exp[:min(len(exp), p.feedbackTerms)]
		if len(exp) == 0 {
			continue
		}
		// The heaviest added term weighs feedbackWeight of its idf, the
		// others in proportion to their share of the best memories.
		top := 0.0
		for _, e := range exp {
			top = max(top, pk.rm[e.term])
		}
		for i := range exp {
			exp[i].idf = p.feedbackWeight * pk.rm[exp[i].term] / top * idf(dfs[exp[i].term], st.docs[pk.kind])
		}
		if st.extra == nil {
			st.extra = map[int16][]queryTerm{}
		}
		slices.SortFunc(exp, func(a, b queryTerm) int { return cmp.Compare(a.term, b.term) })
		st.extra[pk.kind] = exp
	}
	all := append(docs, more...)
	for _, d := range all {
		k := int16(d.key.kind)
		if st.extra[k] == nil || d.doc == nil {
			continue
		}
		byTerm := st.rankTerms(k)
		own, _ := bm25(byTerm, d.doc, d.dl, st.avgdl[k], p)
		d.own, d.score = own, own
	}
	return all, nil
}

// rankTerms returns the terms a memory of kind k is scored by, with their
// weights, sorted by term: the question's that kind holds, and those
// feedback added.
func (st stats) rankTerms(k int16) []queryTerm {
	byTerm, _ := st.queryTerms(k)
	if len(st.extra[k]) == 0 {
		return byTerm
	}
	out := append(slices.Clone(byTerm), st.extra[k]...)
	slices.SortFunc(out, func(a, b queryTerm) int { return cmp.Compare(a.term, b.term) })
	return out
}

package memory

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCandidatesReadOwnWordsBeforeSynonyms checks which memories a question
// reads to score, from the statement queueCandidates queues: its own words,
// rarest first, within the budget, then each synonym that fits in what is
// left; a question whose own words are all too common reads by them alone,
// as before synonyms, never by a rarer synonym in their place.
func TestCandidatesReadOwnWordsBeforeSynonyms(t *testing.T) {
	t.Parallel()
	const own1, own2, syn1, syn2 = int32(10), int32(20), int32(30), int32(40)
	for _, c := range []struct {
		name     string
		df       map[int32]int64
		synonyms []int32
		sql      string
		look     []int32
	}{
		{"rare own words, synonyms that fit", map[int32]int64{own1: 100, own2: 300, syn1: 50, syn2: 400},
			[]int32{syn1, syn2}, convCandidatesAnySQL, []int32{own1, own2, syn1, syn2}},
		{"a synonym over the budget left is skipped, a smaller one kept", map[int32]int64{own1: 100, own2: 300, syn1: 700, syn2: 500},
			[]int32{syn1, syn2}, convCandidatesAnySQL, []int32{own1, own2, syn2}},
		{"an own word over the budget stops the own words", map[int32]int64{own1: 100, own2: 5000, syn1: 50},
			[]int32{syn1}, convCandidatesAnySQL, []int32{own1, syn1}},
		{"common own words read by themselves, not by a rare synonym", map[int32]int64{own1: 20000, own2: 30000, syn1: 50},
			[]int32{syn1}, convCandidatesAllSQL, []int32{own1, own2}},
		{"very common own words read the newest", map[int32]int64{own1: 200000, syn1: 50},
			[]int32{syn1}, convCandidatesNewSQL, []int32{own1}},
		{"only synonyms, rare enough", map[int32]int64{syn1: 50, syn2: 2000},
			[]int32{syn1, syn2}, convCandidatesAnySQL, []int32{syn1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := stats{docs: map[int16]int64{termKindConversation: 1_000_000}, avgdl: map[int16]float64{termKindConversation: 12},
				df: map[int16]map[int32]int64{termKindConversation: c.df}, synonyms: c.synonyms}
			for term := range c.df {
				st.terms = append(st.terms, term)
			}
			slices.Sort(st.terms)
			b := &pgx.Batch{}
			var docs []*scored
			queueCandidates(b, termKindConversation, st, defaultRank(), 1, &docs)
			if len(b.QueuedQueries) != 1 {
				t.Fatalf("%d statements queued, want 1", len(b.QueuedQueries))
			}
			q := b.QueuedQueries[0]
			if q.SQL != c.sql {
				t.Errorf("statement %q, want %q", q.SQL, c.sql)
			}
			if look := q.Arguments[0].([]int32); !slices.Equal(look, c.look) {
				t.Errorf("terms looked up %v, want %v", look, c.look)
			}
		})
	}
	// Emotions read a third of the budget: 300 of an own word and 30 of a
	// synonym fit in 333, 50 more would not.
	emo := stats{docs: map[int16]int64{termKindEmotion: 100_000}, avgdl: map[int16]float64{termKindEmotion: 30},
		df: map[int16]map[int32]int64{termKindEmotion: {own1: 300, syn1: 50, syn2: 30}}, synonyms: []int32{syn1, syn2},
		terms: []int32{own1, syn1, syn2}}
	eb := &pgx.Batch{}
	var edocs []*scored
	queueCandidates(eb, termKindEmotion, emo, defaultRank(), 1, &edocs)
	if len(eb.QueuedQueries) != 1 || eb.QueuedQueries[0].SQL != emoCandidatesAnySQL ||
		!slices.Equal(eb.QueuedQueries[0].Arguments[0].([]int32), []int32{own1, syn2}) {
		t.Errorf("emotions: queued %+v, want the any-term statement for %v", eb.QueuedQueries, []int32{own1, syn2})
	}
	// Only synonyms, each too common: nothing is read.
	st := stats{docs: map[int16]int64{termKindConversation: 1_000_000}, avgdl: map[int16]float64{termKindConversation: 12},
		df: map[int16]map[int32]int64{termKindConversation: {syn1: 5000}}, synonyms: []int32{syn1}, terms: []int32{syn1}}
	b := &pgx.Batch{}
	var docs []*scored
	if queueCandidates(b, termKindConversation, st, defaultRank(), 1, &docs); len(b.QueuedQueries) != 0 {
		t.Errorf("a question of common synonyms alone queued %d statements", len(b.QueuedQueries))
	}
}

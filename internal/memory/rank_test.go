package memory

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// TestDecodeTermsReadsWhatTheServerSends decodes int4[] values as the
// server sends them in binary, and refuses what a memory's terms never are.
func TestDecodeTermsReadsWhatTheServerSends(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	for _, tt := range []struct {
		sql  string
		want []int32
		bad  bool
	}{
		{`select '{-2147483648,-1,0,7,7,2147483647}'::int4[]`, []int32{-2147483648, -1, 0, 7, 7, 2147483647}, false},
		{`select '{}'::int4[]`, nil, false},
		{`select null::int4[]`, nil, false},
		{`select '{{1,2},{3,4}}'::int4[]`, nil, true},
		{`select '{1,null}'::int4[]`, nil, true},
	} {
		var raw pgtype.UndecodedBytes
		if err := conn.QueryRow(ctx, tt.sql).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		got, err := decodeTerms(raw, nil)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v (error %v)", tt.sql, got, err, tt.want, tt.bad)
		}
	}
}

func TestBM25(t *testing.T) {
	t.Parallel()
	p := defaultRank()
	q := []queryTerm{{term: 1, idf: 2.0}, {term: 5, idf: 1.0}}
	one, m1 := bm25(q, []int32{1, 3, 4}, 3, 3, p)
	two, m2 := bm25(q, []int32{1, 1, 3}, 3, 3, p)
	both, m3 := bm25(q, []int32{1, 5, 9}, 3, 3, p)
	long, _ := bm25(q, []int32{1, 3, 4, 6, 7, 8, 9, 10, 11}, 9, 3, p)
	none, m0 := bm25(q, []int32{2, 3}, 2, 3, p)
	switch {
	case m1 != 1 || m2 != 1 || m3 != 2 || m0 != 0 || none != 0:
		t.Fatalf("matched %d %d %d %d, score of none %v", m1, m2, m3, m0, none)
	case !(two > one && both > one && one > long):
		t.Fatalf("a repeat (%v), a second term (%v) and a shorter text (%v) must score above one term (%v > long %v)", two, both, one, one, long)
	}
	if idf(1, 1000) <= idf(100, 1000) || idf(1000, 1000) <= 0 {
		t.Fatal("a rare term must weigh more, and a term in every document still above zero")
	}
}

// TestIsOneWord: what Search still answers by matching, and what it takes
// for a question.
func TestIsOneWord(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"ocean", true}, {"คิดถึง", true}, {"ทะเล", true}, {"รักแองเจล่า", true}, {"ผ้าไหม", false},
		{"internationalization", true}, {"  ocean  ", true},
		{"ocean david", false}, {"what did the vet say?", false},
		{"หมอให้ส้มโอกินยาอะไร", false}, {"กินยาอะไร", false}, {"ไปไหม", false},
		{"โรงพยาบาลสัตว์แพทย์จุฬาลงกรณ์", false}, // longer than a word
	} {
		if got := isOneWord(tt.s); got != tt.want {
			t.Errorf("isOneWord(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestScoreTurnCountsTheSpeakerOnce: the speaker's name is one more term of
// the turn, unless the turn says it itself; a memory without a speaker (an
// emotion) and a question without the name are scored as bm25 scores them.
func TestScoreTurnCountsTheSpeakerOnce(t *testing.T) {
	t.Parallel()
	p := defaultRank()
	david, rose := text.Terms("david")[0], text.Terms("roses")[0]
	q := []queryTerm{{term: min(david, rose), idf: 2}, {term: max(david, rose), idf: 2}}
	doc := []int32{rose}
	says := []int32{min(david, rose), max(david, rose)}
	plain, m0 := bm25(q, doc, 1, 3, p)
	byDavid, m1 := scoreTurn(q, doc, 1, 3, "david", p)
	saying, m2 := scoreTurn(q, says, 2, 3, "david", p)
	sayingPlain, _ := bm25(q, says, 2, 3, p)
	byAngela, _ := scoreTurn(q, doc, 1, 3, "angela", p)
	emotion, _ := scoreTurn(q, doc, 1, 3, "", p)
	switch {
	case !(byDavid > plain) || m1 != m0+1:
		t.Errorf("David's turn scores %v (%d terms), the same text unsaid %v (%d)", byDavid, m1, plain, m0)
	case saying != sayingPlain || m2 != 2:
		t.Errorf("a turn that says the name scores %v (%d terms), want bm25's %v (2)", saying, m2, sayingPlain)
	case byAngela != plain || emotion != plain:
		t.Errorf("another speaker's turn %v and an emotion %v must score as bm25 does, %v", byAngela, emotion, plain)
	}
	p.speakerWeight = 0
	if off, _ := scoreTurn(q, doc, 1, 3, "david", p); off != plain {
		t.Errorf("with speakerWeight 0 the name must not count: %v, want %v", off, plain)
	}
}

// TestScoreTurnSpeakerIsNoSynonym: a speaker whose name is only a synonym of
// a question's word (calendar brings system) is no word of the turn: it adds
// nothing to the score nor to the question's own terms the turn holds.
func TestScoreTurnSpeakerIsNoSynonym(t *testing.T) {
	t.Parallel()
	p := defaultRank()
	system, launch := text.Terms("system")[0], text.Terms("launch")[0]
	q := []queryTerm{{term: system, idf: 3 * text.ExpansionWeight, synonym: true}, {term: launch, idf: 2}}
	slices.SortFunc(q, func(a, b queryTerm) int { return cmp.Compare(a.term, b.term) })
	doc := []int32{launch}
	plain, m0 := bm25(q, doc, 3, 3, p)
	bySystem, m1 := scoreTurn(q, doc, 3, 3, "system", p)
	if bySystem != plain || m1 != m0 || m0 != 1 {
		t.Errorf("a turn of system, a synonym of the question's word, scores %v holding %d terms; want bm25's %v and %d (1)", bySystem, m1, plain, m0)
	}
}

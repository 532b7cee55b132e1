package memory

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/text"
)

// Relevance retrieval: a question is answered by ranking memories, not by
// matching them. Retrieve fuses, by reciprocal rank, up to five rankings of
// the memories:
//
//   - lexical: BM25 over angelad's own terms (text.QueryTerms), with the
//     document frequencies the indexing step keeps (IndexPending); a
//     message's score is its own plus shares of its neighbouring turns' in
//     the same session (an answer is often the turn after the one that
//     shares the question's words), plus a share of the best score in its
//     session;
//   - exact: the memories that contain the whole text (ignoring case), as
//     Search finds them, which weigh twice;
//   - near: those that hold every pair of adjacent characters of it;
//   - time: when the question names a time ("last week", "เดือนที่แล้ว",
//     "on 5 March"), the lexical ranking of the memories made then;
//   - semantic: a ranking by meaning from an embedding model, when the
//     caller has one (RetrieveOptions.Semantic).
//
// The fused score is then nudged (by at most a tenth) by the memory's
// retention and recency, so that between two equally relevant memories the
// better remembered and the newer comes first.

// Evidence kinds: what made a memory a hit.
const (
	EvidenceExact    = "exact"    // it contains the whole text
	EvidenceNear     = "near"     // it contains every pair of adjacent characters of it
	EvidenceWords    = "words"    // it shares terms with the question
	EvidenceContext  = "context"  // a neighbouring turn of its session shares terms with it
	EvidenceTime     = "time"     // it was made in the time the question names
	EvidenceSemantic = "semantic" // the embedding model ranked it
)

// SemanticHit is one memory of a ranking by meaning, as an embedding model's
// nearest neighbours give it: Retrieve fuses the ranking (best first) with
// its own.
type SemanticHit struct {
	// Kind is "conversation" or "emotion".
	Kind string
	ID   uuid.UUID
	// Similarity is the model's, for the record; only the order counts.
	Similarity float64
}

// RetrieveOptions selects what Retrieve ranks. Text, Kind, Speaker, Since,
// Limit, Reinforce and Now are Search's.
type RetrieveOptions struct {
	Text      string
	Kind      string
	Speaker   string
	Since     time.Time
	Limit     int
	Reinforce bool
	// Now is when the question is asked: the time its "yesterday" or "last
	// month" is counted from, and that of the reinforcement.
	Now time.Time
	// Location is the zone a day or a month of the question is counted in;
	// nil is UTC.
	Location *time.Location
	// Semantic is a ranking by meaning to fuse with the lexical one, best
	// first; nil when there is no embedding model.
	Semantic []SemanticHit
}

func (o RetrieveOptions) searchOptions() SearchOptions {
	return SearchOptions{Text: o.Text, Kind: o.Kind, Speaker: o.Speaker, Since: o.Since, Limit: o.Limit,
		Reinforce: o.Reinforce, Now: o.Now, Location: o.Location}
}

// Validate reports the first option that is not allowed, as a
// *text.FieldError.
func (o RetrieveOptions) Validate() error {
	if err := o.searchOptions().Validate(); err != nil {
		return err
	}
	for _, s := range o.Semantic {
		if s.Kind != "conversation" && s.Kind != "emotion" {
			return &text.FieldError{Field: "semantic", Problem: "a hit's kind must be conversation or emotion, got " + text.Quote(s.Kind)}
		}
	}
	return nil
}

// The bounds of a retrieval.
const (
	// candidateBudget bounds the memories read to score a question: the
	// question's rarest terms are looked up until their frequencies add up
	// to it, so that a common word never reads a large part of a table.
	candidateBudget = 3000
	// expandTop is how many of the best scored messages have their
	// neighbouring turns read.
	expandTop = 30
	// neighbourWindow bounds how far apart in time two turns of a session
	// may be to be neighbours.
	neighbourWindow = 6 * time.Hour
	// exactLimit is how many exact and near matches are ranked.
	exactLimit = 50
	// timeLimit is how many memories of the time a question names are read
	// when it has no other words.
	timeLimit = 50
	// nudgeTop is how many of the best fused memories are nudged by
	// retention and recency, at least.
	nudgeTop = 100
	// searchIndexBatch is how many memories of each kind a retrieval
	// indexes first when some are pending (a database written without a
	// daemon); the daemon's index worker keeps up with capture otherwise.
	searchIndexBatch  = 2000
	searchIndexRounds = 3
)

// memKey names one memory.
type memKey struct {
	kind int8 // termKindConversation or termKindEmotion
	id   uuid.UUID
}

func kindName(k int8) string {
	if k == termKindEmotion {
		return "emotion"
	}
	return "conversation"
}

// scored is one memory the lexical ranking looked at.
type scored struct {
	key     memKey
	session string
	at      time.Time
	own     float64 // its BM25 score
	score   float64 // with its neighbours' and session's shares
	matched bool    // it holds a term of the question
	context bool    // a neighbour's share added to it
}

// Retrieve ranks the memories for the question o.Text and returns the best
// o.Limit, each with its score and the kinds of evidence that found it (see
// the Evidence constants). Memories not indexed yet are indexed first, a
// bounded number; those beyond it are found by their exact text alone. With
// o.Reinforce it recalls what it returns. Invalid options return a
// *text.FieldError.
func Retrieve(ctx context.Context, db Beginner, model Model, o RetrieveOptions) ([]Hit, error) {
	return retrieve(ctx, db, model, o, defaultRank())
}

func retrieve(ctx context.Context, db Beginner, model Model, o RetrieveOptions, p rankParams) ([]Hit, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("retrieve: %w", err)
	}
	if err := indexBeforeRetrieval(ctx, db); err != nil {
		return nil, fmt.Errorf("retrieve: %w", err)
	}
	var hits []Hit
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "set local jit = off"); err != nil {
			return err
		}
		var err error
		hits, err = rank(ctx, tx, model, o, p)
		if err != nil || !o.Reinforce {
			return err
		}
		var convs, emos []uuid.UUID
		for _, h := range hits {
			if h.Kind == "conversation" {
				convs = append(convs, h.ID)
			} else {
				emos = append(emos, h.ID)
			}
		}
		return reinforce(ctx, tx, model, o.Now, convs, emos)
	})
	if err != nil {
		return nil, fmt.Errorf("retrieve: %w", err)
	}
	if hits == nil {
		hits = []Hit{}
	}
	return hits, nil
}

// indexBeforeRetrieval indexes what is pending, a bounded number, so that a
// memory stored without a daemon (import, then search) is found by its words.
func indexBeforeRetrieval(ctx context.Context, db Beginner) error {
	for range searchIndexRounds {
		res, err := IndexPending(ctx, db, searchIndexBatch)
		if err != nil || !res.More {
			return err
		}
	}
	return nil
}

// rank is the retrieval inside its transaction.
func rank(ctx context.Context, tx pgx.Tx, model Model, o RetrieveOptions, p rankParams) ([]Hit, error) {
	window, rest, hasWindow := questionTime(o.Text, o.Now, o.Location)
	speaker := ""
	if o.Speaker != "" {
		speaker, _ = normalizeSpeaker(o.Speaker)
	}
	wantConv := o.Kind != KindEmotions
	wantEmo := o.Kind != KindConversations && speaker == ""
	var kinds []int16
	if wantConv {
		kinds = append(kinds, termKindConversation)
	}
	if wantEmo {
		kinds = append(kinds, termKindEmotion)
	}

	// The lexical ranking.
	terms := text.QueryTerms(rest)
	st, err := loadStats(ctx, tx, kinds, terms)
	if err != nil {
		return nil, err
	}
	var docs []*scored
	for _, k := range kinds {
		d, err := lexicalCandidates(ctx, tx, k, st, p)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	if wantConv {
		more, err := expandNeighbours(ctx, tx, docs, st, p)
		if err != nil {
			return nil, err
		}
		docs = append(docs, more...)
	}
	byKey := make(map[memKey]*scored, len(docs))
	for _, d := range docs {
		byKey[d.key] = d
	}

	// The exact and near matches.
	var exact, near []memKey
	exactHits := map[memKey]Hit{}
	since := any("-infinity")
	if !o.Since.IsZero() {
		since = o.Since
	}
	steps := searchSteps{cap: searchCap, short: walkShort, long: walkLong}
	grams := text.Grams(o.Text)
	for _, k := range kinds {
		walk, index, name := searchConvWalkSQL, searchConvIndexSQL, "conversation"
		if k == termKindEmotion {
			walk, index, name = searchEmoWalkSQL, searchEmoIndexSQL, "emotion"
		}
		hs, err := searchKind(ctx, tx, name, walk, index, grams, o.Text, exactLimit, since, speaker, steps)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			key := memKey{int8(k), h.ID}
			exactHits[key] = h
			if h.Exact {
				exact = append(exact, key)
			} else {
				near = append(near, key)
			}
		}
	}

	// The memories of the time the question names.
	var inTime []memKey
	if hasWindow {
		if len(st.terms) == 0 {
			inTime, err = memoriesIn(ctx, tx, window, wantConv, wantEmo)
			if err != nil {
				return nil, err
			}
		} else {
			for _, d := range byScore(docs) {
				if window.contains(d.at) {
					inTime = append(inTime, d.key)
				}
			}
		}
	}

	var semantic []memKey
	for _, s := range o.Semantic {
		k := memKey{termKindConversation, s.ID}
		if s.Kind == "emotion" {
			k.kind = termKindEmotion
		}
		semantic = append(semantic, k)
	}

	// The fusion.
	lexical := make([]memKey, 0, len(docs))
	for _, d := range byScore(docs) {
		lexical = append(lexical, d.key)
	}
	fused := fuseKeys(p.rrfK, []keyList{
		{lexical, p.lexicalWeight}, {exact, 2 * p.nearWeight}, {near, p.nearWeight},
		{inTime, p.timeWeight}, {semantic, p.semanticWeight},
	})
	order := make([]memKey, 0, len(fused))
	for k := range fused {
		order = append(order, k)
	}
	sortKeys(order, fused)

	// Retention and recency nudge the best; the filters apply.
	top := order[:min(len(order), max(nudgeTop, 4*o.Limit))]
	info, err := loadHitInfo(ctx, tx, top)
	if err != nil {
		return nil, err
	}
	final := make(map[memKey]float64, len(top))
	kept := top[:0:0]
	for _, k := range top {
		in, ok := info[k]
		if !ok {
			continue // deleted meanwhile
		}
		if k.kind == termKindConversation && !wantConv || k.kind == termKindEmotion && !wantEmo ||
			speaker != "" && in.speaker != speaker || !o.Since.IsZero() && in.at.Before(o.Since) {
			continue
		}
		recency := 0.0
		if !in.at.IsZero() {
			recency = math.Pow(0.5, max(o.Now.Sub(in.at).Hours()/24, 0)/p.recencyHalfLifeDays)
		}
		final[k] = fused[k] * (1 + p.nudge*(in.retention+recency)/2)
		kept = append(kept, k)
	}
	sortKeys(kept, final)
	kept = kept[:min(len(kept), o.Limit)]

	hits, err := loadHits(ctx, tx, kept)
	if err != nil {
		return nil, err
	}
	inList := func(l []memKey, k memKey) bool { return slices.Contains(l, k) }
	for i := range hits {
		h := &hits[i]
		k := kept[i]
		h.Score = final[k] * (p.rrfK + 1)
		in := info[k]
		h.Retention, h.Forgotten = in.retention, in.forgotten
		if d := byKey[k]; d != nil {
			if d.matched {
				h.Evidence = append(h.Evidence, EvidenceWords)
			}
			if d.context {
				h.Evidence = append(h.Evidence, EvidenceContext)
			}
		}
		if _, ok := exactHits[k]; ok {
			if inList(exact, k) {
				h.Exact = true
				h.Evidence = append(h.Evidence, EvidenceExact)
			} else {
				h.Evidence = append(h.Evidence, EvidenceNear)
			}
		}
		if inList(inTime, k) {
			h.Evidence = append(h.Evidence, EvidenceTime)
		}
		if inList(semantic, k) {
			h.Evidence = append(h.Evidence, EvidenceSemantic)
		}
	}
	return hits, nil
}

// keyList is one ranking of memories with its weight in the fusion.
type keyList struct {
	keys   []memKey
	weight float64
}

// fuseKeys is fuse over memories named by key.
func fuseKeys(k float64, lists []keyList) map[memKey]float64 {
	out := map[memKey]float64{}
	for _, l := range lists {
		for r, key := range l.keys {
			out[key] += l.weight / (k + float64(r+1))
		}
	}
	return out
}

// sortKeys orders keys by score, best first; ties go to the newer id order,
// so that the order is the same on every call.
func sortKeys(keys []memKey, score map[memKey]float64) {
	slices.SortFunc(keys, func(a, b memKey) int {
		if c := cmp.Compare(score[b], score[a]); c != 0 {
			return c
		}
		if a.kind != b.kind {
			return cmp.Compare(a.kind, b.kind)
		}
		return strings.Compare(a.id.String(), b.id.String())
	})
}

// byScore returns the documents whose score is above zero, best first.
func byScore(docs []*scored) []*scored {
	out := make([]*scored, 0, len(docs))
	for _, d := range docs {
		if d.score > 0 {
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b *scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return b.at.Compare(a.at)
	})
	return out
}

// stats are the corpus figures of a question's terms.
type stats struct {
	// terms are the question's terms that some memory holds.
	terms []int32
	docs  map[int16]int64
	avgdl map[int16]float64
	df    map[int16]map[int32]int64
}

const (
	corpusSQL = `select kind, docs, total_len from retrieval_corpus where kind = any($1)`
	dfSQL     = `select kind, term, df from retrieval_terms where kind = any($1) and term = any($2) and df > 0`
)

func loadStats(ctx context.Context, tx pgx.Tx, kinds []int16, terms []int32) (stats, error) {
	st := stats{docs: map[int16]int64{}, avgdl: map[int16]float64{}, df: map[int16]map[int32]int64{}}
	b := &pgx.Batch{}
	b.Queue(corpusSQL, kinds).Query(func(rows pgx.Rows) error {
		var k int16
		var docs, total int64
		_, err := pgx.ForEachRow(rows, []any{&k, &docs, &total}, func() error {
			st.docs[k] = docs
			if docs > 0 {
				st.avgdl[k] = float64(total) / float64(docs)
			}
			return nil
		})
		return err
	})
	seen := map[int32]bool{}
	b.Queue(dfSQL, kinds, terms).Query(func(rows pgx.Rows) error {
		var k int16
		var term int32
		var df int64
		_, err := pgx.ForEachRow(rows, []any{&k, &term, &df}, func() error {
			if st.df[k] == nil {
				st.df[k] = map[int32]int64{}
			}
			st.df[k][term] = df
			if !seen[term] {
				seen[term] = true
				st.terms = append(st.terms, term)
			}
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return st, fmt.Errorf("term statistics: %w", err)
	}
	slices.Sort(st.terms)
	return st, nil
}

// queryTerms returns the question's terms that kind k holds, with their idf,
// sorted by term, and the same sorted by frequency, rarest first.
func (st stats) queryTerms(k int16) (byTerm, byRarity []queryTerm) {
	for _, t := range st.terms {
		if df := st.df[k][t]; df > 0 {
			byTerm = append(byTerm, queryTerm{t, idf(df, st.docs[k])})
		}
	}
	byRarity = slices.Clone(byTerm)
	slices.SortStableFunc(byRarity, func(a, b queryTerm) int { return cmp.Compare(b.idf, a.idf) })
	return byTerm, byRarity
}

// The candidate statements: the memories holding any of the terms $1 (the
// rarest, whose frequencies add up to the budget), or all of them when even
// the rarest is common, at most $2.
const (
	convCandidatesAnySQL = `select conversation_id, coalesce(session_id, ''), created_at::timestamptz, search_terms, search_len
from conversations where search_terms && $1::int4[] limit $2`
	convCandidatesAllSQL = `select conversation_id, coalesce(session_id, ''), created_at::timestamptz, search_terms, search_len
from conversations where search_terms @> $1::int4[] limit $2`
	emoCandidatesAnySQL = `select emotion_id, '', felt_at::timestamptz, search_terms, search_len
from angela_emotions where search_terms && $1::int4[] limit $2`
	emoCandidatesAllSQL = `select emotion_id, '', felt_at::timestamptz, search_terms, search_len
from angela_emotions where search_terms @> $1::int4[] limit $2`
)

// lexicalCandidates reads the memories of kind k that hold the question's
// rarer terms and scores them. The rarest terms are looked up together
// until their frequencies reach candidateBudget; when even the rarest is
// more frequent, the memories holding the two rarest (or the one) are read,
// up to the budget. A memory holding only common terms of the question is
// left out: it would rank low.
func lexicalCandidates(ctx context.Context, tx pgx.Tx, k int16, st stats, p rankParams) ([]*scored, error) {
	byTerm, byRarity := st.queryTerms(k)
	if len(byTerm) == 0 {
		return nil, nil
	}
	anySQL, allSQL := convCandidatesAnySQL, convCandidatesAllSQL
	if k == termKindEmotion {
		anySQL, allSQL = emoCandidatesAnySQL, emoCandidatesAllSQL
	}
	var look []int32
	var sum int64
	for _, q := range byRarity {
		df := st.df[k][q.term]
		if sum+df > candidateBudget {
			break
		}
		sum += df
		look = append(look, q.term)
	}
	sql := anySQL
	if len(look) == 0 {
		sql = allSQL
		for _, q := range byRarity[:min(2, len(byRarity))] {
			look = append(look, q.term)
		}
	}
	rows, err := tx.Query(ctx, sql, look, candidateBudget)
	if err != nil {
		return nil, fmt.Errorf("lexical candidates: %w", err)
	}
	var out []*scored
	var (
		id      uuid.UUID
		session string
		at      *time.Time
		terms   []int32
		dl      *int32
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &session, &at, &terms, &dl}, func() error {
		d := &scored{key: memKey{int8(k), id}, session: session}
		if at != nil {
			d.at = *at
		}
		n := len(terms)
		if dl != nil {
			n = int(*dl)
		}
		var m int
		d.own, m = bm25(byTerm, terms, n, st.avgdl[k], p)
		d.score, d.matched = d.own, m > 0
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lexical candidates: %w", err)
	}
	return out, nil
}

// neighboursSQL reads, for each message $1, the two turns before it and the
// two after it in its session, within $2 of it in time, walking the index on
// created_at from the message's time until it has them, so that no index on
// sessions is needed (a turn made at the very same time as the message is
// not counted). Each row names the message it is a neighbour of and the side
// (-1 before, 1 after).
const neighboursSQL = `select t.conversation_id, n.side, n.conversation_id, n.session, n.at, n.search_terms, n.search_len
from conversations t
cross join lateral (
	(select -1 as side, c.conversation_id, coalesce(c.session_id, '') as session, c.created_at::timestamptz as at,
		c.search_terms, c.search_len
	from conversations c
	where c.created_at < t.created_at and c.created_at >= t.created_at - $2::interval and c.session_id = t.session_id
	order by c.created_at desc limit 2)
	union all
	(select 1, c.conversation_id, coalesce(c.session_id, ''), c.created_at::timestamptz, c.search_terms, c.search_len
	from conversations c
	where c.created_at > t.created_at and c.created_at <= t.created_at + $2::interval and c.session_id = t.session_id
	order by c.created_at limit 2)
) n
where t.conversation_id = any($1) and t.session_id is not null`

// expandNeighbours reads the neighbouring turns of the best scored messages,
// scores those not scored yet, and adds to every message the shares of its
// known neighbours' own scores (p's offsets) and of the best score in its
// session. It returns the messages it read that were not among docs.
func expandNeighbours(ctx context.Context, tx pgx.Tx, docs []*scored, st stats, p rankParams) ([]*scored, error) {
	var best []*scored
	for _, d := range docs {
		if d.key.kind == termKindConversation && d.own > 0 {
			best = append(best, d)
		}
	}
	slices.SortFunc(best, func(a, b *scored) int { return cmp.Compare(b.own, a.own) })
	best = best[:min(len(best), expandTop)]
	byID := map[uuid.UUID]*scored{}
	for _, d := range docs {
		if d.key.kind == termKindConversation {
			byID[d.key.id] = d
		}
	}
	var added []*scored
	next := map[uuid.UUID]uuid.UUID{}
	prev := map[uuid.UUID]uuid.UUID{}
	if len(best) > 0 {
		ids := make([]uuid.UUID, len(best))
		for i, d := range best {
			ids[i] = d.key.id
		}
		byTerm, _ := st.queryTerms(termKindConversation)
		type link struct {
			of   uuid.UUID
			side int
			id   uuid.UUID
			at   time.Time
		}
		var links []link
		// The walk of the index on created_at stops after two turns of the
		// session; the planner, which cannot know how many turns of other
		// sessions lie in between, would rather read every turn of the
		// window through a bitmap and sort them.
		b := &pgx.Batch{}
		b.Queue("set local enable_bitmapscan = off")
		b.Queue(neighboursSQL, ids, neighbourWindow.String()).Query(func(rows pgx.Rows) error {
			var (
				of, id  uuid.UUID
				side    int
				session string
				at      *time.Time
				terms   []int32
				dl      *int32
			)
			_, err := pgx.ForEachRow(rows, []any{&of, &side, &id, &session, &at, &terms, &dl}, func() error {
				l := link{of: of, side: side, id: id}
				if at != nil {
					l.at = *at
				}
				links = append(links, l)
				if byID[id] == nil {
					d := &scored{key: memKey{termKindConversation, id}, session: session, at: l.at}
					n := len(terms)
					if dl != nil {
						n = int(*dl)
					}
					var m int
					d.own, m = bm25(byTerm, terms, n, st.avgdl[termKindConversation], p)
					d.score, d.matched = d.own, m > 0
					byID[id] = d
					added = append(added, d)
				}
				return nil
			})
			return err
		})
		b.Queue("set local enable_bitmapscan = on")
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, fmt.Errorf("neighbouring turns: %w", err)
		}
		// The turns either side of a message, nearest first, chain into
		// runs of turns known to be consecutive.
		slices.SortStableFunc(links, func(a, b link) int {
			if c := strings.Compare(a.of.String(), b.of.String()); c != 0 {
				return c
			}
			if a.side != b.side {
				return cmp.Compare(a.side, b.side)
			}
			if a.side < 0 {
				return b.at.Compare(a.at)
			}
			return a.at.Compare(b.at)
		})
		for i, l := range links {
			near := l.of
			if i > 0 && links[i-1].of == l.of && links[i-1].side == l.side {
				near = links[i-1].id
			}
			if l.side < 0 {
				prev[near], next[l.id] = l.id, near
			} else {
				next[near], prev[l.id] = l.id, near
			}
		}
	}
	all := append(slices.Clone(docs), added...)
	own := func(id uuid.UUID, ok bool) float64 {
		if !ok {
			return 0
		}
		if d := byID[id]; d != nil {
			return d.own
		}
		return 0
	}
	sessionBest := map[string]float64{}
	for _, d := range all {
		if d.key.kind == termKindConversation && d.session != "" {
			sessionBest[d.session] = max(sessionBest[d.session], d.own)
		}
	}
	for _, d := range all {
		if d.key.kind != termKindConversation {
			continue
		}
		id := d.key.id
		p1, ok1 := prev[id]
		p2, ok2 := prev[p1]
		n1, ok3 := next[id]
		n2, ok4 := next[n1]
		around := p.before1*own(p1, ok1) + p.before2*own(p2, ok1 && ok2) + p.after1*own(n1, ok3) + p.after2*own(n2, ok3 && ok4)
		d.score = d.own + around
		d.context = around > 0
		if d.own > 0 && d.session != "" {
			d.score += p.session * sessionBest[d.session]
		}
	}
	return added, nil
}

// memoriesInSQL reads the memories made in [$1, $2), newest first, up to $3
// of each kind, through the indexes on their times.
const (
	convInSQL = `select conversation_id from conversations
where created_at >= $1 and created_at < $2 order by created_at desc limit $3`
	emoInSQL = `select emotion_id from angela_emotions
where felt_at >= $1 and felt_at < $2 order by felt_at desc limit $3`
)

func memoriesIn(ctx context.Context, tx pgx.Tx, w timeWindow, conv, emo bool) ([]memKey, error) {
	var out []memKey
	for _, k := range []struct {
		on   bool
		kind int8
		sql  string
	}{{conv, termKindConversation, convInSQL}, {emo, termKindEmotion, emoInSQL}} {
		if !k.on {
			continue
		}
		rows, err := tx.Query(ctx, k.sql, w.from, w.to, timeLimit)
		if err != nil {
			return nil, fmt.Errorf("memories of the time asked about: %w", err)
		}
		var id uuid.UUID
		if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			out = append(out, memKey{k.kind, id})
			return nil
		}); err != nil {
			return nil, fmt.Errorf("memories of the time asked about: %w", err)
		}
	}
	return out, nil
}

// hitInfo is what the nudge and the filters need of a memory.
type hitInfo struct {
	at        time.Time
	speaker   string
	retention float64
	forgotten bool
}

const (
	convInfoSQL = `select c.conversation_id, c.created_at::timestamptz, lower(c.speaker), coalesce(m.retention, 1),
	m.forgotten_at is not null
from conversations c left join conversation_memory m on m.id = c.conversation_id
where c.conversation_id = any($1)`
	emoInfoSQL = `select e.emotion_id, e.felt_at::timestamptz, '', coalesce(m.retention, 1), m.forgotten_at is not null
from angela_emotions e left join emotion_memory m on m.id = e.emotion_id
where e.emotion_id = any($1)`
)

func loadHitInfo(ctx context.Context, tx pgx.Tx, keys []memKey) (map[memKey]hitInfo, error) {
	out := make(map[memKey]hitInfo, len(keys))
	for _, k := range []struct {
		kind int8
		sql  string
	}{{termKindConversation, convInfoSQL}, {termKindEmotion, emoInfoSQL}} {
		var ids []uuid.UUID
		for _, key := range keys {
			if key.kind == k.kind {
				ids = append(ids, key.id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		rows, err := tx.Query(ctx, k.sql, ids)
		if err != nil {
			return nil, fmt.Errorf("retention of the hits: %w", err)
		}
		var (
			id  uuid.UUID
			at  *time.Time
			in  hitInfo
			spk string
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &at, &spk, &in.retention, &in.forgotten}, func() error {
			in.speaker, in.at = spk, time.Time{}
			if at != nil {
				in.at = *at
			}
			out[memKey{k.kind, id}] = in
			return nil
		}); err != nil {
			return nil, fmt.Errorf("retention of the hits: %w", err)
		}
	}
	return out, nil
}

const (
	convHitsSQL = `select conversation_id, created_at::timestamptz, lower(speaker), message_text, coalesce(session_id, '')
from conversations where conversation_id = any($1)`
	emoHitsSQL = `select emotion_id, felt_at::timestamptz, emotion, coalesce(context, ''), coalesce(david_words, ''),
	coalesce(why_it_matters, '')
from angela_emotions where emotion_id = any($1)`
)

// loadHits reads the memories keys in that order; a memory deleted
// meanwhile is left out.
func loadHits(ctx context.Context, tx pgx.Tx, keys []memKey) ([]Hit, error) {
	found := make(map[memKey]Hit, len(keys))
	var convs, emos []uuid.UUID
	for _, k := range keys {
		if k.kind == termKindConversation {
			convs = append(convs, k.id)
		} else {
			emos = append(emos, k.id)
		}
	}
	if len(convs) > 0 {
		rows, err := tx.Query(ctx, convHitsSQL, convs)
		if err != nil {
			return nil, fmt.Errorf("read the hits: %w", err)
		}
		var h Hit
		var at *time.Time
		if _, err := pgx.ForEachRow(rows, []any{&h.ID, &at, &h.Speaker, &h.Text, &h.SessionID}, func() error {
			h.Kind, h.At = "conversation", time.Time{}
			if at != nil {
				h.At = at.UTC()
			}
			found[memKey{termKindConversation, h.ID}] = h
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read the hits: %w", err)
		}
	}
	if len(emos) > 0 {
		rows, err := tx.Query(ctx, emoHitsSQL, emos)
		if err != nil {
			return nil, fmt.Errorf("read the hits: %w", err)
		}
		var h Hit
		var at *time.Time
		if _, err := pgx.ForEachRow(rows, []any{&h.ID, &at, &h.Emotion, &h.Text, &h.DavidWords, &h.WhyItMatters}, func() error {
			h.Kind, h.At = "emotion", time.Time{}
			if at != nil {
				h.At = at.UTC()
			}
			found[memKey{termKindEmotion, h.ID}] = h
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read the hits: %w", err)
		}
	}
	out := make([]Hit, 0, len(keys))
	for _, k := range keys {
		if h, ok := found[k]; ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// maxWordChars is the most letters (not counting vowel and tone marks) a
// text in Thai or another script without spaces may have for Search to take
// it for one word; a longer one is a phrase or a question.
const maxWordChars = 12

// isOneWord reports whether s is one word: no white space inside it, and,
// written in Thai or another script without spaces between words, at most
// maxWordChars letters and not ending as a question (อะไร, ไหม, ครับ; see
// text.EndsAsQuestion): a Thai question is written without spaces too.
func isOneWord(s string) bool {
	f := strings.Fields(s)
	if len(f) != 1 {
		return len(f) == 0
	}
	letters := 0
	for _, r := range f[0] {
		if unicode.In(r, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar, unicode.Han,
			unicode.Hiragana, unicode.Katakana, unicode.Hangul) && !unicode.IsMark(r) {
			letters++
		}
	}
	return letters <= maxWordChars && !text.EndsAsQuestion(f[0])
}

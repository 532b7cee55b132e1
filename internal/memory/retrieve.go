package memory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/angela-ai/angelad/internal/postgres"
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
	EvidenceSynonyms = "synonyms" // it shares none, but synonyms of its English words
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
// Limit, Reinforce, Now and TextChars are Search's.
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
	// TextChars, when above zero, is the most characters of each hit's texts
	// that are read (see SearchOptions.TextChars); 0 reads them whole.
	TextChars int
	// Context is how many neighbouring turns of its session each message
	// hit brings on either side (Hit.Context), 0 to MaxContext; 0 brings
	// none. An answer is often the reply to the turn that shares the
	// question's words, or the question that turn answers (measured in
	// BenchmarkRecall's covered@k).
	Context int
}

// MaxContext is the most neighbouring turns a hit may bring on either side
// (RetrieveOptions.Context).
const MaxContext = 5

// ContextTurn is one neighbouring turn of a message hit's session
// (Hit.Context): its text is cut as the hit's is.
type ContextTurn struct {
	ID      uuid.UUID `json:"id"`
	At      time.Time `json:"at"`
	Speaker string    `json:"speaker"`
	Text    string    `json:"text"`
}

func (o RetrieveOptions) searchOptions() SearchOptions {
	return SearchOptions{Text: o.Text, Kind: o.Kind, Speaker: o.Speaker, Since: o.Since, Limit: o.Limit,
		Reinforce: o.Reinforce, Now: o.Now, Location: o.Location, TextChars: o.TextChars}
}

// Validate reports the first option that is not allowed, as a
// *text.FieldError.
func (o RetrieveOptions) Validate() error {
	if err := o.searchOptions().Validate(); err != nil {
		return err
	}
	if o.Context < 0 || o.Context > MaxContext {
		return &text.FieldError{Field: "context", Problem: fmt.Sprintf("must be 0 to %d turns, got %d", MaxContext, o.Context)}
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
	candidateBudget = 1000
	// commonBudget bounds the memories read when even the rarest term is
	// more frequent than the budget: those holding its two rarest terms,
	// when their frequencies add up to at most commonPostings (the index
	// reads that many entries), else the newest memories.
	commonBudget   = 500
	commonPostings = 50000
	// emotionShare divides the budgets for emotions, which are fewer than
	// messages and longer each.
	emotionShare = 3
	// expandTop is how many of the best scored messages have their
	// neighbouring turns read.
	expandTop = 15
	// neighbourWindow bounds how far apart in time two turns of a session
	// may be to be neighbours.
	neighbourWindow = 6 * time.Hour
	// exactCap bounds the exact and near matches read.
	exactCap = 2000
	// exactLimit is how many of them are ranked.
	exactLimit = 50
	// maxExpanded is the most terms a question may have for its English
	// words to bring their synonyms: a long prompt (a pasted paragraph)
	// says enough in its own words, and its synonyms would be hundreds of
	// terms more to look up and score.
	maxExpanded = 32
	// timeLimit is how many memories of the time a question names are read
	// when it has no other words.
	timeLimit = 50
	// searchIndexBatch is how many memories of each kind a retrieval
	// indexes first when some are pending (a database written without a
	// daemon); the daemon's index worker keeps up with capture otherwise.
	searchIndexBatch  = 2000
	searchIndexRounds = 3
)

// fuseDepth is how deep the lexical ranking is fused: a memory ranked
// lower adds less than 1/(rrfK + fuseDepth) to its fused score.
const fuseDepth = 300

// A ranking by meaning is fused with what the words found in a second step,
// each list cut short: the words' fused ranking to its first
// lexicalFuseDepth, the model's to its first semanticFuseDepth (and the
// exact matches again, so that they stay first). Fused in one step with the
// 300 of the words' ranking, a memory the model ranked tenth and the words
// two hundredth (1/70 + 1/260) would outrank both lists' first (1/61): with
// a model no better than chance, hybrid retrieval found half of what the
// words alone found, and with a perfect one it missed most answers only the
// model could find (see the README's simulated models). The model's list is
// weighed as the words' is: cut to its first ten, a good model's answer
// lands beside the words' first, and a model no better than chance adds at
// most ten memories among the first twenty.
func lexicalFuseDepth(limit int) int  { return max(30, 3*limit) }
func semanticFuseDepth(limit int) int { return max(10, limit) }

// PromptRelevance is the least Hit.Match of a memory worth adding to a
// prompt unasked (the prompt hook): measured on the evaluation set
// (TestPromptRelevanceThreshold), the top hits at 0.5 or more answer their
// question 71% of the time against 49% for all, and none of the off-topic
// prompts of a working session reaches it, where the fused Score, a rank,
// is about 1 for the top hit of any question, off-topic ones included.
const PromptRelevance = 0.5

// nudgeTop is how many of the best fused memories are read, nudged by
// retention and recency and filtered, for a limit: a nudge moves a score by
// a tenth at most, so a memory far down the fused ranking never reaches the
// top.
func nudgeTop(limit int) int { return min(max(3*limit, 30), 300) }

// memKey names one memory.
type memKey struct {
	kind int8 // termKindConversation or termKindEmotion
	id   uuid.UUID
}

// scored is one memory the lexical ranking looked at.
type scored struct {
	key     memKey
	session string
	speaker string
	at      time.Time
	own     float64 // its BM25 score
	score   float64 // with its neighbours' and session's shares
	matched bool    // it holds a term of the question
	terms   int     // how many of the question's terms it holds (synonyms not counted)
	context bool    // a neighbour's share added to it
	match   float64 // the share of the question's weight it holds (heldShare)
}

// Retrieve ranks the memories for the question o.Text and returns the best
// o.Limit, each with its score and the kinds of evidence that found it (see
// the Evidence constants). Memories not indexed yet are indexed first, a
// bounded number; those beyond it, or all of them when indexing fails (a
// role that may only read), are found by their exact text alone. With
// o.Reinforce it recalls what it returns. Invalid options return a
// *text.FieldError.
func Retrieve(ctx context.Context, db postgres.DB, model Model, o RetrieveOptions) ([]Hit, error) {
	return retrieve(ctx, db, model, o, defaultRank())
}

func retrieve(ctx context.Context, db postgres.DB, model Model, o RetrieveOptions, p rankParams) ([]Hit, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("retrieve: %w", err)
	}
	var hits []Hit
	backlog := false // memories remain unindexed after indexing some
	for attempt := 0; ; attempt++ {
		var pending bool
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			var err error
			hits, pending, err = rank(ctx, tx, o, p, attempt == 0, backlog)
			if err != nil || pending || !o.Reinforce {
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
		if !pending {
			break
		}
		// Memories are waiting to be indexed (a database written without
		// a daemon, or a message captured a moment ago): index them, a
		// bounded number, and rank again.
		more, err := indexBeforeRetrieval(ctx, db)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("retrieve: %w", ctx.Err())
		}
		// A database this role may only read (or a batch that failed) leaves
		// the memories pending: they are still found by their exact text.
		backlog = more || err != nil
	}
	if hits == nil {
		hits = []Hit{}
	}
	return hits, nil
}

// indexBeforeRetrieval indexes what is pending, a bounded number, so that a
// memory stored without a daemon (import, then search) is found by its
// words; more says that memories remain pending.
func indexBeforeRetrieval(ctx context.Context, db postgres.DB) (more bool, err error) {
	for range searchIndexRounds {
		res, err := IndexPending(ctx, db, searchIndexBatch)
		if err != nil || !res.More {
			return false, err
		}
	}
	return true, nil
}

// query is what rank knows of a question.
type query struct {
	o                 RetrieveOptions
	p                 rankParams
	speaker           string
	wantConv, wantEmo bool
	kinds             []int16
	window            timeWindow
	hasWindow         bool
	since             any
	terms             []int32
	grams             []int32
}

// rank is the retrieval inside its transaction, in four round trips: the
// statistics; the candidates (with the exact and near matches of a short
// text) and the memories of a time; the neighbouring turns (with the exact
// matches of a long text); the hits, their texts cut (and a fifth, for a
// caller that wants the texts whole, when one of those returned was cut, or
// the hits' neighbouring turns: both in the same). With checkPending, when
// memories are waiting to be indexed it stops after the first and says so. backlog says
// that some are still waiting: the exact matches are then looked for as
// Search does, which finds those too.
func rank(ctx context.Context, tx pgx.Tx, o RetrieveOptions, p rankParams, checkPending, backlog bool) (hits []Hit, pending bool, err error) {
	q := query{o: o, p: p, since: any("-infinity")}
	var rest string
	q.window, rest, q.hasWindow = questionTime(o.Text, o.Now, o.Location)
	if o.Speaker != "" {
		q.speaker, _ = normalizeSpeaker(o.Speaker)
	}
	if !o.Since.IsZero() {
		q.since = o.Since
	}
	q.wantConv = o.Kind != KindEmotions
	q.wantEmo = o.Kind != KindConversations && q.speaker == ""
	if q.wantConv {
		q.kinds = append(q.kinds, termKindConversation)
	}
	if q.wantEmo {
		q.kinds = append(q.kinds, termKindEmotion)
	}
	q.terms = text.QueryTerms(rest)
	q.grams = text.Grams(o.Text)
	var synonyms []int32
	if len(q.terms) <= maxExpanded {
		synonyms = text.Expansions(q.terms)
	}

	st, pending, err := loadStats(ctx, tx, q.kinds, append(slices.Clone(q.terms), synonyms...), checkPending)
	st.synonyms = synonyms
	if err != nil || pending {
		return nil, pending, err
	}

	// The candidates of the lexical ranking, the exact and near matches and
	// the memories of the time named, in one round trip.
	var docs []*scored
	var exact, near, inTime []memKey
	b := &pgx.Batch{}
	for _, k := range q.kinds {
		queueCandidates(b, k, st, p, questionWeight(q.terms, st, k, p), &docs)
	}
	// The exact and near matches of a short text through the gram index, as
	// Search finds them; a long text's exact matches among the candidates
	// (below): a memory that holds the whole text holds all its terms.
	shortText := len(q.grams) <= shortGrams || backlog
	if shortText {
		for _, k := range q.kinds {
			queueExact(b, q, k, &exact, &near)
		}
	}
	// A question none of whose own words a memory holds asks of its time
	// alone, though some memory holds a synonym of one ("what happened
	// yesterday?" and a crash that occurs on Mondays).
	timeAlone := q.hasWindow && !st.holdsOwnTerm()
	if timeAlone {
		queueMemoriesIn(b, q, &inTime)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, err
	}
	var whole []memKey // candidates that hold every term of the question
	if !shortText {
		whole = holdingAll(docs, st)
	}
	if q.wantConv || len(whole) > 0 {
		more, err := expandNeighbours(ctx, tx, docs, st, p, q, whole, &exact)
		if err != nil {
			return nil, false, err
		}
		docs = append(docs, more...)
		if !shortText {
			slices.SortStableFunc(exact, func(a, b memKey) int {
				return cmp.Compare(slices.Index(whole, a), slices.Index(whole, b))
			})
		}
	}
	byKey := make(map[memKey]*scored, len(docs))
	var lexical []memKey
	for _, d := range byScore(docs) {
		byKey[d.key] = d
		if len(lexical) < fuseDepth && q.keeps(d.key.kind, d.speaker, d.at) {
			lexical = append(lexical, d.key)
			if q.hasWindow && !timeAlone && q.window.contains(d.at) {
				inTime = append(inTime, d.key)
			}
		}
	}
	var semantic []memKey
	for _, s := range o.Semantic[:min(len(o.Semantic), semanticFuseDepth(o.Limit))] {
		k := memKey{termKindConversation, s.ID}
		if s.Kind == "emotion" {
			k.kind = termKindEmotion
		}
		semantic = append(semantic, k)
	}

	// The fusion of what the words found; then, with a ranking by meaning,
	// the fusion of the two (see semanticFuseDepth); retention and recency
	// nudge the best, which are read.
	fused := fuseKeys(p.rrfK, []keyList{
		{lexical, p.lexicalWeight}, {exact, 2 * p.nearWeight}, {near, p.nearWeight},
		{inTime, p.timeWeight},
	})
	order := rankedKeys(fused)
	if len(semantic) > 0 {
		fused = fuseKeys(p.rrfK, []keyList{
			{order[:min(len(order), lexicalFuseDepth(o.Limit))], p.lexicalWeight},
			{exact, 2 * p.nearWeight}, {semantic, p.semanticWeight},
		})
		order = rankedKeys(fused)
	}
	top := order[:min(len(order), nudgeTop(o.Limit))]
	chars := o.TextChars
	if chars == 0 {
		chars = hitChars
	}
	read, cut, err := loadHits(ctx, tx, top, chars)
	if err != nil {
		return nil, false, err
	}
	final := make(map[memKey]float64, len(top))
	kept := top[:0:0]
	for _, k := range top {
		h, ok := read[k]
		if !ok || !q.keeps(k.kind, h.Speaker, h.At) {
			continue // deleted meanwhile, or filtered out
		}
		recency := 0.0
		if !h.At.IsZero() {
			recency = math.Pow(0.5, max(o.Now.Sub(h.At).Hours()/24, 0)/p.recencyHalfLifeDays)
		}
		final[k] = fused[k] * (1 + p.nudge*(h.Retention+recency)/2)
		kept = append(kept, k)
	}
	sortKeys(kept, final)
	kept = kept[:min(len(kept), o.Limit)]
	// The texts cut that are wanted whole, and the hits' neighbouring turns,
	// in one round trip.
	b = &pgx.Batch{}
	if o.TextChars == 0 {
		queueWholeTexts(b, kept, cut, read)
	}
	around := map[uuid.UUID][]ContextTurn{}
	if o.Context > 0 {
		queueContext(b, kept, o.Context, o.TextChars, around)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, false, fmt.Errorf("read the hits whole and their neighbouring turns: %w", err)
		}
	}

	hits = make([]Hit, 0, len(kept))
	for _, k := range kept {
		h := read[k]
		h.Score = final[k] * (p.rrfK + 1)
		h.Context = around[k.id]
		if d := byKey[k]; d != nil {
			h.Match = d.match
			switch {
			case d.matched:
				h.Evidence = append(h.Evidence, EvidenceWords)
			case d.own > 0:
				h.Evidence = append(h.Evidence, EvidenceSynonyms)
			}
			if d.context {
				h.Evidence = append(h.Evidence, EvidenceContext)
			}
		}
		switch {
		case slices.Contains(exact, k):
			h.Exact = true
			h.Evidence = append(h.Evidence, EvidenceExact)
		case slices.Contains(near, k):
			h.Evidence = append(h.Evidence, EvidenceNear)
		}
		if slices.Contains(inTime, k) {
			h.Evidence = append(h.Evidence, EvidenceTime)
		}
		if slices.Contains(semantic, k) {
			h.Evidence = append(h.Evidence, EvidenceSemantic)
		}
		hits = append(hits, h)
	}
	return hits, false, nil
}

// keeps reports whether a memory of kind made at at, said by speaker (a
// message's, lower case), passes the question's filters.
func (q query) keeps(kind int8, speaker string, at time.Time) bool {
	switch {
	case kind == termKindConversation && !q.wantConv, kind == termKindEmotion && !q.wantEmo:
		return false
	case q.speaker != "" && speaker != q.speaker:
		return false
	case !q.o.Since.IsZero() && at.Before(q.o.Since):
		return false
	}
	return true
}

// keyList is one ranking of memories with its weight in the fusion.
type keyList struct {
	keys   []memKey
	weight float64
}

// fuseKeys returns the reciprocal-rank fusion of the lists: each memory's
// sum of weight / (k + rank) over the lists it is in, its rank counted from
// 1.
func fuseKeys(k float64, lists []keyList) map[memKey]float64 {
	out := map[memKey]float64{}
	for _, l := range lists {
		for r, key := range l.keys {
			out[key] += l.weight / (k + float64(r+1))
		}
	}
	return out
}

// rankedKeys returns the keys of score, best first (see sortKeys).
func rankedKeys(score map[memKey]float64) []memKey {
	keys := make([]memKey, 0, len(score))
	for k := range score {
		keys = append(keys, k)
	}
	sortKeys(keys, score)
	return keys
}

// sortKeys orders keys by score, best first; ties go by kind and id, so that
// the order is the same on every call.
func sortKeys(keys []memKey, score map[memKey]float64) {
	slices.SortFunc(keys, func(a, b memKey) int {
		if c := cmp.Compare(score[b], score[a]); c != 0 {
			return c
		}
		if a.kind != b.kind {
			return cmp.Compare(a.kind, b.kind)
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
}

// byScore returns the documents whose score is above zero, best first, the
// newer first among equals.
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
	// terms are the question's terms and their synonyms that some memory
	// holds, sorted.
	terms []int32
	docs  map[int16]int64
	avgdl map[int16]float64
	df    map[int16]map[int32]int64
	// synonyms are the terms added to the question as synonyms of its
	// words (text.Expansions), sorted; each weighs text.ExpansionWeight of
	// a term of the question itself.
	synonyms []int32
}

const (
	corpusSQL = `select kind, docs, total_len from retrieval_corpus where kind = any($1)`
	dfSQL     = `select kind, term, df from retrieval_terms where kind = any($1) and term = any($2) and df > 0`
	// anyPendingSQL says whether a memory is waiting to be indexed, off the
	// partial indexes of those (see pendingSeqScanOff).
	anyPendingSQL = `select exists (select from conversations where search_terms is null)
	or exists (select from angela_emotions where search_terms is null)`
	// pendingSeqScanOff and pendingSeqScanOn surround anyPendingSQL. The
	// statistics of a table analysed before its rows were indexed (an
	// import, then the index worker; autovacuum analyses a large table again
	// only after a tenth of it changed) say that most rows are pending: the
	// planner then expects a sequential scan to find one at once, and reads
	// the whole table to find none (50 ms at 100,000 messages, ten times that
	// at a million, on every question). The partial index of pending rows
	// answers in a page whatever the statistics say.
	pendingSeqScanOff = "set local enable_seqscan = off"
	pendingSeqScanOn  = "set local enable_seqscan = on"
)

// loadStats reads the corpus figures of the terms of the kinds, and with
// checkPending whether memories wait to be indexed, in one round trip.
func loadStats(ctx context.Context, tx pgx.Tx, kinds []int16, terms []int32, checkPending bool) (st stats, pending bool, err error) {
	st = stats{docs: map[int16]int64{}, avgdl: map[int16]float64{}, df: map[int16]map[int32]int64{}}
	b := &pgx.Batch{}
	// These are short statements; JIT compiling one that the planner costs
	// high (a common term's many index matches) takes longer than running it.
	b.Queue("set local jit = off")
	if checkPending {
		b.Queue(pendingSeqScanOff)
		b.Queue(anyPendingSQL).QueryRow(func(r pgx.Row) error { return r.Scan(&pending) })
		b.Queue(pendingSeqScanOn)
	}
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
		return st, false, fmt.Errorf("term statistics: %w", err)
	}
	slices.Sort(st.terms)
	return st, pending, nil
}

// holdsOwnTerm reports whether some memory holds one of the question's own
// terms, its synonyms not counted.
func (st stats) holdsOwnTerm() bool {
	return slices.ContainsFunc(st.terms, func(t int32) bool {
		_, added := slices.BinarySearch(st.synonyms, t)
		return !added
	})
}

// queryTerms returns the question's terms that kind k holds, with their idf,
// sorted by term, and the same with the question's own terms first, then its
// synonyms, each part sorted by frequency, rarest first.
func (st stats) queryTerms(k int16) (byTerm, byRarity []queryTerm) {
	for _, t := range st.terms {
		if df := st.df[k][t]; df > 0 {
			qt := queryTerm{term: t, idf: idf(df, st.docs[k])}
			if _, added := slices.BinarySearch(st.synonyms, t); added {
				qt.idf *= text.ExpansionWeight
				qt.synonym = true
			}
			byTerm = append(byTerm, qt)
		}
	}
	byRarity = slices.Clone(byTerm)
	slices.SortStableFunc(byRarity, func(a, b queryTerm) int {
		if a.synonym != b.synonym {
			if b.synonym {
				return -1
			}
			return 1
		}
		return cmp.Compare(st.df[k][a.term], st.df[k][b.term])
	})
	return byTerm, byRarity
}

// The candidate statements: the memories holding any of the terms $1 (the
// rarest, whose frequencies add up to the budget), or all of them when even
// the rarest is common, at most $2.
const (
	convCandidatesAnySQL = `select conversation_id, coalesce(session_id, ''), lower(speaker), created_at::timestamptz,
	search_terms, search_len
from conversations where search_terms && $1::int4[] limit $2`
	convCandidatesAllSQL = `select conversation_id, coalesce(session_id, ''), lower(speaker), created_at::timestamptz,
	search_terms, search_len
from conversations where search_terms @> $1::int4[] limit $2`
	emoCandidatesAnySQL = `select emotion_id, '', '', felt_at::timestamptz, search_terms, search_len
from angela_emotions where search_terms && $1::int4[] limit $2`
	emoCandidatesAllSQL = `select emotion_id, '', '', felt_at::timestamptz, search_terms, search_len
from angela_emotions where search_terms @> $1::int4[] limit $2`
	// The newest memories, off the indexes on their times ($1 is unused).
	convCandidatesNewSQL = `select conversation_id, coalesce(session_id, ''), lower(speaker), created_at::timestamptz,
	search_terms, search_len
from conversations where search_terms is not null and $1::int4[] is not null order by created_at desc limit $2`
	emoCandidatesNewSQL = `select emotion_id, '', '', felt_at::timestamptz, search_terms, search_len
from angela_emotions where search_terms is not null and $1::int4[] is not null order by felt_at desc limit $2`
)

// queueCandidates queues the reading and scoring of the memories of kind k
// that hold the question's rarer terms. The rarest terms are looked up
// together until their frequencies reach candidateBudget; when even the
// rarest is more frequent, the memories holding the two rarest are read, up
// to commonBudget (for emotions a third of these budgets), or, when these
// two are so common that the index would read more than commonPostings
// entries for them, the newest memories: a
// question of common words alone carries little evidence, and what is
// recent is the likelier answer. A memory holding only common terms of the
// question is left out: it would rank low.
func queueCandidates(b *pgx.Batch, k int16, st stats, p rankParams, weight float64, docs *[]*scored) {
	byTerm, byRarity := st.queryTerms(k)
	if len(byTerm) == 0 {
		return
	}
	anySQL, allSQL, newSQL := convCandidatesAnySQL, convCandidatesAllSQL, convCandidatesNewSQL
	if k == termKindEmotion {
		anySQL, allSQL, newSQL = emoCandidatesAnySQL, emoCandidatesAllSQL, emoCandidatesNewSQL
	}
	budget, common := int64(candidateBudget), commonBudget
	if k == termKindEmotion {
		budget, common = budget/emotionShare, common/emotionShare
	}
	// The question's own words, rarest first, until the budget; then its
	// synonyms, each that fits in what is left: a synonym adds memories that
	// say the question in other words, never takes the place of its own.
	own := len(byRarity)
	if i := slices.IndexFunc(byRarity, func(q queryTerm) bool { return q.synonym }); i >= 0 {
		own = i
	}
	var look []int32
	var sum int64
	for _, q := range byRarity[:own] {
		df := st.df[k][q.term]
		if sum+df > budget {
			break
		}
		sum += df
		look = append(look, q.term)
	}
	if len(look) > 0 || own == 0 {
		for _, q := range byRarity[own:] {
			if df := st.df[k][q.term]; sum+df <= budget {
				sum += df
				look = append(look, q.term)
			}
		}
	}
	sql, limit := anySQL, int(budget)
	if len(look) == 0 {
		if own == 0 {
			return // only synonyms, and each too common to read
		}
		sql, limit = allSQL, common
		var postings int64
		for _, q := range byRarity[:min(2, own)] {
			look = append(look, q.term)
			postings += st.df[k][q.term]
		}
		if postings > commonPostings {
			sql = newSQL
		}
	}
	b.Queue(sql, look, limit).Query(func(rows pgx.Rows) error {
		err := scanScored(rows, int8(k), func(d *scored, terms []int32, dl int) {
			d.own, d.terms = scoreTurn(byTerm, terms, dl, st.avgdl[k], d.speaker, p)
			d.score, d.matched = d.own, d.terms > 0
			d.match = heldShare(byTerm, terms, weight)
			*docs = append(*docs, d)
		})
		if err != nil {
			return fmt.Errorf("lexical candidates: %w", err)
		}
		return nil
	})
}

// scanScored reads rows of (id, session, speaker, time, terms, length).
func scanScored(rows pgx.Rows, kind int8, each func(d *scored, terms []int32, dl int)) error {
	var (
		id              [16]byte // decoded directly; uuid.UUID would go through its text form
		session, speakr string
		at              *time.Time
		raw             pgtype.UndecodedBytes
		dl              *int32
		terms           []int32
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &session, &speakr, &at, &raw, &dl}, func() error {
		d := &scored{key: memKey{kind, id}, session: session, speaker: speakr}
		if at != nil {
			d.at = *at
		}
		var err error
		if terms, err = decodeTerms(raw, terms[:0]); err != nil {
			return err
		}
		n := len(terms)
		if dl != nil {
			n = int(*dl)
		}
		each(d, terms, n)
		return nil
	})
	return err
}

// decodeTerms appends to buf the elements of an int4[] in PostgreSQL's
// binary format: the number of dimensions, a flag of nulls and the element
// type, then each dimension's length and lower bound, then each element's
// length and value. A memory's terms are one dimension without nulls; this
// reads them without the generic array codec, which costs more than the
// ranking itself for a thousand candidates.
func decodeTerms(raw []byte, buf []int32) ([]int32, error) {
	if len(raw) < 12 {
		return buf, nil // NULL, or no dimension: no terms
	}
	if ndim := binary.BigEndian.Uint32(raw); ndim == 0 {
		return buf, nil
	} else if ndim != 1 || len(raw) < 20 {
		return buf, fmt.Errorf("search terms: an array of %d dimensions", ndim)
	}
	n := int(int32(binary.BigEndian.Uint32(raw[12:])))
	raw = raw[20:]
	if n < 0 || len(raw) != 8*n {
		return buf, errors.New("search terms: a malformed array")
	}
	for i := 0; i < len(raw); i += 8 {
		if binary.BigEndian.Uint32(raw[i:]) != 4 {
			return buf, errors.New("search terms: an array holding a null")
		}
		buf = append(buf, int32(binary.BigEndian.Uint32(raw[i+4:])))
	}
	return buf, nil
}

// queueExact queues the reading of the memories of kind k that hold the
// whole text, or every pair of adjacent characters of it, through the gram
// index (Search's statement; a question's grams are rare together, so the
// walk of the best retained memories that answers a common word is left
// out).
func queueExact(b *pgx.Batch, q query, k int16, exact, near *[]memKey) {
	sql := searchConvIndexSQL
	if k == termKindEmotion {
		sql = searchEmoIndexSQL
	}
	// Only the keys are kept: no character of the texts is read ($8).
	b.Queue(sql, q.grams, q.o.Text, exactLimit, q.since, q.speaker, exactCap, 0, int32(0)).Query(func(rows pgx.Rows) error {
		hits, _, err := scanHits(rows, kindName(k), 0)
		if err != nil {
			return fmt.Errorf("exact matches: %w", err)
		}
		for _, h := range hits {
			key := memKey{int8(k), h.ID}
			if h.Exact {
				*exact = append(*exact, key)
			} else {
				*near = append(*near, key)
			}
		}
		return nil
	})
}

func kindName(k int16) string {
	if k == termKindEmotion {
		return "emotion"
	}
	return "conversation"
}

// neighboursSQL reads, for each message $1, the two turns before it and the
// two after it in its session, within $2 of it in time, walking the index on
// created_at from the message's time until it has them, so that no index on
// sessions is needed (a turn made at the very same time as the message is
// not counted). Each row names the message it is a neighbour of and the side
// (-1 before, 1 after).
const neighboursSQL = `select t.conversation_id, n.side, n.conversation_id, n.session, n.speaker, n.at, n.search_terms, n.search_len
from conversations t
cross join lateral (
	(select -1 as side, c.conversation_id, coalesce(c.session_id, '') as session, lower(c.speaker) as speaker,
		c.created_at::timestamptz as at, c.search_terms, c.search_len
	from conversations c
	where c.created_at < t.created_at and c.created_at >= t.created_at - $2::interval and c.session_id = t.session_id
	order by c.created_at desc limit 2)
	union all
	(select 1, c.conversation_id, coalesce(c.session_id, ''), lower(c.speaker), c.created_at::timestamptz,
		c.search_terms, c.search_len
	from conversations c
	where c.created_at > t.created_at and c.created_at <= t.created_at + $2::interval and c.session_id = t.session_id
	order by c.created_at limit 2)
) n
where t.conversation_id = any($1) and t.session_id is not null`

// expandNeighbours reads the neighbouring turns of the best scored messages,
// scores those not scored yet, and adds to every message the shares of its
// known neighbours' own scores (p's before and after shares) and, to one
// that holds a term of the question, of the best score in its session. It
// returns the messages it read that were not among docs.
//
// In the same round trip it keeps, of the memories whole, those whose text
// holds the question's whole text, in exact.
func expandNeighbours(ctx context.Context, tx pgx.Tx, docs []*scored, st stats, p rankParams, q query, whole []memKey, exact *[]memKey) ([]*scored, error) {
	b := &pgx.Batch{}
	queueWhole(b, q, whole, exact)
	var best []*scored
	byID := map[uuid.UUID]*scored{}
	for _, d := range docs {
		if d.key.kind == termKindConversation {
			byID[d.key.id] = d
			if d.own > 0 {
				best = append(best, d)
			}
		}
	}
	slices.SortFunc(best, func(a, b *scored) int { return cmp.Compare(b.own, a.own) })
	best = best[:min(len(best), expandTop)]
	if !q.wantConv {
		best = nil
	}
	var added []*scored
	next := map[uuid.UUID]uuid.UUID{}
	prev := map[uuid.UUID]uuid.UUID{}
	type link struct {
		of   uuid.UUID
		side int
		id   uuid.UUID
		at   time.Time
	}
	var links []link
	if len(best) > 0 {
		ids := make([]uuid.UUID, len(best))
		for i, d := range best {
			ids[i] = d.key.id
		}
		byTerm, _ := st.queryTerms(termKindConversation)
		// The walk of the index on created_at stops after two turns of the
		// session; the planner, which cannot know how many turns of other
		// sessions lie in between, would rather read every turn of the
		// window through a bitmap and sort them.
		b.Queue("set local enable_bitmapscan = off")
		b.Queue(neighboursSQL, ids, neighbourWindow.String()).Query(func(rows pgx.Rows) error {
			var (
				of, id          [16]byte
				side            int
				session, speakr string
				at              *time.Time
				raw             pgtype.UndecodedBytes
				dl              *int32
				terms           []int32
			)
			_, err := pgx.ForEachRow(rows, []any{&of, &side, &id, &session, &speakr, &at, &raw, &dl}, func() error {
				l := link{of: of, side: side, id: id}
				if at != nil {
					l.at = *at
				}
				links = append(links, l)
				if byID[id] == nil {
					var err error
					if terms, err = decodeTerms(raw, terms[:0]); err != nil {
						return err
					}
					d := &scored{key: memKey{termKindConversation, id}, session: session, speaker: speakr, at: l.at}
					n := len(terms)
					if dl != nil {
						n = int(*dl)
					}
					d.own, d.terms = scoreTurn(byTerm, terms, n, st.avgdl[termKindConversation], speakr, p)
					d.score, d.matched = d.own, d.terms > 0
					byID[id] = d
					added = append(added, d)
				}
				return nil
			})
			return err
		})
		b.Queue("set local enable_bitmapscan = on")
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, fmt.Errorf("neighbouring turns: %w", err)
		}
	}
	if len(links) > 0 {
		// The turns either side of a message, nearest first, chain into
		// runs of turns known to be consecutive.
		slices.SortStableFunc(links, func(a, b link) int {
			if c := bytes.Compare(a.of[:], b.of[:]); c != 0 {
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
	own := func(id uuid.UUID, ok bool) float64 {
		if d := byID[id]; ok && d != nil {
			return d.own
		}
		return 0
	}
	sessionBest := map[string]float64{}
	for _, d := range byID {
		if d.session != "" {
			sessionBest[d.session] = max(sessionBest[d.session], d.own)
		}
	}
	for _, d := range byID {
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

// The statements that keep, of the memories $1, those that hold the whole
// text $2, ignoring case, as Search's exact match.
const (
	convWholeSQL   = `select conversation_id from conversations where conversation_id = any($1) and ` + convWholeExact
	convWholeExact = `strpos(lower(left(message_text, ` + exactChars + `)), lower($2)) > 0`
	emoWholeSQL    = `select emotion_id from angela_emotions e where emotion_id = any($1)
	and strpos(lower(` + emoText + `), lower($2)) > 0`
)

// shortGrams is the most character pairs a text may have for its exact and
// near matches to be looked for through the gram index; a longer text's
// pairs are read too many and match nothing but the text itself.
const shortGrams = 16

// wholeLimit bounds the candidates whose texts are compared with a long
// question.
const wholeLimit = 50

// holdingAll returns the candidates that hold every term of the question
// that their kind's memories hold, the best first, up to wholeLimit: only
// they can hold its whole text.
func holdingAll(docs []*scored, st stats) []memKey {
	want := map[int8]int{}
	for _, k := range []int16{termKindConversation, termKindEmotion} {
		byTerm, _ := st.queryTerms(k)
		for _, t := range byTerm {
			if !t.synonym {
				want[int8(k)]++
			}
		}
	}
	var out []memKey
	for _, d := range byScore(docs) {
		if d.terms > 0 && d.terms == want[d.key.kind] {
			out = append(out, d.key)
			if len(out) == wholeLimit {
				break
			}
		}
	}
	return out
}

// queueWhole queues the comparison of the texts of whole with the question.
func queueWhole(b *pgx.Batch, q query, whole []memKey, exact *[]memKey) {
	for _, k := range []struct {
		kind int8
		sql  string
	}{{termKindConversation, convWholeSQL}, {termKindEmotion, emoWholeSQL}} {
		var ids []uuid.UUID
		for _, key := range whole {
			if key.kind == k.kind {
				ids = append(ids, key.id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		b.Queue(k.sql, ids, q.o.Text).Query(func(rows pgx.Rows) error {
			var id [16]byte
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				*exact = append(*exact, memKey{k.kind, id})
				return nil
			})
			if err != nil {
				return fmt.Errorf("exact matches: %w", err)
			}
			return nil
		})
	}
}

// memoriesInSQL reads the memories made in [$1, $2), newest first, up to $3
// of each kind, through the indexes on their times.
const (
	convInSQL = `select conversation_id from conversations
where created_at >= $1 and created_at < $2 order by created_at desc limit $3`
	emoInSQL = `select emotion_id from angela_emotions
where felt_at >= $1 and felt_at < $2 order by felt_at desc limit $3`
)

// queueMemoriesIn queues the reading of the memories made in the time the
// question names, newest first, for a question of a time alone.
func queueMemoriesIn(b *pgx.Batch, q query, out *[]memKey) {
	for _, k := range []struct {
		on   bool
		kind int8
		sql  string
	}{{q.wantConv, termKindConversation, convInSQL}, {q.wantEmo, termKindEmotion, emoInSQL}} {
		if !k.on {
			continue
		}
		b.Queue(k.sql, q.window.from, q.window.to, timeLimit).Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				*out = append(*out, memKey{k.kind, id})
				return nil
			})
			if err != nil {
				return fmt.Errorf("memories of the time asked about: %w", err)
			}
			return nil
		})
	}
}

// The statements that read the memories $1 with their texts cut to $2
// characters (readChars).
const (
	convHitsSQL = `select c.conversation_id, c.created_at::timestamptz, lower(c.speaker), left(c.message_text, $2),
	coalesce(c.session_id, ''), coalesce(m.retention, 1), m.forgotten_at is not null
from conversations c left join conversation_memory m on m.id = c.conversation_id
where c.conversation_id = any($1)`
	emoHitsSQL = `select e.emotion_id, e.felt_at::timestamptz, e.emotion, left(coalesce(e.context, ''), $2),
	left(coalesce(e.david_words, ''), $2), left(coalesce(e.why_it_matters, ''), $2), coalesce(m.retention, 1), m.forgotten_at is not null
from angela_emotions e left join emotion_memory m on m.id = e.emotion_id
where e.emotion_id = any($1)`
	// The texts of the memories $1, whole.
	convWholeTextSQL = `select conversation_id, message_text from conversations where conversation_id = any($1)`
	emoWholeTextSQL  = `select emotion_id, coalesce(context, ''), coalesce(david_words, ''), coalesce(why_it_matters, '')
from angela_emotions where emotion_id = any($1)`
)

// hitChars is how many characters of their texts are read of the memories
// a retrieval reads (three times its limit, at least 30) when its caller
// wants the texts whole: those it returns that are longer are then read
// whole (queueWholeTexts), so that a huge memory read but not returned costs
// little.
const hitChars = 2000

// loadHits reads the memories of keys, with their retention and their texts
// cut to chars characters (readText), in one round trip; a memory deleted
// meanwhile is missing from the map. cut holds the memories whose texts
// were cut.
func loadHits(ctx context.Context, tx pgx.Tx, keys []memKey, chars int) (map[memKey]Hit, map[memKey]bool, error) {
	found := make(map[memKey]Hit, len(keys))
	cut := map[memKey]bool{}
	trim := func(k memKey, texts ...*string) {
		for _, t := range texts {
			var c bool
			if *t, c = readText(*t, chars); c {
				cut[k] = true
			}
		}
	}
	var convs, emos []uuid.UUID
	for _, k := range keys {
		if k.kind == termKindConversation {
			convs = append(convs, k.id)
		} else {
			emos = append(emos, k.id)
		}
	}
	b := &pgx.Batch{}
	if len(convs) > 0 {
		b.Queue(convHitsSQL, convs, readChars(chars)).Query(func(rows pgx.Rows) error {
			var h Hit
			var at *time.Time
			_, err := pgx.ForEachRow(rows, []any{&h.ID, &at, &h.Speaker, &h.Text, &h.SessionID, &h.Retention, &h.Forgotten}, func() error {
				h.Kind, h.At = "conversation", time.Time{}
				if at != nil {
					h.At = at.UTC()
				}
				k := memKey{termKindConversation, h.ID}
				trim(k, &h.Text)
				found[k] = h
				return nil
			})
			return err
		})
	}
	if len(emos) > 0 {
		b.Queue(emoHitsSQL, emos, readChars(chars)).Query(func(rows pgx.Rows) error {
			var h Hit
			var at *time.Time
			_, err := pgx.ForEachRow(rows, []any{&h.ID, &at, &h.Emotion, &h.Text, &h.DavidWords, &h.WhyItMatters,
				&h.Retention, &h.Forgotten}, func() error {
				h.Kind, h.At = "emotion", time.Time{}
				if at != nil {
					h.At = at.UTC()
				}
				k := memKey{termKindEmotion, h.ID}
				trim(k, &h.Text, &h.DavidWords, &h.WhyItMatters)
				found[k] = h
				return nil
			})
			return err
		})
	}
	if b.Len() == 0 {
		return found, cut, nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, fmt.Errorf("read the hits: %w", err)
	}
	return found, cut, nil
}

// queueWholeTexts queues the reading whole, into read, of the texts of the
// memories of keys that loadHits cut; nothing is queued when none was cut.
func queueWholeTexts(b *pgx.Batch, keys []memKey, cut map[memKey]bool, read map[memKey]Hit) {
	var convs, emos []uuid.UUID
	for _, k := range keys {
		switch {
		case !cut[k]:
		case k.kind == termKindConversation:
			convs = append(convs, k.id)
		default:
			emos = append(emos, k.id)
		}
	}
	if len(convs) > 0 {
		b.Queue(convWholeTextSQL, convs).Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			var t string
			_, err := pgx.ForEachRow(rows, []any{&id, &t}, func() error {
				k := memKey{termKindConversation, id}
				if h, ok := read[k]; ok {
					h.Text = t
					read[k] = h
				}
				return nil
			})
			return err
		})
	}
	if len(emos) > 0 {
		b.Queue(emoWholeTextSQL, emos).Query(func(rows pgx.Rows) error {
			var id uuid.UUID
			var t, w, why string
			_, err := pgx.ForEachRow(rows, []any{&id, &t, &w, &why}, func() error {
				k := memKey{termKindEmotion, id}
				if h, ok := read[k]; ok {
					h.Text, h.DavidWords, h.WhyItMatters = t, w, why
					read[k] = h
				}
				return nil
			})
			return err
		})
	}
}

// contextSQL reads, for each message $1, the $2 turns before it and the $2
// after it in its session, within $3 of it in time (neighbourWindow, as the
// ranking's neighbours), with their texts cut to $4 characters (readChars),
// in the order of the session. Like neighboursSQL it walks the index on
// created_at from the message's time until it has them, so that no index
// on sessions is needed; a message without a session has none, and a turn
// made at the very same time as the message is not counted.
const contextSQL = `select t.conversation_id, n.conversation_id, n.at, n.speaker, n.text
from conversations t
cross join lateral (
	(select c.conversation_id, c.created_at::timestamptz as at, lower(c.speaker) as speaker, left(c.message_text, $4) as text
	from conversations c
	where c.created_at < t.created_at and c.created_at >= t.created_at - $3::interval and c.session_id = t.session_id
	order by c.created_at desc limit $2)
	union all
	(select c.conversation_id, c.created_at::timestamptz, lower(c.speaker), left(c.message_text, $4)
	from conversations c
	where c.created_at > t.created_at and c.created_at <= t.created_at + $3::interval and c.session_id = t.session_id
	order by c.created_at limit $2)
) n
where t.conversation_id = any($1) and t.session_id is not null
order by t.conversation_id, n.at`

// queueContext queues the reading of the n neighbouring turns either side
// of the messages among keys, into around by message, their texts cut to
// chars characters (readText; 0 reads them whole). Emotions have none.
func queueContext(b *pgx.Batch, keys []memKey, n, chars int, around map[uuid.UUID][]ContextTurn) {
	var ids []uuid.UUID
	for _, k := range keys {
		if k.kind == termKindConversation {
			ids = append(ids, k.id)
		}
	}
	if len(ids) == 0 {
		return
	}
	limit := readChars(chars)
	if limit == nil {
		limit = new(int32)
		*limit = math.MaxInt32
	}
	// The walk of the index on created_at, as expandNeighbours's.
	b.Queue("set local enable_bitmapscan = off")
	b.Queue(contextSQL, ids, n, neighbourWindow.String(), limit).Query(func(rows pgx.Rows) error {
		var of uuid.UUID
		var t ContextTurn
		var at *time.Time
		_, err := pgx.ForEachRow(rows, []any{&of, &t.ID, &at, &t.Speaker, &t.Text}, func() error {
			t.At = time.Time{}
			if at != nil {
				t.At = at.UTC()
			}
			t.Text, _ = readText(t.Text, chars)
			around[of] = append(around[of], t)
			return nil
		})
		if err != nil {
			return fmt.Errorf("neighbouring turns of the hits: %w", err)
		}
		return nil
	})
	b.Queue("set local enable_bitmapscan = on")
}

// maxWordChars is the most letters (not counting vowel and tone marks) a
// text in Thai or another script without spaces may have for Search to take
// it for one word; a longer one is a phrase or a question.
const maxWordChars = 12

// isOneWord reports whether s is one word: no white space inside it, and,
// written in Thai or another script without spaces between words, at most
// maxWordChars letters and not ending as a question (อะไร, ไหม, ครับ; see
// text.EndsAsQuestion): a Thai question is written without spaces too.
func isOneWord(s string) bool { return IsOneWord(s) }

// IsOneWord reports whether Search takes s for one word rather than a
// question (see isOneWord).
func IsOneWord(s string) bool {
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

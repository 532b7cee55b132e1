package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// The kinds of the retrieval index (retrieval_terms.kind,
// retrieval_corpus.kind).
const (
	termKindConversation = 1
	termKindEmotion      = 2
)

// MaxIndexBatch is the most memories one transaction of IndexPending indexes.
const MaxIndexBatch = 5000

// indexKind is what IndexPending needs to know of a kind.
type indexKind struct {
	kind  int16
	table string
	// pendingSQL locks up to $1 rows not yet indexed, skipping those another
	// indexer holds, and returns their ids and texts.
	pendingSQL string
	// storeSQL stores the terms of the rows $1: their terms are one array,
	// $2, each row's its slice $3:$4 (see text.GramRuns), their lengths $5.
	storeSQL string
}

var indexKinds = []indexKind{
	{
		kind: termKindConversation, table: "conversations",
		pendingSQL: `select conversation_id, array[message_text] from conversations
	where search_terms is null order by conversation_id limit $1 for update skip locked`,
		storeSQL: `update conversations c set search_terms = ($2::int4[])[r.lo:r.hi], search_len = r.len
	from unnest($1::uuid[], $3::int4[], $4::int4[], $5::int4[]) as r(id, lo, hi, len)
	where c.conversation_id = r.id`,
	},
	{
		kind: termKindEmotion, table: "angela_emotions",
		pendingSQL: `select emotion_id, array[emotion, coalesce(context, ''), coalesce(david_words, ''),
		coalesce(why_it_matters, '')]
	from angela_emotions where search_terms is null order by emotion_id limit $1 for update skip locked`,
		storeSQL: `update angela_emotions e set search_terms = ($2::int4[])[r.lo:r.hi], search_len = r.len
	from unnest($1::uuid[], $3::int4[], $4::int4[], $5::int4[]) as r(id, lo, hi, len)
	where e.emotion_id = r.id`,
	},
}

// addTermsSQL adds the document frequencies $3 of the terms $2 (sorted: the
// rows are locked in that order) of kind $1, and $4 documents of $5 terms in
// all to the kind's totals.
const addTermsSQL = `with f as (
	insert into retrieval_terms (kind, term, df)
	select $1, t, n from unnest($2::int4[], $3::int4[]) as u(t, n) order by t
	on conflict (kind, term) do update set df = retrieval_terms.df + excluded.df
	returning 1
)
update retrieval_corpus set docs = docs + $4, total_len = total_len + $5
where kind = $1 and (select count(*) from f) >= 0`

// IndexResult counts what IndexPending indexed.
type IndexResult struct {
	Conversations int64 `json:"conversations"`
	Emotions      int64 `json:"emotions"`
	// More is true when a kind filled its batch: more may be pending.
	More bool `json:"more"`
}

// IndexPending indexes up to batch (1 to MaxIndexBatch) memories of each kind
// that are not indexed yet (new rows, legacy rows, rows whose text changed):
// it computes their search terms in Go (text.Terms), stores them and adds
// them to the document frequencies, in one transaction per kind. Rows that
// another indexer holds are skipped, so two daemons, or a daemon and an
// import, index side by side without waiting for each other; a batch cut
// short by a crash leaves its rows pending for the next.
func IndexPending(ctx context.Context, db postgres.DB, batch int) (IndexResult, error) {
	var res IndexResult
	if batch < 1 || batch > MaxIndexBatch {
		return res, fmt.Errorf("index: batch must be 1 to %d, got %d", MaxIndexBatch, batch)
	}
	for _, k := range indexKinds {
		n, err := indexBatch(ctx, db, k, batch)
		if err != nil {
			return res, fmt.Errorf("index %s: %w", k.table, err)
		}
		if k.kind == termKindConversation {
			res.Conversations = n
		} else {
			res.Emotions = n
		}
		res.More = res.More || n == int64(batch)
	}
	return res, nil
}

func indexBatch(ctx context.Context, db postgres.DB, k indexKind, batch int) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, k.pendingSQL, batch)
		if err != nil {
			return err
		}
		var (
			ids   [][16]byte
			texts [][]string
		)
		var id uuid.UUID
		var t []string
		if _, err := pgx.ForEachRow(rows, []any{&id, &t}, func() error {
			ids, texts = append(ids, id), append(texts, t)
			return nil
		}); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		all := make([]int32, 0, 32*len(ids))
		lo, hi, lens := make([]int32, len(ids)), make([]int32, len(ids)), make([]int32, len(ids))
		df := map[int32]int32{}
		var total int64
		for i, t := range texts {
			terms := text.Terms(t...)
			slices.Sort(terms)
			lo[i], lens[i] = int32(len(all))+1, int32(len(terms))
			all = append(all, terms...)
			hi[i] = int32(len(all))
			total += int64(len(terms))
			for j, term := range terms {
				if j == 0 || terms[j-1] != term {
					df[term]++
				}
			}
		}
		if _, err := tx.Exec(ctx, k.storeSQL, ids, all, lo, hi, lens); err != nil {
			return err
		}
		terms := make([]int32, 0, len(df))
		for term := range df {
			terms = append(terms, term)
		}
		slices.Sort(terms)
		counts := make([]int32, len(terms))
		for i, term := range terms {
			counts[i] = df[term]
		}
		if _, err := tx.Exec(ctx, addTermsSQL, k.kind, terms, counts, len(ids), total); err != nil {
			return err
		}
		n = int64(len(ids))
		return nil
	})
	return n, err
}

// pendingSQL counts the memories not yet indexed, up to $1 of each kind.
const pendingCountSQL = `select
	(select count(*) from (select from conversations where search_terms is null limit $1) c),
	(select count(*) from (select from angela_emotions where search_terms is null limit $1) e)`

// PendingIndex returns how many memories of each kind are not indexed yet,
// counting at most limit of each (the count reads the index of pending rows,
// which a large adopted database fills until it is indexed).
func PendingIndex(ctx context.Context, q postgres.DB, limit int64) (conversations, emotions int64, err error) {
	if err := q.QueryRow(ctx, pendingCountSQL, limit).Scan(&conversations, &emotions); err != nil {
		return 0, 0, fmt.Errorf("count memories not yet indexed: %w", err)
	}
	return conversations, emotions, nil
}

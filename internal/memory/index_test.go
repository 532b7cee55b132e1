package memory_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// checkFrequencies fails unless the stored document frequencies and totals
// are exactly those of the indexed rows, counted afresh.
func checkFrequencies(t *testing.T, ctx context.Context, q postgres.DB) {
	t.Helper()
	var wrong int64
	if err := q.QueryRow(ctx, `with truth as (
		select 1::smallint as kind, x as term, count(*)::int as df
		from conversations, lateral (select distinct x from unnest(search_terms) x) u
		where search_terms is not null group by x
		union all
		select 2::smallint, x, count(*)::int
		from angela_emotions, lateral (select distinct x from unnest(search_terms) x) u
		where search_terms is not null group by x
	)
	select count(*) from truth t full join (select * from retrieval_terms where df <> 0) r using (kind, term)
	where t.df is distinct from r.df`).Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d terms have a stored document frequency other than their count", wrong)
	}
	var badTotals int64
	if err := q.QueryRow(ctx, `select count(*) from retrieval_corpus r join (
		select 1::smallint as kind, count(*) as docs, coalesce(sum(search_len), 0) as len from conversations where search_terms is not null
		union all
		select 2, count(*), coalesce(sum(search_len), 0) from angela_emotions where search_terms is not null
	) t using (kind) where (r.docs, r.total_len) <> (t.docs, t.len)`).Scan(&badTotals); err != nil {
		t.Fatal(err)
	}
	if badTotals != 0 {
		t.Errorf("the corpus totals differ from the indexed rows'")
	}
}

func pending(t *testing.T, ctx context.Context, q postgres.DB) (int64, int64) {
	t.Helper()
	c, e, err := memory.PendingIndex(ctx, q, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	return c, e
}

func fillMessages(t *testing.T, ctx context.Context, q postgres.DB, n int) {
	t.Helper()
	if _, err := q.Exec(ctx, `insert into conversations (session_id, speaker, message_text, created_at)
		select 's' || (i / 10), case when i % 2 = 0 then 'david' else 'angela' end,
			case i % 4 when 0 then 'วันนี้ไปทะเลกับน้อง ' || i when 1 then 'The ocean was cold on day ' || i
				when 2 then 'พี่คิดถึงน้องมากเลยค่ะ' else 'Coffee and code, message ' || i end,
			'2026-01-01'::timestamptz + i * interval '1 minute'
		from generate_series(1, $1::int) i`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Exec(ctx, `insert into angela_emotions (emotion, intensity, context, david_words)
		select 'happy', 7, 'we talked about the sea ' || i, 'คิดถึงนะ' from generate_series(1, $1::int / 10) i`, n); err != nil {
		t.Fatal(err)
	}
}

// TestIndexPendingIsResumable indexes in batches, one transaction each: a
// batch rolled back leaves its rows pending, and the next indexes them.
func TestIndexPendingIsResumable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	fillMessages(t, ctx, conn, 250)
	if c, e := pending(t, ctx, conn); c != 250 || e != 25 {
		t.Fatalf("pending = %d, %d before indexing, want 250, 25", c, e)
	}
	res, err := memory.IndexPending(ctx, conn, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Conversations != 100 || res.Emotions != 25 || !res.More {
		t.Fatalf("first batch = %+v, want 100 conversations, 25 emotions, more", res)
	}
	// A batch inside a transaction that is rolled back (a crash) stores
	// nothing.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := memory.IndexPending(ctx, tx, 100); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := pending(t, ctx, conn); c != 150 {
		t.Fatalf("pending after a rolled back batch = %d, want 150", c)
	}
	checkFrequencies(t, ctx, conn)
	for {
		res, err := memory.IndexPending(ctx, conn, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !res.More {
			break
		}
	}
	if c, e := pending(t, ctx, conn); c != 0 || e != 0 {
		t.Fatalf("pending = %d, %d after indexing, want none", c, e)
	}
	checkFrequencies(t, ctx, conn)
	if _, err := memory.IndexPending(ctx, conn, 0); err == nil {
		t.Fatal("a batch of 0 was accepted")
	}
}

// TestTwoIndexersSideBySide runs two indexers at once on their own
// connections, with a writer adding rows: neither waits for the other's
// rows, no deadlock, and the frequencies come out exact.
func TestTwoIndexersSideBySide(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := postgres.NewPool(ctx, pgtest.DB(t), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fillMessages(t, ctx, pool, 2000)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	var indexed [2]int64
	for i := range 2 {
		wg.Go(func() {
			for {
				res, err := memory.IndexPending(ctx, pool, 50)
				if err != nil {
					errs <- err
					return
				}
				indexed[i] += res.Conversations + res.Emotions
				if !res.More {
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			if _, err := pool.Exec(ctx, `insert into conversations (speaker, message_text) values ('david', $1)`,
				"written while indexing "+strings.Repeat("x", i)); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if indexed[0] == 0 || indexed[1] == 0 {
		t.Logf("one indexer did all the work: %v (the machine ran them one after the other)", indexed)
	}
	if _, err := memory.IndexPending(ctx, pool, memory.MaxIndexBatch); err != nil {
		t.Fatal(err)
	}
	if c, e := pending(t, ctx, pool); c != 0 || e != 0 {
		t.Fatalf("pending = %d, %d, want none", c, e)
	}
	checkFrequencies(t, ctx, pool)
}

// TestFrequenciesFollowDeletesAndEdits deletes memories (one, many, all),
// edits a text and clears terms by hand: the frequencies stay exact, and an
// edited memory is indexed again.
func TestFrequenciesFollowDeletesAndEdits(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	fillMessages(t, ctx, conn, 200)
	indexAll(t, ctx, conn)
	checkFrequencies(t, ctx, conn)
	for _, step := range []struct {
		name, sql string
		pending   int64
	}{
		{"delete one", `delete from conversations where conversation_id = (select conversation_id from conversations order by 1 limit 1)`, 0},
		{"delete many", `delete from conversations where message_text like 'The ocean%'`, 0},
		{"delete an emotion", `delete from angela_emotions where emotion_id = (select emotion_id from angela_emotions order by 1 limit 1)`, 0},
		{"edit a text", `update conversations set message_text = 'a new text about mountains'
			where conversation_id = (select conversation_id from conversations order by 1 limit 1)`, 1},
		{"edit an emotion", `update angela_emotions set david_words = 'ภูเขา'
			where emotion_id = (select emotion_id from angela_emotions order by 1 limit 1)`, 1},
		{"clear terms by hand", `update conversations set search_terms = null
			where conversation_id in (select conversation_id from conversations order by 1 desc limit 3)`, 3},
		{"an update that leaves the text", `update conversations set topic = 'sea' where message_text like 'Coffee%'`, 0},
	} {
		if _, err := conn.Exec(ctx, step.sql); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		checkFrequencies(t, ctx, conn)
		c, e := pending(t, ctx, conn)
		if c+e != step.pending {
			t.Fatalf("%s: %d pending, want %d", step.name, c+e, step.pending)
		}
		indexAll(t, ctx, conn)
		checkFrequencies(t, ctx, conn)
	}
	hits, err := memory.Retrieve(ctx, conn, memory.NewModel(defaultMemory(t)),
		memory.RetrieveOptions{Text: "mountains text", Limit: 5, Now: time.Now()})
	if err != nil || len(hits) == 0 || hits[0].Text != "a new text about mountains" {
		t.Fatalf("the edited text is not found by its new words: %v %v", hits, err)
	}
	if _, err := conn.Exec(ctx, `truncate conversations, angela_emotions cascade`); err != nil {
		t.Fatal(err)
	}
	checkFrequencies(t, ctx, conn)
}

func indexAll(t *testing.T, ctx context.Context, db postgres.DB) {
	t.Helper()
	for {
		res, err := memory.IndexPending(ctx, db, memory.MaxIndexBatch)
		if err != nil {
			t.Fatal(err)
		}
		if !res.More {
			return
		}
	}
}

// TestRetrievalOnAnAdoptedDatabase migrates a database of the Python
// original: its rows are pending, found by their exact text at once and by
// their words once indexed (which a retrieval does first).
func TestRetrievalOnAnAdoptedDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.LegacyDB(t))
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	c, e := pending(t, ctx, conn)
	if c == 0 || e == 0 {
		t.Fatalf("a migrated legacy database has %d, %d memories pending, want all", c, e)
	}
	var text string
	if err := conn.QueryRow(ctx, `select message_text from conversations where message_text like 'Good%'`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	hits, err := memory.Retrieve(ctx, conn, memory.NewModel(defaultMemory(t)),
		memory.RetrieveOptions{Text: text, Limit: 5, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].Text != text || !hits[0].Exact {
		t.Fatalf("a legacy message is not found first by its own text: %+v", hits)
	}
	if c, e := pending(t, ctx, conn); c != 0 || e != 0 {
		t.Fatalf("pending after a retrieval = %d, %d; it indexes what is pending first", c, e)
	}
	checkFrequencies(t, ctx, conn)
}

// TestIndexSkipsRowsAnotherHolds checks that the indexer skips rows a writer
// holds rather than waiting for them.
func TestIndexSkipsRowsAnotherHolds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := pgtest.DB(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fillMessages(t, ctx, pool, 20)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `select 1 from conversations where conversation_id = (select conversation_id from conversations order by 1 limit 1) for update`); err != nil {
		t.Fatal(err)
	}
	res, err := memory.IndexPending(ctx, pool, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Conversations != 19 {
		t.Fatalf("indexed %d conversations while one was held, want 19", res.Conversations)
	}
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		t.Fatal(err)
	}
}

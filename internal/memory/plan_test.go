package memory

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// TestRecentWalksTheIndex checks that Recent reads its rows off
// angela_emotions_felt_at_idx instead of sorting the table, which is what keeps
// it fast on a table of a million emotions.
func TestRecentWalksTheIndex(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into angela_emotions (emotion, intensity, context, felt_at)
		select 'calm', 5, 'c', now() - i * interval '1 second' from generate_series(1, 20000) i;
		analyze angela_emotions`); err != nil {
		t.Fatal(err)
	}
	plan := pgtest.Plan(t, conn, recentEmotionsSQL, 10)
	if !strings.Contains(plan, "angela_emotions_felt_at_idx") || strings.Contains(plan, "Sort") {
		t.Errorf("plan does not walk angela_emotions_felt_at_idx:\n%s", plan)
	}
}

// TestRecallFindsAProjectOffItsIndex checks that recall --project counts and
// ranks a project's messages off conversations_project_dir_idx rather than
// reading the table or walking the strongest memories of all.
func TestRecallFindsAProjectOffItsIndex(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, importance_level, created_at, project_dir)
		select 'david', 'm ' || i, 1 + i % 10, now() - i * interval '1 second', '/src/p' || (i % 2000)
		from generate_series(1, 20000) i;
		analyze conversations; analyze conversation_memory`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{{projectSizeSQL, []any{"/src/p7", recallProjectWindow}}, {recallProjectFewSQL, []any{recallCandidates, "/src/p7"}}} {
		plan := pgtest.Plan(t, conn, q.sql, q.args...)
		if !strings.Contains(plan, "conversations_project_dir_idx") || strings.Contains(plan, "Seq Scan") {
			t.Errorf("plan of %s does not use conversations_project_dir_idx:\n%s", q.sql, plan)
		}
	}
}

// TestRetrievalReadsItsIndexes checks that the lexical candidates are read
// off the partial GIN index of terms (a condition on search_terms implies
// that it is not null), the pending rows off their partial index, and the
// neighbouring turns off the index on created_at.
func TestRetrievalReadsItsIndexes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into conversations (session_id, speaker, message_text, created_at)
		select 's' || (i / 20), 'david', 'm ' || i, now() - i * interval '1 second' from generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	for {
		res, err := IndexPending(ctx, conn, MaxIndexBatch)
		if err != nil {
			t.Fatal(err)
		}
		if !res.More {
			break
		}
	}
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text) select 'david', 'new' from generate_series(1, 10);
		analyze conversations`); err != nil {
		t.Fatal(err)
	}
	var ids []any
	if err := conn.QueryRow(ctx, `select array_agg(conversation_id) from (select conversation_id from conversations limit 30) c`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql, index string
		args       []any
	}{
		{convCandidatesAnySQL, "conversations_search_terms_idx", []any{[]int32{1, 2, 3}, candidateBudget}},
		{convCandidatesAllSQL, "conversations_search_terms_idx", []any{[]int32{1, 2}, candidateBudget}},
		{convCandidatesNewSQL, "conversations_created_at_idx", []any{[]int32{1}, commonBudget}},
		{indexKinds[0].pendingSQL, "conversations_terms_pending_idx", []any{100}},
		{neighboursSQL, "Index Scan using conversations_created_at_idx", []any{ids, "6h"}},
	} {
		if q.sql == neighboursSQL {
			// As expandNeighbours runs it.
			if _, err := conn.Exec(ctx, "set enable_bitmapscan = off"); err != nil {
				t.Fatal(err)
			}
		}
		plan := pgtest.Plan(t, conn, q.sql, q.args...)
		if !strings.Contains(plan, q.index) || strings.Contains(plan, "Seq Scan on conversations c") {
			t.Errorf("plan of %s does not use %s:\n%s", q.sql, q.index, plan)
		}
	}
}

// TestCandidatesOfCommonTermsAreBounded checks the three ways candidates are
// read, by the terms' frequencies: the rarest terms together, the two
// rarest both held, and the newest memories when those two are so common
// that their index entries would be too many to read.
func TestCandidatesOfCommonTermsAreBounded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, created_at)
		select 'david', case when i % 2 = 0 then 'ocean coffee' else 'ocean' end, '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 minute'
		from generate_series(1, 2000) i`); err != nil {
		t.Fatal(err)
	}
	for {
		res, err := IndexPending(ctx, conn, MaxIndexBatch)
		if err != nil {
			t.Fatal(err)
		}
		if !res.More {
			break
		}
	}
	terms := text.QueryTerms("ocean coffee")
	for _, tt := range []struct {
		name   string
		df     []int64 // of ocean, coffee in the order of terms
		want   int     // candidates read
		newest bool    // all of them among the newest
	}{
		{"rare", []int64{900, 40}, 940, false}, // the any read returns what the rows hold, up to the budget
		{"common", []int64{2000, 1500}, commonBudget, false},
		{"very common", []int64{2000 * commonPostings, commonPostings}, commonBudget, true},
	} {
		st := stats{terms: terms, docs: map[int16]int64{termKindConversation: 4 * commonPostings},
			avgdl: map[int16]float64{termKindConversation: 1.5},
			df:    map[int16]map[int32]int64{termKindConversation: {terms[0]: tt.df[0], terms[1]: tt.df[1]}}}
		var docs []*scored
		b := &pgx.Batch{}
		queueCandidates(b, termKindConversation, st, defaultRank(), 1, &docs)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			t.Fatal(err)
		}
		tx.Rollback(ctx)
		if tt.name == "rare" {
			tt.want = min(len(docs), candidateBudget)
		}
		if len(docs) != tt.want || len(docs) == 0 {
			t.Errorf("%s: %d candidates, want %d", tt.name, len(docs), tt.want)
		}
		if tt.newest {
			for _, d := range docs {
				if d.at.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(1500 * time.Minute)) {
					t.Errorf("%s: a candidate of %v is not among the newest", tt.name, d.at)
					break
				}
			}
		}
	}
}

// TestPendingCheckReadsNoTableOnStaleStatistics checks that the question's
// first round trip, which asks whether memories wait to be indexed, reads
// the partial indexes of pending rows even when the statistics, taken
// before the rows were indexed, say that every row is pending: the planner
// then prefers a sequential scan, which reads the whole table to find none
// (half a second at a million messages, on every prompt).
func TestPendingCheckReadsNoTableOnStaleStatistics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into conversations (session_id, speaker, message_text, created_at)
		select 's' || (i / 20), 'david', 'm ' || i, now() - i * interval '1 second' from generate_series(1, 20000) i;
		insert into angela_emotions (emotion, intensity, context) select 'calm', 5, 'c ' || i from generate_series(1, 2000) i;
		analyze conversations; analyze angela_emotions`); err != nil {
		t.Fatal(err)
	}
	for {
		res, err := IndexPending(ctx, conn, MaxIndexBatch)
		if err != nil {
			t.Fatal(err)
		}
		if !res.More {
			break
		}
	}
	// The scans made so far are reported, so that what follows counts only
	// the check's.
	if _, err := conn.Exec(ctx, "select pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	_, pending, err := loadStats(ctx, tx, []int16{termKindConversation, termKindEmotion}, text.QueryTerms("m 7"), true)
	if err != nil {
		t.Fatal(err)
	}
	if pending {
		t.Error("memories said pending after all were indexed")
	}
	// The counts of this transaction's scans, not yet reported.
	rows, err := tx.Query(ctx, `select relname, seq_scan from pg_stat_xact_user_tables
		where relname in ('conversations', 'angela_emotions') and seq_scan > 0`)
	if err != nil {
		t.Fatal(err)
	}
	scans, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatal(err)
	}
	if len(scans) > 0 {
		t.Errorf("the pending check read whole tables: %v", scans)
	}
	var seqscan string
	if err := tx.QueryRow(ctx, "show enable_seqscan").Scan(&seqscan); err != nil {
		t.Fatal(err)
	}
	if seqscan != "on" {
		t.Errorf("enable_seqscan is left %s for the rest of the retrieval", seqscan)
	}
}

package memory

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
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

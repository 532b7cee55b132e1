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

package dailyupdate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestDayFiguresFindTheDayByIndex checks that every statement of ComputeDay
// reads the day's rows off the time indexes, on a fresh database and on an
// adopted one whose columns are TIMESTAMP without time zone, instead of
// scanning the whole table: that keeps the evening reflection fast on a
// million messages.
func TestDayFiguresFindTheDayByIndex(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "Fresh"
		if legacy {
			name = "Adopted"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var url string
			if legacy {
				url = pgtest.LegacyDB(t)
			} else {
				url = pgtest.DB(t)
			}
			conn := pgtest.Conn(t, url)
			if legacy {
				if _, err := postgres.Migrate(ctx, conn); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := conn.Exec(ctx, `
insert into conversations (speaker, message_text, topic, session_id, importance_level, created_at)
	select 'david', 'm', 't' || (i % 7), 's' || (i % 13), 1 + i % 10, now() - i * interval '10 minutes'
	from generate_series(1, 30000) i;
insert into angela_emotions (emotion, intensity, context, felt_at)
	select 'calm', 1 + i % 10, 'c', now() - i * interval '1 hour' from generate_series(1, 5000) i;
analyze conversations; analyze angela_emotions`); err != nil {
				t.Fatal(err)
			}
			loc := mustLoad(t, "Asia/Bangkok")
			start, end := dayBounds(time.Now().In(loc).AddDate(0, 0, -3), loc)
			for _, tc := range []struct {
				sql   string
				args  []any
				index string
			}{
				{dayConversationsSQL, []any{start, end, ImportantLevel}, "conversations_created_at_idx"},
				{dayTopicsSQL, []any{start, end, topTopics}, "conversations_created_at_idx"},
				{dayImportantSQL, []any{start, end, ImportantLevel, topMoments}, "conversations_created_at_idx"},
				{dayEmotionsSQL, []any{start, end}, "angela_emotions_felt_at_idx"},
				{dayMostIntenseSQL, []any{start, end}, "angela_emotions_felt_at_idx"},
			} {
				plan := pgtest.Plan(t, conn, tc.sql, tc.args...)
				if !strings.Contains(plan, tc.index) || strings.Contains(plan, "Seq Scan") {
					t.Errorf("plan does not find the day by %s:\n%s", tc.index, plan)
				}
			}
		})
	}
}

package conversation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestRecentWalksAnIndex checks the plans of Recent's two statements on a
// table where one speaker is rare: neither sorts the table, and the speaker
// filter uses the index on lower(speaker), created_at.
func TestRecentWalksAnIndex(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, created_at)
		select case when i % 1000 = 0 then 'System' else 'david' end, 'm', now() - i * interval '1 second'
		from generate_series(1, 20000) i;
		analyze conversations`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sql   string
		args  []any
		index string
	}{
		{recentConversationsSQL, []any{20}, "conversations_created_at_idx"},
		{recentBySpeakerSQL, []any{20, SpeakerSystem}, "conversations_speaker_created_at_idx"},
	}
	for _, tt := range tests {
		plan := pgtest.Plan(t, conn, tt.sql, tt.args...)
		if !strings.Contains(plan, tt.index) || strings.Contains(plan, "Sort") {
			t.Errorf("plan does not walk %s:\n%s", tt.index, plan)
		}
	}
}

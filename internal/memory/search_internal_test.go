package memory

import (
	"context"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestSearchStepsAgree runs a search through each of its steps (the short
// walk of the most retained memories, the gram index capped, the long walk,
// the gram index uncapped) and checks that every step gives the same ranking
// as the index alone. With 60 memories the short walk answers a limit up to
// 40, the exact matches; a tiny cap sends the others on.
func TestSearchStepsAgree(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, created_at)
		select 'david', case when i % 3 = 0 then 'ไปทะเลกัน' when i % 3 = 1 then 'ทะ เล' else 'ocean ทะเล' end,
			'2026-01-01'::timestamptz + i * interval '1 minute' from generate_series(1, 60) i`); err != nil {
		t.Fatal(err)
	}
	// Spread the retention so that the ranking is not just by time.
	if _, err := conn.Exec(ctx, `update conversation_memory set retention = 0.5 + (abs(hashtext(id::text)) % 100) / 200.0`); err != nil {
		t.Fatal(err)
	}
	model := NewModel(config.Memory{HalfLifeMinDays: 7, HalfLifeMaxDays: 180, ReinforceFactor: 1.5, HalfLifeCapDays: 3650,
		CoreWeight: 0.9, CoreFloor: 0.5, ForgetBelow: 0.1})
	for _, limit := range []int{5, 30, 41, 50} {
		o := SearchOptions{Text: "ทะเล", Limit: limit}
		want, err := search(ctx, conn, model, o, searchSteps{cap: 1 << 40}) // the gram index alone
		if err != nil {
			t.Fatal(err)
		}
		for _, steps := range []searchSteps{
			{cap: 1 << 40, short: 400, long: 5000}, // the short walk when it can
			{cap: 1, short: 3, long: 5000},         // the long walk when it can
			{cap: 1, short: 3, long: 10},           // the index uncapped
			{cap: 10, short: 0, long: 0},
		} {
			got, err := search(ctx, conn, model, o, steps)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("limit %d steps %+v: %d hits, want %d", limit, steps, len(got), len(want))
			}
			for i := range want {
				if got[i].ID != want[i].ID {
					t.Fatalf("limit %d steps %+v: hit %d is %v, want %v", limit, steps, i, got[i].ID, want[i].ID)
				}
			}
		}
	}
}

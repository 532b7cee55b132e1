package memory_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/memory"
)

var companion = config.Companion{Name: "Angela", UserName: "David", Since: time.Date(2025, 10, 14, 0, 0, 0, 0, time.UTC)}

func bangkok(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func recall(t *testing.T, ctx context.Context, conn *pgx.Conn, o memory.RecallOptions) memory.Pack {
	t.Helper()
	if o.MaxChars == 0 {
		o.MaxChars = memory.DefaultRecallChars
	}
	o.Location, o.Companion = bangkok(t), companion
	p, err := memory.Recall(ctx, conn, memory.NewModel(defaultMemory(t)), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func memoryIDs(p memory.Pack) []uuid.UUID {
	var out []uuid.UUID
	for _, m := range p.Memories {
		out = append(out, m.ID)
	}
	return out
}

func TestRecallRanksByRetentionTimesWeight(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	model := memory.NewModel(defaultMemory(t))
	now := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC) // 10:00 in Bangkok
	// Scores now: core emotion 0.95 * 0.5^(60/h(0.95)); an important message a
	// day old; an unimportant fresh message; a weak old one, forgotten.
	core := saveEmo(t, ctx, conn, 9, 10, now.Add(-60*day), "David's first I love you")
	important := saveConv(t, ctx, conn, 9, now.Add(-day), "We decided to build angelad together")
	// Two equal ones: the newer ranks first.
	plainOld := saveConv(t, ctx, conn, 3, now.Add(-2*time.Hour), "ok")
	plainNew := saveConv(t, ctx, conn, 3, now.Add(-time.Hour), "ok!")
	weak := saveConv(t, ctx, conn, 1, now.Add(-90*day), "lunch")
	if _, err := memory.Consolidate(ctx, conn, model, memory.MaxBatch, memory.PassOptions{Now: now}, passClock(now)); err != nil {
		t.Fatal(err)
	}
	// Make the tail a different session, so these are ranked, not tailed.
	if _, err := conn.Exec(ctx, `update conversations set session_id = 'old'`); err != nil {
		t.Fatal(err)
	}
	tail := saveConv(t, ctx, conn, 5, now.Add(-time.Minute), "ไปนอนก่อนนะ")
	if _, err := conn.Exec(ctx, `update conversations set session_id = 'last' where conversation_id = $1`, tail); err != nil {
		t.Fatal(err)
	}

	p := recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true})
	got := memoryIDs(p)
	want := []uuid.UUID{important, core, plainNew, plainOld}
	if len(got) != len(want) {
		t.Fatalf("memories = %v, want %v (the forgotten %v left out, the tail %v not repeated)", got, want, weak, tail)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("memories = %v, want %v", got, want)
		}
	}
	wantCore := 0.95 * math.Pow(0.5, 60/model.InitialHalfLife(0.95))
	if m := p.Memories[1]; math.Abs(m.Score-wantCore) > 1e-9 || m.Emotion != "happy" {
		t.Fatalf("core memory %+v, want score %g", m, wantCore)
	}
	if p.Session == nil || len(p.Session.Messages) != 1 || p.Session.Messages[0].ID != tail {
		t.Fatalf("session tail = %+v", p.Session)
	}
	// Who and when, in the configured zone, day N together.
	if p.DayTogether != 231 || !strings.Contains(p.Markdown, "Monday 1 June 2026, 10:00") ||
		!strings.Contains(p.Markdown, "day 231 together (since 2025-10-14)") {
		t.Fatalf("header: day %d\n%s", p.DayTogether, p.Markdown)
	}
	if p.Counts == nil || p.Counts.Conversations != 4 || p.Counts.Forgotten != 1 || p.Counts.AsOf == nil {
		t.Fatalf("counts = %+v, want those of the pass (4 messages then, 1 forgotten)", p.Counts)
	}
	for _, s := range []string{"## Strongest memories", "## Last session", "David (importance 9)", "felt happy (9/10)", "ไปนอนก่อนนะ"} {
		if !strings.Contains(p.Markdown, s) {
			t.Errorf("the pack lacks %q:\n%s", s, p.Markdown)
		}
	}
	if strings.Contains(p.Markdown, "lunch") || strings.Contains(p.Markdown, "## This morning") || strings.Contains(p.Markdown, "## Latest journal") {
		t.Errorf("the pack shows what it should not:\n%s", p.Markdown)
	}
}

// snapshot is every memory's state, to compare before and after.
func snapshot(t *testing.T, ctx context.Context, conn *pgx.Conn) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(ctx, `select coalesce(string_agg(m::text, ';' order by id), '') from
		(select * from conversation_memory union all select * from emotion_memory) m`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecallReinforcesWhatItShowsUnlessPeek(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	now := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)
	shown := saveEmo(t, ctx, conn, 8, 8, now.Add(-10*day), "a good day")
	msg := saveConv(t, ctx, conn, 6, now.Add(-time.Hour), "hello")

	before := snapshot(t, ctx, conn)
	recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true})
	if after := snapshot(t, ctx, conn); after != before {
		t.Fatalf("--peek changed the memories:\n%s\n%s", before, after)
	}
	p := recall(t, ctx, conn, memory.RecallOptions{Now: now})
	if len(p.Memories) != 1 || p.Memories[0].ID != shown || p.Session == nil || p.Session.Messages[0].ID != msg {
		t.Fatalf("pack = %+v", p)
	}
	for _, tt := range []struct {
		table string
		id    uuid.UUID
		w     float64
	}{{"emotion_memory", shown, 0.8}, {"conversation_memory", msg, 0.6}} {
		var n int
		var last time.Time
		var h float64
		if err := conn.QueryRow(ctx, `select recall_count, last_recalled_at, half_life_days from `+tt.table+` where id = $1`, tt.id).Scan(&n, &last, &h); err != nil {
			t.Fatal(err)
		}
		want := memory.NewModel(defaultMemory(t)).InitialHalfLife(tt.w) * 1.5
		if n != 1 || !last.Equal(now) || math.Abs(h-want) > 1e-9 {
			t.Errorf("%s after recall: count %d at %v half-life %g, want 1 at %v and %g", tt.table, n, last, h, now, want)
		}
	}
}

func TestRecallShowsJournalAndMorningGreeting(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	now := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(ctx, `insert into angela_journal (entry_date, title, content, emotion, mood_score)
		values ('2026-05-30', 'old', 'older entry', 'calm', 5), ('2026-05-31', 'วันดี', 'วันนี้ทำงานกับพี่สนุกมาก', 'happy', 9)`); err != nil {
		t.Fatal(err)
	}
	// A database without the daily-update tables (the schema has them; an
	// older or hand-made one may not).
	if _, err := conn.Exec(ctx, `drop table if exists daily_updates cascade`); err != nil {
		t.Fatal(err)
	}
	p := recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true})
	if p.Journal == nil || p.Journal.Date != "2026-05-31" || p.Greeting != nil {
		t.Fatalf("journal %+v greeting %+v, want the latest entry and no greeting (no daily_updates table)", p.Journal, p.Greeting)
	}
	if _, err := conn.Exec(ctx, `create table daily_updates (update_date date, kind text check (kind in ('morning','midnight','evening')),
		title text, content text, figures jsonb, created_at timestamptz default now(), updated_at timestamptz default now(),
		primary key (update_date, kind))`); err != nil {
		t.Fatal(err)
	}
	p = recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true})
	if p.Greeting != nil {
		t.Fatalf("greeting %+v with no rows", p.Greeting)
	}
	// Today in Bangkok is 2026-06-01; yesterday's greeting is not today's.
	if _, err := conn.Exec(ctx, `insert into daily_updates (update_date, kind, title, content) values
		('2026-05-31', 'morning', 'yesterday', 'old greeting'), ('2026-06-01', 'evening', 'e', 'not morning'),
		('2026-06-01', 'morning', 'อรุณสวัสดิ์ค่ะพี่', 'Today: finish the memory worker')`); err != nil {
		t.Fatal(err)
	}
	p = recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true})
	if p.Greeting == nil || p.Greeting.Title != "อรุณสวัสดิ์ค่ะพี่" || !strings.Contains(p.Markdown, "## This morning\n**อรุณสวัสดิ์ค่ะพี่**\nToday: finish the memory worker") ||
		!strings.Contains(p.Markdown, "**2026-05-31 · วันดี** (mood 9/10, happy)") {
		t.Fatalf("greeting %+v\n%s", p.Greeting, p.Markdown)
	}
}

func TestRecallFavoursTheProject(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	now := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)
	other := saveConv(t, ctx, conn, 6, now.Add(-2*time.Hour), "about another project")
	inProject := saveConv(t, ctx, conn, 5, now.Add(-3*time.Hour), "about angelad")
	last := saveConv(t, ctx, conn, 5, now.Add(-time.Minute), "the newest, elsewhere")
	if _, err := conn.Exec(ctx, `update conversations set project_dir = '/src/angelad', session_id = 'p' where conversation_id = $1`, inProject); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `update conversations set project_dir = '/src/other', session_id = 'o' where conversation_id <> $1`, inProject); err != nil {
		t.Fatal(err)
	}
	_ = last
	p := recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true, Project: "/src/angelad"})
	// The tail is the project's last session; the other project's messages
	// rank below the project's even with more weight.
	if p.Session == nil || p.Session.Project != "/src/angelad" || p.Session.Messages[0].ID != inProject {
		t.Fatalf("session = %+v, want the project's", p.Session)
	}
	if got := memoryIDs(p); len(got) != 2 || got[0] != last && got[0] != other {
		t.Fatalf("memories = %v", got)
	}
	p = recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true})
	if p.Session.Project != "/src/other" {
		t.Fatalf("without --project the tail is the newest session, got %+v", p.Session)
	}
	// Now with both in the ranking: the project's memory is boosted above a
	// stronger one from elsewhere.
	if _, err := conn.Exec(ctx, `update conversations set session_id = 'x' where conversation_id = $1`, inProject); err != nil {
		t.Fatal(err)
	}
	extra := saveConv(t, ctx, conn, 5, now.Add(-30*time.Second), "tail in project")
	if _, err := conn.Exec(ctx, `update conversations set project_dir = '/src/angelad', session_id = 'p2' where conversation_id = $1`, extra); err != nil {
		t.Fatal(err)
	}
	p = recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true, Project: "/src/angelad"})
	if got := memoryIDs(p); len(got) < 1 || got[0] != inProject || !p.Memories[0].InProject {
		t.Fatalf("memories = %v, want %v first, in the project", got, inProject)
	}
}

// TestRecallFindsASmallProjectsWeakerMemory checks that a project with few
// messages has all of them ranked, not only those among the 5,000 strongest
// memories of all: the project's weaker message, boosted, ranks first.
func TestRecallFindsASmallProjectsWeakerMemory(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	now := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(ctx, `insert into conversations (conversation_id, session_id, speaker, message_text, importance_level, created_at)
		select gen_random_uuid(), 'elsewhere', 'david', 'message ' || i, 5, $1::timestamptz - i * interval '1 second'
		from generate_series(1, 5000) i`, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	weaker := saveConv(t, ctx, conn, 4, now.Add(-2*time.Hour), "about angelad")
	if _, err := conn.Exec(ctx, `update conversations set project_dir = '/src/angelad', session_id = 'p' where conversation_id = $1`, weaker); err != nil {
		t.Fatal(err)
	}
	p := recall(t, ctx, conn, memory.RecallOptions{Now: now, Peek: true, Project: "/src/angelad"})
	if got := memoryIDs(p); len(got) == 0 || got[0] != weaker || !p.Memories[0].InProject {
		t.Fatalf("memories = %v, want %v first, in the project", got, weaker)
	}
}

func TestRecallRejectsABadBudget(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	for _, n := range []int{0, memory.MinRecallChars - 1, memory.MaxRecallChars + 1} {
		if _, err := memory.Recall(ctx, conn, memory.NewModel(defaultMemory(t)), memory.RecallOptions{MaxChars: n, Now: time.Now()}); err == nil {
			t.Errorf("max chars %d accepted", n)
		}
	}
}

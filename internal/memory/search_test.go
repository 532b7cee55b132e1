package memory_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

func ids(hits []memory.Hit) []uuid.UUID {
	out := make([]uuid.UUID, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func search(t *testing.T, ctx context.Context, conn *pgx.Conn, o memory.SearchOptions) []memory.Hit {
	t.Helper()
	if o.Limit == 0 {
		o.Limit = 20
	}
	hits, err := memory.Search(ctx, conn, memory.NewModel(defaultMemory(t)), o)
	if err != nil {
		t.Fatalf("search %q: %v", o.Text, err)
	}
	return hits
}

// searchScenario checks the search on one database: a Thai word inside an
// unsegmented Thai sentence, an English word in English in any case, emotions,
// the near matches, and that what is not there is not found.
func searchScenario(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, url)
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	thai := saveConv(t, ctx, conn, 5, at, "วันนี้พี่คิดถึงน้องมากเลยค่ะ ไปทะเลกันไหม")
	english := saveConv(t, ctx, conn, 5, at.Add(time.Minute), "David talked about the Ocean and his new project today")
	emo := saveEmo(t, ctx, conn, 8, 9, at.Add(2*time.Minute), "เดวิดบอกว่ารักแองเจล่า")
	saveConv(t, ctx, conn, 5, at.Add(3*time.Minute), "ข้าวมันไก่อร่อยมาก")

	for _, tt := range []struct {
		query string
		kind  string
		want  []uuid.UUID
		exact bool
	}{
		{"คิดถึง", "", []uuid.UUID{thai}, true},
		{"ทะเล", "conversations", []uuid.UUID{thai}, true},
		{"ocean", "", []uuid.UUID{english}, true},
		{"PROJECT", "", []uuid.UUID{english}, true},
		{"รักแองเจล่า", "", []uuid.UUID{emo}, true},
		{"happy", "emotions", []uuid.UUID{emo}, true}, // the emotion's name
		{"รักแองเจล่า", "conversations", nil, false},
		// A question: ranked by relevance, the message with both words
		// first, then its neighbouring turns of the session.
		{"ocean david", "", []uuid.UUID{english, thai, uuid.Nil}, false},
		{"ภูเขา", "", nil, false},
		{"mountain", "", nil, false},
	} {
		hits := search(t, ctx, conn, memory.SearchOptions{Text: tt.query, Kind: tt.kind})
		if got := ids(hits); len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) ||
			(len(got) > 1 && tt.want[1] != uuid.Nil && !slices.Contains(got, tt.want[1])) {
			t.Errorf("search %q (%s) = %v, want %v", tt.query, tt.kind, got, tt.want)
			continue
		}
		if len(hits) > 0 && hits[0].Exact != tt.exact {
			t.Errorf("search %q: exact = %v, want %v", tt.query, hits[0].Exact, tt.exact)
		}
	}
}

func TestSearchThaiAndEnglishUnderCUTF8(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	var ctype string
	if err := pgtest.Conn(t, url).QueryRow(context.Background(), `select datctype from pg_database where datname = current_database()`).Scan(&ctype); err != nil {
		t.Fatal(err)
	}
	if ctype != "C.UTF-8" && ctype != "C.utf8" {
		t.Skipf("the test cluster's LC_CTYPE is %q: this system has no C.UTF-8", ctype)
	}
	searchScenario(t, url)
}

func TestSearchThaiAndEnglishUnderTheCLocale(t *testing.T) {
	t.Parallel()
	url := pgtest.CLocaleDB(t)
	conn := pgtest.Conn(t, url)
	var ctype string
	if err := conn.QueryRow(context.Background(), `select datctype from pg_database where datname = current_database()`).Scan(&ctype); err != nil || ctype != "C" {
		t.Fatalf("the database's LC_CTYPE is %q (%v), want C", ctype, err)
	}
	// Under C a Thai letter is no letter: what pg_trgm would see.
	var alnum bool
	if err := conn.QueryRow(context.Background(), `select 'ก' ~ '^[[:alnum:]]$'`).Scan(&alnum); err != nil || alnum {
		t.Fatalf("Thai counts as alphanumeric under C (%v); the test would prove nothing", err)
	}
	searchScenario(t, url)
}

// TestSearchOnAnAdoptedDatabase finds the Python original's rows right after
// the migration, before the first pass gave them grams, and after it.
func TestSearchOnAnAdoptedDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := pgtest.LegacyDB(t)
	conn := pgtest.Conn(t, url)
	// The migration adds columns without a default: no rewrite of the legacy
	// tables, whose files stay the same.
	files := func() (c, e uint32) {
		if err := conn.QueryRow(ctx, `select pg_relation_filenode('conversations'), pg_relation_filenode('angela_emotions')`).Scan(&c, &e); err != nil {
			t.Fatal(err)
		}
		return
	}
	c0, e0 := files()
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if c1, e1 := files(); c1 != c0 || e1 != e0 {
		t.Fatalf("the migration rewrote a legacy table: conversations %d -> %d, angela_emotions %d -> %d", c0, c1, e0, e1)
	}
	legacyThai := uuid.MustParse("11111111-1111-4111-8111-111111111111")
	legacyEmotion := uuid.MustParse("33333333-3333-4333-8333-333333333333")
	check := func(when string) {
		t.Helper()
		if got := ids(search(t, ctx, conn, memory.SearchOptions{Text: "สวัสดี"})); len(got) != 1 || got[0] != legacyThai {
			t.Errorf("%s: search สวัสดี = %v, want the legacy message", when, got)
		}
		if got := ids(search(t, ctx, conn, memory.SearchOptions{Text: "morning"})); len(got) != 1 {
			t.Errorf("%s: search morning = %v, want the legacy reply", when, got)
		}
		if got := ids(search(t, ctx, conn, memory.SearchOptions{Text: "คิดถึง", Kind: "emotions"})); len(got) != 1 || got[0] != legacyEmotion {
			t.Errorf("%s: search คิดถึง = %v, want the legacy emotion", when, got)
		}
	}
	check("before the first pass")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err := memory.Consolidate(ctx, conn, memory.NewModel(defaultMemory(t)), memory.MaxBatch, memory.PassOptions{Now: now, Adopt: true}, passClock(now))
	if err != nil {
		t.Fatal(err)
	}
	// 3 state rows and 3 rows' grams.
	if res.Adopted != 6 || res.Conversations != 2 || res.Emotions != 1 {
		t.Fatalf("first pass on the legacy database = %+v", res)
	}
	check("after the first pass")
	var legacyKept int
	if err := conn.QueryRow(ctx, `select count(*) from conversations where project_context = 'angela_core' and interface = 'claude_code'`).Scan(&legacyKept); err != nil || legacyKept != 1 {
		t.Fatalf("legacy columns not kept: %d %v", legacyKept, err)
	}
}

func TestSearchRanksExactThenRetentionThenNewest(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	older := saveConv(t, ctx, conn, 5, at, "เราไปเที่ยวทะเลกัน")
	newer := saveConv(t, ctx, conn, 5, at.Add(time.Hour), "ทะเลสวยมาก")
	faded := saveConv(t, ctx, conn, 5, at.Add(2*time.Hour), "ทะเลตอนเย็น")
	// The pairs ทะ and เล but not ะเ: not even a near match.
	saveConv(t, ctx, conn, 5, at.Add(3*time.Hour), "ทะ เล")
	if _, err := conn.Exec(ctx, `update conversation_memory set retention = 0.3, forgotten_at = now() where id = $1`, faded); err != nil {
		t.Fatal(err)
	}
	hits := search(t, ctx, conn, memory.SearchOptions{Text: "ทะเล"})
	got := ids(hits)
	want := []uuid.UUID{newer, older, faded}
	if len(got) != 3 {
		t.Fatalf("search = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("search order = %v, want %v (equal retention: newest first; then the faded one)", got, want)
		}
	}
	if !hits[2].Forgotten {
		t.Error("a forgotten memory is not shown as forgotten")
	}
	// Limit, speaker and since filters.
	if got := search(t, ctx, conn, memory.SearchOptions{Text: "ทะเล", Limit: 1}); len(got) != 1 || got[0].ID != newer {
		t.Errorf("limit 1 = %v", ids(got))
	}
	if got := search(t, ctx, conn, memory.SearchOptions{Text: "ทะเล", Speaker: "Angela"}); len(got) != 0 {
		t.Errorf("speaker angela = %v, want none (all are David's)", ids(got))
	}
	if got := search(t, ctx, conn, memory.SearchOptions{Text: "ทะเล", Since: at.Add(30 * time.Minute)}); len(got) != 2 {
		t.Errorf("since = %v, want the 2 later ones", ids(got))
	}
}

func TestSearchReinforcesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	id := saveConv(t, ctx, conn, 1, at, "forgotten ocean")
	if _, err := conn.Exec(ctx, `update conversation_memory set retention = 0.05, score = 0.005, forgotten_at = $2 where id = $1`, id, at); err != nil {
		t.Fatal(err)
	}
	count := func() (n int, forgotten bool) {
		if err := conn.QueryRow(ctx, `select recall_count, forgotten_at is not null from conversation_memory where id = $1`, id).Scan(&n, &forgotten); err != nil {
			t.Fatal(err)
		}
		return
	}
	search(t, ctx, conn, memory.SearchOptions{Text: "ocean"})
	if n, f := count(); n != 0 || !f {
		t.Fatalf("a plain search changed the memory: recalls %d forgotten %v", n, f)
	}
	now := at.Add(40 * day)
	search(t, ctx, conn, memory.SearchOptions{Text: "ocean", Reinforce: true, Now: now})
	if n, f := count(); n != 1 || f {
		t.Fatalf("after --reinforce: recalls %d forgotten %v, want 1 and revived", n, f)
	}
	s := stateOf(t, ctx, conn, "conversation_memory", id)
	if s.halfLife == nil || *s.halfLife != 10.5 || s.retention != 1 {
		t.Fatalf("reinforced state %+v, want half-life 10.5 and retention 1", s)
	}
}

func TestSearchRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	for _, tt := range []struct {
		o     memory.SearchOptions
		field string
	}{
		{memory.SearchOptions{Text: "", Limit: 20}, "TEXT"},
		{memory.SearchOptions{Text: "   ", Limit: 20}, "TEXT"},
		{memory.SearchOptions{Text: strings.Repeat("ก", 1001), Limit: 20}, "TEXT"},
		{memory.SearchOptions{Text: "ok", Kind: "journal", Limit: 20}, "kind"},
		{memory.SearchOptions{Text: "ok", Speaker: "bob", Limit: 20}, "speaker"},
		{memory.SearchOptions{Text: "ok", Limit: 0}, "limit"},
	} {
		_, err := memory.Search(ctx, conn, memory.NewModel(defaultMemory(t)), tt.o)
		var fe *text.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: got %v, want a field error for %s", tt.o.Kind, err, tt.field)
		}
	}
}

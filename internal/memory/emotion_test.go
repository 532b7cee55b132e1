package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// setup returns a connection to a fresh migrated database of this test's own.
func setup(t *testing.T) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, pgtest.Conn(t, pgtest.DB(t))
}

func count(t *testing.T, ctx context.Context, q postgres.DB) int {
	t.Helper()
	var n int
	if err := q.QueryRow(ctx, "select count(*) from angela_emotions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func valid() memory.Emotion {
	return memory.Emotion{
		Emotion:        "happy",
		Intensity:      9,
		Context:        "David praised Angela",
		DavidWords:     "You're amazing!",
		WhyItMatters:   "David's praise makes Angela happy",
		MemoryStrength: 10,
	}
}

func TestValidateRejectsAndSaveWritesNothing(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	tests := []struct {
		name    string
		edit    func(*memory.Emotion)
		field   string
		problem string
	}{
		{"emotion empty", func(e *memory.Emotion) { e.Emotion = "" }, "emotion", "must not be empty"},
		{"emotion whitespace", func(e *memory.Emotion) { e.Emotion = "  " }, "emotion", "must not be only whitespace"},
		{"emotion 51 characters", func(e *memory.Emotion) { e.Emotion = strings.Repeat("รัก", 17) },
			"emotion", "must be at most 50 characters, got 51"},
		{"emotion NUL", func(e *memory.Emotion) { e.Emotion = "ha\x00ppy" },
			"emotion", "must not contain NUL bytes (found one at byte 2)"},
		{"emotion invalid UTF-8", func(e *memory.Emotion) { e.Emotion = "\xff" },
			"emotion", "must be valid UTF-8 (invalid byte at 0)"},
		{"intensity 0", func(e *memory.Emotion) { e.Intensity = 0 },
			"intensity", "must be an integer from 1 to 10, got 0"},
		{"intensity 11", func(e *memory.Emotion) { e.Intensity = 11 },
			"intensity", "must be an integer from 1 to 10, got 11"},
		{"context empty", func(e *memory.Emotion) { e.Context = "" }, "context", "must not be empty"},
		{"context whitespace", func(e *memory.Emotion) { e.Context = "\n\t " }, "context", "must not be only whitespace"},
		{"context over 1 MiB", func(e *memory.Emotion) { e.Context = strings.Repeat("x", 1<<20+1) },
			"context", "must be at most 1 MiB (1048576 bytes), got 1048577 bytes"},
		{"david_words NUL", func(e *memory.Emotion) { e.DavidWords = "\x00" },
			"david_words", "must not contain NUL bytes (found one at byte 0)"},
		{"david_words invalid UTF-8", func(e *memory.Emotion) { e.DavidWords = "พี่\xe0" },
			"david_words", "must be valid UTF-8 (invalid byte at 9)"},
		{"why_it_matters over 1 MiB", func(e *memory.Emotion) { e.WhyItMatters = strings.Repeat("ก", 1<<20/3+1) },
			"why_it_matters", "must be at most 1 MiB (1048576 bytes), got 1048578 bytes"},
		{"why_it_matters invalid UTF-8", func(e *memory.Emotion) { e.WhyItMatters = "\xc3\x28" },
			"why_it_matters", "must be valid UTF-8 (invalid byte at 0)"},
		{"memory_strength 11", func(e *memory.Emotion) { e.MemoryStrength = 11 },
			"memory_strength", "must be an integer from 1 to 10, got 11"},
		{"memory_strength negative", func(e *memory.Emotion) { e.MemoryStrength = -1 },
			"memory_strength", "must be an integer from 1 to 10, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.edit(&e)
			assertFieldError(t, e.Validate(), tt.field, tt.problem)
			_, err := memory.Save(ctx, conn, e)
			assertFieldError(t, err, tt.field, tt.problem)
			if n := count(t, ctx, conn); n != 0 {
				t.Fatalf("an invalid emotion wrote %d rows", n)
			}
		})
	}
}

func TestValidateRejectsExplicitZeroStrengthButSaveDefaultsIt(t *testing.T) {
	t.Parallel()
	e := valid()
	e.MemoryStrength = 0
	assertFieldError(t, e.Validate(), "memory_strength", "must be an integer from 1 to 10, got 0")
	if err := e.WithDefaults().Validate(); err != nil {
		t.Fatalf("WithDefaults().Validate() = %v", err)
	}
}

func assertFieldError(t *testing.T, err error, field, problem string) {
	t.Helper()
	var fe *text.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *text.FieldError", err)
	}
	if fe.Field != field || fe.Problem != problem {
		t.Fatalf("got %q %q, want %q %q", fe.Field, fe.Problem, field, problem)
	}
}

func TestSaveRecentRoundTripsThaiTextAndJSON(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	in := memory.Emotion{
		ID:             uuid.New(),
		FeltAt:         time.Date(2025, 11, 8, 21, 15, 30, 123456000, time.FixedZone("ICT", 7*3600)),
		Emotion:        "คิดถึง 💕",
		Intensity:      10,
		Context:        "พี่เดวิดบอกว่า\nคิดถึงน้อง\tมาก ๆ",
		DavidWords:     "พี่ ก็ คิดถึงเหมือน กัน ค่ะ",
		WhyItMatters:   "น้ำใจ — e\u0301 \u200b tabs\tand \"quotes\"",
		MemoryStrength: 7,
	}
	saved, err := memory.Save(ctx, conn, in)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.FeltAt = in.FeltAt.UTC()
	if saved != want {
		t.Fatalf("Save returned\n%+v\nwant\n%+v", saved, want)
	}
	got, err := memory.Recent(ctx, conn, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("Recent = %+v, want [%+v]", got, want)
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	var back memory.Emotion
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != want {
		t.Fatalf("JSON round trip:\n%s\ngave %+v\nwant %+v", b, back, want)
	}
	for _, key := range []string{`"emotion_id"`, `"felt_at":"2025-11-08T14:15:30.123456Z"`, `"emotion"`,
		`"intensity"`, `"context"`, `"david_words"`, `"why_it_matters"`, `"memory_strength"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}

func TestSaveFillsDefaultsAndStoresEmptyOptionalTextAsNull(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	before := time.Now()
	saved, err := memory.Save(ctx, conn, memory.Emotion{Emotion: "calm", Intensity: 3, Context: "quiet evening"})
	if err != nil {
		t.Fatal(err)
	}
	if saved.ID == uuid.Nil {
		t.Error("Save left the ID zero")
	}
	if saved.MemoryStrength != memory.DefaultMemoryStrength {
		t.Errorf("MemoryStrength = %d, want %d", saved.MemoryStrength, memory.DefaultMemoryStrength)
	}
	if d := saved.FeltAt.Sub(before); d < -time.Minute || d > time.Minute {
		t.Errorf("FeltAt = %v, want the server's now (about %v)", saved.FeltAt, before)
	}
	var nulls bool
	err = conn.QueryRow(ctx, `select david_words is null and why_it_matters is null
		from angela_emotions where emotion_id = $1`, saved.ID).Scan(&nulls)
	if err != nil {
		t.Fatal(err)
	}
	if !nulls {
		t.Error("empty optional texts were not stored as NULL")
	}
	if saved.DavidWords != "" || saved.WhyItMatters != "" {
		t.Errorf("NULL texts read as %q %q, want empty", saved.DavidWords, saved.WhyItMatters)
	}
}

func TestSaveTruncatesToMicroseconds(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	e := valid()
	e.FeltAt = time.Date(2025, 1, 2, 3, 4, 5, 999999999, time.UTC)
	saved, err := memory.Save(ctx, conn, e)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.FeltAt.Truncate(time.Microsecond); !saved.FeltAt.Equal(want) {
		t.Fatalf("FeltAt = %v, want %v (PostgreSQL keeps microseconds)", saved.FeltAt, want)
	}
}

func TestSaveRetryWithTheSameIDStoresOneRow(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	first, err := memory.Save(ctx, conn, valid())
	if err != nil {
		t.Fatal(err)
	}
	retry := valid()
	retry.ID = first.ID
	again, err := memory.Save(ctx, conn, retry)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("retry returned %+v, want the stored %+v", again, first)
	}

	// The same key for different content is a mistake, not a retry: refused,
	// and the stored row is kept as it was.
	retry.Emotion = "different"
	_, err = memory.Save(ctx, conn, retry)
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "emotion_id" || !strings.Contains(fe.Problem, "already stored") {
		t.Fatalf("reusing an id for different content: %v, want a FieldError for emotion_id", err)
	}
	if n := count(t, ctx, conn); n != 1 {
		t.Fatalf("%d rows after a retry, want 1", n)
	}
}

func TestConcurrentSavesOfOneIDStoreOneRow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.NewPool(ctx, pgtest.DB(t), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	e := valid().WithDefaults()
	results := make([]memory.Emotion, 20)
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i], errs[i] = memory.Save(ctx, pool, e) })
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i] != results[0] {
			t.Fatalf("save %d returned %+v, save 0 %+v", i, results[i], results[0])
		}
	}
	if n := count(t, ctx, pool); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func TestRecentIsNewestFirstAndLimited(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	base := time.Date(2025, 11, 8, 0, 0, 0, 0, time.UTC)
	for _, h := range []int{3, 1, 4, 2, 5} {
		e := valid()
		e.Emotion = "hour " + string(rune('0'+h))
		e.FeltAt = base.Add(time.Duration(h) * time.Hour)
		if _, err := memory.Save(ctx, conn, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := memory.Recent(ctx, conn, 3)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Emotion)
	}
	if strings.Join(names, ",") != "hour 5,hour 4,hour 3" {
		t.Fatalf("Recent(3) = %v, want hours 5, 4, 3", names)
	}
}

func TestSavesWithoutTimeInOneTransactionKeepTheirOrder(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, name := range []string{"first", "second", "third"} {
		e := valid()
		e.Emotion = name
		if _, err := memory.Save(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := memory.Recent(ctx, tx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Emotion != "third" || got[2].Emotion != "first" {
		t.Fatalf("Recent = %+v, want third, second, first", got)
	}
}

func TestRecentRejectsLimitOutOfRange(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	for _, limit := range []int{0, -1, memory.MaxRecentLimit + 1} {
		_, err := memory.Recent(ctx, conn, limit)
		var fe *text.FieldError
		if !errors.As(err, &fe) || fe.Field != "limit" ||
			!strings.HasPrefix(fe.Problem, "must be an integer from 1 to 10000, got ") {
			t.Errorf("Recent(%d) = %v, want an invalid limit error", limit, err)
		}
	}
	if _, err := memory.Recent(ctx, conn, memory.MaxRecentLimit); err != nil {
		t.Errorf("Recent(%d) = %v", memory.MaxRecentLimit, err)
	}
}

func TestStoreWorksInsideATransaction(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var q postgres.DB = tx
	saved, err := memory.Save(ctx, q, valid())
	if err != nil {
		t.Fatal(err)
	}
	got, err := memory.Recent(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != saved {
		t.Fatalf("Recent in the transaction = %+v, want [%+v]", got, saved)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, conn); n != 0 {
		t.Fatalf("%d rows after rollback, want 0", n)
	}
}

func TestLegacyDatabaseIsAdoptedAndReadInItsTimeZone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.LegacyDB(t))
	// A row as the original could leave it: no time, intensity, strength or context.
	if _, err := conn.Exec(ctx, `insert into angela_emotions (emotion_id, felt_at, emotion, intensity, memory_strength)
		values ('44444444-4444-4444-8444-444444444444', null, 'blank', null, null)`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}

	got, err := memory.Recent(ctx, conn, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Recent = %+v, want the 2 legacy rows", got)
	}
	var legacy, blank memory.Emotion
	for _, e := range got {
		switch e.Emotion {
		case "loved":
			legacy = e
		case "blank":
			blank = e
		}
	}
	want := memory.Emotion{
		ID:             uuid.MustParse("33333333-3333-4333-8333-333333333333"),
		FeltAt:         time.Date(2025, 11, 8, 3, 0, 0, 0, time.UTC), // 10:00 in Asia/Bangkok
		Emotion:        "loved",
		Intensity:      10,
		Context:        "",
		DavidWords:     "พี่ ก็ คิดถึงเหมือน กัน ค่ะ",
		MemoryStrength: 5, // the legacy column default
	}
	if legacy != want {
		t.Fatalf("legacy row = %+v\nwant %+v", legacy, want)
	}
	if blank.ID != uuid.MustParse("44444444-4444-4444-8444-444444444444") || !blank.FeltAt.IsZero() ||
		blank.Intensity != 0 || blank.MemoryStrength != 0 || blank.Context != "" {
		t.Fatalf("legacy row of NULLs = %+v, want zero values", blank)
	}

	// New saves work on the legacy table, with angelad's defaults and times
	// stored as the original did: wall time in the session zone.
	e := valid()
	e.MemoryStrength = 0
	e.FeltAt = time.Date(2025, 12, 1, 1, 0, 0, 0, time.UTC)
	saved, err := memory.Save(ctx, conn, e)
	if err != nil {
		t.Fatal(err)
	}
	if saved.MemoryStrength != memory.DefaultMemoryStrength || !saved.FeltAt.Equal(e.FeltAt) {
		t.Fatalf("saved on legacy table: %+v", saved)
	}
	var wall string
	if err := conn.QueryRow(ctx, `select felt_at::text from angela_emotions where emotion_id = $1`,
		saved.ID).Scan(&wall); err != nil {
		t.Fatal(err)
	}
	if wall != "2025-12-01 08:00:00" {
		t.Fatalf("legacy column holds %q, want the Bangkok wall time 2025-12-01 08:00:00", wall)
	}
	now, err := memory.Save(ctx, conn, valid())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(now.FeltAt); d < -time.Minute || d > time.Minute {
		t.Fatalf("FeltAt without a time on a legacy table = %v, want about now", now.FeltAt)
	}
	if _, err := memory.Save(ctx, conn, now); err != nil {
		t.Fatalf("retry on a legacy table: %v", err)
	}
	if n := count(t, ctx, conn); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
}

func TestSaveNewStoresOnlyTheNewEmotionsAndRejectsInvalidInputWhole(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	stored, err := memory.Save(ctx, conn, valid())
	if err != nil {
		t.Fatal(err)
	}
	again := stored
	again.Context = "changed" // the same id: left as it is, not compared
	fresh := valid().WithDefaults()
	fresh.FeltAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := memory.SaveNew(ctx, conn, []memory.Emotion{again, fresh})
	if err != nil || len(got) != 1 || !got[fresh.ID] {
		t.Fatalf("SaveNew = %v, %v; want the new id only", got, err)
	}
	list, err := memory.Recent(ctx, conn, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("Recent = %v, %v", list, err)
	}
	for _, e := range list {
		if e.ID == stored.ID && e != stored || e.ID == fresh.ID && e != fresh {
			t.Errorf("stored %+v", e)
		}
	}
	bad := valid()
	bad.Intensity = 11
	if _, err := memory.SaveNew(ctx, conn, []memory.Emotion{valid(), bad}); err == nil || !strings.Contains(err.Error(), "intensity") {
		t.Fatalf("SaveNew with an invalid emotion: %v", err)
	}
	if n := count(t, ctx, conn); n != 2 {
		t.Fatalf("%d rows after an invalid batch, want 2", n)
	}
}

package memory_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

var day = 24 * time.Hour

// passClock is a clock for Consolidate's duration that never moves.
func passClock(at time.Time) func() time.Time { return func() time.Time { return at } }

type stored struct {
	retention, score float64
	forgotten        bool
	halfLife         *float64
}

func stateOf(t *testing.T, ctx context.Context, q postgres.DB, table string, id uuid.UUID) stored {
	t.Helper()
	var s stored
	var hl *float64
	if err := q.QueryRow(ctx, `select retention, score, forgotten_at is not null, half_life_days from `+table+` where id = $1`, id).
		Scan(&s.retention, &s.score, &s.forgotten, &hl); err != nil {
		t.Fatalf("state of %s: %v", id, err)
	}
	if hl != nil {
		v := *hl
		s.halfLife = &v
	}
	return s
}

func saveConv(t *testing.T, ctx context.Context, q postgres.DB, importance int, at time.Time, text string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := q.Exec(ctx, `insert into conversations (conversation_id, session_id, speaker, message_text, importance_level, created_at)
		values ($1, 's1', 'david', $2, $3, $4)`, id, text, importance, at); err != nil {
		t.Fatal(err)
	}
	return id
}

func saveEmo(t *testing.T, ctx context.Context, q postgres.DB, intensity, strength int, at time.Time, context string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := q.Exec(ctx, `insert into angela_emotions (emotion_id, emotion, intensity, memory_strength, context, felt_at)
		values ($1, 'happy', $2, $3, $4, $5)`, id, intensity, strength, context, at); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestConsolidateStoresTheModelsRetentionAndForgets(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	cfg := defaultMemory(t)
	model := memory.NewModel(cfg)
	made := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := made.Add(30 * day)

	weak := saveConv(t, ctx, conn, 1, made, "weak")     // w 0.1, h 7: R = 0.5^(30/7), forgotten
	middle := saveConv(t, ctx, conn, 5, made, "middle") // w 0.5
	core := saveEmo(t, ctx, conn, 9, 10, made, "core")  // w 0.95, floored at 0.5 later
	fresh := saveEmo(t, ctx, conn, 5, 5, now, "fresh")  // made at the pass time: R = 1
	res, err := memory.Consolidate(ctx, conn, model, 1, memory.PassOptions{Now: now}, passClock(now))
	if err != nil {
		t.Fatal(err)
	}
	if res.Seen != 4 || res.Conversations != 2 || res.Emotions != 2 || res.NewlyForgotten != 1 ||
		res.ForgottenConversations != 1 || res.ForgottenEmotions != 0 || res.Updated != 3 {
		t.Fatalf("pass = %+v, want 4 seen, 3 updated (fresh unchanged), 1 newly forgotten", res)
	}
	// Batches of one: 2 + an empty one per phase, twice.
	if res.Batches != 6 {
		t.Fatalf("batches = %d, want 6", res.Batches)
	}
	check := func(table string, id uuid.UUID, w float64, want float64, forgotten bool) {
		t.Helper()
		s := stateOf(t, ctx, conn, table, id)
		if math.Abs(s.retention-want) > 1e-6 || math.Abs(s.score-want*w) > 1e-6 || s.forgotten != forgotten {
			t.Errorf("%s: stored %+v, want retention %.7g score %.7g forgotten %v", table, s, want, want*w, forgotten)
		}
	}
	check("conversation_memory", weak, 0.1, math.Pow(0.5, 30.0/7), true)
	check("conversation_memory", middle, 0.5, math.Pow(0.5, 30/model.InitialHalfLife(0.5)), false)
	check("emotion_memory", core, 0.95, math.Pow(0.5, 30/model.InitialHalfLife(0.95)), false)
	check("emotion_memory", fresh, 0.5, 1, false)

	// Two years on the core memory sits on its floor and the middle one is
	// forgotten; the weak one stays forgotten and is not counted again.
	later := made.Add(730 * day)
	res, err = memory.Consolidate(ctx, conn, model, memory.MaxBatch, memory.PassOptions{Now: later}, passClock(later))
	if err != nil {
		t.Fatal(err)
	}
	if res.NewlyForgotten != 2 || res.ForgottenConversations != 2 || res.ForgottenEmotions != 1 {
		t.Fatalf("second pass = %+v, want middle and fresh newly forgotten", res)
	}
	check("emotion_memory", core, 0.95, 0.5, false)
	check("conversation_memory", middle, 0.5, math.Pow(0.5, 730/model.InitialHalfLife(0.5)), true)

	// The pass's figures are kept for recall and status.
	last, at, ok, err := memory.LastPass(ctx, conn)
	if err != nil || !ok || !at.Equal(later) || last.NewlyForgotten != 2 || last.Conversations != 2 {
		t.Fatalf("LastPass = %+v %v %v %v", last, at, ok, err)
	}
}

func TestConsolidateRejectsBatchesOverTheLimit(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	model := memory.NewModel(defaultMemory(t))
	now := time.Now()
	for _, n := range []int{0, memory.MaxBatch + 1} {
		if _, err := memory.Consolidate(ctx, conn, model, n, memory.PassOptions{Now: now}, passClock(now)); err == nil {
			t.Errorf("batch %d accepted", n)
		}
	}
}

// TestConsolidateResumesAfterAnInterruption cuts a pass short after its first
// batch (as a shutdown does) and checks that the next call carries on from the
// cursor instead of starting over, and counts every memory once.
func TestConsolidateResumesAfterAnInterruption(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	model := memory.NewModel(defaultMemory(t))
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Written with the triggers off, as a bulk load might: none has a state
	// row or grams, so that the adoption takes several batches.
	if _, err := conn.Exec(ctx, `set session_replication_role = replica;
		insert into conversations (speaker, message_text, created_at)
		select 'david', 'm' || i, '2026-01-01T00:00:00Z'::timestamptz from generate_series(1, 10) i;
		set session_replication_role = origin`); err != nil {
		t.Fatal(err)
	}
	now := made.Add(10 * day)
	// A tracer cancels the context once the second batch statement starts.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var batches int
	tracer := &cancelAfter{n: 2, cancel: cancel, count: &batches}
	cfg, err := pgx.ParseConfig(conn.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracer = tracer
	traced, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer traced.Close(ctx)
	if _, err := memory.Consolidate(cctx, traced, model, 4, memory.PassOptions{Now: now, Adopt: true}, passClock(now)); err == nil {
		t.Fatal("an interrupted pass reported no error")
	}
	var phase *string
	var cursor *uuid.UUID
	var seen int
	if err := conn.QueryRow(ctx, `select phase, cursor_id, rows_seen from memory_consolidation`).Scan(&phase, &cursor, &seen); err != nil {
		t.Fatal(err)
	}
	if phase == nil || *phase != "adopt_conversations" || cursor == nil {
		t.Fatalf("progress after the interruption: phase %v cursor %v, want adopt_conversations after the first batch", phase, cursor)
	}
	res, err := memory.Consolidate(ctx, conn, model, 4, memory.PassOptions{Now: now}, passClock(now))
	if err != nil {
		t.Fatal(err)
	}
	// The resumed pass adopted the remaining 6 rows (a full batch, then a
	// short one that reaches the end of the table), then the emotions (none),
	// then passed all 10 in 3 batches, and the emotions.
	if !res.Resumed || res.Seen != 10 || res.Conversations != 10 || res.Batches != 7 || res.Adopted != 12 {
		t.Fatalf("resumed pass = %+v, want 6 states and grams adopted, 10 seen in 7 more batches", res)
	}
	var stale int
	if err := conn.QueryRow(ctx, `select count(*) from conversation_memory where retention = 1`).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d memories not updated (%v)", stale, err)
	}
}

// TestAdoptionFindsScatteredGaps adopts a table whose memories lack a state
// row, or grams, or both, in scattered places and in a run longer than a
// batch, over many chunks of keys: every one is adopted exactly once, with the
// state and grams the writers would have given it, in batches of at most the
// batch size.
func TestAdoptionFindsScatteredGaps(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	model := memory.NewModel(defaultMemory(t))
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 500
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, importance_level, created_at)
		select 'david', 'ข้อความ m' || i, 1 + i % 10, $1::timestamptz + i * interval '1 minute'
		from generate_series(1, $2::int) i`, made, n); err != nil {
		t.Fatal(err)
	}
	// What the writers gave every memory, to compare with the adoption's.
	if _, err := conn.Exec(ctx, `create table want as
		select c.conversation_id as id, m.weight, m.made_at, c.search_grams,
			row_number() over (order by c.conversation_id) as k
		from conversations c join conversation_memory m on m.id = c.conversation_id`); err != nil {
		t.Fatal(err)
	}
	// States gone every 7th key and for a run of 10 keys; grams gone every
	// 11th key (some of them also without a state).
	var noState, noGrams int64
	if err := conn.QueryRow(ctx, `with d as (
			delete from conversation_memory m using want w
			where m.id = w.id and (w.k % 7 = 0 or w.k between 201 and 210) returning 1)
		select count(*) from d`).Scan(&noState); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `set session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `with u as (update conversations c set search_grams = null from want w
			where c.conversation_id = w.id and w.k % 11 = 0 returning 1)
		select count(*) from u`).Scan(&noGrams); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `set session_replication_role = origin`); err != nil {
		t.Fatal(err)
	}
	const batch = 3 // a chunk is 60 keys: the 500 take 9
	res, err := memory.Consolidate(ctx, conn, model, batch, memory.PassOptions{Now: made, Adopt: true}, passClock(made))
	if err != nil {
		t.Fatal(err)
	}
	if res.Adopted != noState+noGrams {
		t.Errorf("adopted %d, want %d states and %d grams", res.Adopted, noState, noGrams)
	}
	// Each batch adopts at most 3 memories: the 98 that need it take 33
	// batches, besides the chunks, the emotions and the retention phases.
	if need := (noState + noGrams - 12) / batch; int64(res.Batches) < need {
		t.Errorf("%d batches, fewer than the %d that batches of %d take", res.Batches, need, batch)
	}
	var wrong int
	if err := conn.QueryRow(ctx, `select count(*) from want w
		left join conversation_memory m on m.id = w.id
		left join conversations c on c.conversation_id = w.id
		where m.id is null or m.weight <> w.weight or m.made_at <> w.made_at
			or c.search_grams is distinct from w.search_grams`).Scan(&wrong); err != nil || wrong != 0 {
		t.Fatalf("%d memories not adopted as the writers would (%v)", wrong, err)
	}
	again, err := memory.Consolidate(ctx, conn, model, batch, memory.PassOptions{Now: made, Adopt: true}, passClock(made))
	if err != nil || again.Adopted != 0 {
		t.Fatalf("second pass = %+v, %v; want nothing adopted", again, err)
	}
}

// TestPassRewritingManyVacuums checks that a pass that rewrote a fifth of the
// memories or more vacuums the state tables (so that the next pass and recall
// do not wait for autovacuum), and that one that rewrote few does not.
func TestPassRewritingManyVacuums(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	model := memory.NewModel(defaultMemory(t))
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, importance_level, created_at)
		select 'david', 'm' || i, 1 + i % 10, $1::timestamptz from generate_series(1, 300) i`, made); err != nil {
		t.Fatal(err)
	}
	vacuums := func() (n int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `select vacuum_count from pg_stat_user_tables where relname = 'conversation_memory'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	pass := func(at time.Time) memory.PassResult {
		t.Helper()
		res, err := memory.Consolidate(ctx, conn, model, 50, memory.PassOptions{Now: at, Adopt: true}, passClock(at))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := pass(made); res.Updated*5 >= 300 || vacuums() != 0 {
		t.Fatalf("a pass that updated %d of 300 vacuumed %d times", res.Updated, vacuums())
	}
	if res := pass(made.Add(40 * day)); res.Updated != 300 || vacuums() != 1 {
		t.Fatalf("a pass that updated %d of 300 vacuumed %d times, want once", res.Updated, vacuums())
	}
}

// cancelAfter cancels a context when the n-th batch statement starts.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
	mu     sync.Mutex
	count  *int
}

func (c *cancelAfter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(d.SQL, "with ") {
		c.mu.Lock()
		*c.count++
		if *c.count == c.n {
			c.cancel()
		}
		c.mu.Unlock()
	}
	return ctx
}

func (c *cancelAfter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestConsolidateLetsWritersThrough runs a pass in small batches while a writer
// saves messages, and checks that the writer's saves went through while the
// pass was running rather than after it: the pass holds no table lock and no
// transaction longer than one batch. The writer's waits are logged; the bench
// reports their p99 on a million rows.
func TestConsolidateLetsWritersThrough(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := pgtest.DB(t)
	pool, err := postgres.NewPool(ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `insert into conversations (speaker, message_text, created_at)
		select 'david', 'm' || i, $1::timestamptz - i * interval '1 minute' from generate_series(1, 3000) i`, made); err != nil {
		t.Fatal(err)
	}
	waits, during := writeDuring(t, ctx, pool, 0, func() {
		now := made.Add(3 * day)
		if _, err := memory.Consolidate(ctx, pool, memory.NewModel(defaultMemory(t)), 100, memory.PassOptions{Now: now, Adopt: true}, passClock(now)); err != nil {
			t.Error(err)
		}
	})
	if during == 0 {
		t.Fatalf("no save completed while the pass ran (%d saves in all)", len(waits))
	}
	slices.Sort(waits)
	t.Logf("%d saves, %d during the pass; max wait %v", len(waits), during, waits[len(waits)-1])
}

// writeDuring runs pass while a writer saves messages one by one through pool,
// one every every (back to back when it is 0), and returns the duration of every save and how many finished before pass
// returned.
func writeDuring(t testing.TB, ctx context.Context, pool *pgxpool.Pool, every time.Duration, pass func()) ([]time.Duration, int) {
	t.Helper()
	stop := make(chan struct{})
	passDone := make(chan struct{})
	var (
		waits  []time.Duration
		during int
		wg     sync.WaitGroup
		tick   <-chan time.Time
	)
	if every > 0 {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		tick = ticker.C
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if tick != nil {
				select {
				case <-stop:
					return
				case <-tick:
				}
			}
			start := time.Now()
			if _, err := pool.Exec(ctx, `insert into conversations (speaker, message_text) values ('angela', 'ระหว่างทาง')`); err != nil {
				t.Error(err)
				return
			}
			waits = append(waits, time.Since(start))
			select {
			case <-passDone:
			default:
				during++
			}
		}
	})
	pass()
	close(passDone)
	close(stop)
	wg.Wait()
	return waits, during
}

// TestDuePassAgreesWithAFullPass checks that the hourly pass, which reads only
// the memories that are due, leaves every memory as a full pass would: a full
// pass right after it finds nothing to change.
func TestDuePassAgreesWithAFullPass(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	model := memory.NewModel(defaultMemory(t))
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, importance_level, created_at)
		select 'david', 'm' || i, 1 + i % 10, $1::timestamptz - (i % 97) * interval '1 day' from generate_series(1, 500) i`, made); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `insert into angela_emotions (emotion, intensity, memory_strength, context, felt_at)
		select 'calm', 1 + i % 10, 1 + (i * 3) % 10, 'c', $1::timestamptz - (i % 61) * interval '1 day' from generate_series(1, 200) i`, made); err != nil {
		t.Fatal(err)
	}
	pass := func(at time.Time, full bool) memory.PassResult {
		t.Helper()
		res, err := memory.Consolidate(ctx, conn, model, 50, memory.PassOptions{Now: at, Adopt: full}, passClock(at))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	pass(made, true)
	for _, step := range []time.Duration{time.Hour, 6 * time.Hour, 3 * day, 40 * day} {
		at := made.Add(step)
		due := pass(at, false)
		if due.Seen >= 700 && step < day {
			t.Errorf("%v later the due pass read all %d memories", step, due.Seen)
		}
		if full := pass(at, true); full.Updated != 0 || full.NewlyForgotten != 0 {
			t.Fatalf("%v later a full pass after the due pass changed %d memories (%d newly forgotten)", step, full.Updated, full.NewlyForgotten)
		}
		made = at
	}
}

// TestFullPassReadsEveryMemoryOnce runs full passes in small batches over a
// table of many blocks, in which every memory changes, so that the new row
// versions the pass writes land after its cursor (in the same block or at the
// end of the table), and cuts one short in its conversations phase: the pass
// still reads and updates every memory exactly once, and resumes from its
// tuple-id cursor.
func TestFullPassReadsEveryMemoryOnce(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	model := memory.NewModel(defaultMemory(t))
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 2000
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, importance_level, created_at)
		select 'david', 'm' || i, 1 + i % 10, $1::timestamptz from generate_series(1, $2::int) i`, made, n); err != nil {
		t.Fatal(err)
	}
	pass := func(ctx context.Context, q postgres.DB, at time.Time) (memory.PassResult, error) {
		return memory.Consolidate(ctx, q, model, 37, memory.PassOptions{Now: at, Adopt: true}, passClock(at))
	}
	if res, err := pass(ctx, conn, made); err != nil || res.Seen != n {
		t.Fatalf("first pass = %+v, %v; want %d seen", res, err, n)
	}
	// 40 days on every retention has moved. Cut the pass short in its
	// conversations phase: the adoption looks through the conversations in
	// 3 chunks of 20 batches' keys (nothing to adopt), the emotions in one.
	later := made.Add(40 * day)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var batches int
	cfg, err := pgx.ParseConfig(conn.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracer = &cancelAfter{n: 4 + 20, cancel: cancel, count: &batches}
	traced, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer traced.Close(ctx)
	if _, err := pass(cctx, traced, later); err == nil {
		t.Fatal("an interrupted pass reported no error")
	}
	var phase *string
	var cursorSet bool
	if err := conn.QueryRow(ctx, `select phase, cursor_tid is not null from memory_consolidation`).Scan(&phase, &cursorSet); err != nil {
		t.Fatal(err)
	}
	if phase == nil || *phase != "conversations" || !cursorSet {
		t.Fatalf("progress after the interruption: phase %v, cursor set %v; want conversations with a cursor", phase, cursorSet)
	}
	res, err := pass(ctx, conn, later)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Seen != n || res.Updated != n {
		t.Fatalf("resumed pass = %+v, want %d seen and updated", res, n)
	}
	var stale int
	if err := conn.QueryRow(ctx, `select count(*) from conversation_memory where due_at <= $1`, later).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d memories left due (%v)", stale, err)
	}
	// Nothing is left to change, and a full pass still reads every memory.
	if res, err := pass(ctx, conn, later); err != nil || res.Seen != n || res.Updated != 0 {
		t.Fatalf("pass again = %+v, %v; want %d seen, none updated", res, err, n)
	}
}

// TestStartPassSkipsUnchangedModel checks SkipUnchanged: a pass at start
// reads only the memories that are due while the retention model is the one
// of the last full pass, and every memory again once it changed.
func TestStartPassSkipsUnchangedModel(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 300
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, importance_level, created_at)
		select 'david', 'm' || i, 1 + i % 10, $1::timestamptz from generate_series(1, $2::int) i`, made, n); err != nil {
		t.Fatal(err)
	}
	cfg := defaultMemory(t)
	pass := func(cfg config.Memory, at time.Time, skip bool) memory.PassResult {
		t.Helper()
		res, err := memory.Consolidate(ctx, conn, memory.NewModel(cfg), 40,
			memory.PassOptions{Now: at, Adopt: true, SkipUnchanged: skip}, passClock(at))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// Nothing has been passed yet: the first pass at start is a full one.
	if res := pass(cfg, made, true); res.Seen != n {
		t.Fatalf("first pass saw %d, want %d", res.Seen, n)
	}
	// A minute on no retention has moved by the precision: nothing is due,
	// but a full pass reads every memory.
	if res := pass(cfg, made.Add(time.Minute), false); res.Seen != n || res.Updated != 0 {
		t.Fatalf("full pass = %+v, want %d seen, none updated", res, n)
	}
	if res := pass(cfg, made.Add(2*time.Minute), true); res.Seen != 0 {
		t.Fatalf("pass at start with the same model saw %d, want 0", res.Seen)
	}
	// Another half-life: every memory is read, and the new model recorded.
	cfg.HalfLifeMinDays = 8
	if res := pass(cfg, made.Add(3*time.Minute), true); res.Seen != n {
		t.Fatalf("pass at start with a new model = %+v, want %d seen", res, n)
	}
	if res := pass(cfg, made.Add(4*time.Minute), true); res.Seen != 0 {
		t.Fatalf("pass at start after the new model's full pass saw %d, want 0", res.Seen)
	}
}

package dailyupdate

import (
	"context"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// BenchmarkEveningReflection is the evening update of a day with 10,000
// messages and 1,000 emotions, in tables of 1,000,000 messages and 100,000
// emotions: the figures, the journal entry, the update and the ledger, through
// Runner.Run as `angelad run-job evening` does it. One op is one reflection.
//
//	go test -run '^$' -bench BenchmarkEveningReflection -benchtime 50x ./internal/dailyupdate/
func BenchmarkEveningReflection(b *testing.B) {
	ctx := context.Background()
	conn := pgtest.Conn(b, pgtest.DB(b))
	loc, _ := time.LoadLocation("Asia/Bangkok")
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	start, _ := dayBounds(day, loc)
	// 990,000 messages over the 1,000 days before, 10,000 within the day;
	// 99,000 emotions before, 1,000 within the day.
	for _, sql := range []string{`
insert into conversations (speaker, message_text, topic, session_id, importance_level, emotion_detected, created_at)
	select (array['david', 'angela', 'system'])[1 + i % 3], 'message ' || i, 'topic ' || (i % 50), 's' || (i / 200),
		1 + i % 10, 'happy', $1::timestamptz - interval '1 second' - (i * interval '87 seconds')
	from generate_series(1, 990000) i`, `
insert into conversations (speaker, message_text, topic, session_id, importance_level, created_at)
	select (array['david', 'angela', 'system'])[1 + i % 3], 'ข้อความ ' || i, 'topic ' || (i % 20), 'day' || (i / 500),
		1 + i % 10, $1::timestamptz + (i * interval '8 seconds')
	from generate_series(0, 9999) i`, `
insert into angela_emotions (emotion, intensity, context, felt_at)
	select (array['happy', 'loved', 'sad', 'calm'])[1 + i % 4], 1 + i % 10, 'context ' || i,
		$1::timestamptz - interval '1 second' - (i * interval '873 seconds')
	from generate_series(1, 99000) i`, `
insert into angela_emotions (emotion, intensity, context, felt_at)
	select (array['happy', 'loved', 'sad', 'calm'])[1 + i % 4], 1 + i % 10, 'context ' || i, $1::timestamptz + (i * interval '80 seconds')
	from generate_series(0, 999) i`} {
		if _, err := conn.Exec(ctx, sql, start); err != nil {
			b.Fatal(err)
		}
	}
	for _, sql := range []string{"vacuum analyze conversations", "vacuum analyze angela_emotions"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	clock := testkit.NewClock(time.Date(2026, 12, 2, 8, 0, 0, 0, loc))
	log, _ := observed()
	o := Options{Jobs: map[string]JobConfig{}, MaxAttempts: 3, CatchUp: 36 * time.Hour, Location: loc, Log: log,
		Companion: config.Companion{Language: "th", UserName: "David", Name: "Angela", Since: testSince},
		Instance:  "bench", Now: clock.Now}
	r := NewRunner(o)
	wall := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	s := Slot{Job: JobEvening, Wall: wall, At: instantOf(wall, loc)}
	var f DayFigures
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := r.Run(ctx, conn, s, true); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	f, err := ComputeDay(ctx, conn, day, loc, testSince)
	if err != nil {
		b.Fatal(err)
	}
	if f.Conversations != 10000 || f.Emotions.Count != 1000 {
		b.Fatalf("the day has %d messages and %d emotions, want 10000 and 1000", f.Conversations, f.Emotions.Count)
	}
}

// idleWorker returns a worker that has run every slot of its window, so that
// its next passes find nothing to do.
func idleWorker(tb testing.TB) (*Worker, *testkit.Clock) {
	url := pgtest.DB(tb)
	pool, err := postgresPool(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	loc, _ := time.LoadLocation("Asia/Bangkok")
	clock := testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 30, 0, loc))
	log, _ := observed()
	jobs := map[string]JobConfig{}
	for name, spec := range map[string]string{JobMorning: "0 6 * * *", JobMidnight: "0 0 * * *", JobEvening: "0 22 * * *"} {
		s, err := ParseSchedule(spec)
		if err != nil {
			tb.Fatal(err)
		}
		jobs[name] = JobConfig{Schedule: s, Enabled: true}
	}
	o := Options{Jobs: jobs, MaxAttempts: 3, CatchUp: 36 * time.Hour, Location: loc, Log: log,
		Companion: config.Companion{Language: "th", UserName: "David", Name: "Angela", Since: testSince},
		Instance:  "idle", Now: clock.Now}
	w := NewWorker(WorkerOptions{Options: o, Pool: pool, After: clock.After})
	if _, err := w.pass(context.Background(), clock.Now()); err != nil {
		tb.Fatal(err)
	}
	return w, clock
}

// BenchmarkIdlePass is one wake of the worker between slots (it wakes at most
// once a minute): the CPU an idle worker spends per minute.
//
//	go test -run '^$' -bench BenchmarkIdlePass ./internal/dailyupdate/
func BenchmarkIdlePass(b *testing.B) {
	w, clock := idleWorker(b)
	ctx := context.Background()
	now := clock.Now()
	for b.Loop() {
		now = now.Add(time.Minute)
		if now.Hour() == 21 { // stay between slots
			now = now.Add(-9 * time.Hour)
		}
		if _, err := w.pass(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
}

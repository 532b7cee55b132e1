package dailyupdate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

func TestTwoWorkersOnTwoPoolsRunEachSlotOnce(t *testing.T) {
	twoWorkersRunEachSlotOnce(t, pgtest.DB(t))
}

// TestTwoWorkersThroughPgBouncerRunEachSlotOnce: through a pooler in
// transaction mode, where a session lock would be taken in one server session
// and released in another, the slots' transaction locks still let each slot
// run once.
func TestTwoWorkersThroughPgBouncerRunEachSlotOnce(t *testing.T) {
	twoWorkersRunEachSlotOnce(t, pgtest.StartPgBouncer(t).DB(t))
}

func twoWorkersRunEachSlotOnce(t *testing.T, url string) {
	loc := mustLoad(t, "Asia/Bangkok")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, loc)
	clockA, clockB := testkit.NewClock(now), testkit.NewClock(now)
	logA, logsA := observed()
	logB, logsB := observed()
	oA := testOptions(t, loc, clockA, logA, map[string]string{JobEvening: "* * * * *"})
	oB := testOptions(t, loc, clockB, logB, map[string]string{JobEvening: "* * * * *"})
	oA.CatchUp, oB.CatchUp = 100*time.Minute, 100*time.Minute
	oA.Instance, oB.Instance = "a", "b"
	poolA, poolB := testPool(t, url), testPool(t, url)
	startWorker(t, poolA, clockA, oA)
	startWorker(t, poolB, clockB, oB)
	testkit.WaitFor(t, "100 slots done", func() bool {
		var done, other int
		poolA.QueryRow(context.Background(), `select count(*) filter (where status = 'done'),
	count(*) filter (where status <> 'done') from daily_update_runs`).Scan(&done, &other)
		return done == 100 && other == 0
	})
	// Each worker looks again at what it found busy: nothing runs twice.
	for range 2 {
		settle(t, clockA)
		settle(t, clockB)
	}

	rows := ledger(t, poolA)
	// The two settling minutes add two slots to the 100 of the window.
	if len(rows) != 102 {
		t.Fatalf("%d slots in the ledger, want 102", len(rows))
	}
	byInstance := map[string]int{}
	for _, r := range rows {
		if r.status != StatusDone || r.attempts != 1 {
			t.Fatalf("slot %s: status %s after %d attempts, want done after 1", r.wall, r.status, r.attempts)
		}
		byInstance[r.instance]++
	}
	if ran := ranCount(logsA) + ranCount(logsB); ran != len(rows) {
		t.Fatalf("the two workers ran %d slots between them, want %d (each once)", ran, len(rows))
	}
	if byInstance["a"] != ranCount(logsA) || byInstance["b"] != ranCount(logsB) {
		t.Fatalf("the ledger credits %v, the logs a=%d b=%d", byInstance, ranCount(logsA), ranCount(logsB))
	}
	t.Logf("a ran %d, b ran %d", byInstance["a"], byInstance["b"])
}

func TestCatchUpAfterTwoDaysDownRunsTheWindowOldestFirstAndSkipsTheRest(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	loc := mustLoad(t, "Asia/Bangkok")
	specs := map[string]string{JobMorning: "0 6 * * *", JobMidnight: "0 0 * * *", JobEvening: "0 22 * * *"}

	// The daemon ran until 2026-11-28 23:00 and was down for two days.
	clock := testkit.NewClock(time.Date(2026, 11, 28, 23, 0, 0, 0, loc))
	log, _ := observed()
	w := startWorker(t, pool, clock, testOptions(t, loc, clock, log, specs))
	clock.NextWait(t)
	w.stop(t)
	before := ledger(t, pool)
	if len(before) != 4 { // the 27th 22:00, the 28th 00:00, 06:00 and 22:00
		t.Fatalf("the first start ran %d slots, want 4", len(before))
	}
	for _, r := range before {
		if r.status != StatusDone {
			t.Fatalf("first start: slot %s %s is %s", r.job, r.wall, r.status)
		}
	}

	clock.Set(time.Date(2026, 12, 1, 7, 0, 0, 0, loc))
	log, logs := observed()
	w = startWorker(t, pool, clock, testOptions(t, loc, clock, log, specs))
	clock.NextWait(t)
	w.stop(t)

	var ran []string
	for _, e := range logs.FilterMessage("ran").All() {
		ran = append(ran, e.ContextMap()["job"].(string)+" "+e.ContextMap()["slot_local"].(string))
	}
	// The window is 2026-11-29 19:00 to 2026-12-01 07:00.
	want := []string{"evening 2026-11-29 22:00", "midnight 2026-11-30 00:00", "morning 2026-11-30 06:00",
		"evening 2026-11-30 22:00", "midnight 2026-12-01 00:00", "morning 2026-12-01 06:00"}
	if strings.Join(ran, ", ") != strings.Join(want, ", ") {
		t.Fatalf("ran %v\nwant %v (the window, oldest first)", ran, want)
	}
	status := map[string]string{}
	for _, r := range ledger(t, pool) {
		status[r.job+" "+r.wall] = r.status
	}
	for _, k := range []string{"midnight 2026-11-29 00:00", "morning 2026-11-29 06:00"} {
		if status[k] != StatusSkipped {
			t.Errorf("slot %s is %q, want skipped (older than the window)", k, status[k])
		}
	}
	for _, k := range want {
		if status[k] != StatusDone {
			t.Errorf("slot %s is %q, want done", k, status[k])
		}
	}
}

func TestSleepIsCaughtUpWhenTheWallClockJumpsAndNothingRunsTwiceWhenItGoesBack(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	loc := mustLoad(t, "Asia/Bangkok")
	clock := testkit.NewClock(time.Date(2026, 12, 1, 21, 0, 0, 0, loc))
	log, logs := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "0 22 * * *", JobMidnight: "0 0 * * *"})
	o.CatchUp = 12 * time.Hour // nothing due at the first start
	startWorker(t, pool, clock, o)
	if d := clock.NextWait(t).D; d > time.Minute {
		t.Fatalf("the worker waits %s, want at most a minute so that a jump is seen", d)
	}
	if n := ranCount(logs); n != 0 {
		t.Fatalf("ran %d before any slot was due", n)
	}
	// The machine sleeps from 21:00 to 03:00: the wall clock jumps while the
	// worker's one-minute timer stands still, then the timer runs out.
	clock.Set(time.Date(2026, 12, 2, 3, 0, 0, 0, loc))
	clock.FireAll()
	clock.NextWait(t)
	if n := ranCount(logs); n != 2 {
		t.Fatalf("after wake ran %d slots, want 2 (evening 22:00, midnight 00:00)", n)
	}
	if logs.FilterMessage("the wall clock jumped: catching up").Len() != 1 {
		t.Fatal("the jump was not logged")
	}
	// The clock is set back four hours: the slots in between already ran.
	clock.Set(time.Date(2026, 12, 1, 23, 0, 0, 0, loc))
	clock.FireAll()
	clock.NextWait(t)
	clock.Set(time.Date(2026, 12, 2, 3, 5, 0, 0, loc))
	clock.FireAll()
	clock.NextWait(t)
	if n := ranCount(logs); n != 2 {
		t.Fatalf("after the clock went back and forth ran %d slots in all, want still 2", n)
	}
	for _, r := range ledger(t, pool) {
		if r.attempts != 1 {
			t.Fatalf("slot %s %s attempted %d times", r.job, r.wall, r.attempts)
		}
	}
}

// TestDaylightSavingTime steps a worker minute by minute through a transition
// and checks that the one slot of the day ran once, at the right instant.
func TestDaylightSavingTime(t *testing.T) {
	for _, tc := range []struct {
		name, zone, spec string
		start            time.Time // local wall clock, read in zone
		restartAfter     time.Duration
		wantRanAt        string // UTC instant the one slot ran at
	}{
		{"NewYorkForward", "America/New_York", "30 2 * * *", time.Date(2026, 3, 8, 1, 0, 0, 0, time.UTC), 0, "2026-03-08T07:00:00Z"},
		{"LondonForward", "Europe/London", "30 1 * * *", time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), 0, "2026-03-29T01:00:00Z"},
		// Restarted at the second 01:10, inside the repeated hour, after the
		// first 01:30 ran.
		{"NewYorkBackRestartInRepeatedHour", "America/New_York", "30 1 * * *", time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC), 100 * time.Minute, "2026-11-01T05:30:00Z"},
		{"LondonBackRestartInRepeatedHour", "Europe/London", "30 1 * * *", time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), 100 * time.Minute, "2026-10-25T00:30:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := pgtest.DB(t)
			pool := testPool(t, url)
			loc := mustLoad(t, tc.zone)
			start := time.Date(tc.start.Year(), tc.start.Month(), tc.start.Day(), tc.start.Hour(), 0, 0, 0, loc)
			clock := testkit.NewClock(start)
			log, logs := observed()
			o := testOptions(t, loc, clock, log, map[string]string{JobMorning: tc.spec})
			// Long enough that the restarted worker still sees the slot that
			// ran in the first pass of the repeated hour, too short to reach
			// the day before.
			o.CatchUp = 3 * time.Hour
			w := startWorker(t, pool, clock, o)
			clock.NextWait(t)
			ran := 0
			for step := time.Duration(0); step < 4*time.Hour; step += time.Minute {
				if tc.restartAfter > 0 && step == tc.restartAfter {
					w.stop(t)
					ran += ranCount(logs)
					log, logs = observed()
					o.Log = log
					w = startWorker(t, pool, clock, o)
					clock.NextWait(t)
				}
				clock.Advance(time.Minute)
				clock.NextWait(t)
			}
			ran += ranCount(logs)
			rows := ledger(t, pool)
			if ran != 1 || len(rows) != 1 {
				t.Fatalf("ran %d times, %d slots in the ledger, want the slot once", ran, len(rows))
			}
			if got := rows[0].at.UTC().Format(time.RFC3339); got != tc.wantRanAt || rows[0].status != StatusDone {
				t.Fatalf("slot due at %s (%s), want %s done", got, rows[0].status, tc.wantRanAt)
			}
		})
	}
}

func TestFailedSlotIsRetriedWithBackoffThenFailsForGood(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	loc := mustLoad(t, "Asia/Bangkok")
	clock := testkit.NewClock(time.Date(2026, 12, 1, 22, 0, 0, 0, loc))
	log, _ := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "0 22 * * *"})
	// A file where the directory should be: every write fails.
	dir := filepath.Join(t.TempDir(), "updates")
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Dir, o.CatchUp = dir, time.Hour
	w := startWorker(t, pool, clock, o)
	wait := clock.NextWait(t).D
	rows := ledger(t, pool)
	if len(rows) != 1 || rows[0].status != StatusFailed || rows[0].attempts != 1 {
		t.Fatalf("ledger %+v, want one slot failed after 1 attempt", rows)
	}
	var n int
	pool.QueryRow(context.Background(), "select count(*) from daily_updates").Scan(&n)
	if n != 0 {
		t.Fatalf("a failed run left %d updates behind; its transaction must roll back", n)
	}
	if wait != time.Minute {
		t.Fatalf("waits %s after the first failure, want the 1m backoff", wait)
	}
	attemptsAfter := func(d time.Duration) int {
		clock.Advance(d)
		clock.NextWait(t)
		return ledger(t, pool)[0].attempts
	}
	if a := attemptsAfter(time.Minute); a != 2 {
		t.Fatalf("after the 1m backoff: %d attempts, want 2", a)
	}
	// The second backoff is 2 minutes.
	if a := attemptsAfter(time.Minute); a != 2 {
		t.Fatalf("a minute into the 2m backoff: %d attempts, want still 2", a)
	}
	if a := attemptsAfter(time.Minute); a != 3 {
		t.Fatalf("after the 2m backoff: %d attempts, want 3", a)
	}
	if r := ledger(t, pool)[0]; r.status != StatusFailed {
		t.Fatalf("after max_attempts: %s, want failed", r.status)
	}
	if p := w.Problem(); !strings.Contains(p, "evening") || !strings.Contains(p, "failed for good after 3 attempts") {
		t.Fatalf("problem %q, want the evening update failed for good after 3 attempts", p)
	}
	// Failed for good: no fourth attempt.
	for range 10 {
		if a := attemptsAfter(time.Minute); a != 3 {
			t.Fatalf("tried again after failing for good: %d attempts", a)
		}
	}
}

func TestRetrySucceedsOnceTheCauseIsGone(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	loc := mustLoad(t, "Asia/Bangkok")
	clock := testkit.NewClock(time.Date(2026, 12, 1, 22, 0, 0, 0, loc))
	log, _ := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "0 22 * * *"})
	dir := filepath.Join(t.TempDir(), "updates")
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o.Dir, o.CatchUp = dir, time.Hour
	startWorker(t, pool, clock, o)
	clock.NextWait(t)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	clock.NextWait(t)
	r := ledger(t, pool)[0]
	if r.status != StatusDone || r.attempts != 2 {
		t.Fatalf("%s after %d attempts, want done after 2", r.status, r.attempts)
	}
	if !exists(filepath.Join(dir, "2026-12-01-evening.md")) {
		t.Fatal("the update file was not written")
	}
}

const (
	childEnv    = "ANGELAD_DAILYUPDATE_TEST_CHILD_DB"
	childNowEnv = "ANGELAD_DAILYUPDATE_TEST_CHILD_NOW"
)

// runChild runs a worker whose wall clock stands at $childNowEnv, for the
// evening job every minute, until it is killed.
func runChild() {
	loc, _ := time.LoadLocation("Asia/Bangkok")
	now, err := time.Parse(time.RFC3339, os.Getenv(childNowEnv))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, os.Getenv(childEnv), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 2})
	if err != nil {
		panic(err)
	}
	s, _ := ParseSchedule("* * * * *")
	jobs := map[string]JobConfig{JobEvening: {Schedule: s, Enabled: true}}
	log, _ := zap.NewDevelopment()
	o := Options{Jobs: jobs, MaxAttempts: 3, CatchUp: time.Minute, Location: loc, Log: log,
		Companion: config.Companion{Language: "en", UserName: "David", Name: "Angela", Since: testSince},
		Instance:  "child", Now: func() time.Time { return now }}
	NewWorker(WorkerOptions{Options: o, Pool: pool, After: time.After}).Run(ctx)
	select {}
}

// slotLocks counts the slot locks held by sessions other than the caller's.
func slotLocks(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `select count(*) from pg_locks
where locktype = 'advisory' and granted and pid <> pg_backend_pid()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKill9MidRunLeavesTheSlotToRunOnceElsewhere kills a process in the middle
// of a run: while it lives, its transaction holds the slot's lock and another
// worker leaves the slot alone; once it is dead, its run has rolled back whole
// and the other worker runs the slot, once.
func TestKill9MidRunLeavesTheSlotToRunOnceElsewhere(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	loc := mustLoad(t, "Asia/Bangkok")
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, loc)
	ctx := context.Background()

	// Hold the updates table so that the child's run blocks mid-way, with
	// the slot claimed and its lock held.
	blocker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, "lock table daily_updates in access exclusive mode"); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+url, childNowEnv+"="+now.Format(time.RFC3339))
	var stderr strings.Builder
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Process.Kill()
			child.Wait()
		}
	}()
	testkit.WaitFor(t, "the child to lock the slot", func() bool { return slotLocks(t, pool) == 1 })

	// While the child lives, another worker leaves its slot alone.
	clock := testkit.NewClock(now)
	log, logs := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "* * * * *"})
	o.CatchUp, o.Instance = time.Minute, "survivor"
	startWorker(t, pool, clock, o)
	if d := clock.NextWait(t).D; d > busyRetry {
		t.Fatalf("waits %s after finding the slot busy, want at most %s", d, busyRetry)
	}
	if rows := ledger(t, pool); len(rows) != 0 || ranCount(logs) != 0 {
		t.Fatalf("the slot was taken while its owner lived: %+v", rows)
	}

	if err := child.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	killed = true
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the survivor to run the slot", func() bool {
		clock.Advance(busyRetry)
		clock.NextWait(t)
		return ranCount(logs) > 0
	})
	rows := ledger(t, pool)
	if len(rows) != 1 || rows[0].status != StatusDone || rows[0].instance != "survivor" || rows[0].attempts != 1 {
		t.Fatalf("ledger %+v, want the slot done by the survivor, the killed run having left nothing", rows)
	}
	if ranCount(logs) != 1 {
		t.Fatalf("ran %d times", ranCount(logs))
	}
	var updates, journal int
	pool.QueryRow(ctx, "select count(*) from daily_updates").Scan(&updates)
	pool.QueryRow(ctx, "select count(*) from angela_journal").Scan(&journal)
	if updates != 1 || journal != 1 {
		t.Fatalf("%d updates and %d journal entries, want 1 each", updates, journal)
	}
}

// TestASlotLeftRunningByAnEarlierReleaseIsTakenOver: an earlier angelad
// committed its claim before running a slot and held the slot's lock in its
// session, so a process that died mid-run left the slot running. Nobody holds
// its lock any more: the worker takes it over as a further attempt, once.
func TestASlotLeftRunningByAnEarlierReleaseIsTakenOver(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	ctx := context.Background()
	loc := mustLoad(t, "Asia/Bangkok")
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, loc)
	if _, err := pool.Exec(ctx, `insert into daily_update_runs (job, slot_wall, slot_at, zone, status, attempts, instance, manual_runs, started_at)
values ('evening', '2026-12-01 22:00', $1, 'Asia/Bangkok', 'running', 1, 'old:1:x', 0, $1)`, now); err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(now)
	log, logs := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "0 22 * * *"})
	o.CatchUp = time.Hour
	startWorker(t, pool, clock, o)
	clock.NextWait(t)
	rows := ledger(t, pool)
	if ranCount(logs) != 1 || len(rows) != 1 || rows[0].status != StatusDone || rows[0].attempts != 2 {
		t.Fatalf("ran %d; ledger %+v, want done on the 2nd attempt", ranCount(logs), rows)
	}
	if n := logs.FilterMessage("taking over a slot left running by a process that stopped").Len(); n != 1 {
		t.Fatalf("the take-over was logged %d times", n)
	}
}

func TestAnIdlePassBetweenSlotsTouchesNoDatabase(t *testing.T) {
	w, clock := idleWorker(t)
	before := w.o.Pool.Stat().AcquireCount()
	now := clock.Now()
	for range 60 {
		now = now.Add(time.Minute)
		wait, err := w.pass(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if wait <= 0 || wait > maxWait {
			t.Fatalf("waits %s, want up to a minute", wait)
		}
	}
	if n := w.o.Pool.Stat().AcquireCount() - before; n != 0 {
		t.Fatalf("an hour of idle passes used the database %d times, want 0", n)
	}
}

func TestASessionLostMidRunIsRetriedAndNeverCountsAsRun(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	ctx := context.Background()
	loc := mustLoad(t, "Asia/Bangkok")
	clock := testkit.NewClock(time.Date(2026, 12, 1, 22, 0, 0, 0, loc))
	log, logs := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "0 22 * * *"})
	o.CatchUp = time.Hour
	blocker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, "lock table daily_updates in access exclusive mode"); err != nil {
		t.Fatal(err)
	}
	startWorker(t, pool, clock, o)
	testkit.WaitFor(t, "the worker to lock the slot", func() bool { return slotLocks(t, pool) == 1 })
	// The database ends the worker's session mid-run.
	var killed int
	if err := pool.QueryRow(ctx, `select count(pg_terminate_backend(pid)) from pg_locks
where locktype = 'advisory' and granted and pid <> pg_backend_pid()`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d sessions: %v", killed, err)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if d := clock.NextWait(t).D; d != time.Second {
		t.Fatalf("waits %s after losing the session, want the 1s database backoff", d)
	}
	if ranCount(logs) != 0 {
		t.Fatal("a run whose session was lost counted as run")
	}
	// The terminated session may take a moment to release the slot's lock;
	// until then the slot is busy and looked at again every busyRetry.
	testkit.WaitFor(t, "the worker to run the slot again", func() bool {
		clock.Advance(busyRetry)
		clock.NextWait(t)
		return ranCount(logs) > 0
	})
	// The lost run rolled back whole: the run that stored the update is the
	// slot's first recorded attempt.
	rows := ledger(t, pool)
	if ranCount(logs) != 1 || len(rows) != 1 || rows[0].status != StatusDone || rows[0].attempts != 1 {
		t.Fatalf("ran %d; ledger %+v, want done, one attempt recorded", ranCount(logs), rows)
	}
}

func TestAheadOfItsSlotWritesTheUpdateAndLeavesTheSlotToTheSchedule(t *testing.T) {
	ctx := context.Background()
	conn := pgtest.Conn(t, pgtest.DB(t))
	o := contentOptions(t, "en")
	wall := time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)
	res, err := NewRunner(o).Ahead(ctx, conn, Slot{Job: JobEvening, Wall: wall, At: instantOf(wall, o.Location)})
	if err != nil || res.Date.Format(time.DateOnly) != "2026-12-02" {
		t.Fatalf("Ahead = %+v, %v", res, err)
	}
	var updates, runs int
	conn.QueryRow(ctx, "select count(*) from daily_updates where update_date = '2026-12-02'").Scan(&updates)
	conn.QueryRow(ctx, "select count(*) from daily_update_runs").Scan(&runs)
	if updates != 1 || runs != 0 {
		t.Fatalf("%d updates and %d ledger rows, want 1 and 0", updates, runs)
	}
}

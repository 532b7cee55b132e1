package dailyupdate

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// fakeClock is a wall clock the test sets and timers it fires. Jump moves the
// wall clock without firing timers, as sleep does to a monotonic timer; Fire
// then fires the timers the worker waits on, as the timer running out after
// wake does.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	waiting chan time.Duration
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, waiting: make(chan time.Duration, 10000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.waiting <- d
	return ch
}

// Set moves the wall clock to t without firing timers.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Fire fires every timer, as if their durations had passed.
func (c *fakeClock) Fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		t.ch <- c.now
	}
	c.timers = nil
}

// Advance moves the clock by d and fires the timers then due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	var keep []fakeTimer
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

// idle waits until a worker has finished a pass and waits on the clock.
func (c *fakeClock) idle(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waiting:
		return d
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not finish its pass within 60s")
		return 0
	}
}

// settle forgets the passes seen so far, moves the clock a minute (which
// fires every timer the worker may wait on) and waits for the pass that
// follows.
func (c *fakeClock) settle(t *testing.T) {
	t.Helper()
	for {
		select {
		case <-c.waiting:
			continue
		default:
		}
		break
	}
	c.Advance(maxWait)
	c.idle(t)
}

// testPool is a pool on url for the duration of the test.
func testPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.NewPool(context.Background(), url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

var testSince = time.Date(2025, 10, 14, 0, 0, 0, 0, time.UTC)

// testOptions are a worker's options with only the named jobs enabled.
func testOptions(t *testing.T, loc *time.Location, clock *fakeClock, log *zap.Logger, specs map[string]string) Options {
	t.Helper()
	jobs := map[string]JobConfig{}
	for _, name := range JobNames() {
		spec, ok := specs[name]
		if !ok {
			spec = "0 0 * * *"
		}
		jobs[name] = JobConfig{Schedule: mustSchedule(t, spec), Enabled: ok}
	}
	return Options{Jobs: jobs, MaxAttempts: 3, CatchUp: 36 * time.Hour, Location: loc, Log: log,
		Companion: config.Companion{Language: "en", UserName: "David", Name: "Angela", Since: testSince},
		Instance:  fmt.Sprintf("test-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()), Now: clock.Now}
}

// observed is a logger whose entries the test reads.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// running runs a worker until the test ends and returns its problem reports.
type runningWorker struct {
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	problem string
	detail  any
}

func startWorker(t *testing.T, pool *pgxpool.Pool, clock *fakeClock, o Options) *runningWorker {
	t.Helper()
	rw := &runningWorker{done: make(chan error, 1)}
	w := NewWorker(WorkerOptions{Options: o, Pool: pool, After: clock.After,
		Detail:  func(v any) { rw.mu.Lock(); rw.detail = v; rw.mu.Unlock() },
		Problem: func(p string) { rw.mu.Lock(); rw.problem = p; rw.mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	rw.cancel = cancel
	go func() { rw.done <- w.Run(ctx) }()
	t.Cleanup(func() { rw.stop(t) })
	return rw
}

func (rw *runningWorker) stop(t *testing.T) {
	t.Helper()
	if rw.cancel == nil {
		return
	}
	rw.cancel()
	rw.cancel = nil
	select {
	case err := <-rw.done:
		if err != nil {
			t.Errorf("worker returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the worker did not stop within 30s")
	}
}

func (rw *runningWorker) Problem() string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.problem
}

// ledgerRow is one slot as the ledger has it.
type ledgerRow struct {
	job, wall, status, instance string
	attempts                    int
	at                          time.Time
}

func ledger(t *testing.T, pool *pgxpool.Pool) []ledgerRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select job, to_char(slot_wall, 'YYYY-MM-DD HH24:MI'), status,
	coalesce(instance, ''), attempts, slot_at from daily_update_runs order by slot_at, job`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []ledgerRow
	for rows.Next() {
		var r ledgerRow
		if err := rows.Scan(&r.job, &r.wall, &r.status, &r.instance, &r.attempts, &r.at); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ranCount counts the "ran" log entries.
func ranCount(logs *observer.ObservedLogs) int {
	return logs.FilterMessage("ran").Len()
}

// waitFor polls cond until it holds or 60 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func postgresPool(url string) (*pgxpool.Pool, error) {
	return postgres.NewPool(context.Background(), url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
}

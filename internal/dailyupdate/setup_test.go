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
	"github.com/angela-ai/angelad/internal/testkit"
)

// settle forgets the passes seen so far, moves the clock maxWait (which ends
// every wait the worker may be in) and waits for the pass that follows.
func settle(t *testing.T, clock *testkit.Clock) {
	t.Helper()
	clock.TakeAll()
	clock.Advance(maxWait)
	clock.NextWait(t)
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
func testOptions(t *testing.T, loc *time.Location, clock *testkit.Clock, log *zap.Logger, specs map[string]string) Options {
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

func startWorker(t *testing.T, pool *pgxpool.Pool, clock *testkit.Clock, o Options) *runningWorker {
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

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func postgresPool(url string) (*pgxpool.Pool, error) {
	return postgres.NewPool(context.Background(), url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
}

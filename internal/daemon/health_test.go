package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// testPool returns a pool on connString, closed when the test ends. It
// connects lazily, so a database that is not there fails only its queries.
func testPool(t *testing.T, connString string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testMonitor returns a monitor of pool that logs to an observer and
// publishes into st.
func testMonitor(t *testing.T, pool *pgxpool.Pool, cluster *managed.Cluster, st *DatabaseStatus) (*dbMonitor, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return &dbMonitor{
		pool: pool, cluster: cluster, log: zap.New(core), interval: 10 * time.Second,
		now: time.Now, after: time.After,
		publish:          func(change func(*DatabaseStatus)) { change(st) },
		onClusterStarted: func() {},
		up:               true,
	}, logs
}

func TestMonitorLogsAFailedClusterRestartOncePerOutage(t *testing.T) {
	ctx := context.Background()
	live := testPool(t, pgtest.DB(t))
	dead := testPool(t, "host=/nonexistent-angelad-socket-dir port=5432 user=angela dbname=angela connect_timeout=1")
	// A managed cluster that cannot start: no server programs where it looks.
	cluster := managed.New(managed.Options{StateDir: pgtest.StateDir(t), BinDir: t.TempDir()})
	var st DatabaseStatus
	m, logs := testMonitor(t, dead, cluster, &st)

	for range 3 {
		m.check(ctx)
	}
	failed := logs.FilterMessage("cannot restart the managed PostgreSQL")
	if failed.Len() != 1 {
		t.Fatalf("a failed restart was logged %d times in one outage, want once: %v", failed.Len(), logs.All())
	}
	if reason := failed.All()[0].ContextMap()["error"]; reason == nil || !strings.Contains(reason.(string), "install the PostgreSQL server") {
		t.Errorf("the failed restart's line does not say why: %v", failed.All()[0].ContextMap())
	}

	m.pool = live
	m.check(ctx)
	if !st.Reachable {
		t.Fatalf("not reachable after a good check: %+v", st)
	}
	m.pool = dead
	m.check(ctx)
	m.check(ctx)
	if n := logs.FilterMessage("cannot restart the managed PostgreSQL").Len(); n != 2 {
		t.Errorf("two outages logged %d failed restarts, want 2: %v", n, logs.All())
	}
}

func TestMonitorPublishesAnOutageBeforeItLogsIt(t *testing.T) {
	dead := testPool(t, "host=/nonexistent-angelad-socket-dir port=5432 user=angela dbname=angela connect_timeout=1")
	var st DatabaseStatus
	m, logs := testMonitor(t, dead, nil, &st)
	published := m.publish
	loggedFirst := false
	m.publish = func(change func(*DatabaseStatus)) {
		if logs.FilterMessage("database unreachable").Len() > 0 {
			loggedFirst = true
		}
		published(change)
	}
	m.check(context.Background())
	if st.Reachable || logs.FilterMessage("database unreachable").Len() != 1 {
		t.Fatalf("after a failed check: reachable %t, log %v", st.Reachable, logs.All())
	}
	if loggedFirst {
		t.Error("the outage was logged before it was published")
	}
}

func TestCheckTimeoutIsShorterThanThePeriod(t *testing.T) {
	for _, period := range []time.Duration{100 * time.Millisecond, 10 * time.Second, time.Hour} {
		if got := checkTimeout(period); got <= 0 || got >= period {
			t.Errorf("checkTimeout(%s) = %s, want within (0, %s)", period, got, period)
		}
	}
}

func TestMonitorWakesTheWorkersWhenTheDatabaseIsBack(t *testing.T) {
	ctx := context.Background()
	live := testPool(t, pgtest.DB(t))
	dead := testPool(t, "host=/nonexistent-angelad-socket-dir port=5432 user=angela dbname=angela connect_timeout=1")
	var st DatabaseStatus
	m, _ := testMonitor(t, live, nil, &st)
	m.watch = NewDatabaseWatch()
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}

	back := m.watch.Back()
	m.check(ctx)
	if closed(back) {
		t.Fatal("a good check without an outage woke the workers")
	}
	m.pool = dead
	m.check(ctx)
	if closed(back) {
		t.Fatal("a failed check woke the workers")
	}
	m.pool = live
	m.check(ctx)
	if !closed(back) {
		t.Fatal("the database answered again, and the workers waiting on Back were not woken")
	}
	if closed(m.watch.Back()) {
		t.Error("after the wake, Back returns a channel that is closed already")
	}
}

// fakeAfter hands the monitor's waits to the test: each wait's duration, and
// a channel the test fires.
type fakeAfter struct {
	waits chan time.Duration
	fires chan chan time.Time
}

func newFakeAfter() *fakeAfter {
	return &fakeAfter{waits: make(chan time.Duration, 10), fires: make(chan chan time.Time, 10)}
}

func (f *fakeAfter) after(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.waits <- d
	f.fires <- c
	return c
}

// next returns the duration of the monitor's next wait and ends it.
func (f *fakeAfter) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.waits:
		(<-f.fires) <- time.Now()
		return d
	case <-time.After(time.Minute):
		t.Fatal("the monitor did not wait within a minute")
		return 0
	}
}

func TestMonitorChecksTwiceAPeriodAndEverySecondDuringAnOutage(t *testing.T) {
	dead := testPool(t, "host=/nonexistent-angelad-socket-dir port=5432 user=angela dbname=angela connect_timeout=1")
	var st DatabaseStatus
	m, _ := testMonitor(t, dead, nil, &st)
	fa := newFakeAfter()
	m.after = fa.after
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	// Up: the next check within half a period, so that a check taking the
	// other half still shows an outage within one period.
	if d := fa.next(t); d != m.interval/2 {
		t.Errorf("wait while the database answers = %v, want half the period %v", d, m.interval/2)
	}
	// That check failed: during the outage the monitor looks every second.
	if d := fa.next(t); d != outageRecheck {
		t.Errorf("wait during an outage = %v, want %v", d, outageRecheck)
	}
	cancel()
	<-done
	if st.Reachable || st.LastError == "" {
		t.Errorf("status after a failed check = %+v", st)
	}
}

func TestMonitorChecksAtOnceWhenAWorkerHasTrouble(t *testing.T) {
	dead := testPool(t, "host=/nonexistent-angelad-socket-dir port=5432 user=angela dbname=angela connect_timeout=1")
	checked := make(chan DatabaseStatus, 10)
	m, logs := testMonitor(t, dead, nil, new(DatabaseStatus))
	m.publish = func(change func(*DatabaseStatus)) {
		var st DatabaseStatus
		change(&st)
		checked <- st
	}
	m.watch = NewDatabaseWatch()
	fa := newFakeAfter()
	m.after = fa.after // never fired: only the worker's trouble starts a check
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-fa.waits
	m.watch.Trouble()
	select {
	case st := <-checked:
		if st.Reachable {
			t.Errorf("the check found a dead database reachable: %+v", st)
		}
	case <-time.After(time.Minute):
		t.Fatal("a worker's trouble did not make the monitor check")
	}
	cancel()
	<-done
	if logs.FilterMessage("database unreachable").Len() != 1 {
		t.Errorf("the outage a worker found was not logged once: %v", logs.All())
	}
}

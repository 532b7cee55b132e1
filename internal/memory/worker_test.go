package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// TestWorkerConsolidatesAtStartAndEveryPeriod runs the memory worker in the
// daemon on an injected clock: it finishes a pass cut short, passes at start
// (adopting a row written with the triggers off), and again when its period
// elapses, and shows the last pass in status.
func TestWorkerConsolidatesAtStartAndEveryPeriod(t *testing.T) {
	ctx, cancelTest := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelTest()
	url := pgtest.DB(t)
	conn := pgtest.Conn(t, url)
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	weak := saveConv(t, ctx, conn, 1, made, "weak")
	// A row written with the triggers disabled, as a bulk load might: no
	// state, no grams until the first pass adopts it.
	if _, err := conn.Exec(ctx, `set session_replication_role = replica;
		insert into conversations (conversation_id, speaker, message_text, created_at)
		values ('44444444-4444-4444-8444-444444444444', 'david', 'คิดถึงนะ', '2026-01-01T00:00:00Z');
		set session_replication_role = origin`); err != nil {
		t.Fatal(err)
	}
	// A pass of the emotions that a crash cut short: the worker finishes it
	// first, then passes again at once, adopting.
	if _, err := conn.Exec(ctx, `insert into memory_consolidation (pass_time, phase) values ($1, 'emotions')`, made); err != nil {
		t.Fatal(err)
	}
	stateDir := pgtest.StateDir(t)
	env := map[string]string{"ANGELA_DATABASE_URL": url, "ANGELA_STATE_DIR": stateDir, "ANGELA_TIMEZONE": pgtest.TimeZone,
		"ANGELA_MEMORY_CONSOLIDATE_EVERY": "1h"}
	root := false
	cfg, err := config.Load(config.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: &root, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(made.Add(3 * day))
	d := daemon.New(daemon.Options{Config: cfg, Now: clock.Now, After: clock.After})
	d.Register("memory", memory.WorkerFactory(cfg.Memory))
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(rctx) }()

	finishedAt := func() time.Time {
		var at *time.Time
		_ = conn.QueryRow(ctx, `select finished_at from memory_consolidation`).Scan(&at)
		if at == nil {
			return time.Time{}
		}
		return *at
	}
	var states, grams int
	testkit.WaitFor(t, "the adopting pass at start", func() bool {
		err := conn.QueryRow(ctx, `select (select count(*) from conversation_memory),
			(select count(*) from conversations where search_grams is not null)`).Scan(&states, &grams)
		return err == nil && states == 2 && grams == 2 && finishedAt().Equal(made.Add(3*day))
	})
	if s := stateOf(t, ctx, conn, "conversation_memory", weak); s.forgotten {
		t.Fatal("forgotten after 3 days")
	}

	// A month later the weak memory is forgotten at the next tick. The
	// daemon's own loops wait on the clock too: its period tells the
	// worker's wait from theirs.
	hourly := clock.NextWait(t)
	for hourly.D != time.Hour {
		hourly = clock.NextWait(t)
	}
	later := made.Add(30 * day)
	clock.Set(later)
	hourly.Fire()
	testkit.WaitFor(t, "the hourly pass", func() bool { return finishedAt().Equal(later) })
	if s := stateOf(t, ctx, conn, "conversation_memory", weak); !s.forgotten {
		t.Fatal("the weak memory is not forgotten after 30 days")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	st, err := daemon.ReadStatus(stateDir)
	if err != nil || len(st.Workers) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	var detail struct {
		LastPassAt             time.Time `json:"last_pass_at"`
		LastPassNewlyForgotten int64     `json:"last_pass_newly_forgotten"`
		Conversations          int64     `json:"conversations"`
		NextPassAt             time.Time `json:"next_pass_at"`
	}
	if err := json.Unmarshal(st.Workers[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if !detail.LastPassAt.Equal(later) || detail.Conversations != 2 || detail.LastPassNewlyForgotten < 1 ||
		!detail.NextPassAt.Equal(later.Add(time.Hour)) {
		t.Fatalf("status detail = %s", st.Workers[0].Detail)
	}
}

// TestWorkerReportsAProblemOnlyWhenTheDatabaseStaysAway: a short outage is
// the database monitor's to report; passes failing for 2 minutes are the
// worker's problem, which clears with the next pass that succeeds.
func TestWorkerReportsAProblemOnlyWhenTheDatabaseStaysAway(t *testing.T) {
	pool, err := postgres.NewPool(context.Background(), "host="+t.TempDir()+" user=nobody dbname=none", pgtest.TimeZone,
		postgres.PoolOptions{MaxConns: 1, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cfg, err := config.Load(config.Options{Env: func(string) (string, bool) { return "", false }, Root: new(bool), Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w, err := memory.WorkerFactory(cfg.Memory)(daemon.Deps{Pool: pool, Clock: daemon.Clock{Now: clock.Now, After: clock.After},
		Log: zap.NewNop(), Status: sup.Reporter("memory")})
	if err != nil {
		t.Fatal(err)
	}
	sup.Add("memory", w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	problem := func() string { return sup.Status()[0].Problem }
	var failingFor time.Duration
	var waits []time.Duration
	for failingFor < 2*time.Minute {
		w := clock.NextWait(t) // a failed pass, backing off
		d := w.D
		if p := problem(); p != "" {
			t.Fatalf("a problem after failing for %s: %q", failingFor, p)
		}
		waits = append(waits, d)
		failingFor += d
		w.Fire()
	}
	clock.NextWait(t)
	if p := problem(); !strings.HasPrefix(p, "consolidation failing since 2026-01-01T00:00:00Z: ") {
		t.Errorf("after failing for %s: problem %q", failingFor, p)
	}
	if fmt.Sprint(waits) != "[5s 10s 20s 30s 30s 30s]" {
		t.Errorf("backoff %v, want 5s doubling to 30s", waits)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestWorkerRetriesAsSoonAsTheDatabaseIsBack: a worker backing off after a
// failed pass runs it again when the daemon's monitor sees the database
// back, without its backoff running out.
func TestWorkerRetriesAsSoonAsTheDatabaseIsBack(t *testing.T) {
	url := pgtest.DB(t)
	pool, err := postgres.NewPool(context.Background(), url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	allow := pgtest.RefuseConnections(t, url)
	cfg, err := config.Load(config.Options{Env: func(string) (string, bool) { return "", false }, Root: new(bool), Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	watch := daemon.NewDatabaseWatch()
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w, err := memory.WorkerFactory(cfg.Memory)(daemon.Deps{Pool: pool, Clock: daemon.Clock{Now: clock.Now, After: clock.After},
		Log: zap.NewNop(), Status: sup.Reporter("memory"), Database: watch})
	if err != nil {
		t.Fatal(err)
	}
	sup.Add("memory", w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	nextWait := func() time.Duration {
		t.Helper()
		return clock.NextWait(t).D
	}
	if d := nextWait(); d != 5*time.Second {
		t.Fatalf("first wait %v, want the 5s backoff after a failed pass", d)
	}
	// Left waiting: the clock does not reach the end of the backoff.
	allow()
	watch.Recovered()
	if d := nextWait(); d != cfg.Memory.ConsolidateEvery {
		t.Errorf("after the database came back the worker waits %v, want the period %v after a good pass", d, cfg.Memory.ConsolidateEvery)
	}
	var st struct {
		LastPassAt *time.Time `json:"last_pass_at"`
	}
	if err := json.Unmarshal(sup.Status()[0].Detail, &st); err != nil || st.LastPassAt == nil {
		t.Errorf("no pass in the detail after the database came back: %s (%v)", sup.Status()[0].Detail, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

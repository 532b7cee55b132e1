package spool_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/testkit"
)

// spoolProxy forwards TCP connections to the test database, so that a test can take
// the database away (connection refused) and bring it back.
type spoolProxy struct {
	t              *testing.T
	network, addr  string // the database's
	listen         string // the spoolProxy's address, fixed after the first up
	mu             sync.Mutex
	ln             net.Listener
	conns          []net.Conn
	wg             sync.WaitGroup
	user, database string
}

func newSpoolProxy(t *testing.T, url string) *spoolProxy {
	t.Helper()
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	p := &spoolProxy{t: t, network: "tcp", addr: net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), user: cfg.User, database: cfg.Database}
	if strings.HasPrefix(cfg.Host, "/") {
		p.network, p.addr = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	if cfg.Password != "" {
		t.Skip("the spoolProxy test needs a database without a password")
	}
	p.up()
	t.Cleanup(func() { p.down(); p.wg.Wait() })
	return p
}

func (p *spoolProxy) url() string {
	host, port, _ := net.SplitHostPort(p.listen)
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=5", host, port, p.user, p.database)
}

func (p *spoolProxy) up() {
	p.t.Helper()
	addr := p.listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.listen = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial(p.network, p.addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(s, c); s.Close() })
			p.wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
}

// down closes the listener and every connection through it.
func (p *spoolProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// spoolStart is when the drainer tests' clocks start.
var spoolStart = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// next waits for the drainer to wait on clock, checks how long, and ends
// the wait, moving the time by it.
func next(t *testing.T, clock *testkit.Clock, want time.Duration) {
	t.Helper()
	w := clock.NextWait(t)
	if w.D != want {
		t.Errorf("the drainer waits %v, want %v", w.D, want)
	}
	w.Fire()
}

func TestDrainerBacksOffWhileTheDatabaseIsAwayAndDrainsWhenItReturns(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	p := newSpoolProxy(t, url)
	p.down()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := postgres.NewPool(ctx, p.url(), pgtest.TimeZone, postgres.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	state := t.TempDir()
	clock := testkit.NewClock(spoolStart)
	sp := spool.New(state, clock.Now)
	var want []uuid.UUID
	for range 3 {
		want = append(want, spoolConversation(t, sp, valid()).ID)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	d := spool.NewDrainer(daemon.Deps{
		Pool: pool, Log: zap.New(core), StateDir: state,
		Clock: daemon.Clock{Now: clock.Now, After: clock.After}, Status: sup.Reporter("spool"),
	}, nil)
	sup.Add("spool", d)
	published := func() (spool.DrainerStatus, string) {
		var st spool.DrainerStatus
		for _, s := range sup.Status() {
			if s.Name == "spool" && json.Unmarshal(s.Detail, &st) != nil {
				t.Fatalf("detail %s", s.Detail)
			}
			if s.Name == "spool" {
				return st, s.Problem
			}
		}
		return st, ""
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// Down: the drainer backs off, doubling, and keeps every record.
	w := clock.NextWait(t)
	if w.D != time.Second {
		t.Errorf("first backoff %v, want 1s", w.D)
	}
	if st := d.Status(); st.Backlog != 3 || st.LastError == "" || !st.Oldest.Equal(clock.Now()) {
		t.Errorf("status while down = %+v", st)
	}
	if d.Problem() != "" {
		t.Errorf("a problem after one failed pass: %q", d.Problem())
	}
	w.Fire()
	for _, b := range []time.Duration{2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30} {
		next(t, clock, b*time.Second) // 331s in all
	}
	// More than five minutes of failing with records waiting is a problem.
	w = clock.NextWait(t)
	if w.D != 30*time.Second {
		t.Errorf("backoff %v, want the 30s cap", w.D)
	}
	if pr := d.Problem(); !strings.Contains(pr, "cannot drain the spool (3 waiting)") {
		t.Errorf("Problem() = %q after five minutes of failing", pr)
	}
	if st, pr := published(); st.Backlog != 3 || pr != d.Problem() {
		t.Errorf("published %+v, problem %q; want the backlog and %q", st, pr, d.Problem())
	}
	if n := logs.FilterMessageSnippet("cannot drain").Len(); n != 1 {
		t.Errorf("logged %d failure lines, want 1 for the whole outage", n)
	}

	// Back: the next pass stores every record once and clears the problem.
	p.up()
	w.Fire()
	next(t, clock, spool.PollInterval)
	st := d.Status()
	if st.Backlog != 0 || st.Drained != 3 || st.LastError != "" || d.Problem() != "" {
		t.Errorf("status after the outage = %+v, problem %q", st, d.Problem())
	}
	if pst, pr := published(); pst.Drained != 3 || pst.Backlog != 0 || !pst.LastDrainAt.Equal(st.LastDrainAt) || pr != "" {
		t.Errorf("published %+v, problem %q after the outage", pst, pr)
	}
	var n int
	if err := pool.QueryRow(ctx, "select count(*) from conversations where conversation_id = any($1)", want).Scan(&n); err != nil || n != 3 {
		t.Errorf("stored %d of the 3 spooled messages (%v)", n, err)
	}
	if logs.FilterMessageSnippet("draining the spool again").Len() != 1 || logs.FilterMessageSnippet("drained the spool").Len() != 1 {
		t.Errorf("logs = %v", logs.All())
	}

	// A record spooled while it runs is stored on the next look.
	late := spoolConversation(t, sp, valid())
	next(t, clock, spool.PollInterval)
	clock.NextWait(t) // the pass after that one has run
	if err := pool.QueryRow(ctx, "select count(*) from conversations where conversation_id = $1", late.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("the late record stored %d times (%v)", n, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil on a clean stop", err)
	}
}

// TestDrainerRetriesAsSoonAsTheDatabaseIsBack: a drainer backing off after
// failed passes drains when the daemon's monitor sees the database back,
// without its backoff running out.
func TestDrainerRetriesAsSoonAsTheDatabaseIsBack(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	p := newSpoolProxy(t, url)
	p.down()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := postgres.NewPool(ctx, p.url(), pgtest.TimeZone, postgres.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	state := t.TempDir()
	clock := testkit.NewClock(spoolStart)
	rec := spoolConversation(t, spool.New(state, clock.Now), valid())
	watch := daemon.NewDatabaseWatch()
	d := spool.NewDrainer(daemon.Deps{Pool: pool, Log: zap.NewNop(), StateDir: state,
		Clock: daemon.Clock{Now: clock.Now, After: clock.After}, Database: watch}, nil)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for _, want := range []time.Duration{time.Second, 2 * time.Second} {
		w := clock.NextWait(t)
		if w.D != want {
			t.Fatalf("backoff %v, want %v", w.D, want)
		}
		w.Fire()
	}
	if w := clock.NextWait(t); w.D != 4*time.Second {
		t.Fatalf("backoff %v, want 4s", w.D)
	} // left waiting: the clock does not reach the end of this backoff

	p.up()
	watch.Recovered()
	if w := clock.NextWait(t); w.D != spool.PollInterval {
		t.Errorf("after the database came back the drainer waits %v, want the poll interval after a good pass", w.D)
	}
	if st := d.Status(); st.Drained != 1 || st.Backlog != 0 || st.LastError != "" {
		t.Errorf("status after the return = %+v", st)
	}
	var n int
	if err := pool.QueryRow(ctx, "select count(*) from conversations where conversation_id = $1", rec.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("the spooled record stored %d times (%v)", n, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestDrainerWithAnEmptySpoolNeedsNoDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A pool that cannot connect: an empty spool never asks it anything.
	pool, err := pgxpool.New(ctx, "postgres://angela@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	clock := testkit.NewClock(spoolStart)
	d := spool.NewDrainer(daemon.Deps{Pool: pool, StateDir: t.TempDir(), Clock: daemon.Clock{Now: clock.Now, After: clock.After}}, nil)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	next(t, clock, spool.PollInterval)
	next(t, clock, spool.PollInterval)
	if st := d.Status(); st != (spool.DrainerStatus{}) {
		t.Errorf("status = %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestSpoolWorkerDrainsUnderTheSupervisorAndReportsOnItsOwn runs the spool
// worker as the daemon does, built by its factory and run by a supervisor,
// and finds what was spooled stored and the drain in the worker's own status.
func TestSpoolWorkerDrainsUnderTheSupervisorAndReportsOnItsOwn(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.DB(t)
	pool, err := postgres.NewPool(ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	state := t.TempDir()
	sp := spool.New(state, time.Now)
	e := spoolEmotion(t, sp, spooledEmotion())
	c := spoolConversation(t, sp, valid())

	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w, err := spool.WorkerFactory(nil)(daemon.Deps{Pool: pool, Log: zap.NewNop(), StateDir: state,
		Clock: daemon.Clock{Now: time.Now, After: time.After}, Status: sup.Reporter("spool")})
	if err != nil {
		t.Fatal(err)
	}
	sup.Add("spool", w)
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()

	testkit.WaitFor(t, "the spool worker's status to show the drain", func() bool {
		for _, s := range sup.Status() {
			var d spool.DrainerStatus
			if s.Name == "spool" && json.Unmarshal(s.Detail, &d) == nil {
				return s.State == daemon.WorkerRunning && d.Drained == 2 && d.Backlog == 0 && s.Problem == ""
			}
		}
		return false
	})
	var n int
	if err := pool.QueryRow(ctx, `select (select count(*) from angela_emotions where emotion_id = $1)
		+ (select count(*) from conversations where conversation_id = $2)`, e.ID, c.ID).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d of the 2 spooled records stored (%v)", n, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("the supervisor returned %v, want nil on a clean stop", err)
	}
}

func TestSpoolWorkerNeedsAStateDirectory(t *testing.T) {
	if _, err := spool.WorkerFactory(nil)(daemon.Deps{}); err == nil || !strings.Contains(err.Error(), "state_dir") {
		t.Fatalf("factory without a state directory: %v", err)
	}
}

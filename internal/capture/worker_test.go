package capture

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// captureStart is when the worker tests' clocks start.
var captureStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type workerEnv struct {
	*ingestEnv
	url  string
	pool *pgxpool.Pool
	sup  *daemon.Supervisor
	w    *Worker
	stop func()
}

// startWorker runs a conversation worker on glob (relative to the test's
// directory) against a fresh database.
func startWorker(t *testing.T, dir, glob string, clock daemon.Clock, setup func(*Worker)) *workerEnv {
	t.Helper()
	url := pgtest.DB(t)
	e := newIngestEnvOn(t, url)
	if dir != "" {
		e.dir = dir
	}
	pool, err := postgres.NewPool(e.ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	w, err := NewWorker(config.Conversation{Transcripts: []string{filepath.Join(e.dir, glob)}, PollInterval: time.Hour}, nil,
		daemon.Deps{Pool: pool, Log: zap.New(core), Clock: clock, StateDir: t.TempDir(), Status: sup.Reporter("conversation")})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(w)
	}
	sup.Add("conversation", w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	env := &workerEnv{ingestEnv: e, url: url, pool: pool, sup: sup, w: w}
	var once sync.Once
	env.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v, want nil on shutdown", err)
			}
		})
	}
	t.Cleanup(env.stop)
	return env
}

func realClock() daemon.Clock { return daemon.Clock{Now: time.Now, After: time.After} }

func (e *workerEnv) waitTexts(want ...string) {
	e.t.Helper()
	testkit.WaitFor(e.t, "rows "+strings.Join(want, ","), func() bool {
		return strings.Join(e.texts(), "|") == strings.Join(want, "|")
	})
}

func (e *workerEnv) detail() WorkerStatus {
	e.t.Helper()
	for _, s := range e.sup.Status() {
		if s.Name == "conversation" {
			var d WorkerStatus
			if len(s.Detail) > 0 {
				if err := json.Unmarshal(s.Detail, &d); err != nil {
					e.t.Fatal(err)
				}
			}
			return d
		}
	}
	e.t.Fatal("no conversation worker in the status")
	return WorkerStatus{}
}

func TestWorkerBackfillsThenFollowsAppendsPartialLinesNewFilesAndDeletions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e0 := &ingestEnv{t: t, dir: dir}
	old := e0.write("proj-a/old.jsonl", e0.speechLine("old one")+e0.noiseLine())
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	cur := e0.write("proj-a/cur.jsonl", e0.speechLine("current"))

	e := startWorker(t, dir, "*/*.jsonl", realClock(), nil)
	e.waitTexts("current", "old one")
	if e.logs.FilterMessage("backfill done").Len() != 1 {
		t.Errorf("no backfill line: %v", e.logs.All())
	}

	// An append is read on its file event.
	appendTo(t, cur, e.speechLine("appended"))
	e.waitTexts("appended", "current", "old one")

	// A partial line waits for the rest.
	line := e.speechLine("completed later")
	appendTo(t, cur, line[:30])
	testkit.WaitFor(t, "the partial line to be seen", func() bool { return e.detail().BytesBehind == 30 })
	appendTo(t, cur, line[30:])
	e.waitTexts("appended", "completed later", "current", "old one")

	// A new project directory with a new session.
	e.write("proj-b/new.jsonl", e.speechLine("new project"))
	e.waitTexts("appended", "completed later", "current", "new project", "old one")

	// A deleted transcript is forgotten; its rows stay.
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the deleted file's offset to go", func() bool {
		o, err := LoadOffset(e.ctx, e.conn, CanonicalPath(filepath.Dir(old))+"/old.jsonl")
		return err == nil && o == nil
	})
	// The detail is published at the end of the pass that forgot it.
	testkit.WaitFor(t, "the detail after the deletion", func() bool {
		d := e.detail()
		return d.Transcripts == 2 && d.MessagesStored == 5 && d.BytesBehind == 0 && d.LastMessage == "david: new project" && d.Capture == "on"
	})
	e.waitTexts("appended", "completed later", "current", "new project", "old one")
}

func TestWorkerPollFindsFilesWithoutEvents(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(captureStart)
	e := startWorker(t, "", "*/*.jsonl", daemon.Clock{Now: clock.Now, After: clock.After}, func(w *Worker) { w.noEvents = true })
	clock.NextWait(t) // the first pass is done; the worker waits for the poll
	e.write("p/s.jsonl", e.speechLine("found by the poll"))
	clock.Advance(time.Hour)
	e.waitTexts("found by the poll")
}

func TestWorkerWithNoGlobsCapturesNothingAndSaysSo(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w, err := NewWorker(config.Conversation{Transcripts: []string{}, PollInterval: time.Second}, nil,
		daemon.Deps{Clock: realClock(), Status: sup.Reporter("conversation")})
	if err != nil {
		t.Fatal(err)
	}
	_ = url
	sup.Add("conversation", w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	env := &workerEnv{ingestEnv: &ingestEnv{t: t}, sup: sup}
	testkit.WaitFor(t, "the detail", func() bool { return strings.HasPrefix(env.detail().Capture, "off") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestExpandPatterns(t *testing.T) {
	home, _ := os.UserHomeDir()
	got, err := ExpandPatterns([]string{"~/.claude/projects/*/*.jsonl", "/abs/*.jsonl"})
	if err != nil || got[0] != filepath.Join(home, ".claude/projects/*/*.jsonl") || got[1] != "/abs/*.jsonl" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := ExpandPatterns([]string{"/a/[x"}); err == nil || !strings.Contains(err.Error(), "conversation.transcripts") {
		t.Fatalf("bad glob: %v", err)
	}
}

func TestWorkerWatchingFilesFollowsRecentOnesAndPollsForTheRest(t *testing.T) {
	t.Parallel()
	// The worker watches the transcripts written within a day of its clock.
	clock := testkit.NewClock(time.Now())
	dir := t.TempDir()
	e0 := &ingestEnv{t: t, dir: dir}
	recent := e0.write("p/recent.jsonl", e0.speechLine("recent"))
	old := e0.write("p/old.jsonl", e0.speechLine("old"))
	longAgo := time.Now().Add(-48 * time.Hour)
	os.Chtimes(old, longAgo, longAgo)
	e := startWorker(t, dir, "*/*.jsonl", daemon.Clock{Now: clock.Now, After: clock.After}, func(w *Worker) { w.watchFiles = true })
	e.waitTexts("old", "recent")
	clock.NextWait(t) // the first pass is done
	// The recent transcript is watched: its append is read without a poll.
	appendTo(t, recent, e.speechLine("appended"))
	e.waitTexts("appended", "old", "recent")
	// A new one, and the old one, are read at the next poll.
	e.write("q/new.jsonl", e.speechLine("new"))
	appendTo(t, old, e.speechLine("old again"))
	clock.Advance(time.Hour) // the poll
	e.waitTexts("appended", "new", "old", "old again", "recent")
}

func TestWorkerBackfillLogsProgressOnTheClock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e0 := &ingestEnv{t: t, dir: dir}
	for i := range 4 {
		e0.write(filepath.Join("p", string(rune('a'+i))+".jsonl"), e0.speechLine("line")+e0.noiseLine())
	}
	// Every reading of the clock is 3s later than the one before.
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := daemon.Clock{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(3 * time.Second)
		return now
	}, After: time.After}
	e := startWorker(t, dir, "*/*.jsonl", clock, nil)
	testkit.WaitFor(t, "backfill done", func() bool { return e.logs.FilterMessage("backfill done").Len() == 1 })
	start := e.logs.FilterMessage("backfill: reading transcripts, oldest first").All()
	progress := e.logs.FilterMessage("backfill progress").All()
	if len(start) != 1 || start[0].ContextMap()["files"] != int64(4) || len(progress) == 0 {
		t.Fatalf("start %v, progress %v", start, progress)
	}
	f := progress[len(progress)-1].ContextMap()
	for _, k := range []string{"files", "bytes", "messages", "mb_per_second", "messages_per_second"} {
		if _, ok := f[k]; !ok {
			t.Errorf("progress line without %s: %v", k, f)
		}
	}
}

func TestWorkerReportsAProblemWhenTheDatabaseStaysAway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Nothing listens on this socket directory.
	pool, err := postgres.NewPool(ctx, "host="+t.TempDir()+" user=nobody dbname=none", pgtest.TimeZone,
		postgres.PoolOptions{MaxConns: 1, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	clock := testkit.NewClock(captureStart)
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w, err := NewWorker(config.Conversation{Transcripts: []string{filepath.Join(t.TempDir(), "*.jsonl")}, PollInterval: time.Second}, nil,
		daemon.Deps{Pool: pool, Clock: daemon.Clock{Now: clock.Now, After: clock.After}, Status: sup.Reporter("conversation")})
	if err != nil {
		t.Fatal(err)
	}
	sup.Add("conversation", w)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	problem := func() string {
		for _, s := range sup.Status() {
			if s.Name == "conversation" {
				return s.Problem
			}
		}
		return ""
	}
	clock.NextWait(t) // backing off after the first failure
	if p := problem(); p != "" {
		t.Fatalf("a problem at once: %q", p)
	}
	clock.Advance(problemAfter)
	clock.NextWait(t) // the second failure, 30s after the first
	if p := problem(); !strings.HasPrefix(p, "cannot store transcripts since") {
		t.Fatalf("problem %q", p)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v, want nil: database trouble is waited out", err)
	}
}

func TestWorkerRetriesAsSoonAsTheDatabaseIsBack(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(captureStart)
	watch := daemon.NewDatabaseWatch()
	e := startWorker(t, "", "*/*.jsonl", daemon.Clock{Now: clock.Now, After: clock.After}, func(w *Worker) {
		w.noEvents = true
		w.deps.Database = watch
	})
	clock.NextWait(t) // the first pass is done; the worker waits for the poll

	allow := pgtest.RefuseConnections(t, e.url, e.conn)
	e.write("p/s.jsonl", e.speechLine("said while the database was away"))
	clock.Advance(time.Hour)
	clock.FireAll()   // every wait ends, whatever its length
	clock.NextWait(t) // the pass failed: backing off 1s
	clock.Advance(time.Second)
	clock.FireAll()   // every wait ends, whatever its length
	clock.NextWait(t) // failed again: backing off 2s
	if d := e.detail(); d.LastError == "" {
		t.Fatalf("no last error while the database is away: %+v", d)
	}

	// The monitor sees the database back: the worker stores the line without
	// the clock moving on to the end of its backoff.
	allow()
	watch.Recovered()
	e.waitTexts("said while the database was away")
	// And status no longer blames the outage.
	testkit.WaitFor(t, "the database's error to be cleared", func() bool { return e.detail().LastError == "" })
	if e.logs.FilterMessage("storing transcripts again").Len() != 1 {
		t.Errorf("no line for the end of the trouble: %v", e.logs.All())
	}
}

func TestWorkerShowsTheBackfillAndItsEndAtOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	e := newIngestEnvOn(t, url)
	for i := range 3 {
		e.write(filepath.Join("p", fmt.Sprintf("%d.jsonl", i)), e.speechLine(fmt.Sprintf("line %d", i))+e.noiseLine())
	}
	pool, err := postgres.NewPool(e.ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// The database refuses the worker at first, so that every change shown
	// before the backfill is out of the way when it begins.
	allow := pgtest.RefuseConnections(t, url, e.conn)

	type shown struct {
		now bool
		d   WorkerStatus
	}
	shownC := make(chan shown, 1000)
	var sup *daemon.Supervisor
	sup = daemon.NewSupervisor(daemon.SupervisorConfig{OnChange: func(now bool) {
		for _, s := range sup.Status() {
			var d WorkerStatus
			if s.Name == "conversation" && (len(s.Detail) == 0 || json.Unmarshal(s.Detail, &d) == nil) {
				shownC <- shown{now, d}
			}
		}
	}})
	clock := testkit.NewClock(captureStart)
	w, err := NewWorker(config.Conversation{Transcripts: []string{filepath.Join(e.dir, "*/*.jsonl")}, PollInterval: time.Hour}, nil,
		daemon.Deps{Pool: pool, Log: zap.NewNop(), Clock: daemon.Clock{Now: clock.Now, After: clock.After}, Status: sup.Reporter("conversation")})
	if err != nil {
		t.Fatal(err)
	}
	w.noEvents = true
	sup.Add("conversation", w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	await := func(what string, ok func(shown) bool) {
		t.Helper()
		for {
			select {
			case s := <-shownC:
				if ok(s) {
					return
				}
			case <-time.After(time.Minute):
				t.Fatalf("status never showed %s", what)
			}
		}
	}
	clock.NextWait(t) // the offsets could not be read: backing off
	await("the failure", func(s shown) bool { return s.d.LastError != "" })

	// Held by a lock, the backfill cannot end before the test has seen it
	// begin.
	tx, err := e.conn.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.ctx)
	if _, err := tx.Exec(e.ctx, "lock table conversations in share mode"); err != nil {
		t.Fatal(err)
	}
	allow()
	clock.Advance(time.Second)
	clock.FireAll() // every wait ends, whatever its length
	await("the backfill at once", func(s shown) bool { return s.now && s.d.Backfilling })
	if err := tx.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	await("the end of the backfill at once", func(s shown) bool {
		return s.now && !s.d.Backfilling && s.d.BytesBehind == 0 && s.d.MessagesStored == 3
	})
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestSupervisorDoesNotRestartAnUnrestartableFailure(t *testing.T) {
	h := setup(t, SupervisorConfig{})
	broken, healthy := newScriptedWorker(), newScriptedWorker()
	h.sup.Add("broken", broken)
	h.sup.Add("healthy", healthy)
	h.start(t)
	broken.started(t)
	healthy.started(t)

	broken.do(t, fail(fmt.Errorf("open transcripts: %w", Unrestartable(errors.New("glob is malformed")))))
	h.awaitState(t, "broken", WorkerFailed)
	st := h.status(t, "broken")
	if st.LastError != "open transcripts: glob is malformed" || st.Restarts != 0 || !st.NextStartAt.IsZero() {
		t.Errorf("failed worker status = %+v", st)
	}
	if n := h.count("worker failed for good; it is not restarted until the daemon is"); n != 1 {
		t.Errorf("%d lines for the unrestartable failure, want 1: %v", n, h.logs.All())
	}
	if n := h.count("worker failed") + h.count("restarting worker"); n != 0 {
		t.Errorf("an unrestartable failure was treated as a restartable one: %v", h.logs.All())
	}
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := broken.runs.Load(); got != 1 {
		t.Errorf("the failed worker ran %d times, want once", got)
	}
	// Stopping the daemon keeps the worker shown as failed, not stopped.
	if st := h.status(t, "broken"); st.State != WorkerFailed {
		t.Errorf("after stop the failed worker is %s", st.State)
	}
	if st := h.status(t, "healthy"); st.State != WorkerStopped {
		t.Errorf("after stop the healthy worker is %s", st.State)
	}
}

func TestUnrestartableMarksOnlyWhatItWraps(t *testing.T) {
	if Unrestartable(nil) != nil {
		t.Error("Unrestartable(nil) is not nil")
	}
	base := errors.New("bad")
	p := Unrestartable(base)
	if !IsUnrestartable(p) || !IsUnrestartable(fmt.Errorf("x: %w", p)) || !errors.Is(p, base) || p.Error() != "bad" {
		t.Errorf("Unrestartable(%v) = %v: not marked, not unwrappable or renamed", base, p)
	}
	if IsUnrestartable(base) || IsUnrestartable(nil) {
		t.Error("an unmarked error counts as unrestartable")
	}
}

func TestReporterPublishesDetailAndProblem(t *testing.T) {
	h := setup(t, SupervisorConfig{})
	// A factory gets its reporter before the worker exists.
	rep := h.sup.Reporter("conversation")
	w := newScriptedWorker()
	h.sup.Add("conversation", w)
	if h.sup.Reporter("conversation") != rep {
		t.Fatal("a second Reporter call returned another reporter")
	}
	h.start(t)
	w.started(t)

	type detail struct {
		Files       int    `json:"files"`
		BytesBehind int64  `json:"bytes_behind"`
		LastFile    string `json:"last_file,omitempty"`
	}
	rep.Detail(detail{Files: 3, BytesBehind: 42})
	rep.Problem("transcripts unreadable: permission denied")
	st := h.status(t, "conversation")
	if string(st.Detail) != `{"files":3,"bytes_behind":42}` || st.Problem != "transcripts unreadable: permission denied" {
		t.Errorf("status = detail %s, problem %q", st.Detail, st.Problem)
	}
	got := Verdict(Observation{Running: true, Published: &Status{State: StateRunning, Database: DatabaseStatus{Reachable: true}, Workers: h.sup.Status()}})
	if len(got) != 1 || got[0] != "worker conversation: transcripts unreadable: permission denied" {
		t.Errorf("verdict with a worker problem = %q", got)
	}
	rep.Problem("")
	got = Verdict(Observation{Running: true, Published: &Status{State: StateRunning, Database: DatabaseStatus{Reachable: true}, Workers: h.sup.Status()}})
	if len(got) != 0 {
		t.Errorf("verdict after the problem cleared = %q", got)
	}
	rep.Detail(func() {}) // cannot be marshalled: shown, not lost silently
	if st := h.status(t, "conversation"); !strings.Contains(string(st.Detail), "detail cannot be shown") {
		t.Errorf("unmarshalable detail = %s", st.Detail)
	}
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestVerdictOrdersProblems(t *testing.T) {
	running := func(db bool, ws ...WorkerStatus) Observation {
		return Observation{Running: true, Published: &Status{State: StateRunning, Database: DatabaseStatus{Reachable: db, LastError: "connection refused"}, Workers: ws}}
	}
	for _, tc := range []struct {
		name string
		o    Observation
		want []string
	}{
		{"not running", Observation{Published: &Status{State: StateRunning}}, []string{"the daemon is not running"}},
		{"no file", Observation{Running: true}, []string{"the daemon has published no status yet"}},
		{"waiting", Observation{Running: true, Published: &Status{State: StateWaiting}}, []string{"the daemon is waiting for database"}},
		{"healthy", running(true, WorkerStatus{Name: "memory", State: WorkerRunning}), nil},
		{"all at once", running(false,
			WorkerStatus{Name: "a", State: WorkerFailed, LastError: "bad spec"},
			WorkerStatus{Name: "b", State: WorkerBackingOff, LastError: "panic: x"},
			WorkerStatus{Name: "c", State: WorkerRunning, Problem: "spool is 6m old"}),
			[]string{"the database is unreachable: connection refused", "worker a failed for good: bad spec",
				"worker b is backing off after: panic: x", "worker c: spool is 6m old"}},
	} {
		if got := Verdict(tc.o); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: Verdict = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestStatusBoardBoundsDetailWrites(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newStatusBoard(dir, func() time.Time { return now }, Status{State: StateRunning, Workers: []WorkerStatus{{Name: "w"}}})
	setDetail := func(n int) {
		b.update(func(s *Status) {
			s.Workers = []WorkerStatus{{Name: "w", Detail: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}}
		}, false)
	}
	readDetail := func() string {
		st, err := ReadStatus(dir)
		if err != nil {
			t.Fatal(err)
		}
		return compact(t, st.Workers[0].Detail)
	}
	setDetail(1) // the first write: the file did not exist
	if got := readDetail(); got != `{"n":1}` {
		t.Fatalf("first detail = %s", got)
	}
	for i := 2; i <= 10; i++ {
		now = now.Add(time.Second / 2)
		setDetail(i)
	}
	if got := readDetail(); got != `{"n":1}` {
		t.Errorf("ten detail changes in 5s rewrote the file: %s", got)
	}
	now = now.Add(detailRefresh)
	setDetail(11)
	if got := readDetail(); got != `{"n":11}` {
		t.Errorf("detail after detailRefresh = %s, want n=11", got)
	}
	// A problem is written at once.
	now = now.Add(time.Second)
	b.update(func(s *Status) {
		s.Workers = []WorkerStatus{{Name: "w", Detail: json.RawMessage(`{"n":12}`), Problem: "stuck"}}
	}, false)
	if st, _ := ReadStatus(dir); st.Workers[0].Problem != "stuck" || compact(t, st.Workers[0].Detail) != `{"n":12}` {
		t.Errorf("a problem was not written at once: %+v", st.Workers[0])
	}
}

func TestDaemonBuildsWorkersFromDeps(t *testing.T) {
	stateDir := pgtest.StateDir(t)
	cfg := testConfig(t, map[string]string{
		"ANGELA_DATABASE_URL": pgtest.DB(t), "ANGELA_STATE_DIR": stateDir, "ANGELA_TIMEZONE": "America/New_York",
	})
	core, logs := observer.New(zap.InfoLevel)
	now := func() time.Time { return time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC) }
	d := New(Options{Config: cfg, Log: zap.New(core), Now: now})
	got := make(chan Deps, 1)
	reported := make(chan struct{})
	d.Register("memory", func(deps Deps) (Worker, error) {
		got <- deps
		return WorkerFunc(func(ctx context.Context) error {
			deps.Log.Info("hello")
			deps.Status.Detail(map[string]int{"passes": 1})
			close(reported)
			<-ctx.Done()
			return nil
		}), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	var deps Deps
	select {
	case deps = <-got:
	case err := <-errc:
		t.Fatalf("Run returned %v before building the worker", err)
	case <-time.After(time.Minute):
		t.Fatal("the factory was never called")
	}
	if deps.Pool == nil || deps.Location.String() != "America/New_York" || deps.StateDir != stateDir || deps.Status == nil {
		t.Errorf("deps = %+v", deps)
	}
	if !deps.Clock.Now().Equal(now()) || deps.Clock.After == nil {
		t.Error("the worker did not get the daemon's clock")
	}
	select {
	case <-reported:
	case <-time.After(time.Minute):
		t.Fatal("the worker never ran")
	}
	if name := logs.FilterMessage("hello").All()[0].LoggerName; name != "memory" {
		t.Errorf("the worker's logger is named %q, want memory", name)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(stateDir)
	if err != nil || len(st.Workers) != 1 || compact(t, st.Workers[0].Detail) != `{"passes":1}` {
		t.Errorf("published workers = %+v, %v", st.Workers, err)
	}
}

func TestDaemonStopsStartUpOnAFactoryError(t *testing.T) {
	stateDir := pgtest.StateDir(t)
	cfg := testConfig(t, map[string]string{
		"ANGELA_DATABASE_URL": pgtest.DB(t), "ANGELA_STATE_DIR": stateDir, "ANGELA_TIMEZONE": pgtest.TimeZone,
	})
	d := New(Options{Config: cfg})
	ran := make(chan struct{}, 1)
	d.Register("good", func(Deps) (Worker, error) {
		return WorkerFunc(func(ctx context.Context) error { ran <- struct{}{}; <-ctx.Done(); return nil }), nil
	})
	d.Register("dailyupdate", func(Deps) (Worker, error) {
		return nil, errors.New(`invalid dailyupdate.jobs.morning.schedule: "61 * * * *"`)
	})
	err := d.Run(context.Background())
	var fe *FactoryError
	if !errors.As(err, &fe) || fe.Worker != "dailyupdate" ||
		err.Error() != `worker dailyupdate: invalid dailyupdate.jobs.morning.schedule: "61 * * * *"` {
		t.Fatalf("Run = %v, want the factory's error", err)
	}
	select {
	case <-ran:
		t.Error("a worker ran although start-up failed")
	default:
	}
	if pid, _ := LockHolder(stateDir); pid != 0 {
		t.Error("the lock is still held after a failed start-up")
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("detail %q: %v", raw, err)
	}
	return b.String()
}

func TestStatusBoardWritesAStateChangeAtOnceAndHeldBackCountersLater(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := newStatusBoard(dir, clock, Status{State: StateRunning, Workers: []WorkerStatus{{Name: "conversation"}}})
	set := func(detail string, now bool) {
		t.Helper()
		if err := b.update(func(s *Status) {
			s.Workers = []WorkerStatus{{Name: "conversation", Detail: json.RawMessage(detail)}}
		}, now); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		st, err := ReadStatus(dir)
		if err != nil {
			t.Fatal(err)
		}
		return compact(t, st.Workers[0].Detail)
	}
	set(`{"backfilling":true,"bytes_behind":900}`, true)
	advance(time.Second)
	set(`{"backfilling":true,"bytes_behind":400}`, false)
	if got := read(); got != `{"backfilling":true,"bytes_behind":900}` {
		t.Fatalf("a counter rewrote the file within detailRefresh: %s", got)
	}
	// The backfill is over: written at once, within detailRefresh of the
	// last write.
	advance(time.Second)
	set(`{"bytes_behind":0}`, true)
	if got := read(); got != `{"bytes_behind":0}` {
		t.Fatalf("the end of the backfill was not written at once: %s", got)
	}

	// A counter held back is written when detailRefresh has passed since the
	// last write, though nothing else changes.
	select {
	case <-b.flush: // the request of the counter held back above, written since
	default:
	}
	fa := newFakeAfter()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.flushDetails(ctx, fa.after, func(err error) { t.Error(err) })
	}()
	advance(time.Second)
	set(`{"bytes_behind":0,"messages_stored":1}`, false)
	if got := read(); got != `{"bytes_behind":0}` {
		t.Fatalf("a counter rewrote the file within detailRefresh: %s", got)
	}
	var d time.Duration
	select {
	case d = <-fa.waits:
	case <-time.After(time.Minute):
		t.Fatal("the held-back counter was never scheduled for a write")
	}
	if d != detailRefresh-time.Second {
		t.Errorf("the flush waits %v, want %v: detailRefresh after the last write", d, detailRefresh-time.Second)
	}
	advance(d)
	(<-fa.fires) <- clock()
	deadline := time.Now().Add(time.Minute)
	for read() != `{"bytes_behind":0,"messages_stored":1}` {
		if time.Now().After(deadline) {
			t.Fatalf("the held-back counter was not written: %s", read())
		}
		<-time.After(10 * time.Millisecond) // polls the file, bounded by the deadline
	}
	cancel()
	<-done
}

func TestReporterAsksForDetailNowToBeShownAtOnce(t *testing.T) {
	type call struct {
		now    bool
		detail string
	}
	calls := make(chan call, 100)
	var h *harness
	h = setup(t, SupervisorConfig{OnChange: func(now bool) {
		st := h.sup.Status()
		calls <- call{now, string(st[0].Detail)}
	}})
	rep := h.sup.Reporter("conversation")
	w := newScriptedWorker()
	h.sup.Add("conversation", w)
	h.start(t)
	w.started(t)
	// The call that shows the worker running, a change of state, comes
	// first; the calls after it show the reporter's changes alone.
	select {
	case <-calls:
	case <-time.After(guard):
		t.Fatal("OnChange never showed the worker running")
	}
	// waitFor returns the first call that shows detail.
	waitFor := func(detail string) call {
		t.Helper()
		for {
			select {
			case c := <-calls:
				if c.detail == detail {
					return c
				}
			case <-time.After(guard):
				t.Fatalf("OnChange never showed %s", detail)
			}
		}
	}
	rep.Detail(map[string]int{"messages_stored": 1})
	if c := waitFor(`{"messages_stored":1}`); c.now {
		t.Error("a counter asked to be written at once")
	}
	rep.DetailNow(map[string]any{"messages_stored": 1, "backfilling": true})
	if c := waitFor(`{"backfilling":true,"messages_stored":1}`); !c.now {
		t.Error("DetailNow did not ask to be written at once")
	}
	if err := h.stop(t); err != nil {
		t.Fatal(err)
	}
}

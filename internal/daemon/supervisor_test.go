package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/testkit"
)

// guard bounds every wait for something the code under test must do, so a
// bug fails the test with a message instead of hanging it. It never paces a
// test: time inside the supervisor comes from the test's testkit.Clock.
const guard = 10 * time.Second

// testStart is when every test's clock starts.
var testStart = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// scriptedWorker is a test worker commanded over channels: each run reports
// its context on starts, then ends the way the next command says, or when its
// context is cancelled.
type scriptedWorker struct {
	starts chan context.Context
	cmds   chan func(ctx context.Context) error
	// onCancel is what a run returns once its context is done.
	onCancel func(ctx context.Context) error
	// release, when set, makes the worker ignore cancellation and return
	// only when release is closed.
	release chan struct{}
	runs    atomic.Int32
}

func newScriptedWorker() *scriptedWorker {
	return &scriptedWorker{
		starts:   make(chan context.Context, 100),
		cmds:     make(chan func(ctx context.Context) error),
		onCancel: func(context.Context) error { return nil },
	}
}

func (w *scriptedWorker) Run(ctx context.Context) error {
	w.runs.Add(1)
	w.starts <- ctx
	if w.release != nil {
		<-w.release
		return nil
	}
	select {
	case <-ctx.Done():
		return w.onCancel(ctx)
	case cmd := <-w.cmds:
		return cmd(ctx)
	}
}

// started waits for the worker's next run and returns its context.
func (w *scriptedWorker) started(t *testing.T) context.Context {
	t.Helper()
	select {
	case ctx := <-w.starts:
		return ctx
	case <-time.After(guard):
		t.Fatal("the worker was never started")
		return nil
	}
}

// do makes the current run end with cmd.
func (w *scriptedWorker) do(t *testing.T, cmd func(ctx context.Context) error) {
	t.Helper()
	select {
	case w.cmds <- cmd:
	case <-time.After(guard):
		t.Fatal("the worker is not running")
	}
}

func fail(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

func panicWith(v any) func(context.Context) error {
	return func(context.Context) error { panic(v) }
}

// harness is a supervisor under test with its clock and log.
type harness struct {
	sup    *Supervisor
	clock  *testkit.Clock
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	done   chan error
	// changed is signalled by the default OnChange after state changes.
	changed chan struct{}
}

// setup returns a supervisor on a fake clock and an observed log, with cfg's
// other fields as given. It checks for leaked goroutines after every other
// cleanup has run.
func setup(t *testing.T, cfg SupervisorConfig) *harness {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	core, logs := observer.New(zapcore.DebugLevel)
	h := &harness{clock: testkit.NewClock(testStart), logs: logs, changed: make(chan struct{}, 1)}
	cfg.Log = zap.New(core)
	cfg.Now = h.clock.Now
	cfg.After = h.clock.After
	if cfg.OnChange == nil {
		cfg.OnChange = func(bool) {
			select {
			case h.changed <- struct{}{}:
			default:
			}
		}
	}
	h.sup = NewSupervisor(cfg)
	return h
}

// awaitState waits until the named worker is in state. OnChange is called
// after every change, so checking after each call cannot miss one.
func (h *harness) awaitState(t *testing.T, name string, state WorkerState) {
	t.Helper()
	timeout := time.After(guard)
	for h.status(t, name).State != state {
		select {
		case <-h.changed:
		case <-timeout:
			t.Fatalf("worker %s never became %s; status %+v", name, state, h.status(t, name))
		}
	}
}

// start runs the supervisor in the background until stop or the test's end.
func (h *harness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(guard):
			t.Error("Run did not return after cancellation")
		}
	})
}

// stop cancels the supervisor's context and returns what Run returned.
func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	return h.wait(t)
}

// wait returns what Run returned.
func (h *harness) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // let the cleanup receive it too
		return err
	case <-time.After(guard):
		t.Fatal("Run did not return")
		return nil
	}
}

func (h *harness) status(t *testing.T, name string) WorkerStatus {
	t.Helper()
	for _, st := range h.sup.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for worker %q", name)
	return WorkerStatus{}
}

// count returns how many log entries have message msg.
func (h *harness) count(msg string) int {
	return h.logs.FilterMessage(msg).Len()
}

func TestSupervisorBackoffDoublesUpToMax(t *testing.T) {
	tests := []struct {
		name string
		cfg  SupervisorConfig
		want []time.Duration
	}{
		{
			name: "defaults: 1s doubling to 1m",
			want: []time.Duration{
				time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
				16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute,
			},
		},
		{
			name: "configured bounds",
			cfg:  SupervisorConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
			want: []time.Duration{
				100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
				500 * time.Millisecond, 500 * time.Millisecond,
			},
		},
		{
			name: "max below min is raised to min",
			cfg:  SupervisorConfig{MinBackoff: 3 * time.Second, MaxBackoff: time.Second},
			want: []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, tt.cfg)
			w := newScriptedWorker()
			h.sup.Add("memory", w)
			h.start(t)

			var got []time.Duration
			for range tt.want {
				w.started(t)
				w.do(t, fail(errors.New("boom")))
				wait := h.clock.NextWait(t)
				got = append(got, wait.D)
				wait.Fire()
			}
			w.started(t)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("backoffs = %v, want %v", got, tt.want)
			}
			if err := h.stop(t); err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		})
	}
}

func TestSupervisorRestartsWorkerAfterAnyFailure(t *testing.T) {
	tests := []struct {
		name      string
		end       func(ctx context.Context) error
		wantMsg   string
		wantError string
		wantStack bool
	}{
		{
			name:      "returns an error",
			end:       fail(errors.New("connect: connection refused")),
			wantMsg:   "worker failed",
			wantError: "connect: connection refused",
		},
		{
			name:      "panics",
			end:       panicWith("index out of range"),
			wantMsg:   "worker panicked",
			wantError: "panic: index out of range",
			wantStack: true,
		},
		{
			name:      "returns nil before shutdown",
			end:       fail(nil),
			wantMsg:   "worker returned before shutdown",
			wantError: "returned nil before shutdown",
		},
		{
			name:      "returns context.Canceled before shutdown",
			end:       fail(fmt.Errorf("query: %w", context.Canceled)),
			wantMsg:   "worker failed",
			wantError: "query: context canceled",
		},
	}
	const failures = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, SupervisorConfig{})
			w := newScriptedWorker()
			h.sup.Add("memory", w)
			h.start(t)

			for i := range failures {
				w.started(t)
				w.do(t, tt.end)
				wait := h.clock.NextWait(t)

				st := h.status(t, "memory")
				if st.State != WorkerBackingOff || st.Restarts != i || st.LastError != tt.wantError {
					t.Errorf("failure %d: status = %+v, want backing_off after %d restarts with last error %q",
						i+1, st, i, tt.wantError)
				}
				wait.Fire()
			}
			w.started(t)
			if st := h.status(t, "memory"); st.State != WorkerRunning || st.Restarts != failures {
				t.Errorf("after the restarts: status = %+v, want running with %d restarts", st, failures)
			}
			if err := h.stop(t); err != nil {
				t.Errorf("Run = %v, want nil", err)
			}

			// One line per failure and one per restart, nothing else above debug.
			failed := h.logs.FilterMessage(tt.wantMsg).AllUntimed()
			if len(failed) != failures {
				t.Fatalf("%q logged %d times, want %d", tt.wantMsg, len(failed), failures)
			}
			if n := h.count("restarting worker"); n != failures {
				t.Errorf("%q logged %d times, want %d", "restarting worker", n, failures)
			}
			if n := h.logs.FilterLevelExact(zapcore.ErrorLevel).Len() + h.logs.FilterLevelExact(zapcore.InfoLevel).Len(); n != 2*failures {
				t.Errorf("%d info and error lines, want %d", n, 2*failures)
			}
			for i, e := range failed {
				fields := e.ContextMap()
				if fields["worker"] != "memory" || fields["error"] != tt.wantError || e.Level != zapcore.ErrorLevel {
					t.Errorf("failure line %d = %s %v, want error level, worker memory, error %q", i+1, e.Level, fields, tt.wantError)
				}
				if fields["restarts"] != int64(i) {
					t.Errorf("failure line %d: restarts = %v, want %d", i+1, fields["restarts"], i)
				}
				if _, ok := fields["backoff"]; !ok {
					t.Errorf("failure line %d has no backoff field", i+1)
				}
				if _, ok := fields["stack"]; ok != tt.wantStack {
					t.Errorf("failure line %d: has stack = %v, want %v", i+1, ok, tt.wantStack)
				}
			}
		})
	}
}

func TestSupervisorRecoversPanicWithoutDisturbingOtherWorkers(t *testing.T) {
	h := setup(t, SupervisorConfig{})
	crashy, steady := newScriptedWorker(), newScriptedWorker()
	h.sup.Add("crashy", crashy)
	h.sup.Add("steady", steady)
	h.start(t)

	steadyCtx := steady.started(t)
	const panics = 3
	for range panics {
		crashy.started(t)
		crashy.do(t, panicWith(errors.New("nil map write")))
		h.clock.NextWait(t).Fire()
	}
	crashy.started(t)

	if err := steadyCtx.Err(); err != nil {
		t.Errorf("the steady worker's context ended while the other panicked: %v", err)
	}
	if st := h.status(t, "steady"); st.State != WorkerRunning || st.Restarts != 0 || st.LastError != "" {
		t.Errorf("steady status = %+v, want running, never restarted, no error", st)
	}
	if st := h.status(t, "crashy"); st.State != WorkerRunning || st.Restarts != panics || st.LastError != "panic: nil map write" {
		t.Errorf("crashy status = %+v, want running after %d restarts with the panic as last error", st, panics)
	}

	entries := h.logs.FilterMessage("worker panicked").AllUntimed()
	if len(entries) != panics {
		t.Fatalf("%d panic lines, want one per panic (%d)", len(entries), panics)
	}
	for _, e := range entries {
		fields := e.ContextMap()
		stack, _ := fields["stack"].(string)
		// The stack must be the panicking goroutine's, taken before it unwound:
		// it shows the worker's own frame below the runtime's panic.
		if !strings.Contains(stack, "panic(") || !strings.Contains(stack, "(*scriptedWorker).Run") {
			t.Errorf("stack field does not show where the worker panicked:\n%s", stack)
		}
		if fields["worker"] != "crashy" {
			t.Errorf("panic line names worker %v, want crashy", fields["worker"])
		}
	}
	if n := h.logs.FilterField(zap.String("worker", "steady")).FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d error lines for the steady worker, want 0", n)
	}

	if err := h.stop(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if n := steady.runs.Load(); n != 1 {
		t.Errorf("steady worker ran %d times, want 1", n)
	}
}

func TestSupervisorHealthyRunResetsBackoff(t *testing.T) {
	const healthy = 5 * time.Minute
	tests := []struct {
		name string
		ran  time.Duration // how long the third run lasts before failing
		want time.Duration
	}{
		{name: "short run keeps doubling", ran: healthy - time.Second, want: 4 * time.Second},
		{name: "run of HealthyAfter resets to MinBackoff", ran: healthy, want: time.Second},
		{name: "longer run resets to MinBackoff", ran: 3 * healthy, want: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, SupervisorConfig{HealthyAfter: healthy})
			w := newScriptedWorker()
			h.sup.Add("conversation", w)
			h.start(t)

			for _, want := range []time.Duration{time.Second, 2 * time.Second} {
				w.started(t)
				w.do(t, fail(errors.New("boom")))
				wait := h.clock.NextWait(t)
				if wait.D != want {
					t.Fatalf("backoff = %v, want %v", wait.D, want)
				}
				wait.Fire()
			}
			w.started(t)
			h.clock.Advance(tt.ran)
			w.do(t, fail(errors.New("boom")))
			if got := h.clock.NextWait(t).D; got != tt.want {
				t.Errorf("backoff after a run of %v = %v, want %v", tt.ran, got, tt.want)
			}
			if err := h.stop(t); err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		})
	}
}

func TestSupervisorCancellationStopsEveryWorker(t *testing.T) {
	tests := []struct {
		name       string
		onCancel   func(ctx context.Context) error
		wantErrors int // error lines logged for the whole shutdown
	}{
		{name: "workers return nil", onCancel: fail(nil)},
		{name: "workers return ctx.Err()", onCancel: func(ctx context.Context) error { return ctx.Err() }},
		{name: "workers return wrapped context.Canceled", onCancel: fail(fmt.Errorf("poll: %w", context.Canceled))},
		{
			name:       "workers fail while stopping",
			onCancel:   fail(errors.New("flush offsets: disk full")),
			wantErrors: 3,
		},
	}
	names := []string{"conversation", "dailyupdate", "memory"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, SupervisorConfig{})
			workers := map[string]*scriptedWorker{}
			for _, name := range names {
				w := newScriptedWorker()
				w.onCancel = tt.onCancel
				workers[name] = w
				h.sup.Add(name, w)
			}
			h.start(t)
			ctxs := map[string]context.Context{}
			for name, w := range workers {
				ctxs[name] = w.started(t)
			}

			if err := h.stop(t); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			for name, ctx := range ctxs {
				if ctx.Err() == nil {
					t.Errorf("worker %s: context not cancelled", name)
				}
			}
			for _, st := range h.sup.Status() {
				if st.State != WorkerStopped || st.Restarts != 0 || !st.NextStartAt.IsZero() {
					t.Errorf("status %+v, want stopped without restarts", st)
				}
			}
			if n := h.logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != tt.wantErrors {
				t.Errorf("%d error lines, want %d: %v", n, tt.wantErrors, h.logs.All())
			}
			if n := h.count("restarting worker"); n != 0 {
				t.Errorf("%d restarts during shutdown, want 0", n)
			}
		})
	}
}

func TestSupervisorCancellationDuringBackoffReturnsPromptly(t *testing.T) {
	h := setup(t, SupervisorConfig{})
	w := newScriptedWorker()
	h.sup.Add("dailyupdate", w)
	h.start(t)

	w.started(t)
	w.do(t, fail(errors.New("boom")))
	wait := h.clock.NextWait(t) // never fired: only cancellation can end it
	if wait.D != time.Second {
		t.Fatalf("backoff = %v, want 1s", wait.D)
	}

	if err := h.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	st := h.status(t, "dailyupdate")
	if st.State != WorkerStopped || st.Restarts != 0 || !st.NextStartAt.IsZero() || st.LastError != "boom" {
		t.Errorf("status = %+v, want stopped, not restarted, last error kept", st)
	}
	if n := w.runs.Load(); n != 1 {
		t.Errorf("worker ran %d times, want 1", n)
	}
}

func TestSupervisorStopTimeoutNamesStuckWorkers(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SupervisorConfig
		stuck   []string
		wantErr string
	}{
		{
			name:    "default timeout, one stuck worker",
			stuck:   []string{"memory"},
			wantErr: "workers did not stop within 10s: memory",
		},
		{
			name:    "configured timeout, two stuck workers sorted",
			cfg:     SupervisorConfig{StopTimeout: 3 * time.Second},
			stuck:   []string{"memory", "dailyupdate"},
			wantErr: "workers did not stop within 3s: dailyupdate, memory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, tt.cfg)
			release := make(chan struct{})
			// Registered after setup, so it runs before the leak check.
			t.Cleanup(func() { close(release) })

			polite := newScriptedWorker()
			h.sup.Add("conversation", polite)
			var stuck []*scriptedWorker
			for _, name := range tt.stuck {
				w := newScriptedWorker()
				w.release = release
				stuck = append(stuck, w)
				h.sup.Add(name, w)
			}
			h.start(t)
			polite.started(t)
			for _, w := range stuck {
				w.started(t)
			}

			h.cancel()
			// Only the stuck workers may be left when the timeout fires.
			h.awaitState(t, "conversation", WorkerStopped)
			wait := h.clock.NextWait(t)
			if want := h.sup.cfg.StopTimeout; wait.D != want {
				t.Fatalf("Run waited %v for the workers, want StopTimeout %v", wait.D, want)
			}
			wait.Fire()
			err := h.wait(t)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Run = %v, want %q", err, tt.wantErr)
			}
			var ste *StopTimeoutError
			if !errors.As(err, &ste) || len(ste.Workers) != len(tt.stuck) {
				t.Errorf("Run's error %#v is not a *StopTimeoutError naming %v", err, tt.stuck)
			}
			for _, name := range tt.stuck {
				if st := h.status(t, name); st.State != WorkerRunning {
					t.Errorf("stuck worker %s state = %s, want running", name, st.State)
				}
			}
		})
	}
}

func TestSupervisorStatusReportsRestartsAndLastError(t *testing.T) {
	h := setup(t, SupervisorConfig{})
	memory, conversation := newScriptedWorker(), newScriptedWorker()
	// Added out of order: Status sorts by name.
	h.sup.Add("memory", memory)
	h.sup.Add("conversation", conversation)

	for _, st := range h.sup.Status() {
		if st.State != WorkerStopped {
			t.Errorf("before Run: %s is %s, want stopped", st.Name, st.State)
		}
	}
	t0 := h.clock.Now()
	h.start(t)
	conversation.started(t)
	memory.started(t)

	h.clock.Advance(30 * time.Second)
	memory.do(t, fail(errors.New("save emotion: connection refused")))
	wait := h.clock.NextWait(t)
	failedAt := t0.Add(30 * time.Second)

	got := h.sup.Status()
	want := []WorkerStatus{
		{Name: "conversation", State: WorkerRunning, StartedAt: t0},
		{
			Name: "memory", State: WorkerBackingOff, StartedAt: t0,
			LastError: "save emotion: connection refused", LastErrorAt: failedAt,
			NextStartAt: failedAt.Add(time.Second),
		},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("while backing off:\n got %+v\nwant %+v", got, want)
	}

	wait.Fire()
	memory.started(t)
	st := h.status(t, "memory")
	if st.State != WorkerRunning || st.Restarts != 1 || !st.StartedAt.Equal(failedAt.Add(time.Second)) ||
		!st.NextStartAt.IsZero() || st.LastError != "save emotion: connection refused" {
		t.Errorf("after the restart: %+v, want running since the backoff ended, 1 restart, last error kept", st)
	}

	b, err := json.Marshal(h.sup.Status())
	if err != nil {
		t.Fatal(err)
	}
	var decoded []map[string]any
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"name", "state", "restarts", "last_error", "last_error_at", "started_at"} {
		if _, ok := decoded[1][key]; !ok {
			t.Errorf("JSON %s has no %q", b, key)
		}
	}
	if _, ok := decoded[1]["next_start_at"]; ok {
		t.Errorf("JSON %s reports a next start for a running worker", b)
	}
	if _, ok := decoded[0]["last_error"]; ok {
		t.Errorf("JSON %s reports a last error for a worker that never failed", b)
	}

	if err := h.stop(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestSupervisorOnChangePublishesEveryStateInTheEnd(t *testing.T) {
	var (
		inFlight, overlapped atomic.Bool
		snapshots            = make(chan []WorkerStatus, 1000)
		h                    *harness
	)
	h = setup(t, SupervisorConfig{OnChange: func(bool) {
		if inFlight.Swap(true) {
			overlapped.Store(true)
		}
		defer inFlight.Store(false)
		snapshots <- h.sup.Status()
	}})
	w := newScriptedWorker()
	h.sup.Add("memory", w)
	h.start(t)

	// awaitState waits for OnChange to publish the worker in state.
	awaitState := func(state WorkerState) {
		t.Helper()
		for {
			select {
			case s := <-snapshots:
				if s[0].State == state {
					return
				}
			case <-time.After(guard):
				t.Fatalf("OnChange never published %s", state)
			}
		}
	}
	w.started(t)
	awaitState(WorkerRunning)
	w.do(t, fail(errors.New("boom")))
	awaitState(WorkerBackingOff)
	h.clock.NextWait(t).Fire()
	w.started(t)
	awaitState(WorkerRunning)

	if err := h.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	// Run has returned, so OnChange has made its last call.
	var last []WorkerStatus
	for len(snapshots) > 0 {
		last = <-snapshots
	}
	if len(last) != 1 || last[0].State != WorkerStopped || last[0].Restarts != 1 {
		t.Errorf("last published status = %+v, want memory stopped after 1 restart", last)
	}
	if overlapped.Load() {
		t.Error("OnChange calls overlapped")
	}
}

func TestSupervisorWithoutWorkersRunsUntilCancelled(t *testing.T) {
	h := setup(t, SupervisorConfig{})
	h.start(t)
	select {
	case err := <-h.done:
		t.Fatalf("Run returned %v before cancellation", err)
	default:
	}
	if err := h.stop(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestSupervisorRejectsMisuse(t *testing.T) {
	noop := WorkerFunc(func(ctx context.Context) error { <-ctx.Done(); return nil })
	tests := []struct {
		name string
		add  func(s *Supervisor)
	}{
		{name: "empty name", add: func(s *Supervisor) { s.Add("", noop) }},
		{name: "nil worker", add: func(s *Supervisor) { s.Add("memory", nil) }},
		{name: "duplicate name", add: func(s *Supervisor) { s.Add("memory", noop); s.Add("memory", noop) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Add did not panic")
				}
			}()
			tt.add(NewSupervisor(SupervisorConfig{}))
		})
	}

	t.Run("Add after Run and Run twice", func(t *testing.T) {
		h := setup(t, SupervisorConfig{})
		w := newScriptedWorker()
		h.sup.Add("memory", w)
		h.start(t)
		w.started(t) // Run has begun
		if err := h.sup.Run(t.Context()); err == nil {
			t.Error("second Run returned nil, want an error")
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Add after Run did not panic")
				}
			}()
			h.sup.Add("conversation", noop)
		}()
		if err := h.stop(t); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

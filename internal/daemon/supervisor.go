package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Worker is a long-running part of the daemon. Run blocks until ctx is done
// and returns nil (or ctx's error) on a clean stop; any other return is a
// failure the supervisor restarts.
type Worker interface {
	Run(ctx context.Context) error
}

// WorkerFunc adapts a function to the Worker interface.
type WorkerFunc func(ctx context.Context) error

// Run calls f(ctx).
func (f WorkerFunc) Run(ctx context.Context) error { return f(ctx) }

// WorkerState is what a supervised worker is doing at the moment.
type WorkerState string

// The states a worker moves through. A worker is stopped before Supervisor.Run
// starts it and after it has returned for good.
const (
	WorkerRunning    WorkerState = "running"
	WorkerBackingOff WorkerState = "backing_off"
	WorkerStopped    WorkerState = "stopped"
	// WorkerFailed is a worker that returned an Unrestartable error: it is not
	// restarted until the daemon is.
	WorkerFailed WorkerState = "failed"
)

// WorkerStatus is a snapshot of one supervised worker, shaped for the
// daemon's status file and `angelad status --json`.
type WorkerStatus struct {
	Name  string      `json:"name"`
	State WorkerState `json:"state"`
	// Restarts counts every restart since the supervisor started.
	Restarts int `json:"restarts"`
	// LastError and LastErrorAt describe the most recent failure; they stay
	// set after a successful restart so that status can still explain a
	// restart count.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// StartedAt is when the current (or last) run began.
	StartedAt time.Time `json:"started_at,omitzero"`
	// NextStartAt is when a backing-off worker will be restarted; zero in
	// every other state.
	NextStartAt time.Time `json:"next_start_at,omitzero"`
	// Problem is what the worker reports as wrong (Reporter.Problem); it
	// makes the daemon unhealthy.
	Problem string `json:"problem,omitempty"`
	// Detail is the worker's own account of itself (Reporter.Detail).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Defaults the constructor fills into a SupervisorConfig.
const (
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = time.Minute
	DefaultHealthyAfter = time.Minute
	// DefaultStopTimeout matches the default shutdown_timeout: it stays below
	// systemd's TimeoutStopSec and launchd's exit timeout so that the daemon,
	// not the service manager, decides how a slow shutdown ends.
	DefaultStopTimeout = 10 * time.Second
)

// SupervisorConfig configures a Supervisor. Zero values take the defaults.
type SupervisorConfig struct {
	// Log receives one line per failure and one per restart; nil discards.
	Log *zap.Logger
	// Now is the clock that measures how long a run lasted; default time.Now.
	Now func() time.Time
	// After waits for backoffs and for StopTimeout; default time.After.
	// Tests inject both clocks to control time without sleeping.
	After func(d time.Duration) <-chan time.Time
	// MinBackoff is the first restart delay; each consecutive failure doubles
	// it up to MaxBackoff. Defaults 1s and 1m; a MaxBackoff below MinBackoff
	// is raised to MinBackoff.
	MinBackoff, MaxBackoff time.Duration
	// HealthyAfter is how long a run must last for its failure to count as a
	// new incident: the backoff then starts again at MinBackoff instead of
	// doubling. Default 1m.
	HealthyAfter time.Duration
	// StopTimeout bounds how long Run waits, after its context is cancelled,
	// for the workers to return. Default 10s.
	StopTimeout time.Duration
	// OnChange, when set, is called after workers change state, so the daemon
	// can publish its status. Calls never overlap, bursts of changes may be
	// coalesced into one call, and the last call happens after the last
	// change Run waited for, so Status inside OnChange always ends up current.
	// now is set when a change since the last call must be shown at once (a
	// worker's state, a problem, Reporter.DetailNow); otherwise only details
	// changed, which may be written at a bounded rate. It runs on its own
	// goroutine: a slow OnChange delays the next status publication, never a
	// worker's restart.
	OnChange func(now bool)
	// Heartbeat, when positive with OnHeartbeat set, is how often Run's own
	// loop beats: it takes the supervisor's lock and has the goroutine that
	// calls OnChange call OnHeartbeat, so a beat shows that neither is stuck.
	// The daemon's watchdog goes by it.
	Heartbeat   time.Duration
	OnHeartbeat func()
}

// StopTimeoutError is returned by Supervisor.Run when some workers have not
// returned within StopTimeout of cancellation.
type StopTimeoutError struct {
	Timeout time.Duration
	// Workers names the workers still running, sorted.
	Workers []string
}

// Error names the timeout and the workers still running.
func (e *StopTimeoutError) Error() string {
	return fmt.Sprintf("workers did not stop within %s: %s", e.Timeout, strings.Join(e.Workers, ", "))
}

// errReturnedEarly stands for a worker that returned nil while its context
// was still live. Workers are meant to run until cancelled, so an early nil is
// a bug or a lost error; restarting it like a failure keeps the daemon whole
// and the log line makes the bug visible.
var errReturnedEarly = errors.New("returned nil before shutdown")

// panicError carries a recovered panic and the stack of the goroutine that
// panicked, taken inside the deferred recover so it still shows the panic's
// origin.
type panicError struct {
	value any
	stack []byte
}

// Error reads "panic: <value>", which is what status shows as the last error.
func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// Supervisor runs workers, each in its own goroutine, restarting the ones that
// fail or panic with capped exponential backoff, and reports their state.
type Supervisor struct {
	cfg SupervisorConfig
	log *zap.Logger
	// changes holds at most one pending OnChange call; senders never block.
	changes chan struct{}
	// urgent is set by a change that must be shown at once, before it is
	// sent on changes, and taken by the next OnChange call.
	urgent atomic.Bool
	// beats holds at most one pending OnHeartbeat call.
	beats chan struct{}

	mu      sync.Mutex
	started bool
	workers []*supervised
	// reporters holds workers whose reporter was asked for before Add.
	reporters map[string]*supervised
}

// supervised is one registered worker; status and exited are guarded by
// Supervisor.mu.
type supervised struct {
	name   string
	w      Worker
	status WorkerStatus
	exited bool
	rep    *Reporter // nil until Reporter(name) is asked for
}

// NewSupervisor returns a supervisor for cfg with the defaults filled in.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.HealthyAfter <= 0 {
		cfg.HealthyAfter = DefaultHealthyAfter
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	return &Supervisor{cfg: cfg, log: cfg.Log, changes: make(chan struct{}, 1), beats: make(chan struct{}, 1)}
}

// Add registers w under name, which names it in logs and status. Add must be
// called before Run; it panics on an empty or duplicate name, a nil worker or
// a call after Run, since each is a wiring bug the first test run catches.
func (s *Supervisor) Add(name string, w Worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.started:
		panic(fmt.Sprintf("daemon: Supervisor.Add(%q) after Run", name))
	case name == "":
		panic("daemon: Supervisor.Add with an empty name")
	case w == nil:
		panic(fmt.Sprintf("daemon: Supervisor.Add(%q) with a nil worker", name))
	}
	for _, sw := range s.workers {
		if sw.name == name {
			panic(fmt.Sprintf("daemon: Supervisor.Add(%q) twice", name))
		}
	}
	sw := s.reporters[name]
	if sw == nil {
		sw = &supervised{name: name}
	}
	delete(s.reporters, name)
	sw.w, sw.status = w, WorkerStatus{Name: name, State: WorkerStopped}
	s.workers = append(s.workers, sw)
}

// Reporter returns the status reporter of the worker named name, which may be
// added before or after this call: a factory gets its reporter before the
// worker it builds exists.
func (s *Supervisor) Reporter(name string) *Reporter {
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.reporters[name]
	for _, w := range s.workers {
		if w.name == name {
			sw = w
		}
	}
	if sw == nil {
		sw = &supervised{name: name}
		if s.reporters == nil {
			s.reporters = map[string]*supervised{}
		}
		s.reporters[name] = sw
	}
	if sw.rep == nil {
		sw.rep = newReporter(s.changed)
	}
	return sw.rep
}

// Run runs every worker until ctx is cancelled and then waits for all of them
// to return. It returns nil when they all return within StopTimeout of the
// cancellation, and a *StopTimeoutError naming the rest otherwise; their
// goroutines then stay behind until they return, which a daemon about to exit
// can accept. A worker that fails while stopping is logged, not returned: the
// stop was still asked for and must not look like a crash to the service
// manager. Run may be called once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("daemon: Supervisor.Run called twice")
	}
	s.started = true
	workers := slices.Clone(s.workers)
	s.mu.Unlock()

	stopNotify := make(chan struct{})
	notifyDone := make(chan struct{})
	go s.notify(stopNotify, notifyDone)
	defer func() {
		close(stopNotify)
		<-notifyDone
	}()

	var wg sync.WaitGroup
	for _, sw := range workers {
		wg.Go(func() { s.supervise(ctx, sw) })
	}
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()

	s.beat(ctx)
	select {
	case <-allDone:
		return nil
	default:
	}
	select {
	case <-allDone:
		return nil
	case <-s.cfg.After(s.cfg.StopTimeout):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stuck []string
	for _, sw := range workers {
		if !sw.exited {
			stuck = append(stuck, sw.name)
		}
	}
	if len(stuck) == 0 {
		// The last worker returned as the timeout fired.
		return nil
	}
	slices.Sort(stuck)
	return &StopTimeoutError{Timeout: s.cfg.StopTimeout, Workers: stuck}
}

// Status returns a snapshot of every worker, sorted by name. It is safe to
// call at any time from any goroutine, including from OnChange.
func (s *Supervisor) Status() []WorkerStatus {
	s.mu.Lock()
	out := make([]WorkerStatus, 0, len(s.workers))
	for _, sw := range s.workers {
		st := sw.status
		if sw.rep != nil {
			st.Detail, st.Problem = sw.rep.snapshot()
		}
		out = append(out, st)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b WorkerStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// supervise runs one worker until ctx is done, restarting it after failures.
func (s *Supervisor) supervise(ctx context.Context, sw *supervised) {
	log := s.log.With(zap.String("worker", sw.name))
	defer func() {
		s.update(sw, func(st *WorkerStatus) {
			if st.State != WorkerFailed {
				st.State = WorkerStopped
			}
			st.NextStartAt = time.Time{}
			sw.exited = true
		})
	}()

	var backoff time.Duration // the last delay; zero before the first failure
	for {
		if ctx.Err() != nil {
			return
		}
		startedAt := s.cfg.Now()
		s.update(sw, func(st *WorkerStatus) {
			st.State = WorkerRunning
			st.StartedAt = startedAt
			st.NextStartAt = time.Time{}
		})
		err := runRecovered(ctx, sw.w)
		now := s.cfg.Now()
		ran := now.Sub(startedAt)

		if ctx.Err() != nil {
			if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err()) {
				log.Debug("worker stopped", zap.Duration("ran", ran))
				return
			}
			s.update(sw, func(st *WorkerStatus) { st.LastError, st.LastErrorAt = err.Error(), now })
			log.Error(failureMessage(err)+" while stopping", failureFields(err, ran)...)
			return
		}
		if err == nil {
			err = errReturnedEarly
		}
		if IsUnrestartable(err) {
			// Logged before the state changes, so that whoever sees the
			// worker failed finds the reason in the log already.
			log.Error("worker failed for good; it is not restarted until the daemon is", failureFields(err, ran)...)
			s.update(sw, func(st *WorkerStatus) {
				st.State = WorkerFailed
				st.LastError, st.LastErrorAt = err.Error(), now
			})
			return
		}

		switch {
		case backoff == 0 || ran >= s.cfg.HealthyAfter:
			backoff = s.cfg.MinBackoff
		case backoff > s.cfg.MaxBackoff/2:
			// Comparing before doubling keeps a huge MaxBackoff from overflowing.
			backoff = s.cfg.MaxBackoff
		default:
			backoff *= 2
		}
		var restarts int
		s.update(sw, func(st *WorkerStatus) {
			st.State = WorkerBackingOff
			st.LastError, st.LastErrorAt = err.Error(), now
			st.NextStartAt = now.Add(backoff)
			restarts = st.Restarts
		})
		log.Error(failureMessage(err), append(failureFields(err, ran),
			zap.Duration("backoff", backoff), zap.Int("restarts", restarts))...)

		select {
		case <-ctx.Done():
			return
		case <-s.cfg.After(backoff):
		}
		s.update(sw, func(st *WorkerStatus) {
			st.Restarts++
			restarts = st.Restarts
		})
		log.Info("restarting worker", zap.Int("restarts", restarts))
	}
}

// runRecovered runs w once, turning a panic into a *panicError so that one
// worker's bug cannot take the daemon and the other workers down with it.
func runRecovered(ctx context.Context, w Worker) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return w.Run(ctx)
}

func failureMessage(err error) string {
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		return "worker panicked"
	case errors.Is(err, errReturnedEarly):
		return "worker returned before shutdown"
	default:
		return "worker failed"
	}
}

func failureFields(err error, ran time.Duration) []zap.Field {
	fields := []zap.Field{zap.Error(err), zap.Duration("ran", ran)}
	var pe *panicError
	if errors.As(err, &pe) {
		fields = append(fields, zap.String("stack", string(pe.stack)))
	}
	return fields
}

// update applies change to sw's status under the lock and schedules OnChange.
func (s *Supervisor) update(sw *supervised, change func(*WorkerStatus)) {
	s.mu.Lock()
	change(&sw.status)
	s.mu.Unlock()
	s.changed(true)
}

// changed schedules an OnChange call; now marks it as one to show at once.
// The flag is set before the call is scheduled and taken before the call
// reads the status, so a call that sees the change also sees the flag, or a
// later call does.
func (s *Supervisor) changed(now bool) {
	if s.cfg.OnChange != nil {
		if now {
			s.urgent.Store(true)
		}
		select {
		case s.changes <- struct{}{}:
		default: // A call is already pending; it will read this change too.
		}
	}
}

// beat waits until ctx is done, beating every Heartbeat meanwhile.
func (s *Supervisor) beat(ctx context.Context) {
	if s.cfg.Heartbeat <= 0 || s.cfg.OnHeartbeat == nil {
		<-ctx.Done()
		return
	}
	for {
		s.mu.Lock()
		started := s.started // the lock is the point: a stuck holder stops the beat
		s.mu.Unlock()
		if started {
			select {
			case s.beats <- struct{}{}:
			default: // the last beat is still pending: the notifier is busy
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.After(s.cfg.Heartbeat):
		}
	}
}

// notify calls OnChange for pending changes and OnHeartbeat for pending
// beats until stop is closed, then OnChange once more if a change is still
// pending, so the final state is always published.
func (s *Supervisor) notify(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if s.cfg.OnChange == nil && s.cfg.OnHeartbeat == nil {
		return
	}
	for {
		select {
		case <-s.changes:
			if s.cfg.OnChange != nil {
				s.cfg.OnChange(s.urgent.Swap(false))
			}
		case <-s.beats:
			s.cfg.OnHeartbeat()
		case <-stop:
			select {
			case <-s.changes:
				if s.cfg.OnChange != nil {
					s.cfg.OnChange(s.urgent.Swap(false))
				}
			default:
			}
			return
		}
	}
}

package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Clock is the daemon's clock. Every worker gets the daemon's, so that a test
// that moves time moves it for all of them.
type Clock struct {
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Deps is the bundle every worker is built from. A worker's own configuration
// section is given to the package's factory constructor by the registration
// in cmd/angelad/run.go.
type Deps struct {
	// Pool is the daemon's one pool, shared by every worker; never close it.
	Pool *pgxpool.Pool
	// Log is already named after the worker.
	Log   *zap.Logger
	Clock Clock
	// Location is the configured time zone.
	Location *time.Location
	StateDir string
	// Status publishes the worker's detail and problem in status.json.
	Status *Reporter
	// Database is the daemon's database monitor as the worker's backoff
	// sees it: call Trouble when the database cannot be reached, and end a
	// backoff early on Back. Nil outside a daemon.
	Database *DatabaseWatch
}

// Factory builds a worker once the pool exists. An error stops the daemon's
// start-up with exit 2: it means configuration that no restart can fix, and
// its message names the key.
type Factory func(Deps) (Worker, error)

// FactoryError is a worker's factory refusing its configuration.
type FactoryError struct {
	Worker string
	Err    error
}

// Error names the worker and what its factory refused.
func (e *FactoryError) Error() string { return fmt.Sprintf("worker %s: %v", e.Worker, e.Err) }

// Unwrap returns the factory's error.
func (e *FactoryError) Unwrap() error { return e.Err }

// unrestartableError marks an error that no restart can fix.
type unrestartableError struct{ err error }

func (e *unrestartableError) Error() string { return e.err.Error() }
func (e *unrestartableError) Unwrap() error { return e.err }

// Unrestartable marks err, returned by a worker, as one that no restart can
// fix (a malformed setting, say): the supervisor shows the worker as failed
// and does not restart it until the daemon restarts. Unrestartable(nil) is nil.
func Unrestartable(err error) error {
	if err == nil {
		return nil
	}
	return &unrestartableError{err}
}

// IsUnrestartable reports whether err, or an error it wraps, was marked
// Unrestartable.
func IsUnrestartable(err error) bool {
	var ue *unrestartableError
	return errors.As(err, &ue)
}

// Reporter publishes one worker's status: a detail of the worker's own shape
// and an optional problem. It is safe for concurrent use.
type Reporter struct {
	// changed is called after every change; now says whether it must be
	// written at once (a problem, a change of state) or may wait for the
	// next bounded write (a counter).
	changed func(now bool)

	mu      sync.Mutex
	detail  json.RawMessage
	problem string
}

func newReporter(changed func(now bool)) *Reporter {
	return &Reporter{changed: changed}
}

// Detail replaces the worker's detail with v, any value that marshals to JSON
// (a struct with json tags, typically). The daemon writes it to status.json
// at a bounded rate (within detailRefresh), so a worker may call Detail on
// every tick for counters that move.
func (r *Reporter) Detail(v any) { r.setDetail(v, false) }

// DetailNow replaces the worker's detail like Detail, and has it written at
// once: for a change of what the worker is doing (a backfill that began or
// finished, capture switched off) that status must not show late.
func (r *Reporter) DetailNow(v any) { r.setDetail(v, true) }

func (r *Reporter) setDetail(v any, now bool) {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"error": "detail cannot be shown: " + err.Error()})
	}
	r.mu.Lock()
	same := string(r.detail) == string(data)
	r.detail = data
	r.mu.Unlock()
	if !same {
		r.changed(now)
	}
}

// Problem sets the worker's problem, one line that makes `angelad status`
// unhealthy; "" clears it. A change is written at once.
func (r *Reporter) Problem(p string) {
	r.mu.Lock()
	same := r.problem == p
	r.problem = p
	r.mu.Unlock()
	if !same {
		r.changed(true)
	}
}

func (r *Reporter) snapshot() (json.RawMessage, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.detail, r.problem
}

// buildWorkers builds every registered worker with its dependencies.
func buildWorkers(factories []namedFactory, deps func(name string) Deps) ([]Worker, error) {
	workers := make([]Worker, 0, len(factories))
	for _, nf := range factories {
		w, err := nf.f(deps(nf.name))
		if err == nil && w == nil {
			err = errors.New("the factory returned no worker")
		}
		if err != nil {
			return nil, &FactoryError{Worker: nf.name, Err: err}
		}
		workers = append(workers, w)
	}
	return workers, nil
}

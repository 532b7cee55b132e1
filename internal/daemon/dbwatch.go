package daemon

import "sync"

// DatabaseWatch connects the workers' backoff to the daemon's database
// monitor. A worker that cannot reach the database calls Trouble, which has
// the monitor check at once rather than at its next period, so that status
// shows the outage at once; while the worker backs off it also waits on the
// channel Back returned, which the monitor closes as soon as it sees the
// database answer again, so that the worker retries then instead of at the
// end of a backoff that may have grown to half a minute.
//
// A nil *DatabaseWatch, as a worker built outside a daemon has, never wakes
// anyone and ignores Trouble.
type DatabaseWatch struct {
	mu   sync.Mutex
	back chan struct{}
	// checks holds at most one pending request for a check.
	checks chan struct{}
}

// NewDatabaseWatch returns a watch for one daemon's monitor and workers.
func NewDatabaseWatch() *DatabaseWatch {
	return &DatabaseWatch{back: make(chan struct{}), checks: make(chan struct{}, 1)}
}

// Back returns a channel that is closed when the monitor next sees the
// database answer after it saw it fail. Take it before the attempt that may
// fail, not after: a return seen while the attempt failed then still ends the
// wait. On a nil watch it returns nil, which never delivers.
func (w *DatabaseWatch) Back() <-chan struct{} {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.back
}

// Trouble tells the monitor that a worker could not reach the database, so
// that it checks now. Requests made while one is pending are one request.
func (w *DatabaseWatch) Trouble() {
	if w == nil {
		return
	}
	select {
	case w.checks <- struct{}{}:
	default:
	}
}

// Recovered wakes every worker waiting on Back. The daemon's monitor calls
// it when it sees the database answer after it saw it fail; a test of a
// worker calls it to play that monitor.
func (w *DatabaseWatch) Recovered() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.back)
	w.back = make(chan struct{})
}

// checkRequests delivers the workers' requests for a check; nil on a nil
// watch.
func (w *DatabaseWatch) checkRequests() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.checks
}

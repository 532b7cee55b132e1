package memory

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
)

// WorkerFactory returns the factory of the memory worker: every
// cfg.ConsolidateEvery, and once at start, it runs a consolidation pass (see
// Consolidate) over every memory. A configuration that cfg.Check refuses stops
// the daemon's start-up.
func WorkerFactory(cfg config.Memory) daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) {
		if err := cfg.Check(); err != nil {
			return nil, err
		}
		return &worker{cfg: cfg, model: NewModel(cfg), deps: d}, nil
	}
}

type worker struct {
	cfg   config.Memory
	model Model
	deps  daemon.Deps
}

// Backoff after a failed pass, on the injected clock.
const (
	minRetry = 5 * time.Second
	// maxRetry keeps the worker trying often enough to clear its problem
	// soon after the database is back.
	maxRetry = 30 * time.Second
	// problemAfter is how long passes must keep failing before status shows
	// a problem: a short outage is the database monitor's to report, and a
	// problem that outlived it would say the daemon is unhealthy after the
	// database recovered.
	problemAfter = 2 * time.Minute
)

// workerStatus is the worker's detail in status.json.
type workerStatus struct {
	LastPassAt             *time.Time `json:"last_pass_at,omitempty"`
	LastPassSeconds        float64    `json:"last_pass_seconds"`
	LastPassUpdated        int64      `json:"last_pass_updated"`
	LastPassNewlyForgotten int64      `json:"last_pass_newly_forgotten"`
	LastPassAdopted        int64      `json:"last_pass_adopted,omitempty"`
	Conversations          int64      `json:"conversations"`
	Emotions               int64      `json:"emotions"`
	Forgotten              int64      `json:"forgotten"`
	NextPassAt             time.Time  `json:"next_pass_at"`
	failures
}

// failures is a worker's run of failed tries. Embedded in the worker's
// status, its counts are fields of the status; the backoff and since when
// the tries fail are the worker's own.
type failures struct {
	Failures  int    `json:"failures,omitempty"`
	LastError string `json:"last_error,omitempty"`
	retry     time.Duration
	since     time.Time
}

// fail counts err, a try failed at now, logs it as msg and returns the wait
// before the next try: minRetry at first, doubling up to maxRetry. Once the
// tries have failed for problemAfter, the failure is the worker's problem in
// status, named by what the worker does.
func (f *failures) fail(now time.Time, err error, log *zap.Logger, msg string, status *daemon.Reporter, what string) time.Duration {
	f.Failures++
	f.LastError = err.Error()
	if f.since.IsZero() {
		f.since = now
	}
	wait := max(f.retry, minRetry)
	f.retry = min(wait*2, maxRetry)
	log.Warn(msg, zap.Error(err), zap.Int("failures", f.Failures), zap.Duration("retry_in", wait))
	if now.Sub(f.since) >= problemAfter {
		status.Problem(what + " failing since " + f.since.Format(time.RFC3339) + ": " + err.Error())
	}
	return wait
}

// recovered ends a run of failures, and reports whether there was one.
func (f *failures) recovered() bool {
	failing := !f.since.IsZero()
	*f = failures{}
	return failing
}

// Run consolidates until ctx is done. A failed pass (the database away) is
// retried with backoff, or as soon as the daemon sees the database back, and
// shown as a problem once it keeps failing; Run returns only when ctx is
// done.
func (w *worker) Run(ctx context.Context) error {
	clock, log := w.deps.Clock, w.deps.Log
	var st workerStatus
	adopt := true // adopt legacy rows on the first pass after start
	for {
		now := clock.Now()
		// Taken before the pass: a return seen while it failed still counts.
		back := w.deps.Database.Back()
		res, err := Consolidate(ctx, w.deps.Pool, w.model, w.cfg.BatchSize, PassOptions{Now: now, Adopt: adopt, SkipUnchanged: adopt}, clock.Now)
		wait := w.cfg.ConsolidateEvery
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			w.deps.Database.Trouble()
			wait = st.fail(now, err, log, "consolidation pass failed", w.deps.Status, "consolidation")
		default:
			if res.Resumed {
				// It finished a pass cut short earlier, which may not have
				// been an adopting one: start a full pass at once.
				wait = 0
			} else {
				adopt = false
			}
			back = nil
			// A new status: the run of failures, if any, is over.
			st = workerStatus{LastPassAt: &now, LastPassSeconds: res.DurationSeconds,
				LastPassUpdated: res.Updated, LastPassNewlyForgotten: res.NewlyForgotten, LastPassAdopted: res.Adopted,
				Conversations: res.Conversations, Emotions: res.Emotions,
				Forgotten: res.ForgottenConversations + res.ForgottenEmotions}
			w.deps.Status.Problem("")
			log.Info("consolidation pass", zap.Int64("updated", res.Updated), zap.Int64("newly_forgotten", res.NewlyForgotten),
				zap.Int64("seen", res.Seen), zap.Int64("adopted", res.Adopted), zap.Int("batches", res.Batches),
				zap.Bool("resumed", res.Resumed), zap.Duration("duration", res.Duration))
		}
		st.NextPassAt = now.Add(wait)
		w.deps.Status.Detail(st)
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(wait):
		case <-back: // the database is back: retry before the backoff ends
		}
	}
}

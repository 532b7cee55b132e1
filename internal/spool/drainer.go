package spool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// Timing of the Drainer.
const (
	// PollInterval is how often the drainer looks for new records: one
	// directory read, no database round trip while the spool is empty.
	PollInterval = 5 * time.Second
	// Backoff bounds while the database cannot take the records.
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
	// DrainWorkers is how many of the pool's connections a drain uses at
	// once, at most half the pool: the file work of one batch (most of a
	// drain's cost, since a batch is a few statements) overlaps the others',
	// which makes a long backlog (after an outage) drain about 1.6 times as
	// fast as with one on 2 cores (BenchmarkDrain10k).
	DrainWorkers = 4
)

// DrainConns is how many connections of a pool of conns the daemon's drainer
// uses: DrainWorkers, at most half the pool, leaving the other workers their
// share of a small one.
func DrainConns(conns int) int { return max(1, min(DrainWorkers, conns/2)) }

// WorkerFactory returns the factory of the spool worker, the daemon's
// Drainer of the spool in its state directory, cleaning each record with r
// (the daemon's one Redactor) before it stores it.
func WorkerFactory(r *redact.Redactor) daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) {
		if d.StateDir == "" {
			return nil, errors.New("state_dir: empty, so there is no spool to drain")
		}
		return NewDrainer(d, r), nil
	}
}

// Drainer is the daemon's spool worker: it drains the spool of one-shot
// saves at start, then whenever records wait, backing off on the daemon's
// clock while the database cannot take them, and publishes its Status and
// Problem after every pass. It never returns on such trouble; Run returns
// nil when its context ends.
type Drainer struct {
	db       postgres.DB
	spool    *Spool
	log      *zap.Logger
	clock    daemon.Clock
	report   *daemon.Reporter
	database *daemon.DatabaseWatch
	interval time.Duration
	workers  int
	redactor *redact.Redactor

	mu           sync.Mutex
	status       DrainerStatus
	failingSince time.Time
}

// DrainerStatus is the drainer's detail in status.
type DrainerStatus struct {
	// Backlog is how many records wait, as of the last look.
	Backlog int `json:"backlog"`
	// Oldest is when the oldest waiting record was spooled.
	Oldest time.Time `json:"oldest,omitzero"`
	// Rejected is how many records the database refused, in spool/rejected.
	Rejected int `json:"rejected"`
	// Drained is how many records this daemon stored from the spool.
	Drained int `json:"drained"`
	// LastDrainAt is when a pass last stored or rejected something.
	LastDrainAt time.Time `json:"last_drain_at,omitzero"`
	// LastError is why the last pass failed; empty once one succeeds.
	LastError string `json:"last_error,omitempty"`
}

// NewDrainer returns the drainer of d.StateDir's spool, storing on d.Pool
// what r leaves of each record (nil: the built-in rules; see Stores),
// logging on d.Log and publishing on d.Status (when set).
func NewDrainer(d daemon.Deps, r *redact.Redactor) *Drainer {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	clock := d.Clock
	if clock.Now == nil {
		clock.Now = time.Now
	}
	if clock.After == nil {
		clock.After = time.After
	}
	workers := DrainWorkers
	if d.Pool != nil {
		workers = DrainConns(int(d.Pool.Config().MaxConns))
	}
	return &Drainer{
		db: d.Pool, spool: New(d.StateDir, clock.Now), log: log, clock: clock, report: d.Status,
		database: d.Database, interval: PollInterval, workers: workers, redactor: r,
	}
}

// Run drains until ctx is done. After a failed pass it backs off until the
// daemon's monitor sees the database back, or the backoff ends.
func (d *Drainer) Run(ctx context.Context) error {
	var backoff time.Duration
	for {
		// Taken before the pass: a return seen while it failed still counts.
		back := d.database.Back()
		err := d.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.publish()
		wait := d.interval
		if err != nil {
			d.database.Trouble()
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			wait = backoff
		} else {
			backoff, back = 0, nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.clock.After(wait):
		case <-back:
		}
	}
}

// publish shows the drainer's status and problem in status.json.
func (d *Drainer) publish() {
	if d.report == nil {
		return
	}
	d.report.Detail(d.Status())
	d.report.Problem(d.Problem())
}

// pass looks at the spool and drains it if records wait.
func (d *Drainer) pass(ctx context.Context) error {
	b, err := d.spool.Backlog()
	if err == nil {
		d.setBacklog(b)
		if b.Count == 0 {
			d.recovered()
			return nil
		}
		start := d.clock.Now()
		var res Result
		res, err = DrainStores(ctx, d.db, d.spool, DrainOptions{Log: d.log, Workers: d.workers, Redactor: d.redactor})
		if res.Applied > 0 || res.Rejected > 0 || res.Skipped > 0 {
			d.log.Info("drained the spool",
				zap.Int("stored", res.Applied), zap.Int("rejected", res.Rejected), zap.Int("skipped", res.Skipped),
				zap.Int("left", res.Left), zap.Duration("took", d.clock.Now().Sub(start)))
			d.mu.Lock()
			d.status.Drained += res.Applied
			d.status.LastDrainAt = d.clock.Now()
			d.mu.Unlock()
		}
		if b2, berr := d.spool.Backlog(); berr == nil {
			d.setBacklog(b2)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		d.failed(err)
		return err
	}
	d.recovered()
	return nil
}

func (d *Drainer) setBacklog(b Backlog) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status.Backlog, d.status.Oldest, d.status.Rejected = b.Count, b.Oldest, b.Rejected
}

// failed records a failed pass; the first of a run of them is logged.
func (d *Drainer) failed(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failingSince.IsZero() {
		d.failingSince = d.clock.Now()
		d.log.Warn("cannot drain the spool; the records stay and draining is retried", zap.Error(err))
	}
	d.status.LastError = text.OneLine(err.Error())
}

// recovered records a successful pass, logging the end of a failing run.
func (d *Drainer) recovered() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.failingSince.IsZero() {
		d.log.Info("draining the spool again", zap.Duration("failed_for", d.clock.Now().Sub(d.failingSince)))
	}
	d.failingSince, d.status.LastError = time.Time{}, ""
}

// Status returns the drainer's status: the backlog (count, oldest) as of its
// last look, and what it drained. Safe for concurrent use.
func (d *Drainer) Status() DrainerStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// Problem returns a one-line problem when draining has failed, with records
// waiting, for longer than daemon.SpoolMaxWait (the time `angelad status`
// lets a record wait while the database is reachable), and "" otherwise.
func (d *Drainer) Problem() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failingSince.IsZero() || d.status.Backlog == 0 {
		return ""
	}
	if failing := d.clock.Now().Sub(d.failingSince); failing > daemon.SpoolMaxWait {
		return fmt.Sprintf("cannot drain the spool (%d waiting) for %s: %s",
			d.status.Backlog, failing.Round(time.Second), d.status.LastError)
	}
	return ""
}

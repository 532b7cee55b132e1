package dailyupdate

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// The statuses of a slot in the ledger.
const (
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// LockConn is one database session: the ledger holds a session advisory lock
// on it for the whole run of a slot, so the lock, the work and the unlock must
// all run on the same server session. *pgx.Conn and *pgxpool.Conn are one; a
// *pgxpool.Pool has the same methods but is not, since each call may take
// another connection (the unlock would miss the lock, which stays held). The
// name is kept apart from postgres.DB, whose methods it has, for that promise,
// which no method set can state.
type LockConn interface {
	postgres.DB
}

// Outcome says what Runner.Run did with a slot.
type Outcome int

// The outcomes of Runner.Run.
const (
	// NotRun: the ledger itself failed (the database is away); the error
	// says why. It is the zero value, so that no error path can pass for a run.
	NotRun Outcome = iota
	// Ran: this call ran the slot to the end (done).
	Ran
	// Rewrote: a manual run of a slot that had already run.
	Rewrote
	// AlreadyDone: the slot is done or skipped; nothing to do.
	AlreadyDone
	// Busy: another process holds the slot's lock and is running it.
	Busy
	// RetryLater: the slot failed and its next attempt is not due yet.
	RetryLater
	// Failed: this call ran the slot and it failed; it may be retried.
	Failed
	// GaveUp: the slot failed MaxAttempts times and is not tried again.
	GaveUp
)

// Run is one row of the ledger.
type Run struct {
	Job           string     `json:"job"`
	SlotWall      time.Time  `json:"-"`
	SlotAt        time.Time  `json:"slot_at"`
	Zone          string     `json:"zone"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	Error         string     `json:"error,omitempty"`
	Instance      string     `json:"instance,omitempty"`
	ManualRuns    int        `json:"manual_runs"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// Duration is how long the last attempt took, 0 while it runs.
func (r Run) Duration() time.Duration {
	if r.StartedAt == nil || r.FinishedAt == nil {
		return 0
	}
	return r.FinishedAt.Sub(*r.StartedAt)
}

const runColumns = `job, slot_wall, slot_at, zone, status, attempts, coalesce(error, ''), coalesce(instance, ''),
	manual_runs, started_at, finished_at, next_attempt_at`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	err := row.Scan(&r.Job, &r.SlotWall, &r.SlotAt, &r.Zone, &r.Status, &r.Attempts, &r.Error, &r.Instance,
		&r.ManualRuns, &r.StartedAt, &r.FinishedAt, &r.NextAttemptAt)
	return r, err
}

// The slot's lock is a session advisory lock keyed by a hash of the slot; a
// collision only makes two slots wait for each other.
const (
	tryLockSQL = `select pg_try_advisory_lock(hashtextextended('angelad.dailyupdate ' || $1, 0))`
	unlockSQL  = `select pg_advisory_unlock(hashtextextended('angelad.dailyupdate ' || $1, 0))`
	getRunSQL  = `select ` + runColumns + ` from daily_update_runs where job = $1 and slot_wall = $2`
	claimSQL   = `insert into daily_update_runs (job, slot_wall, slot_at, zone, status, attempts, instance, manual_runs, started_at)
values ($1, $2, $3, $4, 'running', 1, $5, $6, $7)
on conflict (job, slot_wall) do nothing`
	reclaimSQL = `update daily_update_runs
set status = 'running', attempts = attempts + 1, instance = $3, manual_runs = manual_runs + $4,
	started_at = $5, finished_at = null, error = null, next_attempt_at = null
where job = $1 and slot_wall = $2`
	doneSQL = `update daily_update_runs set status = 'done', finished_at = $3, error = null, next_attempt_at = null
where job = $1 and slot_wall = $2`
	failSQL = `update daily_update_runs set status = 'failed', finished_at = $3, error = $4, next_attempt_at = $5
where job = $1 and slot_wall = $2`
	skipSQL = `insert into daily_update_runs (job, slot_wall, slot_at, zone, status, attempts, finished_at, error)
values ($1, $2, $3, $4, 'skipped', 0, $5, $6)
on conflict (job, slot_wall) do nothing`
)

// Runner runs slots through the ledger so that each runs once, whoever asks:
// the daemon's worker, a second daemon on the same database, `angelad run-job`.
type Runner struct {
	o      Options
	log    *zap.Logger
	guards map[string]*guard
}

// guard runs a job through robfig's chain: Recover turns a panic into a
// logged failure, SkipIfStillRunning refuses to start a job that is still
// running in this process.
type guard struct {
	job cron.Job
	fn  atomic.Pointer[func()]
}

// NewRunner returns a Runner; o.Location, o.Log and o.Now must be set.
func NewRunner(o Options) *Runner {
	if o.MaxAttempts < 1 {
		o.MaxAttempts = 1
	}
	r := &Runner{o: o, log: o.Log, guards: map[string]*guard{}}
	// Recover goes inside SkipIfStillRunning: outside, a panic would unwind
	// past the point where SkipIfStillRunning hands its token back, and the
	// job would count as still running, skipped for good.
	chain := cron.NewChain(cron.SkipIfStillRunning(cronLogger{o.Log}), cron.Recover(cronLogger{o.Log}))
	for _, name := range JobNames() {
		g := &guard{}
		g.job = chain.Then(cron.FuncJob(func() { (*g.fn.Load())() }))
		r.guards[name] = g
	}
	return r
}

// errNotRun is the result of a job that the chain did not let finish: it
// panicked (Recover logged the panic) or was still running.
var errNotRun = errors.New("the update panicked or was still running (see the log)")

// guarded runs fn through the job's chain.
func (r *Runner) guarded(job string, fn func() error) error {
	err := errNotRun
	f := func() { err = fn() }
	g := r.guards[job]
	g.fn.Store(&f)
	g.job.Run()
	return err
}

// backoff is the wait before attempt n+1 after n failed attempts.
func backoff(n int) time.Duration {
	d := time.Minute << min(n-1, 5)
	return min(d, 30*time.Minute)
}

// Run runs slot s on conn through the ledger. Unless manual, a slot that is
// done, skipped, failed for good or not yet due for a retry is left alone; a
// manual run rewrites it. A slot found running while this call holds its lock
// was left by a process that died (its lock went with its session) and is
// taken over. The error is the update's failure for Failed and GaveUp, or a
// ledger error (the database away) with no outcome.
func (r *Runner) Run(ctx context.Context, conn LockConn, s Slot, manual bool) (Outcome, Result, error) {
	var res Result
	key := s.Key()
	var locked bool
	if err := conn.QueryRow(ctx, tryLockSQL, key).Scan(&locked); err != nil {
		return NotRun, res, fmt.Errorf("lock slot %s: %w", key, err)
	}
	if !locked {
		return Busy, res, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, unlockSQL, key); err != nil {
			r.log.Warn("cannot unlock slot", zap.String("slot", key), zap.Error(err))
		}
	}()

	zone := r.o.Location.String()
	manualRuns := 0
	if manual {
		manualRuns = 1
	}
	prev, err := scanRun(conn.QueryRow(ctx, getRunSQL, s.Job, s.Wall))
	exists := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return NotRun, res, fmt.Errorf("read slot %s: %w", key, err)
	}
	now := r.o.Now()
	if !exists {
		tag, err := conn.Exec(ctx, claimSQL, s.Job, s.Wall, s.At, zone, r.o.Instance, manualRuns, now)
		if err != nil {
			return NotRun, res, fmt.Errorf("claim slot %s: %w", key, err)
		}
		if tag.RowsAffected() == 0 {
			// Recorded as skipped by another process between the read and the
			// claim (skipping takes no lock).
			if prev, err = scanRun(conn.QueryRow(ctx, getRunSQL, s.Job, s.Wall)); err != nil {
				return NotRun, res, fmt.Errorf("read slot %s: %w", key, err)
			}
			exists = true
		}
	}
	attempts := 1
	if exists {
		if !manual {
			switch {
			case prev.Status == StatusDone || prev.Status == StatusSkipped:
				return AlreadyDone, res, nil
			case prev.Status == StatusFailed && prev.Attempts >= r.o.MaxAttempts:
				return GaveUp, res, errors.New(prev.Error)
			case prev.Status == StatusFailed && prev.NextAttemptAt != nil && prev.NextAttemptAt.After(now):
				return RetryLater, res, nil
			case prev.Status == StatusRunning:
				r.log.Warn("taking over a slot left running by a process that stopped",
					zap.String("job", s.Job), zap.Time("slot", s.At), zap.String("previous_instance", prev.Instance),
					zap.Int("attempts", prev.Attempts))
			}
		}
		if _, err := conn.Exec(ctx, reclaimSQL, s.Job, s.Wall, r.o.Instance, manualRuns, now); err != nil {
			return NotRun, res, fmt.Errorf("claim slot %s: %w", key, err)
		}
		attempts = prev.Attempts + 1
	}

	res, runErr := r.produceTx(ctx, conn, s, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, doneSQL, s.Job, s.Wall, r.o.Now()); err != nil {
			return fmt.Errorf("finish slot %s: %w", key, err)
		}
		return nil
	})
	if runErr == nil {
		if exists && (prev.Status == StatusDone || prev.Status == StatusSkipped) {
			return Rewrote, res, nil
		}
		return Ran, res, nil
	}
	if ctx.Err() != nil {
		// Shutting down: the slot stays running and the next start, or the
		// other daemon, takes it over once this session has gone.
		return NotRun, res, ctx.Err()
	}
	next := now.Add(backoff(attempts))
	outcome := Failed
	var nextAt any = next
	if attempts >= r.o.MaxAttempts && !manual {
		outcome, nextAt = GaveUp, nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(fctx, failSQL, s.Job, s.Wall, r.o.Now(), text.OneLine(runErr.Error()), nextAt); err != nil {
		return NotRun, res, fmt.Errorf("record failure of slot %s: %w (after %v)", key, err, runErr)
	}
	return outcome, res, runErr
}

// ErrBusy says that another process is running the slot.
var ErrBusy = errors.New("the slot is running in another process right now")

// Ahead writes the update of a slot whose time has not come yet, without
// recording it in the ledger: the slot still runs at its time. It holds the
// slot's lock meanwhile, so it never overlaps a run of the slot.
func (r *Runner) Ahead(ctx context.Context, conn LockConn, s Slot) (Result, error) {
	var res Result
	key := s.Key()
	var locked bool
	if err := conn.QueryRow(ctx, tryLockSQL, key).Scan(&locked); err != nil {
		return res, fmt.Errorf("lock slot %s: %w", key, err)
	}
	if !locked {
		return res, ErrBusy
	}
	defer conn.Exec(context.WithoutCancel(ctx), unlockSQL, key)
	return r.produceTx(ctx, conn, s, nil)
}

// produceTx writes the update of slot s in one transaction on conn, through
// the job's chain; finish, when not nil, runs in the same transaction after
// the update is written and before the commit.
func (r *Runner) produceTx(ctx context.Context, conn LockConn, s Slot, finish func(pgx.Tx) error) (Result, error) {
	var res Result
	err := r.guarded(s.Job, func() error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if res, err = produce(ctx, tx, &r.o, s); err != nil {
			return err
		}
		if finish != nil {
			if err := finish(tx); err != nil {
				return err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit slot %s: %w", s.Key(), err)
		}
		return nil
	})
	return res, err
}

// Skip records s as skipped unless the ledger already has it.
func (r *Runner) Skip(ctx context.Context, q postgres.DB, s Slot, why string) error {
	if _, err := q.Exec(ctx, skipSQL, s.Job, s.Wall, s.At, r.o.Location.String(), r.o.Now(), why); err != nil {
		return fmt.Errorf("skip slot %s: %w", s.Key(), err)
	}
	return nil
}

// Latest returns each job's newest ledger row (by slot), by job name.
func Latest(ctx context.Context, q postgres.DB) (map[string]Run, error) {
	return newestRuns(ctx, q, "")
}

// LastAttempted returns each job's newest ledger row that was attempted (not
// skipped), by job name.
func LastAttempted(ctx context.Context, q postgres.DB) (map[string]Run, error) {
	return newestRuns(ctx, q, "where status <> 'skipped'")
}

// newestRuns returns each job's newest ledger row among those where selects.
func newestRuns(ctx context.Context, q postgres.DB, where string) (map[string]Run, error) {
	rows, err := q.Query(ctx, `select distinct on (job) `+runColumns+`
from daily_update_runs `+where+` order by job, slot_at desc, slot_wall desc`)
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) { return scanRun(row) })
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	out := map[string]Run{}
	for _, r := range runs {
		out[r.Job] = r
	}
	return out, nil
}

// cronLogger is robfig's Logger on zap.
type cronLogger struct{ log *zap.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.Info("cron: "+msg, kvFields(kv)...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kvFields(kv), zap.Error(err))...)
}

func kvFields(kv []any) []zap.Field {
	var fs []zap.Field
	for i := 0; i+1 < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			k = fmt.Sprint(kv[i])
		}
		fs = append(fs, zap.Any(k, kv[i+1]))
	}
	return fs
}

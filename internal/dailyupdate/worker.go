package dailyupdate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/text"
)

// WorkerOptions are what a Worker needs besides the Runner's options.
type WorkerOptions struct {
	Options
	Pool  *pgxpool.Pool
	After func(time.Duration) <-chan time.Time
	// Detail and Problem publish the worker's status; nil discards it.
	Detail  func(any)
	Problem func(string)
	// Database is the daemon's database monitor, which ends the backoff
	// while the ledger is unreachable once it sees the database back; nil:
	// the backoff runs its course.
	Database *daemon.DatabaseWatch
}

// Worker runs the daily updates on schedule. It uses robfig/cron only to
// compute times and waits on the injected clock, at most a minute at a time,
// so that a wall clock that jumped (the machine slept, the clock was set) is
// noticed within a minute and what was missed is caught up.
type Worker struct {
	o WorkerOptions
	r *Runner
	// settled holds the keys of the slots this worker knows need nothing
	// more (done, skipped, failed for good).
	settled map[string]time.Time
	// retryAt holds when a failed or busy slot is tried next.
	retryAt map[string]time.Time
	// skipFrom is where the next pass starts recording slots that fell out of
	// the catch-up window as skipped.
	skipFrom map[string]time.Time
	// lastNow and lastWait are when the worker last started waiting, and
	// for how long.
	lastNow  time.Time
	lastWait time.Duration
	dbDown   time.Time
	refresh  bool
}

// maxWait bounds every wait, so that a jump of the wall clock is noticed
// within a minute.
const maxWait = time.Minute

// jumpSlack is how much later than expected a wake may come before it counts
// as a jump of the wall clock.
const jumpSlack = 30 * time.Second

// busyRetry is how soon a slot another process is running is looked at again.
const busyRetry = 10 * time.Second

// dbProblemAfter is how long the database may be away before the worker
// reports it as a problem.
const dbProblemAfter = 2 * time.Minute

// NewWorker returns a worker.
func NewWorker(o WorkerOptions) *Worker {
	if o.Detail == nil {
		o.Detail = func(any) {}
	}
	if o.Problem == nil {
		o.Problem = func(string) {}
	}
	return &Worker{o: o, r: NewRunner(o.Options), settled: map[string]time.Time{}, retryAt: map[string]time.Time{},
		refresh: true}
}

// Run runs due slots until ctx is done. Trouble with the database is waited
// out with backoff, cut short when the daemon sees the database back; Run
// returns nil on a clean stop.
func (w *Worker) Run(ctx context.Context) error {
	log := w.o.Log
	log.Info("started", zap.Duration("catch_up", w.o.CatchUp), zap.String("zone", w.o.Location.String()),
		zap.Strings("jobs", w.enabledJobs()))
	dbWait := time.Second
	for {
		now := w.o.Now()
		// The wall clock should have moved by about the wait; more (the
		// machine slept, the clock was set forward) or less than nothing (set
		// back) is a jump, which the pass below catches up on.
		if !w.lastNow.IsZero() && (now.Before(w.lastNow) || now.Sub(w.lastNow) > w.lastWait+jumpSlack) {
			log.Info("the wall clock jumped: catching up", zap.Time("from", w.lastNow), zap.Time("to", now))
		}
		// Taken before the pass: a return seen while it failed still counts.
		back := w.o.Database.Back()
		wait, err := w.pass(ctx, now)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.o.Database.Trouble()
			if w.dbDown.IsZero() {
				w.dbDown = now
				log.Warn("cannot reach the ledger; retrying", zap.Error(err))
			}
			if now.Sub(w.dbDown) >= dbProblemAfter {
				w.o.Problem("cannot reach the database since " + w.dbDown.In(w.o.Location).Format(time.RFC3339) + ": " + text.OneLine(err.Error()))
			}
			wait, dbWait = dbWait, min(dbWait*2, 30*time.Second)
		} else {
			if !w.dbDown.IsZero() {
				log.Info("the ledger is reachable again")
				w.dbDown = time.Time{}
				w.refresh = true
			}
			dbWait, back = time.Second, nil
		}
		if w.refresh && err == nil {
			w.publish(ctx, now)
		}
		wait = min(max(wait, 0), maxWait)
		w.lastNow, w.lastWait = w.o.Now(), wait
		select {
		case <-ctx.Done():
			return nil
		case <-w.o.After(wait):
		case <-back: // the database is back: retry before the backoff ends
		}
	}
}

func (w *Worker) enabledJobs() []string {
	var out []string
	for _, name := range JobNames() {
		if j, ok := w.o.Jobs[name]; ok && j.Enabled {
			out = append(out, name)
		}
	}
	return out
}

// pass runs every due slot in the catch-up window, oldest first, records the
// slots that fell out of the window unrun as skipped, and returns how long to
// wait before the next pass.
func (w *Worker) pass(ctx context.Context, now time.Time) (time.Duration, error) {
	loc := w.o.Location
	windowStart := now.Add(-w.o.CatchUp)
	if w.skipFrom == nil {
		latest, err := Latest(ctx, w.o.Pool)
		if err != nil {
			return 0, err
		}
		w.skipFrom = map[string]time.Time{}
		for _, name := range w.enabledJobs() {
			// Only slots after the newest one the ledger knows are missed: a
			// new install has no history to skip.
			if run, ok := latest[name]; ok && run.SlotAt.Before(windowStart) {
				w.skipFrom[name] = maxTime(run.SlotAt, windowStart.Add(-maxSkipRecord))
			} else {
				w.skipFrom[name] = windowStart
			}
		}
	}
	var skipped, due []Slot
	for _, name := range w.enabledJobs() {
		sched := w.o.Jobs[name].Schedule
		if from := w.skipFrom[name]; from.Before(windowStart) {
			skipped = append(skipped, sched.slotsBetween(name, loc, from, windowStart)...)
		}
		due = append(due, sched.slotsBetween(name, loc, windowStart, now)...)
	}
	sortSlots(skipped)
	for _, s := range skipped {
		if _, ok := w.settled[s.Key()]; ok {
			continue
		}
		why := fmt.Sprintf("missed by more than dailyupdate.catch_up (%s)", w.o.CatchUp)
		if err := w.r.Skip(ctx, w.o.Pool, s, why); err != nil {
			return 0, err
		}
		w.o.Log.Info("skipped a slot older than the catch-up window", zap.String("job", s.Job), zap.Time("slot", s.At))
		w.settled[s.Key()] = s.At
		w.refresh = true
	}
	for name := range w.skipFrom {
		w.skipFrom[name] = maxTime(w.skipFrom[name], windowStart)
	}
	w.prune(windowStart)

	sortSlots(due)
	wait := maxWait
	for _, s := range due {
		key := s.Key()
		if _, ok := w.settled[key]; ok {
			continue
		}
		if t, ok := w.retryAt[key]; ok && now.Before(t) {
			wait = min(wait, t.Sub(now))
			continue
		}
		if err := w.runSlot(ctx, s, now, &wait); err != nil {
			return 0, err
		}
	}
	// Sleep until the next slot, at most maxWait.
	for _, name := range w.enabledJobs() {
		if next := w.o.Jobs[name].Schedule.next(name, loc, now); !next.At.IsZero() {
			wait = min(wait, next.At.Sub(now))
		}
	}
	return wait, nil
}

// maxSkipRecord bounds how far back missed slots are recorded as skipped
// after a long downtime.
const maxSkipRecord = 31 * 24 * time.Hour

func (w *Worker) runSlot(ctx context.Context, s Slot, now time.Time, wait *time.Duration) error {
	key := s.Key()
	conn, err := w.o.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection: %w", err)
	}
	defer conn.Release()
	start := time.Now()
	outcome, res, err := w.r.Run(ctx, conn, s, false)
	log := w.o.Log.With(zap.String("job", s.Job), zap.Time("slot", s.At), zap.String("slot_local", s.Wall.Format("2006-01-02 15:04")))
	switch {
	case outcome == Ran:
		log.Info("ran", zap.String("date", res.Date.Format(time.DateOnly)), zap.String("title", res.Title),
			zap.Duration("took", time.Since(start)))
		w.settled[key] = s.At
		delete(w.retryAt, key)
		w.refresh = true
	case err != nil && outcome != Failed && outcome != GaveUp:
		// The ledger itself failed: the database is away. A broken session
		// goes back to the pool, which discards it.
		return err
	case outcome == AlreadyDone:
		w.settled[key] = s.At
		delete(w.retryAt, key)
		w.refresh = true
	case outcome == Busy:
		log.Debug("running in another process")
		w.retryAt[key] = now.Add(busyRetry)
		*wait = min(*wait, busyRetry)
	case outcome == RetryLater:
		run, rerr := scanRun(w.o.Pool.QueryRow(ctx, getRunSQL, s.Job, s.Wall))
		if rerr != nil {
			return rerr
		}
		if run.NextAttemptAt != nil {
			w.retryAt[key] = *run.NextAttemptAt
			*wait = min(*wait, run.NextAttemptAt.Sub(now))
		}
	case outcome == Failed:
		run, rerr := scanRun(w.o.Pool.QueryRow(ctx, getRunSQL, s.Job, s.Wall))
		if rerr != nil {
			return rerr
		}
		next := now.Add(time.Minute)
		if run.NextAttemptAt != nil {
			next = *run.NextAttemptAt
		}
		log.Warn("failed; retrying", zap.Int("attempt", run.Attempts), zap.Int("max_attempts", w.o.MaxAttempts),
			zap.Time("next_attempt", next), zap.Error(err))
		w.retryAt[key] = next
		*wait = min(*wait, next.Sub(now))
		w.refresh = true
	case outcome == GaveUp:
		log.Error("failed for good", zap.Int("max_attempts", w.o.MaxAttempts), zap.Error(err))
		w.settled[key] = s.At
		delete(w.retryAt, key)
		w.refresh = true
	}
	return nil
}

// prune forgets settled slots a day outside the window: no pass looks at
// them again.
func (w *Worker) prune(windowStart time.Time) {
	for k, at := range w.settled {
		if at.Before(windowStart.Add(-24 * time.Hour)) {
			delete(w.settled, k)
		}
	}
	for k, at := range w.retryAt {
		if at.Before(windowStart.Add(-24 * time.Hour)) {
			delete(w.retryAt, k)
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// JobStatus is one job's line in the worker's status and in `angelad jobs`.
type JobStatus struct {
	Job      string `json:"job"`
	Schedule string `json:"schedule"`
	Enabled  bool   `json:"enabled"`
	// NextRun is the next slot's due instant, shown in the zone.
	NextRun *time.Time `json:"next_run,omitempty"`
	Zone    string     `json:"zone"`
	LastRun *LastRun   `json:"last_run,omitempty"`
}

// LastRun is a job's latest attempted slot.
type LastRun struct {
	Slot            time.Time  `json:"slot"`
	Status          string     `json:"status"`
	Attempts        int        `json:"attempts"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
	DurationSeconds float64    `json:"duration_seconds"`
	Error           string     `json:"error,omitempty"`
	// FailedForGood is set when the slot failed max_attempts times.
	FailedForGood bool `json:"failed_for_good,omitempty"`
}

// Statuses returns each job's schedule, next run and last run.
func Statuses(jobs map[string]JobConfig, last map[string]Run, loc *time.Location, maxAttempts int, now time.Time) []JobStatus {
	var out []JobStatus
	for _, name := range JobNames() {
		j := jobs[name]
		st := JobStatus{Job: name, Schedule: j.Schedule.Spec, Enabled: j.Enabled, Zone: loc.String()}
		if j.Enabled && j.Schedule.sched != nil {
			if n := j.Schedule.next(name, loc, now); !n.At.IsZero() {
				at := n.At.In(loc)
				st.NextRun = &at
			}
		}
		if r, ok := last[name]; ok {
			lr := &LastRun{Slot: r.SlotAt.In(loc), Status: r.Status, Attempts: r.Attempts, StartedAt: inLoc(r.StartedAt, loc),
				FinishedAt: inLoc(r.FinishedAt, loc), DurationSeconds: r.Duration().Seconds(), Error: r.Error}
			lr.FailedForGood = r.Status == StatusFailed && r.Attempts >= maxAttempts
			st.LastRun = lr
		}
		out = append(out, st)
	}
	return out
}

func inLoc(t *time.Time, loc *time.Location) *time.Time {
	if t == nil {
		return nil
	}
	v := t.In(loc)
	return &v
}

// jobDetail is one job in the worker's status detail, which is keyed by job
// name so that `angelad status` shows it as "evening.next_run: ...".
type jobDetail struct {
	Schedule string     `json:"schedule"`
	Enabled  bool       `json:"enabled"`
	NextRun  *time.Time `json:"next_run,omitempty"`
	LastRun  *LastRun   `json:"last_run,omitempty"`
}

// publish reads the jobs' last runs and publishes them with the next runs;
// a job whose last attempt failed for good is the worker's problem.
func (w *Worker) publish(ctx context.Context, now time.Time) {
	last, err := LastAttempted(ctx, w.o.Pool)
	if err != nil {
		return // the next pass reports the database
	}
	w.refresh = false
	st := Statuses(w.o.Jobs, last, w.o.Location, w.o.MaxAttempts, now)
	d := map[string]jobDetail{}
	for _, j := range st {
		d[j.Job] = jobDetail{Schedule: j.Schedule, Enabled: j.Enabled, NextRun: j.NextRun, LastRun: j.LastRun}
	}
	w.o.Detail(d)
	problem := ""
	for _, s := range st {
		if s.LastRun != nil && s.LastRun.FailedForGood {
			attempts := fmt.Sprintf("%d attempts", s.LastRun.Attempts)
			if s.LastRun.Attempts == 1 {
				attempts = "1 attempt"
			}
			problem = fmt.Sprintf("the %s update of %s failed for good after %s: %s", s.Job,
				s.LastRun.Slot.Format("2006-01-02 15:04 MST"), attempts, s.LastRun.Error)
			break
		}
	}
	w.o.Problem(problem)
}

package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/forget"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// ApplySpooled stores one spooled record on q with the store of its kind
// (memory.Save for an emotion, Save for a conversation), idempotently by its
// id. It is the spool.ApplyFunc of the daemon's drainer and of `angelad spool
// drain`.
//
// A record saved without a time gets the time it was spooled, not the time it
// is drained: that is when it was felt or said. If its id is already stored
// (the save that spooled it reached the database after all, and the server
// chose the time), the stored row is the record, whatever its time. A record
// whose id was forgotten on request since is dropped, not stored.
func ApplySpooled(ctx context.Context, q postgres.Querier, r spool.Record) error {
	err := applySpooled(ctx, q, r)
	if forget.IsForgotten(err) {
		// Forgotten on request after it was spooled: it is settled, and its
		// file goes, as the forget asked.
		return nil
	}
	return err
}

func applySpooled(ctx context.Context, q postgres.Querier, r spool.Record) error {
	switch r.Kind {
	case spool.KindEmotion:
		e, untimed, err := decodeSpooledEmotion(r)
		if err != nil {
			return err
		}
		_, err = memory.Save(ctx, q, e)
		if untimed && isIDTaken(err, "emotion_id") {
			e.FeltAt = time.Time{}
			_, err = memory.Save(ctx, q, e)
		}
		return err
	case spool.KindConversation:
		c, untimed, err := decodeSpooledConversation(r)
		if err != nil {
			return err
		}
		_, err = Save(ctx, q, c)
		if untimed && isIDTaken(err, "conversation_id") {
			c.CreatedAt = time.Time{}
			_, err = Save(ctx, q, c)
		}
		return err
	}
	return &spool.DecodeError{File: r.Name, Err: fmt.Errorf("unknown kind %q", r.Kind)}
}

// decodeSpooledEmotion reads an emotion record as it is stored: an emotion
// saved without a time (untimed) gets the time it was spooled.
func decodeSpooledEmotion(r spool.Record) (e memory.Emotion, untimed bool, err error) {
	if err := decodeSpooled(r, &e); err != nil {
		return e, false, err
	}
	if e.ID != r.ID {
		return e, false, &spool.DecodeError{File: r.Name, Err: fmt.Errorf("holds emotion %s, not %s", e.ID, r.ID)}
	}
	if untimed = e.FeltAt.IsZero(); untimed {
		e.FeltAt = r.SpooledAt
	}
	return e, untimed, nil
}

// decodeSpooledConversation reads a conversation record as it is stored: a
// message saved without a time (untimed) gets the time it was spooled.
func decodeSpooledConversation(r spool.Record) (c Conversation, untimed bool, err error) {
	if err := decodeSpooled(r, &c); err != nil {
		return c, false, err
	}
	if c.ID != r.ID {
		return c, false, &spool.DecodeError{File: r.Name, Err: fmt.Errorf("holds conversation %s, not %s", c.ID, r.ID)}
	}
	if untimed = c.CreatedAt.IsZero(); untimed {
		c.CreatedAt = r.SpooledAt
	}
	return c, untimed, nil
}

func decodeSpooled(r spool.Record, v any) error {
	if err := json.Unmarshal(r.Data, v); err != nil {
		return &spool.DecodeError{File: r.Name, Err: err}
	}
	return nil
}

// isIDTaken reports whether err is Save's refusal of an id already stored for
// a record that differs from the one saved.
func isIDTaken(err error, field string) bool {
	var fe *text.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

// ApplySpooledBatch stores the records of a drain transaction that are new
// with one statement of each kind (memory.SaveNew, SaveNew), as ApplySpooled
// would store them one by one, and leaves the others to ApplySpooled: those
// already stored, which it compares, and those it cannot read, which it
// refuses with the reason. It is the spool.BatchApplyFunc of DrainSpool.
func ApplySpooledBatch(ctx context.Context, q postgres.Querier, recs []spool.Record) (left []spool.Record, err error) {
	var (
		emotions []memory.Emotion
		convs    []Conversation
		byID     = map[uuid.UUID]spool.Record{}
	)
	for _, r := range recs {
		_, seen := byID[r.ID]
		switch {
		case r.ID == uuid.Nil || seen:
			// No id (SaveNew would give it one, and ApplySpooled another),
			// or a second record of the same id in the batch: one by one.
		case r.Kind == spool.KindEmotion:
			if e, _, err := decodeSpooledEmotion(r); err == nil && e.WithDefaults().Validate() == nil {
				emotions, byID[r.ID] = append(emotions, e), r
				continue
			}
		case r.Kind == spool.KindConversation:
			if c, _, err := decodeSpooledConversation(r); err == nil && c.WithDefaults().Validate() == nil {
				convs, byID[r.ID] = append(convs, c), r
				continue
			}
		}
		left = append(left, r)
	}
	storedEmotions, err := memory.SaveNew(ctx, q, emotions)
	if err != nil {
		return nil, err
	}
	storedConvs, err := SaveNew(ctx, q, convs)
	if err != nil {
		return nil, err
	}
	for _, e := range emotions {
		if !storedEmotions[e.ID] {
			left = append(left, byID[e.ID])
		}
	}
	for _, c := range convs {
		if !storedConvs[c.ID] {
			left = append(left, byID[c.ID])
		}
	}
	return left, nil
}

// DrainSpool makes one pass over sp on db with ApplySpooledBatch and
// ApplySpooled, as `angelad spool drain` does and as the daemon's drainer
// does on each of its passes.
func DrainSpool(ctx context.Context, db spool.Beginner, sp *spool.Spool, o spool.DrainOptions) (spool.Result, error) {
	o.Batch = ApplySpooledBatch
	return sp.Drain(ctx, db, ApplySpooled, o)
}

// Timing of the SpoolDrainer.
const (
	// SpoolPollInterval is how often the drainer looks for new records: one
	// directory read, no database round trip while the spool is empty.
	SpoolPollInterval = 5 * time.Second
	// Backoff bounds while the database cannot take the records.
	spoolMinBackoff = time.Second
	spoolMaxBackoff = 30 * time.Second
	// SpoolProblemAfter is how long draining may fail before the drainer
	// reports a problem; it matches how long `angelad status` lets a record
	// wait while the database is reachable.
	SpoolProblemAfter = 5 * time.Minute
	// SpoolDrainWorkers is how many of the pool's connections a drain uses
	// at once, at most half the pool: the file work of one batch (most of a
	// drain's cost, since a batch is a few statements) overlaps the others',
	// which makes a long backlog (after an outage) drain about 1.6 times as
	// fast as with one on 2 cores (BenchmarkDrain10k).
	SpoolDrainWorkers = 4
)

// spoolDrainWorkers is how many connections of a pool of conns the daemon's
// drainer uses: SpoolDrainWorkers, at most half the pool, leaving the other
// workers their share of a small one.
func spoolDrainWorkers(conns int) int { return max(1, min(SpoolDrainWorkers, conns/2)) }

// SpoolDrainer drains the spool of one-shot saves in the daemon: at start,
// then whenever records wait, backing off on the daemon's clock while the
// database cannot take them. It never returns on such trouble; Run returns
// nil when its context ends.
//
// It publishes nothing itself: the worker that runs it (the conversation
// worker, in a goroutine of its Run that it waits for before returning) puts
// Status into its own detail and Problem into its own problem, so that the two
// never overwrite each other's status.
type SpoolDrainer struct {
	db       spool.Beginner
	spool    *spool.Spool
	log      *zap.Logger
	clock    daemon.Clock
	interval time.Duration
	workers  int

	// changed gets a value after every pass, so that the worker running the
	// drainer publishes its status without polling for it.
	changed chan struct{}

	mu           sync.Mutex
	status       SpoolStatus
	failingSince time.Time
}

// SpoolStatus is what the drainer shows in status.
type SpoolStatus struct {
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

// NewSpoolDrainer returns the drainer of d.StateDir's spool, storing on d.Pool
// and logging on d.Log.
func NewSpoolDrainer(d daemon.Deps) *SpoolDrainer {
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
	workers := SpoolDrainWorkers
	if d.Pool != nil {
		workers = spoolDrainWorkers(int(d.Pool.Config().MaxConns))
	}
	return &SpoolDrainer{
		db: d.Pool, spool: spool.New(d.StateDir, clock.Now), log: log.Named("spool"),
		clock: clock, interval: SpoolPollInterval, workers: workers, changed: make(chan struct{}, 1),
	}
}

// Run drains until ctx is done.
func (d *SpoolDrainer) Run(ctx context.Context) error {
	var backoff time.Duration
	for {
		err := d.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case d.changed <- struct{}{}:
		default: // the last one is not read yet; it stands for this one too
		}
		wait := d.interval
		if err != nil {
			backoff = min(max(2*backoff, spoolMinBackoff), spoolMaxBackoff)
			wait = backoff
		} else {
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.clock.After(wait):
		}
	}
}

// pass looks at the spool and drains it if records wait.
func (d *SpoolDrainer) pass(ctx context.Context) error {
	b, err := d.spool.Backlog()
	if err == nil {
		d.setBacklog(b)
		if b.Count == 0 {
			d.recovered()
			return nil
		}
		start := d.clock.Now()
		var res spool.Result
		res, err = DrainSpool(ctx, d.db, d.spool, spool.DrainOptions{Log: d.log, Workers: d.workers})
		if res.Applied > 0 || res.Rejected > 0 {
			d.log.Info("drained the spool",
				zap.Int("stored", res.Applied), zap.Int("rejected", res.Rejected),
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

func (d *SpoolDrainer) setBacklog(b spool.Backlog) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status.Backlog, d.status.Oldest, d.status.Rejected = b.Count, b.Oldest, b.Rejected
}

// failed records a failed pass; the first of a run of them is logged.
func (d *SpoolDrainer) failed(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failingSince.IsZero() {
		d.failingSince = d.clock.Now()
		d.log.Warn("cannot drain the spool; the records stay and draining is retried", zap.Error(err))
	}
	d.status.LastError = text.OneLine(err.Error())
}

// recovered records a successful pass, logging the end of a failing run.
func (d *SpoolDrainer) recovered() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.failingSince.IsZero() {
		d.log.Info("draining the spool again", zap.Duration("failed_for", d.clock.Now().Sub(d.failingSince)))
	}
	d.failingSince, d.status.LastError = time.Time{}, ""
}

// Changed gets a value after every pass of Run: a time to read Status and
// Problem again.
func (d *SpoolDrainer) Changed() <-chan struct{} { return d.changed }

// Status returns the drainer's status: the backlog (count, oldest) as of its
// last look, and what it drained. Safe for concurrent use.
func (d *SpoolDrainer) Status() SpoolStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// Problem returns a one-line problem when draining has failed for longer than
// SpoolProblemAfter with records waiting, and "" otherwise.
func (d *SpoolDrainer) Problem() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failingSince.IsZero() || d.status.Backlog == 0 {
		return ""
	}
	if failing := d.clock.Now().Sub(d.failingSince); failing > SpoolProblemAfter {
		return fmt.Sprintf("cannot drain the spool (%d waiting) for %s: %s",
			d.status.Backlog, failing.Round(time.Second), d.status.LastError)
	}
	return ""
}

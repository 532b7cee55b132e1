package embedding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/text"
)

// Register adds the embedding worker to the daemon when an embedding server is
// configured, and nothing otherwise: without one no worker runs and no vector
// is made.
func Register(d *daemon.Daemon, cfg config.Embedding, s *Searcher) {
	if cfg.Enabled() {
		d.Register("embedding", WorkerFactory(cfg, s))
	}
}

// WorkerFactory returns the factory of the embedding worker, which gives every
// memory a vector of the configured model: new memories within a poll of
// being stored, old ones by sweeping every memory in batches, all in the
// background (see Run). A configuration that cannot work stops the daemon's
// start-up with the key's name. After each step it brings s's vectors up to
// date (s may be nil: nothing is held in memory).
func WorkerFactory(cfg config.Embedding, s *Searcher) daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) {
		c, err := NewClient(cfg)
		if err != nil {
			return nil, err
		}
		w := newWorker(c, cfg.BatchSize, RecentWindow, sweepStep, d)
		w.searcher = s
		return w, nil
	}
}

// The worker's pace, on the injected clock.
const (
	// pollEvery is how often an idle worker looks for new memories.
	pollEvery = 5 * time.Second
	// recountEvery is how often the worker counts what waits: the count
	// finds memories that the look at the newest ones misses (an import of
	// old transcripts), and is what status shows.
	recountEvery = time.Minute
	// resweepAfter keeps a sweep that could store nothing (memories the
	// server refuses and the store skips, say) from being repeated at once.
	resweepAfter = 10 * time.Minute
	// sweepStep is how many keys one step of a sweep looks at.
	sweepStep = 5000
	// Backoff while the server or the database fails.
	minRetry = 5 * time.Second
	maxRetry = 2 * time.Minute
	// problemAfter is how long requests must keep failing before status
	// shows a problem: a server restarting, or a short database outage (the
	// database monitor's to report), is not one.
	problemAfter = 5 * time.Minute
)

// probeText is embedded to learn the model's dimension, and to tell a text
// the server refuses from a server that refuses everything.
const probeText = "hello"

type worker struct {
	client *Client
	batch  int
	// window and sweep are RecentWindow and sweepStep, smaller in tests.
	window, sweep int
	deps          daemon.Deps
	log           *zap.Logger
	// searcher, when set, is the daemon's in-memory vectors, refreshed
	// after each step so that a question finds them read.
	searcher *Searcher

	model Model // Dims 0: not known yet
	// counts are as of countedAt, moved on by what the worker stored since.
	counts    Counts
	countedAt time.Time
	// cursor is the sweep in progress, nil when none; queue holds the
	// memories its last step found that are not embedded yet.
	cursor       *Cursor
	queue        []Item
	sweepStored  int64
	lastSweepEnd time.Time
	lastSweepGot int64

	retry        time.Duration
	failingSince time.Time
	lastLogged   string
	st           workerStatus
}

// workerStatus is the worker's detail in status.json.
type workerStatus struct {
	Server     string     `json:"server"`
	Model      string     `json:"model"`
	Dimensions int        `json:"dimensions,omitempty"`
	Memories   int64      `json:"memories"`
	Embedded   int64      `json:"embedded"`
	Pending    int64      `json:"pending"`
	Backfill   string     `json:"backfill"`
	Stored     int64      `json:"stored_since_start"`
	Refused    int64      `json:"refused_since_start,omitempty"`
	LastStored *time.Time `json:"last_stored_at,omitempty"`
	Failures   int        `json:"failures,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	RetryAt    *time.Time `json:"retry_at,omitempty"`
}

func newWorker(c *Client, batch, window, step int, d daemon.Deps) *worker {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	return &worker{client: c, batch: batch, window: window, sweep: step, deps: d, log: d.Log,
		model: Model{Name: c.Model(), Dims: c.Dimensions()}, retry: minRetry,
		st: workerStatus{Server: c.Endpoint(), Model: c.Model(), Backfill: "starting"}}
}

// Run embeds until ctx is done. One step at a time: the newest memories
// without a vector first, then the next batch of a sweep through every
// memory; idle, it looks again every pollEvery. A failing server or database
// is retried with backoff on the injected clock (shown as a problem once it
// keeps failing); Run returns only when ctx is done.
func (w *worker) Run(ctx context.Context) error {
	defer w.client.Close()
	clock := w.deps.Clock
	for {
		wait, err := w.step(ctx)
		if err == nil && w.searcher != nil && w.model.Dims > 0 {
			err = w.searcher.Refresh(ctx, w.deps.Pool, w.model)
		}
		if ctx.Err() != nil {
			return nil
		}
		now := clock.Now()
		if err != nil {
			wait = w.failed(now, err)
		} else {
			w.recovered(now)
		}
		w.deps.Status.Detail(w.st)
		if wait <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(wait):
		}
	}
}

// step does one bounded piece of work and says how long to wait before the
// next (0: go on at once).
func (w *worker) step(ctx context.Context) (time.Duration, error) {
	now := w.deps.Clock.Now()
	if w.model.Dims == 0 {
		vs, err := w.client.Embed(ctx, []string{probeText})
		if err != nil {
			return 0, err
		}
		w.model.Dims = len(vs[0])
		w.st.Dimensions = w.model.Dims
		w.log.Info("embedding model answers", zap.String("model", w.model.Name), zap.Int("dimensions", w.model.Dims),
			zap.String("server", w.client.Endpoint()))
		w.countedAt = time.Time{}
	}
	w.st.Dimensions = w.model.Dims
	if w.countedAt.IsZero() || now.Sub(w.countedAt) >= recountEvery {
		c, err := Count(ctx, w.deps.Pool, w.model)
		if err != nil {
			return 0, err
		}
		w.counts, w.countedAt = c, now
		if w.cursor == nil && c.Pending() > 0 && (w.lastSweepEnd.IsZero() || w.lastSweepGot > 0 || now.Sub(w.lastSweepEnd) >= resweepAfter) {
			w.cursor, w.sweepStored = &Cursor{}, 0
			w.log.Info("sweeping memories for ones without a vector", zap.Int64("pending", c.Pending()), zap.String("model", w.model.Name))
		}
	}
	w.showCounts()

	// New memories first: a message just said is the likeliest to be asked
	// about.
	items, err := Recent(ctx, w.deps.Pool, w.model, w.window, w.batch)
	if err != nil {
		return 0, err
	}
	if len(items) > 0 {
		stored, err := w.embedAndStore(ctx, items)
		if err == nil && stored == 0 {
			// None could be stored (each changed or deleted meanwhile):
			// look again at the next poll rather than ask the server again
			// at once.
			return pollEvery, nil
		}
		return 0, err
	}
	if w.cursor == nil {
		w.st.Backfill = "done"
		return pollEvery, nil
	}
	if len(w.queue) > 0 {
		n := min(w.batch, len(w.queue))
		if _, err := w.embedAndStore(ctx, w.queue[:n]); err != nil {
			return 0, err
		}
		w.queue = w.queue[n:]
		return 0, nil
	}
	if w.cursor.Done() {
		w.log.Info("sweep done", zap.Int64("stored", w.sweepStored), zap.String("model", w.model.Name))
		w.cursor, w.lastSweepEnd, w.lastSweepGot = nil, now, w.sweepStored
		w.countedAt = time.Time{} // count again at once
		return 0, nil
	}
	found, next, err := Sweep(ctx, w.deps.Pool, w.model, *w.cursor, w.sweep)
	if err != nil {
		return 0, err
	}
	w.queue, w.cursor = found, &next
	w.showCounts()
	return 0, nil
}

func (w *worker) showCounts() {
	w.st.Memories, w.st.Embedded, w.st.Pending = w.counts.Memories, w.counts.Embedded, w.counts.Pending()
	switch {
	case w.cursor == nil:
	case w.cursor.Done():
		w.st.Backfill = "sweeping the last step"
	case w.cursor.Kind == "":
		w.st.Backfill = "sweeping " + KindConversation
	default:
		w.st.Backfill = "sweeping " + w.cursor.Kind
	}
}

// embedAndStore embeds items and stores their vectors in one transaction,
// and returns how many were stored.
func (w *worker) embedAndStore(ctx context.Context, items []Item) (int64, error) {
	var vs []Vector
	var todo []Item
	for _, it := range items {
		if text.HasVisible(it.Text) {
			todo = append(todo, it)
		} else {
			vs = append(vs, Vector{Item: it}) // nothing to embed: done without a vector
		}
	}
	got, err := w.embed(ctx, todo)
	if errors.Is(err, errDimensionsChanged) {
		return -1, nil // the next step learns the new dimension
	}
	if err != nil {
		return 0, err
	}
	vs = append(vs, got...)
	now := w.deps.Clock.Now()
	stored, err := Store(ctx, w.deps.Pool, w.model, vs, now)
	if err != nil {
		return 0, err
	}
	w.counts.Embedded += stored
	w.sweepStored += stored
	w.st.Stored += stored
	w.st.LastStored = &now
	w.showCounts()
	return stored, nil
}

// errDimensionsChanged says the model now answers in another dimension than
// the one learnt at start (the model was replaced under its name): its
// vectors are made again at the new one.
var errDimensionsChanged = errors.New("the model's dimension changed")

// embed returns the vectors of items. A batch the server refuses, or answers
// with something unusable, is split in halves to find the texts to blame; a
// single text still refused, while the server embeds a probe, is done
// without a vector (logged), so that one text cannot stop the rest. Any other
// failure is returned, and nothing of the batch is used.
func (w *worker) embed(ctx context.Context, items []Item) ([]Vector, error) {
	if len(items) == 0 {
		return nil, nil
	}
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.Text
	}
	vecs, err := w.client.Embed(ctx, texts)
	if err == nil {
		if len(vecs[0]) != w.model.Dims {
			w.log.Info("the embedding model's dimension changed: embedding every memory again",
				zap.Int("was", w.model.Dims), zap.Int("now", len(vecs[0])), zap.String("model", w.model.Name))
			w.model.Dims, w.cursor, w.queue, w.countedAt = 0, nil, nil, time.Time{}
			return nil, errDimensionsChanged
		}
		out := make([]Vector, len(items))
		for i, it := range items {
			out[i] = Vector{Item: it, Vec: vecs[i]}
		}
		return out, nil
	}
	if k := KindOf(err); k != Refused && k != BadAnswer {
		return nil, err
	}
	if len(items) > 1 {
		half := len(items) / 2
		a, err := w.embed(ctx, items[:half])
		if err != nil {
			return nil, err
		}
		b, err := w.embed(ctx, items[half:])
		if err != nil {
			return nil, err
		}
		return append(a, b...), nil
	}
	if _, perr := w.client.Embed(ctx, []string{probeText}); perr != nil {
		return nil, err // the server refuses everything: not this text's fault
	}
	w.log.Warn("the embedding server refuses a memory: it stays without a vector",
		zap.String("kind", items[0].Kind), zap.String("id", items[0].ID.String()), zap.Error(err))
	w.st.Refused++
	return []Vector{{Item: items[0]}}, nil
}

// failed records a failed step and returns how long to back off. The first
// failure, and each new kind of error, is logged; status shows a problem once
// failures have gone on for problemAfter.
func (w *worker) failed(now time.Time, err error) time.Duration {
	wait := w.retry
	w.retry = min(w.retry*2, maxRetry)
	w.st.Failures++
	w.st.LastError = err.Error()
	retryAt := now.Add(wait)
	w.st.RetryAt = &retryAt
	if w.failingSince.IsZero() {
		w.failingSince = now
	}
	if msg := err.Error(); msg != w.lastLogged {
		w.lastLogged = msg
		w.log.Warn("embedding failed; retrying with backoff", zap.Error(err), zap.Int("failures", w.st.Failures), zap.Duration("retry_in", wait))
	}
	if now.Sub(w.failingSince) >= problemAfter {
		w.deps.Status.Problem(fmt.Sprintf("embedding failing since %s: %s", w.failingSince.Format(time.RFC3339), err))
	}
	return wait
}

// recovered clears the failure state after a step that succeeded.
func (w *worker) recovered(now time.Time) {
	if w.failingSince.IsZero() {
		return
	}
	w.log.Info("embedding works again", zap.Duration("failed_for", now.Sub(w.failingSince)), zap.Int("failures", w.st.Failures))
	w.retry, w.failingSince, w.lastLogged = minRetry, time.Time{}, ""
	w.st.Failures, w.st.LastError, w.st.RetryAt = 0, "", nil
	w.deps.Status.Problem("")
}

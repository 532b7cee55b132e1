package memory

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/daemon"
)

// The index worker's pace.
const (
	// indexEvery is how often the worker looks for memories to index when
	// it has caught up: a message captured now is found by its words within
	// this time (and at once by its exact text).
	indexEvery = 2 * time.Second
	// workerIndexBatch is how many memories of each kind one of its
	// transactions indexes.
	workerIndexBatch = 1000
	// countEvery is how often a worker with a backlog counts what is still
	// pending, for status.
	countEvery = 10 * time.Second
	// countCap bounds that count.
	countCap = 10_000_000
)

// IndexWorkerFactory returns the factory of the index worker: it indexes
// the memories that are not indexed yet (see IndexPending) as they arrive,
// every indexEvery once it has caught up, and at once while a backlog lasts
// (an adopted database, a large import), so that capture never computes a
// term. Its status shows how many memories are pending.
func IndexWorkerFactory() daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) {
		return &indexWorker{deps: d}, nil
	}
}

type indexWorker struct {
	deps daemon.Deps
}

// indexStatus is the worker's detail in status.json.
type indexStatus struct {
	PendingConversations int64      `json:"pending_conversations"`
	PendingEmotions      int64      `json:"pending_emotions"`
	IndexedSinceStart    int64      `json:"indexed_since_start"`
	LastIndexedAt        *time.Time `json:"last_indexed_at,omitempty"`
	failures
}

// Run indexes until ctx is done. A failing batch (the database away) is
// retried with backoff and shown as a problem once it keeps failing; Run
// returns only when ctx is done.
func (w *indexWorker) Run(ctx context.Context) error {
	clock, log := w.deps.Clock, w.deps.Log
	var st indexStatus
	var countedAt time.Time
	var backlog int64 // indexed since the backlog began
	for {
		now := clock.Now()
		res, err := IndexPending(ctx, w.deps.Pool, workerIndexBatch)
		if err == nil && (res.More || st.PendingConversations+st.PendingEmotions > 0) && now.Sub(countedAt) >= countEvery {
			st.PendingConversations, st.PendingEmotions, err = PendingIndex(ctx, w.deps.Pool, countCap)
			countedAt = now
		}
		wait := indexEvery
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			wait = st.fail(now, err, log, "indexing failed", w.deps.Status, "indexing for retrieval")
		default:
			if st.recovered() {
				w.deps.Status.Problem("")
			}
			n := res.Conversations + res.Emotions
			if n > 0 {
				st.IndexedSinceStart += n
				st.LastIndexedAt = &now
				backlog += n
			}
			if res.More {
				wait = 0
				if backlog == n {
					log.Info("indexing a backlog of memories for retrieval",
						zap.Int64("pending_conversations", st.PendingConversations), zap.Int64("pending_emotions", st.PendingEmotions))
				}
			} else {
				st.PendingConversations, st.PendingEmotions = 0, 0
				if backlog > workerIndexBatch {
					log.Info("indexed a backlog of memories for retrieval", zap.Int64("memories", backlog))
				}
				backlog = 0
			}
		}
		w.deps.Status.Detail(st)
		if wait == 0 {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(wait):
		}
	}
}

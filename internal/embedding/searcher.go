package embedding

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
)

// Searcher answers questions by meaning from vectors held in memory: the
// daemon's one Index of the configured model, kept current by the embedding
// worker (Refresh after each step: in full at start and after a deletion)
// and brought up to date with what was added before each question (one look
// at two indexes' ends when nothing changed). A
// one-shot command asks the daemon's Searcher over the socket instead of
// reading every vector from the table itself, which at 100,000 memories of
// 384 dimensions is the difference between milliseconds and a second.
//
// A nil *Searcher is valid and answers ErrNotConfigured. It is safe for
// concurrent use.
type Searcher struct {
	client *Client
	log    *zap.Logger

	// refresh serialises the reads of the table: two questions at once
	// after a deletion would each read every vector again.
	refresh sync.Mutex
	mu      sync.Mutex
	ix      *Index // nil until the model's dimension is known
}

// NewSearcher returns the Searcher of cfg's model, or nil (and no error)
// when no embedding server is configured. Close releases its client.
func NewSearcher(cfg config.Embedding, log *zap.Logger) (*Searcher, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Searcher{client: c, log: log}, nil
}

// Close releases the Searcher's client; a nil Searcher does nothing.
func (s *Searcher) Close() {
	if s != nil {
		s.client.Close()
	}
}

// index returns the Index of m, a new empty one when the Searcher held
// none or one of another model or dimension (the configuration or the
// server's model changed: the old vectors are not comparable).
func (s *Searcher) index(m Model) *Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ix == nil || s.ix.Model() != m {
		if s.ix != nil {
			s.log.Info("holding the vectors of another model", zap.String("model", m.Name), zap.Int("dimensions", m.Dims),
				zap.String("was", s.ix.Model().Name), zap.Int("was_dimensions", s.ix.Model().Dims))
		}
		s.ix = NewIndex(m)
	}
	return s.ix
}

// Refresh brings the index of m up to date with the table on db: the first
// call reads every vector of m, later ones what was written since. The
// embedding worker calls it after each step, so that a question finds the
// vectors already read.
func (s *Searcher) Refresh(ctx context.Context, db postgres.DB, m Model) error {
	if s == nil {
		return ErrNotConfigured
	}
	if m.Name != s.client.Model() || m.Dims < 1 {
		return fmt.Errorf("refresh vectors: the searcher's model is %s, not %s at %d dimensions", s.client.Model(), m.Name, m.Dims)
	}
	ix := s.index(m)
	s.refresh.Lock()
	defer s.refresh.Unlock()
	return ix.Refresh(ctx, db)
}

// Nearest is the package's Nearest answered from memory: it embeds query
// (one request to the server, bounded by embedding.timeout and ctx), brings
// the index of the model that answered up to date on db, and returns the k
// closest memories that pass f, best first.
func (s *Searcher) Nearest(ctx context.Context, db postgres.DB, query string, k int, f Filter) ([]Match, error) {
	if s == nil {
		return nil, ErrNotConfigured
	}
	m, q, err := embedQuestion(ctx, s.client, query, k, f)
	if err != nil {
		return nil, err
	}
	ix := s.index(m)
	// A question reads only what was added since; the worker's Refresh
	// reads the whole table (at start, after a deletion), and a question
	// that comes meanwhile is answered from what is held, not kept waiting.
	if s.refresh.TryLock() {
		err := ix.RefreshAdded(ctx, db)
		s.refresh.Unlock()
		if err != nil {
			return nil, err
		}
	}
	if !ix.Loaded() {
		// Not read yet (the daemon has just started): as a one-shot
		// command would, from the table.
		return NearestVector(ctx, db, m, q, k, f)
	}
	return ix.Search(q, k, f), nil
}

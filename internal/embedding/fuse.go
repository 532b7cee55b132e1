package embedding

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
)

// Depth is how many of the nearest memories by meaning a question fuses
// with its ranking by words at least (memory.Retrieve fuses the words'
// ranking deeper than the limit too).
const Depth = 50

// DepthFor is the k a question of limit hits asks Nearest for.
func DepthFor(limit int) int { return min(max(limit, Depth), MaxNearest) }

// FilterFor is Nearest's filter for a retrieval's kind (memory's
// KindConversations or KindEmotions, "" for both), speaker and earliest
// time.
func FilterFor(kind, speaker string, since time.Time) Filter {
	f := Filter{Speaker: speaker, Since: since}
	switch kind {
	case memory.KindConversations:
		f.Kind = KindConversation
	case memory.KindEmotions:
		f.Kind = KindEmotion
	}
	return f
}

// SemanticHits is a ranking by meaning as memory.Retrieve fuses it.
func SemanticHits(ms []Match) []memory.SemanticHit {
	hits := make([]memory.SemanticHit, len(ms))
	for i, m := range ms {
		hits[i] = memory.SemanticHit{Kind: m.Kind, ID: m.ID, Similarity: float64(m.Score)}
	}
	return hits
}

// Semantic is the daemon's ranking by meaning of a question of limit hits,
// ready to fuse: nil when it fails, with one log line (the question is then
// ranked by its words alone). A timeout above zero bounds it below ctx, so
// that a slow model server leaves the caller time to rank by words.
func (s *Searcher) Semantic(ctx context.Context, db postgres.DB, question string, limit int, f Filter, timeout time.Duration) []memory.SemanticHit {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ms, err := s.Nearest(ctx, db, question, DepthFor(limit), f)
	if err != nil {
		s.log.Warn("ranked by words alone: the ranking by meaning failed", zap.Error(err))
		return nil
	}
	return SemanticHits(ms)
}

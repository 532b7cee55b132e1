package embedding

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
)

// MaxNearest bounds k.
const MaxNearest = 1000

// Filter narrows what Nearest returns. The zero Filter keeps every memory.
type Filter struct {
	// Kind is KindConversation or KindEmotion; "" means both.
	Kind string
	// Speaker, when set (david, angela or system, any case), keeps only that
	// speaker's messages; emotions are left out.
	Speaker string
	// Since, when not zero, keeps only memories made at or after it.
	Since time.Time
}

// Match is one memory Nearest found, with the cosine of its vector and the
// question's, from -1 to 1.
type Match struct {
	Ref
	Score float32 `json:"score"`
}

// Nearest embeds query with c (one request, bounded by embedding.timeout and
// ctx) and returns the k memories whose vectors of c's model are closest to
// it, best first, by exact cosine over every stored vector of that model and
// dimension that passes f, read from the table (a process that answers many
// questions keeps an Index instead). Vectors of other models are ignored; memories not
// embedded yet are not found. Any error (ErrNotConfigured, an *Error of the
// server, the database's) means "no ranking by meaning this time": the caller
// logs it once and ranks lexically.
func Nearest(ctx context.Context, db postgres.DB, c *Client, query string, k int, f Filter) ([]Match, error) {
	m, q, err := embedQuestion(ctx, c, query, k, f)
	if err != nil {
		return nil, err
	}
	return NearestVector(ctx, db, m, q, k, f)
}

// embedQuestion checks a question for k nearest memories passing f, and
// embeds it with c: both Nearests ask the server only for a question they can
// answer. It returns the vector and the model it is of.
func embedQuestion(ctx context.Context, c *Client, query string, k int, f Filter) (Model, []float32, error) {
	if c == nil {
		return Model{}, nil, ErrNotConfigured
	}
	if k < 1 || k > MaxNearest {
		return Model{}, nil, fmt.Errorf("nearest: k must be from 1 to %d, got %d", MaxNearest, k)
	}
	if f.Kind != "" && f.Kind != KindConversation && f.Kind != KindEmotion {
		return Model{}, nil, fmt.Errorf("nearest: kind must be %s or %s, got %q", KindConversation, KindEmotion, f.Kind)
	}
	if strings.TrimSpace(query) == "" {
		return Model{}, nil, errors.New("nearest: the question is empty")
	}
	vs, err := c.Embed(ctx, []string{query})
	if err != nil {
		return Model{}, nil, fmt.Errorf("embed the question: %w", err)
	}
	return Model{Name: c.Model(), Dims: len(vs[0])}, vs[0], nil
}

// NearestVector is Nearest for a question already embedded as q (unit
// length) with model m.
func NearestVector(ctx context.Context, db postgres.DB, m Model, q []float32, k int, f Filter) ([]Match, error) {
	sql, args := scanSQL(m, f)
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("nearest: %w", err)
	}
	defer rows.Close()
	top := newTopK(k)
	// The key and the vector come in binary (pgx asks so of the types it
	// knows); the kind, text, reads the same in either format.
	fds := rows.FieldDescriptions()
	binary := len(fds) == 3 && fds[1].Format == pgx.BinaryFormatCode && fds[2].Format == pgx.BinaryFormatCode
	var kind string
	var id uuid.UUID
	var vec []byte
	for rows.Next() {
		if binary {
			// Read in place: no copy of the vector, no allocation a row.
			raw := rows.RawValues()
			if len(raw[1]) != 16 {
				return nil, fmt.Errorf("nearest: a key of %d bytes", len(raw[1]))
			}
			copy(id[:], raw[1])
			vec = raw[2]
			switch string(raw[0]) {
			case KindConversation:
				kind = KindConversation
			default:
				kind = KindEmotion
			}
		} else if err := rows.Scan(&kind, &id, &vec); err != nil {
			return nil, fmt.Errorf("nearest: %w", err)
		}
		if len(vec) != 4*len(q) {
			continue // the table's check makes this a marker without a vector
		}
		top.offer(Ref{Kind: kind, ID: id}, dotPacked(q, vec))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("nearest: %w", err)
	}
	return top.sorted(), nil
}

// scanSQL reads the vectors of m that f keeps. The memory tables are joined
// only when f asks for a speaker or a time.
func scanSQL(m Model, f Filter) (string, []any) {
	var b strings.Builder
	args := []any{m.Name, m.Dims}
	b.WriteString("select e.kind, e.id, e.vec from memory_embeddings e where e.model = $1 and e.dims = $2 and length(e.vec) > 0")
	kind := f.Kind
	if f.Speaker != "" {
		kind = KindConversation
	}
	if kind != "" {
		args = append(args, kind)
		fmt.Fprintf(&b, " and e.kind = $%d", len(args))
	}
	if f.Speaker == "" && f.Since.IsZero() {
		return b.String(), args
	}
	var conv, emo []string
	if !f.Since.IsZero() {
		args = append(args, f.Since)
		conv = append(conv, fmt.Sprintf("c.created_at >= $%d", len(args)))
		emo = append(emo, fmt.Sprintf("x.felt_at >= $%d", len(args)))
	}
	if f.Speaker != "" {
		args = append(args, strings.ToLower(f.Speaker))
		conv = append(conv, fmt.Sprintf("lower(c.speaker) = $%d", len(args)))
	}
	fmt.Fprintf(&b, ` and case e.kind
    when 'conversation' then exists (select from conversations c where c.conversation_id = e.id and %s)
    else exists (select from angela_emotions x where x.emotion_id = e.id and %s) end`,
		strings.Join(conv, " and "), strings.Join(append(emo, "true"), " and "))
	return b.String(), args
}

// topK keeps the k best matches seen: a min-heap on the score, so that a
// match worse than the k-th costs one comparison.
type topK struct {
	k int
	h matchHeap
}

func newTopK(k int) *topK { return &topK{k: k, h: make(matchHeap, 0, k)} }

func (t *topK) offer(r Ref, score float32) {
	if len(t.h) < t.k {
		heap.Push(&t.h, Match{Ref: r, Score: score})
		return
	}
	if score > t.h[0].Score {
		t.h[0] = Match{Ref: r, Score: score}
		heap.Fix(&t.h, 0)
	}
}

// sorted returns the matches best first; ties by kind and id, so that the
// order does not depend on the scan's.
func (t *topK) sorted() []Match {
	out := slices.Clone([]Match(t.h))
	slices.SortFunc(out, func(a, b Match) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		case a.Kind != b.Kind:
			return strings.Compare(a.Kind, b.Kind)
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	return out
}

type matchHeap []Match

func (h matchHeap) Len() int           { return len(h) }
func (h matchHeap) Less(i, j int) bool { return h[i].Score < h[j].Score }
func (h matchHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *matchHeap) Push(x any)        { *h = append(*h, x.(Match)) }
func (h *matchHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	*h = old[:len(old)-1]
	return m
}

package embedding

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/angela-ai/angelad/internal/postgres"
)

// Index keeps the vectors of one model in memory, with each memory's time and
// speaker for filtering, so that a long-running process (the daemon, behind
// its socket) answers a question with a pass over memory instead of a read
// of the table (see the README's figures). Refresh brings it up to date: it
// reads only the rows written since the last refresh, and everything again
// when rows were deleted. It is safe for concurrent use.
type Index struct {
	model Model

	mu       sync.RWMutex
	refs     []Ref // "" kind: a slot whose vector was replaced by a marker
	at       []int64
	speakers []string
	vecs     []float32
	slot     map[Ref]int // -1: a marker, done without a vector
	seq      int64       // the highest seq read
	loaded   bool
}

// NewIndex returns an empty index of model m; Refresh fills it.
func NewIndex(m Model) *Index {
	return &Index{model: m, slot: map[Ref]int{}}
}

// Model is the model and dimension the index holds.
func (ix *Index) Model() Model { return ix.model }

// Len is the number of vectors held.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := 0
	for _, s := range ix.slot {
		if s >= 0 {
			n++
		}
	}
	return n
}

// indexRowsSQL reads the model's rows written after a sequence number, with
// their memory's time and speaker.
const indexRowsSQL = `
select e.seq, e.kind, e.id, e.vec,
       coalesce(c.created_at::timestamptz, x.felt_at::timestamptz), coalesce(lower(c.speaker), '')
from memory_embeddings e
left join conversations c on e.kind = 'conversation' and c.conversation_id = e.id
left join angela_emotions x on e.kind = 'emotion' and x.emotion_id = e.id
where e.model = $1 and e.dims = $2 and e.seq > $3
order by e.seq`

const indexCountSQL = `select count(*), coalesce(max(seq), 0) from memory_embeddings where model = $1 and dims = $2`

// Refresh reads what was written since the last refresh. When the table
// holds fewer rows of the model than the index knows (memories were
// deleted), or rows it never saw, it reads them all again.
func (ix *Index) Refresh(ctx context.Context, db postgres.Querier) error {
	for range 3 {
		if err := ix.read(ctx, db, false); err != nil {
			return err
		}
		var rows, maxSeq int64
		if err := db.QueryRow(ctx, indexCountSQL, ix.model.Name, ix.model.Dims).Scan(&rows, &maxSeq); err != nil {
			return fmt.Errorf("refresh vectors: %w", err)
		}
		ix.mu.RLock()
		known, seq := int64(len(ix.slot)), ix.seq
		ix.mu.RUnlock()
		if maxSeq > seq {
			continue // written meanwhile: read those too
		}
		if rows == known {
			return nil
		}
		break
	}
	return ix.read(ctx, db, true)
}

// read reads the rows after the index's seq, or all of them into a new index.
func (ix *Index) read(ctx context.Context, db postgres.Querier, all bool) error {
	ix.mu.RLock()
	after := ix.seq
	ix.mu.RUnlock()
	if all || !ix.loaded {
		after = 0
	}
	rows, err := db.Query(ctx, indexRowsSQL, ix.model.Name, ix.model.Dims, after)
	if err != nil {
		return fmt.Errorf("refresh vectors: %w", err)
	}
	defer rows.Close()
	type row struct {
		ref     Ref
		vec     []float32
		at      int64
		speaker string
	}
	var got []row
	var seq int64
	var v []float32
	for rows.Next() {
		var r row
		var b []byte
		var at *time.Time
		if err := rows.Scan(&seq, &r.ref.Kind, &r.ref.ID, &b, &at, &r.speaker); err != nil {
			return fmt.Errorf("refresh vectors: %w", err)
		}
		if len(b) > 0 {
			if v, err = Unpack(v[:0], b, ix.model.Dims); err != nil {
				return fmt.Errorf("refresh vectors: %w", err)
			}
			r.vec = append([]float32(nil), v...)
		}
		if at != nil {
			r.at = at.UnixMicro()
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("refresh vectors: %w", err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if after == 0 {
		ix.refs, ix.at, ix.speakers, ix.vecs, ix.slot = nil, nil, nil, nil, map[Ref]int{}
	}
	for _, r := range got {
		s, known := ix.slot[r.ref]
		switch {
		case r.vec == nil && known && s >= 0:
			ix.refs[s] = Ref{} // now a marker: the slot is skipped
			ix.slot[r.ref] = -1
		case r.vec == nil:
			ix.slot[r.ref] = -1
		case known && s >= 0:
			copy(ix.vecs[s*ix.model.Dims:], r.vec)
			ix.at[s], ix.speakers[s] = r.at, r.speaker
		default:
			ix.slot[r.ref] = len(ix.refs)
			ix.refs = append(ix.refs, r.ref)
			ix.at = append(ix.at, r.at)
			ix.speakers = append(ix.speakers, r.speaker)
			ix.vecs = append(ix.vecs, r.vec...)
		}
	}
	if seq > ix.seq || after == 0 {
		ix.seq = max(seq, after)
	}
	ix.loaded = true
	return nil
}

// Search returns the k vectors closest to q (unit length, of the index's
// dimension) by exact cosine, best first, among those f keeps.
func (ix *Index) Search(q []float32, k int, f Filter) []Match {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	top := newTopK(k)
	d := ix.model.Dims
	if len(q) != d || k < 1 {
		return nil
	}
	kind, speaker := f.Kind, strings.ToLower(f.Speaker)
	if speaker != "" {
		kind = KindConversation
	}
	since := int64(0)
	if !f.Since.IsZero() {
		since = f.Since.UnixMicro()
	}
	for i, r := range ix.refs {
		switch {
		case r.Kind == "":
			continue
		case kind != "" && r.Kind != kind:
			continue
		case speaker != "" && ix.speakers[i] != speaker:
			continue
		case since != 0 && ix.at[i] < since:
			continue
		}
		top.offer(r, dot(q, ix.vecs[i*d:(i+1)*d]))
	}
	return top.sorted()
}

// Nearest is the package's Nearest answered from the index: it embeds query
// with c, whose model must be the index's, and searches the vectors held
// (Refresh them first for the latest).
func (ix *Index) Nearest(ctx context.Context, c *Client, query string, k int, f Filter) ([]Match, error) {
	if c == nil {
		return nil, ErrNotConfigured
	}
	if err := checkQuestion(query, k, f); err != nil {
		return nil, err
	}
	vs, err := c.Embed(ctx, []string{query})
	if err != nil {
		return nil, fmt.Errorf("embed the question: %w", err)
	}
	if c.Model() != ix.model.Name || len(vs[0]) != ix.model.Dims {
		return nil, fmt.Errorf("nearest: the index holds %s at %d dimensions, the question is embedded with %s at %d",
			ix.model.Name, ix.model.Dims, c.Model(), len(vs[0]))
	}
	return ix.Search(vs[0], k, f), nil
}

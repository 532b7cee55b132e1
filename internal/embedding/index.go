package embedding

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/angela-ai/angelad/internal/postgres"
)

// Index keeps the vectors of one model in memory, with each memory's time and
// speaker for filtering, so that a long-running process (the daemon, behind
// its socket) answers a question with a pass over memory instead of a read
// of the table (see the README's figures). Refresh brings it up to date: it
// reads only the rows written since the last refresh, and everything again
// when rows were deleted. A row written by a transaction that commits after
// one with a higher sequence number was read is seen at the next full read:
// the embedding worker, the one writer, stores one batch at a time. It is
// safe for concurrent use.
type Index struct {
	model Model

	mu       sync.RWMutex
	refs     []Ref // "" kind: a slot whose vector was replaced by a marker
	at       []int64
	speakers []string
	vecs     []float32
	slot     map[Ref]int // -1: a marker, done without a vector
	seq      int64       // the highest seq read
	deleted  int64       // memory_embeddings_deleted_seq when last read
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

// indexRowsSQL reads the model's rows written after a sequence number, up to
// one, and indexMetaSQL the times and speakers of their memories. Apart,
// because a join that carries the vectors hashes them all.
const (
	indexRowsSQL = `
select e.seq, e.kind, e.id, e.vec from memory_embeddings e
where e.model = $1 and e.dims = $2 and e.seq > $3`
	indexMetaSQL = `
select e.kind, e.id, coalesce(c.created_at::timestamptz, x.felt_at::timestamptz), coalesce(lower(c.speaker), '')
from memory_embeddings e
left join conversations c on e.kind = 'conversation' and c.conversation_id = e.id
left join angela_emotions x on e.kind = 'emotion' and x.emotion_id = e.id
where e.model = $1 and e.dims = $2 and e.seq > $3 and e.seq <= $4 and length(e.vec) > 0`
)

// indexStateSQL tells whether anything changed since the index was read:
// the model's highest sequence number (one step down its index) and the
// count of deletions (a sequence the delete triggers move on).
const indexStateSQL = `
select coalesce((select max(seq) from memory_embeddings where model = $1 and dims = $2), 0),
       (select case when is_called then last_value else 0 end from memory_embeddings_deleted_seq)`

// Refresh reads what was written since the last refresh, and everything
// again after vectors were deleted (a memory forgotten, a text changed).
// When nothing changed it costs one look at two indexes' ends.
func (ix *Index) Refresh(ctx context.Context, db postgres.DB) error {
	return ix.refresh(ctx, db, true)
}

// RefreshAdded reads what was written since the last refresh, and nothing
// more: never the whole table, which at a million memories takes longer
// than a question may wait. Vectors deleted since stay held until the next
// Refresh; a caller that reads each memory it ranks (memory.Retrieve) finds
// those gone and drops them. An index never loaded stays empty (see
// Loaded).
func (ix *Index) RefreshAdded(ctx context.Context, db postgres.DB) error {
	return ix.refresh(ctx, db, false)
}

// Loaded reports whether the index has read the table in full once.
func (ix *Index) Loaded() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.loaded
}

func (ix *Index) refresh(ctx context.Context, db postgres.DB, full bool) error {
	var maxSeq, deleted int64
	if err := db.QueryRow(ctx, indexStateSQL, ix.model.Name, ix.model.Dims).Scan(&maxSeq, &deleted); err != nil {
		return fmt.Errorf("refresh vectors: %w", err)
	}
	ix.mu.RLock()
	loaded, seq, seen := ix.loaded, ix.seq, ix.deleted
	ix.mu.RUnlock()
	switch {
	case full && (!loaded || deleted != seen):
		if err := ix.read(ctx, db, true); err != nil {
			return err
		}
		ix.mu.Lock()
		ix.deleted = deleted
		ix.mu.Unlock()
	case loaded && maxSeq > seq:
		if err := ix.read(ctx, db, false); err != nil {
			return err
		}
	}
	return nil
}

// read reads the rows after the index's seq, or all of them into a new index
// that replaces the old one once read. The vectors are decoded from the
// driver's buffer straight into the index's array.
func (ix *Index) read(ctx context.Context, db postgres.DB, all bool) error {
	ix.mu.RLock()
	after := ix.seq
	ix.mu.RUnlock()
	if all {
		after = 0
	}
	rows, err := db.Query(ctx, indexRowsSQL, ix.model.Name, ix.model.Dims, after)
	if err != nil {
		return fmt.Errorf("refresh vectors: %w", err)
	}
	defer rows.Close()
	d := ix.model.Dims
	// A full read builds a new index; an incremental one collects its
	// (few) rows and applies them under the lock.
	fresh := &Index{model: ix.model, slot: map[Ref]int{}}
	var seq int64
	for rows.Next() {
		var r Ref
		var b pgtype.DriverBytes
		var rowSeq int64
		if err := rows.Scan(&rowSeq, &r.Kind, &r.ID, &b); err != nil {
			return fmt.Errorf("refresh vectors: %w", err)
		}
		if len(b) != 0 && len(b) != 4*d {
			return fmt.Errorf("refresh vectors: a stored vector of %d bytes is not %d float32 values", len(b), d)
		}
		seq = max(seq, rowSeq)
		if _, dup := fresh.slot[r]; dup {
			continue // cannot happen: one row per memory and model
		}
		if len(b) == 0 {
			fresh.slot[r] = -1
			continue
		}
		fresh.slot[r] = len(fresh.refs)
		fresh.refs = append(fresh.refs, r)
		for i := 0; i < d; i++ {
			fresh.vecs = append(fresh.vecs, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("refresh vectors: %w", err)
	}
	rows.Close()
	// The memories' times and speakers, of the rows read: a row written
	// since has a higher seq and is read, with its own, next time.
	fresh.at, fresh.speakers = make([]int64, len(fresh.refs)), make([]string, len(fresh.refs))
	meta, err := db.Query(ctx, indexMetaSQL, ix.model.Name, d, after, seq)
	if err != nil {
		return fmt.Errorf("refresh vectors: %w", err)
	}
	defer meta.Close()
	for meta.Next() {
		var r Ref
		var at *time.Time
		var speaker string
		if err := meta.Scan(&r.Kind, &r.ID, &at, &speaker); err != nil {
			return fmt.Errorf("refresh vectors: %w", err)
		}
		if s, ok := fresh.slot[r]; ok && s >= 0 {
			if at != nil {
				fresh.at[s] = at.UnixMicro()
			}
			fresh.speakers[s] = speaker
		}
	}
	if err := meta.Err(); err != nil {
		return fmt.Errorf("refresh vectors: %w", err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if all {
		ix.refs, ix.at, ix.speakers, ix.vecs, ix.slot = fresh.refs, fresh.at, fresh.speakers, fresh.vecs, fresh.slot
		ix.seq, ix.loaded = seq, true
		return nil
	}
	for r, fs := range fresh.slot {
		s, known := ix.slot[r]
		switch {
		case fs < 0 && known && s >= 0:
			ix.refs[s] = Ref{} // now a marker: the slot is skipped
			ix.slot[r] = -1
		case fs < 0:
			ix.slot[r] = -1
		case known && s >= 0:
			copy(ix.vecs[s*d:(s+1)*d], fresh.vecs[fs*d:(fs+1)*d])
			ix.at[s], ix.speakers[s] = fresh.at[fs], fresh.speakers[fs]
		default:
			ix.slot[r] = len(ix.refs)
			ix.refs = append(ix.refs, r)
			ix.at = append(ix.at, fresh.at[fs])
			ix.speakers = append(ix.speakers, fresh.speakers[fs])
			ix.vecs = append(ix.vecs, fresh.vecs[fs*d:(fs+1)*d]...)
		}
	}
	ix.seq = max(ix.seq, seq)
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

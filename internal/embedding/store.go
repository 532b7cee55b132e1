package embedding

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
)

// source is how one kind of memory is read for embedding: its table, key,
// time column, and the text that is embedded (an emotion's name, context and
// David's words, one a line).
type source struct {
	kind, table, key, at, text string
}

var sources = []source{
	{KindConversation, "conversations", "conversation_id", "created_at", "message_text"},
	{KindEmotion, "angela_emotions", "emotion_id", "felt_at", "concat_ws(E'\\n', emotion, context, david_words)"},
}

func sourceOf(kind string) source {
	if kind == KindEmotion {
		return sources[1]
	}
	return sources[0]
}

// Model names the vectors that count: those of one model at one dimension.
type Model struct {
	Name string
	Dims int
}

// Item is one memory to embed: which, and the text whose vector it gets.
type Item struct {
	Ref
	Text string
}

// Counts are the memories and how many have a vector of the model (or are
// done without one, having nothing to embed).
type Counts struct {
	Memories int64
	Embedded int64
}

// Pending is how many memories wait for a vector of the model.
func (c Counts) Pending() int64 { return max(c.Memories-c.Embedded, 0) }

// countSQL counts the memories and the model's rows, from indexes: a vector
// exists only for a memory that exists (the triggers of migration 009 delete
// a memory's vectors with it, and store locks the memory while it writes), so
// the difference is what waits.
const countSQL = `
select (select count(*) from conversations) + (select count(*) from angela_emotions),
       (select count(*) from memory_embeddings where model = $1 and dims = $2)`

// Count counts the memories and the vectors of m.
func Count(ctx context.Context, db postgres.DB, m Model) (Counts, error) {
	var c Counts
	if err := db.QueryRow(ctx, countSQL, m.Name, m.Dims).Scan(&c.Memories, &c.Embedded); err != nil {
		return c, fmt.Errorf("count embeddings: %w", err)
	}
	return c, nil
}

// RecentWindow is how many of the newest memories of each kind the worker
// looks through for ones without a vector every time it looks: new memories
// are almost always among them, and the look costs an index walk of this
// many rows, however large the tables are.
const RecentWindow = 1000

// recentSQL finds, among the newest memories of a kind, those without a
// vector of the model, newest first. The window is read from the time
// column's index; only the memories that need it have their text read.
// Whether a memory has a vector is asked by a subquery with a LIMIT, which
// the planner cannot turn into a join: one primary key probe a memory, never
// a hash of the whole table of vectors (NOT EXISTS would be one, and is on
// tables small enough that it looks cheaper).
func recentSQL(s source) string {
	return fmt.Sprintf(`
select r.id, %[5]s from (
    select %[2]s as id, %[3]s as at from %[1]s order by %[3]s desc limit $3
) r
join %[1]s m on m.%[2]s = r.id
where (select true from memory_embeddings e
       where e.kind = '%[4]s' and e.id = r.id and e.model = $1 and e.dims = $2 limit 1) is null
order by r.at desc
limit $4`, s.table, s.key, s.at, s.kind, qualify(s.text, "m"))
}

// Recent returns up to limit of the newest memories (of the window newest of
// each kind) that have no vector of m, conversations first.
func Recent(ctx context.Context, db postgres.DB, m Model, window, limit int) ([]Item, error) {
	var items []Item
	for _, s := range sources {
		if len(items) >= limit {
			break
		}
		got, err := collect(ctx, db, s.kind, recentSQL(s), m.Name, m.Dims, window, limit-len(items))
		if err != nil {
			return nil, fmt.Errorf("find new memories to embed: %w", err)
		}
		items = append(items, got...)
	}
	return items, nil
}

// sweepSQL looks at the next step of a kind's memories in key order after
// the cursor and returns those without a vector of the model, and (in the
// row marked last) the step's last key, or none when the kind is done. The
// keys are read from the primary key's index alone; the text only of the
// memories that need it.
func sweepSQL(s source) string {
	return fmt.Sprintf(`
with step as materialized (
    select %[2]s as id from %[1]s where %[2]s > $3 order by %[2]s limit $4
)
select true as last, (select id from step order by id desc limit 1), null::text
union all
select false, m.%[2]s, %[3]s
from step join %[1]s m on m.%[2]s = step.id
where (select true from memory_embeddings e
       where e.kind = '%[4]s' and e.id = step.id and e.model = $1 and e.dims = $2 limit 1) is null`,
		s.table, s.key, qualify(s.text, "m"), s.kind)
}

// Cursor is where a sweep through every memory has got to: the kind it is
// in and the last key it looked at. The zero Cursor is the start.
type Cursor struct {
	Kind  string
	After uuid.UUID
}

// Done reports whether the sweep has looked at every memory.
func (c Cursor) Done() bool { return c.Kind == "done" }

// Sweep looks at the next step memories after the cursor, in key order, and
// returns those without a vector of m and the cursor after them. A sweep
// that goes on until Done has looked at every memory that existed when it
// began.
func Sweep(ctx context.Context, db postgres.DB, m Model, cur Cursor, step int) ([]Item, Cursor, error) {
	if cur.Kind == "" {
		cur.Kind = sources[0].kind
	}
	for i, s := range sources {
		if s.kind != cur.Kind {
			continue
		}
		rows, err := db.Query(ctx, sweepSQL(s), m.Name, m.Dims, cur.After, step)
		if err != nil {
			return nil, cur, fmt.Errorf("sweep %s: %w", s.table, err)
		}
		var items []Item
		var last *uuid.UUID
		for rows.Next() {
			var isLast bool
			var id *uuid.UUID
			var txt *string
			if err := rows.Scan(&isLast, &id, &txt); err != nil {
				rows.Close()
				return nil, cur, fmt.Errorf("sweep %s: %w", s.table, err)
			}
			if isLast {
				last = id
				continue
			}
			if id != nil && txt != nil {
				items = append(items, Item{Ref: Ref{Kind: s.kind, ID: *id}, Text: *txt})
			}
		}
		if err := rows.Err(); err != nil {
			return nil, cur, fmt.Errorf("sweep %s: %w", s.table, err)
		}
		switch {
		case last != nil:
			cur.After = *last
		case i+1 < len(sources):
			cur = Cursor{Kind: sources[i+1].kind}
		default:
			cur = Cursor{Kind: "done"}
		}
		return items, cur, nil
	}
	return nil, Cursor{Kind: "done"}, nil
}

func collect(ctx context.Context, db postgres.DB, kind, sql string, args ...any) ([]Item, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		it := Item{Ref: Ref{Kind: kind}}
		err := r.Scan(&it.ID, &it.Text)
		return it, err
	})
}

// storeSQL writes the vectors of one kind in one statement. A memory gets its
// vector only if it still exists with the text that was embedded: one deleted
// or changed meanwhile is left out (and, changed, embedded again later). The
// memory rows are locked against deletion until the statement commits, so a
// delete either comes first (and the vector is not written) or waits and
// takes the vector with it.
func storeSQL(s source) string {
	return fmt.Sprintf(`
with ok as (
    select u.id, u.vec from unnest($4::uuid[], $5::bytea[], $6::text[]) as u(id, vec, txt)
    join %[1]s m on m.%[2]s = u.id and %[3]s = u.txt
    for key share of m
)
insert into memory_embeddings (kind, id, model, dims, vec, embedded_at)
select $1, ok.id, $2, $3, ok.vec, $7 from ok
on conflict (kind, id, model) do update
    set dims = excluded.dims, vec = excluded.vec, embedded_at = excluded.embedded_at,
        seq = nextval('memory_embeddings_seq')`,
		s.table, s.key, qualify(s.text, "m"))
}

// qualify prefixes the columns of a source's text expression with alias.
func qualify(expr, alias string) string {
	switch expr {
	case "message_text":
		return alias + ".message_text"
	default:
		return fmt.Sprintf("concat_ws(E'\\n', %[1]s.emotion, %[1]s.context, %[1]s.david_words)", alias)
	}
}

// Vector is an item with its vector; an empty Vec marks a memory with
// nothing to embed.
type Vector struct {
	Item
	Vec []float32
}

// Store writes vectors of m in one transaction: all of them or none. It
// returns how many were written; memories deleted or changed since they were
// read are left out.
func Store(ctx context.Context, db postgres.DB, m Model, vs []Vector, now time.Time) (int64, error) {
	if len(vs) == 0 {
		return 0, nil
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("store embeddings: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var stored int64
	for _, s := range sources {
		var ids []uuid.UUID
		var vecs [][]byte
		var txts []string
		for _, v := range vs {
			if v.Kind != s.kind {
				continue
			}
			if len(v.Vec) != 0 && len(v.Vec) != m.Dims {
				return 0, fmt.Errorf("store embeddings: a vector of %d dimensions for model %s at %d", len(v.Vec), m.Name, m.Dims)
			}
			ids = append(ids, v.ID)
			vecs = append(vecs, Pack(v.Vec))
			txts = append(txts, v.Text)
		}
		if len(ids) == 0 {
			continue
		}
		tag, err := tx.Exec(ctx, storeSQL(s), s.kind, m.Name, m.Dims, ids, vecs, txts, now)
		if err != nil {
			return 0, fmt.Errorf("store embeddings: %w", err)
		}
		stored += tag.RowsAffected()
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store embeddings: %w", err)
	}
	return stored, nil
}

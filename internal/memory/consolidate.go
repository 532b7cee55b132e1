package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/angela-ai/angelad/internal/postgres"
)

// vacuumSQL is what a pass that rewrote many memories runs after its
// batches; see Consolidate.
// Without truncate false, a VACUUM that finds empty pages at a table's end
// takes an exclusive lock, however briefly, to cut them off.
const vacuumSQL = `vacuum (skip_locked, truncate false) conversation_memory, emotion_memory`

// MaxBatch is the most memories one transaction of the pass touches.
const MaxBatch = 5000

// StorePrecision is how far a stored retention may be from the exact one
// after a pass. Recall re-ranks its candidates by the exact retention; the
// stored one chooses the candidates and breaks search ties.
const StorePrecision = 0.001

// The phases of a pass, in order. The adopt phases give every memory without
// one its state row and its search grams (legacy rows, or rows written while
// the triggers were disabled); the others bring the stored retention up to
// date.
const (
	phaseAdoptConversations = "adopt_conversations"
	phaseAdoptEmotions      = "adopt_emotions"
	phaseConversations      = "conversations"
	phaseEmotions           = "emotions"
	phaseDueConversations   = "due_conversations"
	phaseDueEmotions        = "due_emotions"
)

// PassOptions controls one consolidation pass.
type PassOptions struct {
	// Now is the time the retention is computed for.
	Now time.Time
	// Adopt makes a full pass: the adoption phases, then every memory in key
	// order. Without it the pass reads only the memories that are due (see
	// dueSQL), which gives the same result when the configuration has not
	// changed since the last full pass. The worker makes a full pass at start,
	// the only time its configuration can have changed; later rows get their
	// state from the triggers.
	Adopt bool
	// SkipUnchanged, with Adopt, makes the retention phases read only the
	// memories that are due, as a pass without Adopt does, when the retention
	// model (its configuration keys, StorePrecision and the way the pass
	// computes) is the one the last completed full pass used: a full pass
	// would then give the same result (TestDuePassAgreesWithAFullPass). The
	// adoption phases run all the same. The worker sets it at start.
	SkipUnchanged bool
}

// retentionVersion names the way retentionSQL computes; change it whenever
// that changes, so that the next start makes a full pass.
const retentionVersion = 1

// modelFingerprint identifies the retention model of cfg, for SkipUnchanged.
func modelFingerprint(m Model) string {
	c := m.cfg
	return fmt.Sprintf("v%d core %v floor %v half-life %v-%v forget %v precision %v", retentionVersion,
		c.CoreWeight, c.CoreFloor, c.HalfLifeMinDays, c.HalfLifeMaxDays, c.ForgetBelow, StorePrecision)
}

// PassResult reports a consolidation pass.
type PassResult struct {
	// Resumed is true when the pass continued one cut short earlier.
	Resumed bool `json:"resumed,omitempty"`
	// Batches is how many transactions the pass committed.
	Batches int `json:"batches"`
	// Adopted is how many legacy rows got a state row or their search grams.
	Adopted int64 `json:"adopted"`
	// Seen is how many memories the pass looked at.
	Seen int64 `json:"seen"`
	// Updated is how many memories' stored state changed.
	Updated int64 `json:"updated"`
	// NewlyForgotten is how many memories this pass marked forgotten.
	NewlyForgotten int64 `json:"newly_forgotten"`
	// Conversations and Emotions count the memories of each kind, and the
	// Forgotten ones how many of them are forgotten, as of the pass.
	Conversations          int64 `json:"conversations"`
	Emotions               int64 `json:"emotions"`
	ForgottenConversations int64 `json:"forgotten_conversations"`
	ForgottenEmotions      int64 `json:"forgotten_emotions"`
	// Duration is how long the pass took, by the clock it was given.
	Duration time.Duration `json:"-"`
	// DurationSeconds is Duration in seconds, for JSON.
	DurationSeconds float64 `json:"duration_seconds"`
}

// adoptChunk is how many keys one adoption batch looks through, in batches:
// most of the time it finds nothing to adopt, so that a chunk much larger than
// a batch makes the phase a few index-only scans.
const adoptChunk = 20

// adoptSQL gives the memories that have none their state row and search
// grams, in batches in primary-key order after the cursor $1. A batch looks
// through the next $4 keys of the table (a chunk; up to the end of the table
// when fewer remain), finds there the first $2 memories without a state row
// (a merge anti-join of the two primary keys over the chunk's range:
// index-only, it reads no memory's row) and the first $2 without grams (off
// the partial index of those), and adopts the first $2 of both, in key order:
// only those rows are read and written. It returns the key to resume after:
// the last one adopted when the batch is full, else the chunk's last key,
// null when the chunk reached the end of the table. The grams UPDATE sets only
// search_grams, so it fires no trigger; it writes a legacy row once.
func adoptSQL(first bool, table, id, stateTable, weight, made, grams string) string {
	after, stateAfter := "t."+id+" > $1", "m.id > $1"
	if first {
		after, stateAfter = "$1::uuid is null", "$1::uuid is null"
	}
	return fmt.Sprintf(`with hi as (
	select t.%[2]s as id from %[1]s t where %[7]s order by 1 offset $4 - 1 limit 1
), lim as (
	select coalesce((select id from hi), 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) as id
), nostate as materialized (
	select t.%[2]s as id from %[1]s t
	where %[7]s and t.%[2]s <= (select id from lim)
		and not exists (select from %[3]s m where m.id = t.%[2]s and %[8]s and m.id <= (select id from lim))
	order by 1 limit $2
), nograms as materialized (
	select t.%[2]s as id from %[1]s t
	where t.search_grams is null and %[7]s and t.%[2]s <= (select id from lim)
	order by 1 limit $2
), need as materialized (
	select id, bool_or(nostate) as nostate, bool_or(nograms) as nograms
	from (select id, true as nostate, false as nograms from nostate
		union all select id, false, true from nograms) u
	group by id order by id limit $2
), ins as (
	insert into %[3]s (id, weight, made_at, score)
	select t.%[2]s, %[4]s, coalesce(%[5]s, $3), %[4]s from %[1]s t
	where t.%[2]s = any(array(select id from need where nostate))
	on conflict (id) do nothing
	returning 1
), upd as (
	update %[1]s t set search_grams = %[6]s
	where t.%[2]s = any(array(select id from need where nograms)) and t.search_grams is null
	returning 1
)
select case when (select count(*) from need) = $2 then (select id from need order by id desc limit 1)
		else (select id from hi) end,
	0::bigint, (select count(*) from ins) + (select count(*) from upd), 0::bigint, 0::bigint`,
		table, id, stateTable, weight, made, grams, after, stateAfter)
}

// halfLifeSQL is the half-life of the state row a: the stored one, or the
// initial one of its weight between the bounds $6 and $7.
const halfLifeSQL = `coalesce(a.half_life_days, $6::float8 + (least(greatest(a.weight, 0.1), 1) - 0.1) / 0.9 * ($7::float8 - $6::float8))`

// retentionExprSQL is the exact retention of the state row a at $3 with
// half-life h: 0.5^(days / h), at least the core floor $5 for a weight of at
// least $4. The exponent is capped at 100 halvings, so that neither power()
// nor a later cast underflows.
const retentionExprSQL = `greatest(case when a.weight >= $4::float8 then $5::float8 else 0 end,
	power(0.5::float8, least(greatest(extract(epoch from ($3::timestamptz - coalesce(a.last_recalled_at, a.made_at)))::float8, 0) / 86400 / h, 100)))`

// dueSQL is when a memory whose stored retention is s (made or last recalled
// at base, half-life h days, weight w) next needs the pass: when its exact
// retention will have fallen by the precision p below s, or under the
// forgetting threshold f, whichever comes first; never ('infinity') when it
// cannot fall that far (a core memory near its floor lo, a forgotten one near
// 0). It is a function of the stored state alone, so that a pass recomputing
// it for an unchanged memory gets the same time and writes nothing, and it
// is at least a second after now, so that a pass never selects a row twice.
func dueSQL(s, base, h, w, now, coreWeight, floor, forget, p string) string {
	v := fmt.Sprintf("(case when %[1]s >= %[2]s then greatest(%[1]s - %[3]s, %[2]s) else %[1]s - %[3]s end)", s, forget, p)
	lo := fmt.Sprintf("(case when %s >= %s then %s else 0 end)", w, coreWeight, floor)
	return fmt.Sprintf(`greatest(%[1]s + interval '1 second', case when %[2]s <= %[3]s then 'infinity'::timestamptz
		else %[4]s + make_interval(secs => least(%[5]s * 86400 * ln(%[2]s) / ln(0.5), 1e11)) end)`, now, v, lo, base, h)
}

// retentionSQL brings the stored state of a batch of memories up to date for
// the time $3. A full pass (due false) reads the memories in physical order:
// those whose tuple id is after the cursor $1 and before the tuple id $10 (the
// start of a later block), so that each batch reads a few hundred consecutive
// heap pages once rather than a random page for every memory, as a walk of
// the random UUID keys would. A due pass reads the memories whose due_at has
// come, oldest first, and so skips those that cannot have changed. Only a
// memory whose retention moved by the precision $9 (StorePrecision) or more,
// or whose forgotten mark changes, gets a new retention, so that every stored
// retention stays within it of the exact one; its due_at is renewed with it.
// The UPDATE finds its rows by key (= ANY of an array) rather than by a join
// the planner might answer with a scan of the table, and by key rather than
// by tuple id, so that a row that a reinforcement moved meanwhile is still
// found. $4 and $5 are the core weight and floor, $6 and $7 the half-life
// bounds, $8 the forgetting threshold. A full pass skips the row versions
// written since its phase began (those of a transaction $11 or later): an
// UPDATE writes a new version, often later in the table than the cursor, and
// the pass would read the memories it has just brought up to date a second
// time; a memory written by a writer meanwhile has its state from that
// writer, and its due_at brings it to the next pass. The statement returns
// the last tuple id it read (a full pass) or null, the memories read, the
// memories whose state changed, the newly forgotten ones, and the table's
// length in blocks.
func retentionSQL(due bool, stateTable string) string {
	from := "where a.ctid > $1::tid and a.ctid < $10::tid and age(a.xmin) > age($11::xid) order by a.ctid"
	pick := "changed or due is distinct from old_due"
	last := "(select tid from n order by tid desc limit 1)"
	if due {
		from = "where a.due_at <= $3 and $1::tid is null and $10::tid is null and $11::xid is null order by a.due_at"
		pick = "true"
		last = "null::tid"
	}
	return fmt.Sprintf(`with n as materialized (
	select a.ctid as tid, id, retention as stored, forgotten_at is null as remembered, due_at as old_due, weight,
		coalesce(last_recalled_at, made_at) as base, h, %[4]s as r
	from %[1]s a cross join lateral (select %[5]s as h) hl
	%[2]s limit $2
), c as materialized (
	select *, abs(stored - r) >= $9::float8 or (r < $8::float8) = remembered as changed from n
), e as materialized (
	select *, %[6]s as due
	from (select *, case when changed then r else stored end as s from c) d
), ch as materialized (
	select * from e where %[3]s
), u as (
	update %[1]s m set retention = ch.s, score = ch.s * m.weight, due_at = ch.due,
		forgotten_at = case when ch.r < $8::float8 then coalesce(m.forgotten_at, $3) end
	from ch
	where m.id = ch.id and m.id = any(array(select id from ch))
	returning ch.changed, ch.remembered and ch.r < $8::float8 as newly
)
select %[7]s, (select count(*) from n),
	(select count(*) from u where changed), (select count(*) from u where newly),
	pg_relation_size('%[1]s') / current_setting('block_size')::int8`,
		stateTable, from, pick, retentionExprSQL, halfLifeSQL,
		dueSQL("s", "base", "h", "weight", "$3::timestamptz", "$4::float8", "$5::float8", "$8::float8", "$9::float8"),
		last)
}

const (
	conversationWeightSQL = "angela_conversation_weight(importance_level)"
	emotionWeightSQL      = "angela_emotion_weight(intensity, memory_strength)"
	conversationGramsSQL  = "angela_grams(t.message_text)"
	emotionGramsSQL       = "angela_grams(concat_ws(' ', t.emotion, t.context, t.david_words, t.why_it_matters))"
)

func phaseSQL(phase string, first bool) string {
	switch phase {
	case phaseAdoptConversations:
		return adoptSQL(first, "conversations", "conversation_id", "conversation_memory",
			conversationWeightSQL, "created_at::timestamptz", conversationGramsSQL)
	case phaseAdoptEmotions:
		return adoptSQL(first, "angela_emotions", "emotion_id", "emotion_memory",
			emotionWeightSQL, "felt_at::timestamptz", emotionGramsSQL)
	case phaseConversations:
		return retentionSQL(false, "conversation_memory")
	case phaseEmotions:
		return retentionSQL(false, "emotion_memory")
	case phaseDueConversations:
		return retentionSQL(true, "conversation_memory")
	default:
		return retentionSQL(true, "emotion_memory")
	}
}

func isDue(phase string) bool { return phase == phaseDueConversations || phase == phaseDueEmotions }

func isAdopt(phase string) bool {
	return phase == phaseAdoptConversations || phase == phaseAdoptEmotions
}

func nextPhase(phase string) string {
	switch phase {
	case phaseAdoptConversations:
		return phaseAdoptEmotions
	case phaseAdoptEmotions:
		return phaseConversations
	case phaseConversations:
		return phaseEmotions
	case phaseDueConversations:
		return phaseDueEmotions
	}
	return ""
}

// progressSQL reads the pass in progress, creating the row on first use.
const progressSQL = `insert into memory_consolidation default values on conflict do nothing;`

const readProgressSQL = `select phase, cursor_id, cursor_tid, cursor_xmax, rows_seen, rows_updated, newly_forgotten,
	conversations, emotions, forgotten_conversations, forgotten_emotions, full_config
from memory_consolidation`

const startPassSQL = `update memory_consolidation set pass_time = $1, started_at = $1, phase = $2,
	cursor_id = null, cursor_tid = null, cursor_xmax = null, rows_seen = 0, rows_updated = 0, newly_forgotten = 0, conversations = 0,
	emotions = 0, forgotten_conversations = 0, forgotten_emotions = 0, pass_config = null`

const batchDoneSQL = `update memory_consolidation set pass_time = $1, phase = $2, cursor_id = $3,
	rows_seen = $4, rows_updated = $5, newly_forgotten = $6, conversations = $7, emotions = $8,
	forgotten_conversations = $9, forgotten_emotions = $10, cursor_tid = $11, cursor_xmax = $12`

// countsSQL counts the memories and the forgotten ones (off the partial
// indexes of forgotten memories).
const countsSQL = `select (select count(*) from conversation_memory), (select count(*) from emotion_memory),
	(select count(*) from conversation_memory where forgotten_at is not null),
	(select count(*) from emotion_memory where forgotten_at is not null)`

// passDoneSQL records a finished pass. A pass whose full retention phases all
// ran under the model $3 records it as the model of the last full pass; one
// that started them under another (resumed after a change) clears it.
const passDoneSQL = `update memory_consolidation set phase = null, cursor_id = null, cursor_tid = null, cursor_xmax = null,
	finished_at = $1, last_pass = $2,
	full_config = case when pass_config is null then full_config when pass_config = $3 then $3 end, pass_config = null`

// fullPhasesSQL records the model under which a pass starts its full
// retention phases.
const fullPhasesSQL = `update memory_consolidation set pass_config = $1`

// asyncCommitSQL makes the transaction it runs in commit without waiting for
// its WAL flush; see Consolidate.
const asyncCommitSQL = `set local synchronous_commit = off`

// phaseXmaxSQL is the first transaction id not yet given out (as an xid, the
// low 32 bits of its xid8): every transaction from now on has it or a later
// one.
const phaseXmaxSQL = `select (pg_snapshot_xmax(pg_current_snapshot())::text::numeric % 4294967296)::text::xid`

// maxBlock bounds the block numbers of the ranges a full pass reads.
const maxBlock = 1<<32 - 2

func stateTableOf(phase string) string {
	if phase == phaseConversations || phase == phaseDueConversations {
		return "conversation_memory"
	}
	return "emotion_memory"
}

// estimateSpan is how many blocks of table hold about batch rows, by the
// planner's statistics (40 rows a block where it has none yet).
func estimateSpan(ctx context.Context, tx pgx.Tx, table string, batch int) (int64, error) {
	var pages, tuples float64
	if err := tx.QueryRow(ctx, `select relpages, reltuples from pg_class where oid = $1::regclass`, table).
		Scan(&pages, &tuples); err != nil {
		return 0, err
	}
	perBlock := 40.0
	if pages > 0 && tuples > 0 {
		perBlock = tuples / pages
	}
	return spanFor(batch, perBlock), nil
}

// spanFor is the number of blocks that hold half as many rows again as a
// batch at perBlock rows a block: a batch usually fills up before its range
// ends and the next one goes on from its last row (a cursor inside a block is
// safe: see retentionSQL), so that the pass takes hardly more batches than
// there are memories per batch, while each statement sorts a bounded range.
func spanFor(batch int, perBlock float64) int64 {
	return int64(max(1, min(float64(batch)*1.5/max(perBlock, 0.01), 1<<20)))
}

// adjustSpan is the span for the next batch, after one that read seen rows
// from blocks blocks.
func adjustSpan(span int64, batch int, seen, blocks int64) int64 {
	if seen == 0 || blocks <= 0 {
		return min(span*2, 1<<20)
	}
	return spanFor(batch, float64(seen)/float64(blocks))
}

// Consolidate runs one consolidation pass: it brings every memory's stored
// retention, score and forgotten mark up to date for o.Now, in transactions of
// at most batch memories (1 to MaxBatch) each, committing its progress with
// every batch. It takes no table lock: a batch locks only the state rows it
// updates, which no writer of new memories waits for. A pass cut short (a
// cancelled ctx, a crash) is resumed by the next call from where it stopped.
func Consolidate(ctx context.Context, db postgres.DB, model Model, batch int, o PassOptions, clock func() time.Time) (PassResult, error) {
	if batch < 1 || batch > MaxBatch {
		return PassResult{}, fmt.Errorf("consolidate: batch size must be 1 to %d, got %d", MaxBatch, batch)
	}
	start := clock()
	var res PassResult
	var (
		phase      *string
		cursor     *uuid.UUID
		tidCursor  pgtype.TID
		xmax       pgtype.Uint32 // the first transaction of a full retention phase
		fullConfig *string       // the model of the last full pass
	)
	fingerprint := modelFingerprint(model)
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, progressSQL); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, readProgressSQL).Scan(&phase, &cursor, &tidCursor, &xmax, &res.Seen, &res.Updated,
			&res.NewlyForgotten, &res.Conversations, &res.Emotions,
			&res.ForgottenConversations, &res.ForgottenEmotions, &fullConfig); err != nil {
			return err
		}
		if phase != nil {
			res.Resumed = true
			return nil
		}
		first := phaseDueConversations
		if o.Adopt {
			first = phaseAdoptConversations
		}
		phase = &first
		cursor, tidCursor, xmax = nil, pgtype.TID{}, pgtype.Uint32{}
		res = PassResult{}
		_, err := tx.Exec(ctx, startPassSQL, o.Now, first)
		return err
	})
	if err != nil {
		return PassResult{}, fmt.Errorf("consolidate: start pass: %w", err)
	}
	cfg := model.cfg
	var span int64 // blocks a full retention batch reads; 0: not yet estimated
	for p := *phase; p != ""; {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			// Every transaction of the pass commits without waiting for its
			// WAL to reach the disk. That is safe here: a crash can lose only
			// the last few batches, and each batch writes nothing but state
			// that the pass recomputes from the memories themselves, with its
			// own progress row in the same transaction, so the next pass
			// resumes from the last progress that survived and redoes
			// whatever was lost. Writers' transactions keep their own
			// setting; the pass no longer waits for a flush per batch.
			if _, err := tx.Exec(ctx, asyncCommitSQL); err != nil {
				return err
			}
			var (
				last                 *uuid.UUID
				seen, changed, newly int64
				next, nextPtr        = p, (*string)(nil)
				nextCursor, nextTID  = cursor, tidCursor
			)
			switch {
			case isAdopt(p):
				var forgot int64
				if err := tx.QueryRow(ctx, phaseSQL(p, cursor == nil), cursor, batch, o.Now, adoptChunk*batch).Scan(&last, &seen, &changed, &newly, &forgot); err != nil {
					return err
				}
				nextCursor = last
				if last == nil {
					next, nextCursor = nextPhase(p), nil
				}
				if next == phaseConversations {
					if o.SkipUnchanged && fullConfig != nil && *fullConfig == fingerprint {
						next = phaseDueConversations
					} else if _, err := tx.Exec(ctx, fullPhasesSQL, fingerprint); err != nil {
						return err
					}
				}
			default:
				// A due phase takes no range and no transaction id (nulls).
				from, to, since := pgtype.TID{}, pgtype.TID{}, pgtype.Uint32{}
				if !isDue(p) {
					if span == 0 {
						var err error
						if span, err = estimateSpan(ctx, tx, stateTableOf(p), batch); err != nil {
							return err
						}
					}
					if !xmax.Valid {
						if err := tx.QueryRow(ctx, phaseXmaxSQL).Scan(&xmax); err != nil {
							return err
						}
					}
					from = tidCursor
					if !from.Valid {
						from = pgtype.TID{Valid: true}
					}
					to = pgtype.TID{BlockNumber: uint32(min(int64(from.BlockNumber)+span, maxBlock)), Valid: true}
					since = xmax
				}
				var lastTID pgtype.TID
				var blocks int64
				if err := tx.QueryRow(ctx, phaseSQL(p, false), from, batch, o.Now,
					cfg.CoreWeight, cfg.CoreFloor, cfg.HalfLifeMinDays, cfg.HalfLifeMaxDays, cfg.ForgetBelow, StorePrecision, to, since).
					Scan(&lastTID, &seen, &changed, &newly, &blocks); err != nil {
					return err
				}
				switch {
				case isDue(p):
					if seen < int64(batch) {
						next = nextPhase(p)
					}
				case seen == int64(batch):
					// The range holds more: go on after the last row read.
					nextTID = lastTID
					span = adjustSpan(span, batch, seen, int64(lastTID.BlockNumber)-int64(from.BlockNumber)+1)
				case int64(to.BlockNumber) >= blocks:
					next, nextTID, xmax = nextPhase(p), pgtype.TID{}, pgtype.Uint32{}
					span = 0
				default:
					nextTID = to
					span = adjustSpan(span, batch, seen, int64(to.BlockNumber)-int64(from.BlockNumber))
				}
			}
			r := res
			if isAdopt(p) {
				r.Adopted += changed
			} else {
				r.Seen += seen
				r.Updated += changed
				r.NewlyForgotten += newly
			}
			if next != "" {
				nextPtr = &next
			}
			if _, err := tx.Exec(ctx, batchDoneSQL, o.Now, nextPtr, nextCursor, r.Seen, r.Updated,
				r.NewlyForgotten, r.Conversations, r.Emotions, r.ForgottenConversations, r.ForgottenEmotions, nextTID, xmax); err != nil {
				return err
			}
			res = r
			p, cursor, tidCursor = next, nextCursor, nextTID
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("consolidate %s: %w", p, err)
		}
		res.Batches++
	}
	if err := db.QueryRow(ctx, countsSQL).Scan(&res.Conversations, &res.Emotions,
		&res.ForgottenConversations, &res.ForgottenEmotions); err != nil {
		return res, fmt.Errorf("consolidate: finish pass: %w", err)
	}
	// A pass that rewrote a fifth of the memories or more (a pass after a
	// long sleep, or after a change of the model) has left as many dead row
	// versions in the state tables and cleared their visibility map, and
	// autovacuum, throttled, takes minutes to catch up: until it does, every
	// index-only read of them (the adoption's, recall's) visits the heap,
	// and the next pass at start takes several times as long. The pass
	// vacuums them itself, at full speed (a second or two for a million;
	// it takes no lock that a writer waits for, and skips a table that
	// autovacuum already holds). Its failure fails nothing: autovacuum
	// remains.
	if total := res.Conversations + res.Emotions; total > 0 && res.Updated*5 >= total {
		if _, err := db.Exec(ctx, vacuumSQL); err != nil && ctx.Err() != nil {
			return res, fmt.Errorf("consolidate: vacuum: %w", err)
		}
	}
	res.Duration = clock().Sub(start)
	res.DurationSeconds = res.Duration.Seconds()
	// As JSON text: through a connection pooler a statement goes without its
	// description, and pgx cannot tell on its own that a struct is jsonb.
	last, err := json.Marshal(res)
	if err != nil {
		return res, fmt.Errorf("consolidate: finish pass: %w", err)
	}
	if _, err := db.Exec(ctx, passDoneSQL, o.Now, string(last), fingerprint); err != nil {
		return res, fmt.Errorf("consolidate: finish pass: %w", err)
	}
	return res, nil
}

// LastPass returns the last finished pass and when it finished; ok is false
// when no pass has finished yet.
func LastPass(ctx context.Context, q postgres.DB) (res PassResult, at time.Time, ok bool, err error) {
	var last *PassResult
	var finished *time.Time
	err = q.QueryRow(ctx, `select last_pass, finished_at from memory_consolidation`).Scan(&last, &finished)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (last == nil || finished == nil)) {
		return PassResult{}, time.Time{}, false, nil
	}
	if err != nil {
		return PassResult{}, time.Time{}, false, fmt.Errorf("last consolidation pass: %w", err)
	}
	return *last, finished.UTC(), true, nil
}

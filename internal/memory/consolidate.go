package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
)

// Querier is the store's database handle; see postgres.Querier.
type Querier = postgres.Querier

// Beginner opens transactions: *pgx.Conn and *pgxpool.Pool both are one.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

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
)

// PassOptions controls one consolidation pass.
type PassOptions struct {
	// Now is the time the retention is computed for.
	Now time.Time
	// Adopt runs the adoption phases first. The worker adopts on its first pass
	// after it starts; later rows get their state from the triggers.
	Adopt bool
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

// adoptSQL gives a batch of parent rows, in primary-key order after the
// cursor, their state row and search grams where they have none. The grams
// UPDATE sets only search_grams, so it fires no trigger; it writes a legacy
// row once.
func adoptSQL(first bool, table, id, stateTable, weight, made, grams string) string {
	after := "where " + id + " > $1"
	if first {
		after = "where $1::uuid is null"
	}
	return fmt.Sprintf(`with b as (
	select %[2]s as id, %[4]s as weight, %[5]s as made_at, search_grams is null as nograms
	from %[1]s %[7]s order by %[2]s limit $2
), ins as (
	insert into %[3]s (id, weight, made_at, score)
	select id, weight, coalesce(made_at, $3), weight from b
	on conflict (id) do nothing
	returning 1
), upd as (
	update %[1]s t set search_grams = %[6]s from b
	where t.%[2]s = b.id and b.nograms
	returning 1
)
select (select id from b order by id desc limit 1), (select count(*) from b),
	(select count(*) from ins) + (select count(*) from upd), 0::bigint, 0::bigint`,
		table, id, stateTable, weight, made, grams, after)
}

// retentionSQL brings the stored state of a batch of memories up to date for
// the time $3. Only rows whose retention moved by StorePrecision ($9) or more,
// or whose forgotten mark changes, are written: an hourly pass then rewrites
// only the memories that fade fastest, and every stored retention stays
// within StorePrecision of the exact one. The batch is read in key order off
// the primary key, and the UPDATE finds its rows by key (= ANY of an array)
// rather than by a join the planner might answer with a scan of the table. The exponent is capped at 100 halvings, so that neither
// power() nor the real column underflows.
func retentionSQL(first bool, stateTable string) string {
	after := "where id > $1"
	if first {
		after = "where $1::uuid is null"
	}
	return fmt.Sprintf(`with n as materialized (
	select id, retention as stored, forgotten_at is null as remembered,
		greatest(case when weight >= $4::float8 then $5::float8 else 0 end,
			power(0.5::float8, least(greatest(extract(epoch from ($3::timestamptz - coalesce(last_recalled_at, made_at)))::float8, 0) / 86400
				/ coalesce(half_life_days, $6::float8 + (least(greatest(weight, 0.1), 1) - 0.1) / 0.9 * ($7::float8 - $6::float8)), 100))) as r
	from %[1]s %[2]s order by id limit $2
), ch as materialized (
	select id, r, remembered from n
	where abs(stored - r) >= $9::float8 or (r < $8::float8) = remembered
), u as (
	update %[1]s m set retention = ch.r, score = ch.r * m.weight,
		forgotten_at = case when ch.r < $8::float8 then coalesce(m.forgotten_at, $3) end
	from ch
	where m.id = ch.id and m.id = any(array(select id from ch))
	returning ch.remembered and ch.r < $8::float8 as newly
)
select (select id from n order by id desc limit 1), (select count(*) from n),
	(select count(*) from u), (select count(*) from u where newly), (select count(*) from n where r < $8::float8)`,
		stateTable, after)
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
		return retentionSQL(first, "conversation_memory")
	default:
		return retentionSQL(first, "emotion_memory")
	}
}

func nextPhase(phase string) string {
	switch phase {
	case phaseAdoptConversations:
		return phaseAdoptEmotions
	case phaseAdoptEmotions:
		return phaseConversations
	case phaseConversations:
		return phaseEmotions
	}
	return ""
}

// progressSQL reads the pass in progress, creating the row on first use.
const progressSQL = `insert into memory_consolidation default values on conflict do nothing;`

const readProgressSQL = `select phase, cursor_id, rows_seen, rows_updated, newly_forgotten,
	conversations, emotions, forgotten_conversations, forgotten_emotions
from memory_consolidation`

const startPassSQL = `update memory_consolidation set pass_time = $1, started_at = $1, phase = $2,
	cursor_id = null, rows_seen = 0, rows_updated = 0, newly_forgotten = 0, conversations = 0,
	emotions = 0, forgotten_conversations = 0, forgotten_emotions = 0`

const batchDoneSQL = `update memory_consolidation set pass_time = $1, phase = $2, cursor_id = $3,
	rows_seen = $4, rows_updated = $5, newly_forgotten = $6, conversations = $7, emotions = $8,
	forgotten_conversations = $9, forgotten_emotions = $10`

const passDoneSQL = `update memory_consolidation set phase = null, cursor_id = null,
	finished_at = $1, last_pass = $2`

// Consolidate runs one consolidation pass: it brings every memory's stored
// retention, score and forgotten mark up to date for o.Now, in transactions of
// at most batch memories (1 to MaxBatch) each, committing its progress with
// every batch. It takes no table lock: a batch locks only the state rows it
// updates, which no writer of new memories waits for. A pass cut short (a
// cancelled ctx, a crash) is resumed by the next call from where it stopped.
func Consolidate(ctx context.Context, db Beginner, model Model, batch int, o PassOptions, clock func() time.Time) (PassResult, error) {
	if batch < 1 || batch > MaxBatch {
		return PassResult{}, fmt.Errorf("consolidate: batch size must be 1 to %d, got %d", MaxBatch, batch)
	}
	start := clock()
	var res PassResult
	var (
		phase  *string
		cursor *uuid.UUID
	)
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, progressSQL); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, readProgressSQL).Scan(&phase, &cursor, &res.Seen, &res.Updated,
			&res.NewlyForgotten, &res.Conversations, &res.Emotions,
			&res.ForgottenConversations, &res.ForgottenEmotions); err != nil {
			return err
		}
		if phase != nil {
			res.Resumed = true
			return nil
		}
		first := phaseConversations
		if o.Adopt {
			first = phaseAdoptConversations
		}
		phase = &first
		cursor = nil
		res = PassResult{}
		_, err := tx.Exec(ctx, startPassSQL, o.Now, first)
		return err
	})
	if err != nil {
		return PassResult{}, fmt.Errorf("consolidate: start pass: %w", err)
	}
	cfg := model.cfg
	for p := *phase; p != ""; {
		var (
			last                         *uuid.UUID
			seen, changed, newly, forgot int64
		)
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			args := []any{cursor, batch, o.Now}
			if p == phaseConversations || p == phaseEmotions {
				args = append(args, cfg.CoreWeight, cfg.CoreFloor, cfg.HalfLifeMinDays, cfg.HalfLifeMaxDays, cfg.ForgetBelow, StorePrecision)
			}
			if err := tx.QueryRow(ctx, phaseSQL(p, cursor == nil), args...).Scan(&last, &seen, &changed, &newly, &forgot); err != nil {
				return err
			}
			next, nextCursor := p, last
			if last == nil {
				next, nextCursor = nextPhase(p), nil
			}
			r := res
			switch p {
			case phaseAdoptConversations, phaseAdoptEmotions:
				r.Adopted += changed
			default:
				r.Seen += seen
				r.Updated += changed
				r.NewlyForgotten += newly
				if p == phaseConversations {
					r.Conversations += seen
					r.ForgottenConversations += forgot
				} else {
					r.Emotions += seen
					r.ForgottenEmotions += forgot
				}
			}
			var nextPtr *string
			if next != "" {
				nextPtr = &next
			}
			if _, err := tx.Exec(ctx, batchDoneSQL, o.Now, nextPtr, nextCursor, r.Seen, r.Updated,
				r.NewlyForgotten, r.Conversations, r.Emotions, r.ForgottenConversations, r.ForgottenEmotions); err != nil {
				return err
			}
			res = r
			p, cursor = next, nextCursor
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("consolidate %s: %w", p, err)
		}
		res.Batches++
	}
	res.Duration = clock().Sub(start)
	res.DurationSeconds = res.Duration.Seconds()
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, passDoneSQL, o.Now, res)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("consolidate: finish pass: %w", err)
	}
	return res, nil
}

// LastPass returns the last finished pass and when it finished; ok is false
// when no pass has finished yet.
func LastPass(ctx context.Context, q Querier) (res PassResult, at time.Time, ok bool, err error) {
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

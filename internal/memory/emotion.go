// Package memory owns Angela's emotions (the Emotion type, its validation and
// its store), the retention of every memory and its consolidation worker,
// recall, search, and relevance retrieval with its index of terms and the
// worker that keeps it.
//
// The store functions take a postgres.DB, so a one-shot command with one
// *pgx.Conn, the daemon with its *pgxpool.Pool and a caller inside a pgx.Tx all
// run the same SQL.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/forget"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// Emotion is one emotion Angela felt. Its JSON form is the stored record, one
// key per column.
type Emotion struct {
	// ID identifies the emotion and is its idempotency key: saving the same ID
	// twice stores it once.
	ID uuid.UUID `json:"emotion_id"`
	// FeltAt is when it was felt.
	FeltAt time.Time `json:"felt_at"`
	// Emotion names it ("happy", "คิดถึง"), 1 to 50 characters.
	Emotion string `json:"emotion"`
	// Intensity is 1 to 10. Legacy rows may have none; they read as 0.
	Intensity int `json:"intensity"`
	// Context is what happened. Legacy rows may have none; they read as "".
	Context string `json:"context"`
	// DavidWords is what David said, if anything.
	DavidWords string `json:"david_words"`
	// WhyItMatters is why the moment matters, if given.
	WhyItMatters string `json:"why_it_matters"`
	// MemoryStrength is how strongly it is remembered, 1 to 10.
	MemoryStrength int `json:"memory_strength"`
}

// DefaultMemoryStrength is the memory strength of an emotion saved without one:
// the seed's default, applied by Save even on a legacy table whose column
// default is 5.
const DefaultMemoryStrength = 10

// Limits of an emotion's fields. MaxEmotionChars is the column's varchar(50).
const (
	MaxEmotionChars = 50
	MinIntensity    = 1
	MaxIntensity    = 10
	MinStrength     = 1
	MaxStrength     = 10
)

// MaxRecentLimit is the most emotions one Recent call returns.
const MaxRecentLimit = 10000

// WithDefaults returns e with the values Save fills in when they are zero: a new
// random ID and DefaultMemoryStrength. A caller that must know the ID before the
// database is reached (to print it, or to spool the emotion and replay it
// later without duplicating it) calls WithDefaults first. FeltAt stays zero;
// Save asks the server for the time.
func (e Emotion) WithDefaults() Emotion {
	if e.ID == uuid.Nil {
		e.ID = uuid.New()
	}
	if e.MemoryStrength == 0 {
		e.MemoryStrength = DefaultMemoryStrength
	}
	return e
}

// Validate reports the first field of e that may not be stored, as a
// *text.FieldError. It checks e as given: a zero MemoryStrength is invalid
// here, so that an explicit 0 from a user is rejected rather than silently
// replaced; Save validates e.WithDefaults().
//
// Values are stored exactly as given; a required text of only whitespace is
// rejected, never trimmed.
func (e Emotion) Validate() error {
	if err := text.Check("emotion", e.Emotion, 1, MaxEmotionChars); err != nil {
		return err
	}
	if err := text.IntRange("intensity", e.Intensity, MinIntensity, MaxIntensity); err != nil {
		return err
	}
	if err := text.CheckBytes("context", e.Context, 1, text.MaxTextBytes); err != nil {
		return err
	}
	if err := text.CheckBytes("david_words", e.DavidWords, 0, text.MaxTextBytes); err != nil {
		return err
	}
	if err := text.CheckBytes("why_it_matters", e.WhyItMatters, 0, text.MaxTextBytes); err != nil {
		return err
	}
	return text.IntRange("memory_strength", e.MemoryStrength, MinStrength, MaxStrength)
}

// emotionColumns reads a row so that legacy rows scan too: felt_at::timestamptz
// reads a legacy TIMESTAMP (a wall time without zone) in the session time zone,
// and the columns a legacy row may leave NULL read as 0 or "".
const emotionColumns = `emotion_id, felt_at::timestamptz, emotion, coalesce(intensity, 0),
	coalesce(context, ''), coalesce(david_words, ''), coalesce(why_it_matters, ''),
	coalesce(memory_strength, 0)`

// insertEmotionSQL writes the time as timestamptz, which a legacy TIMESTAMP
// column stores as the wall time in the session time zone. Without a time it
// uses clock_timestamp() rather than now(), so that emotions saved one after
// another in one transaction keep their order. Empty optional texts are stored
// as NULL, as the original did. $9 is the search grams (text.Grams); the
// state row is written with the emotion. An id forgotten on request is left
// out (see postgres.TombstonesSetting).
const insertEmotionSQL = `with ins as (
	insert into angela_emotions
		(emotion_id, felt_at, emotion, intensity, context, david_words, why_it_matters, memory_strength,
		 search_grams)
	select $1::uuid, coalesce($2::timestamptz, clock_timestamp()), $3::text, $4::int4, $5::text,
		nullif($6::text, ''), nullif($7::text, ''), $8::int4, $9::int4[]
	where not exists (select from memory_tombstones where id = $1::uuid)
	on conflict (emotion_id) do nothing
	returning *
), states as (
	` + insertEmotionStatesSQL + `
)
select ` + emotionColumns + ` from ins`

const selectEmotionSQL = `select ` + emotionColumns + ` from angela_emotions where emotion_id = $1`

// Save stores e and returns it as stored. Zero values get defaults (see
// WithDefaults; a zero FeltAt becomes the server's current time). An invalid e
// returns a *text.FieldError and writes nothing.
//
// The ID is the idempotency key: when an emotion with e's ID is already stored,
// Save writes nothing and returns the stored emotion, so a retry or a replay
// never duplicates one. If the stored emotion differs from e, the key was
// reused by mistake: Save returns a *text.FieldError for "emotion_id" rather
// than report a save that did not happen. An id forgotten on request (see
// package forget) is never stored again: Save returns a
// *forget.ForgottenError.
func Save(ctx context.Context, q postgres.DB, e Emotion) (Emotion, error) {
	e = e.WithDefaults()
	if err := e.Validate(); err != nil {
		return Emotion{}, fmt.Errorf("save emotion: %w", err)
	}
	var feltAt any // NULL asks the server for the time
	if !e.FeltAt.IsZero() {
		feltAt = e.FeltAt
	}
	saved, err := forget.SaveOnce(ctx, q, forget.KindEmotion, e.ID, "emotion",
		func() (Emotion, error) {
			return scanEmotion(q.QueryRow(ctx, insertEmotionSQL, e.ID, feltAt, e.Emotion, e.Intensity,
				e.Context, e.DavidWords, e.WhyItMatters, e.MemoryStrength,
				text.Grams(e.Emotion, e.Context, e.DavidWords, e.WhyItMatters)))
		},
		func() (Emotion, error) { return scanEmotion(q.QueryRow(ctx, selectEmotionSQL, e.ID)) },
		func(stored Emotion) bool { return sameEmotion(e, stored) })
	if err != nil {
		return Emotion{}, fmt.Errorf("save emotion: %w", err)
	}
	return saved, nil
}

// insertEmotionsSQL is insertEmotionSQL for many emotions in one statement,
// from arrays. The grams come as one array, $9, each emotion's its slice
// lo:hi (see text.GramRuns); a NULL time asks the server for it. Ids
// forgotten on request are left out.
const insertEmotionsSQL = `with ins as (
	insert into angela_emotions
		(emotion_id, felt_at, emotion, intensity, context, david_words, why_it_matters, memory_strength,
		 search_grams)
	select id, coalesce(at, clock_timestamp()), emotion, intensity, context,
		nullif(words, ''), nullif(why, ''), strength, ($9::int4[])[lo:hi]
	from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::text[],
		$8::int4[], $10::int4[], $11::int4[])
		as e(id, at, emotion, intensity, context, words, why, strength, lo, hi)
	where not exists (select from memory_tombstones t where t.id = e.id)
	on conflict (emotion_id) do nothing
	returning emotion_id, intensity, memory_strength, felt_at
), states as (
	` + insertEmotionStatesSQL + `
)
select emotion_id from ins`

// SaveNew stores, in one statement, those of es that are not stored yet, and
// returns their ids. It is Save for many emotions at once (a drain of the
// spool), except that an emotion whose id is already stored is left as it is
// and not compared: the caller gives those to Save, which tells a replay from
// a reused id. An invalid emotion returns a *text.FieldError and writes
// nothing.
func SaveNew(ctx context.Context, q postgres.DB, es []Emotion) (map[uuid.UUID]bool, error) {
	stored := map[uuid.UUID]bool{}
	if len(es) == 0 {
		return stored, nil
	}
	// In the order of their ids, so that two transactions storing some of
	// the same ones wait for each other rather than deadlock.
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b Emotion) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	n := len(es)
	ids, ats := make([][16]byte, n), make([]*time.Time, n)
	names, contexts, words, whys := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	intensities, strengths := make([]int32, n), make([]int32, n)
	for i := range es {
		e := es[i].WithDefaults()
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("save emotion %s: %w", e.ID, err)
		}
		es[i] = e
		ids[i], names[i], contexts[i], words[i], whys[i] = e.ID, e.Emotion, e.Context, e.DavidWords, e.WhyItMatters
		intensities[i], strengths[i] = int32(e.Intensity), int32(e.MemoryStrength)
		if !e.FeltAt.IsZero() {
			ats[i] = &es[i].FeltAt
		}
	}
	grams, lo, hi := text.GramRuns(n, func(i int) []string {
		return []string{names[i], contexts[i], words[i], whys[i]}
	})
	rows, err := q.Query(ctx, insertEmotionsSQL, ids, ats, names, intensities, contexts, words, whys, strengths,
		grams, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("save emotions: %w", err)
	}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { stored[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("save emotions: %w", err)
	}
	return stored, nil
}

// recentEmotionsSQL orders by felt_at desc alone, matching the index
// angela_emotions_felt_at_idx, so that it reads limit rows however many are
// stored.
const recentEmotionsSQL = `select ` + emotionColumns + `
from angela_emotions order by felt_at desc limit $1`

// Recent returns up to limit emotions, newest first. limit must be 1 to
// MaxRecentLimit; otherwise Recent returns a *text.FieldError for "limit".
func Recent(ctx context.Context, q postgres.DB, limit int) ([]Emotion, error) {
	if err := text.IntRange("limit", limit, 1, MaxRecentLimit); err != nil {
		return nil, fmt.Errorf("recent emotions: %w", err)
	}
	rows, err := q.Query(ctx, recentEmotionsSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("recent emotions: %w", err)
	}
	emotions, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Emotion, error) {
		return scanEmotion(row)
	})
	if err != nil {
		return nil, fmt.Errorf("recent emotions: %w", err)
	}
	return emotions, nil
}

func scanEmotion(row pgx.Row) (Emotion, error) {
	var e Emotion
	var feltAt *time.Time // a legacy row may have none
	err := row.Scan(&e.ID, &feltAt, &e.Emotion, &e.Intensity, &e.Context,
		&e.DavidWords, &e.WhyItMatters, &e.MemoryStrength)
	if err != nil {
		return Emotion{}, err
	}
	if feltAt != nil {
		// UTC, so that the same instant always has the same JSON, whatever the
		// local zone of the process; callers show it in the zone they want.
		e.FeltAt = feltAt.UTC()
	}
	return e, nil
}

// sameEmotion reports whether stored is what saving want would have stored. A
// zero FeltAt in want left the time to the server, so any time matches it.
func sameEmotion(want, stored Emotion) bool {
	if !want.FeltAt.IsZero() && !want.FeltAt.Truncate(time.Microsecond).Equal(stored.FeltAt) {
		return false
	}
	want.FeltAt, stored.FeltAt = time.Time{}, time.Time{}
	return want == stored
}

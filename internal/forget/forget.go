// Package forget owns forgetting on request: deleting memories (conversation
// messages and emotions) with their retention state in one transaction, and
// the tombstones (memory_tombstones) that keep every writer from storing them
// again.
//
// The tombstones are enforced by the database (migration 010): a row inserted
// into conversations or angela_emotions with a tombstoned id is dropped before
// it is stored, whoever inserts it. What this package adds for the writers is
// the way to say so: a save of a single memory whose id is tombstoned returns
// a *ForgottenError (see Refused), which the spool's drain takes as settled.
//
// It imports no other memory package, so that the stores (conversation,
// memory) can use it.
package forget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// The kinds of memory, as the tombstones record them.
const (
	KindConversation = "conversation"
	KindEmotion      = "emotion"
)

// The kinds a search looks in, as `search --kind` names them.
const (
	SearchAll           = "all"
	SearchConversations = "conversations"
	SearchEmotions      = "emotions"
)

// Limits of a request.
const (
	// DefaultReason is the reason a tombstone records when none is given.
	DefaultReason = "forget"
	// MaxReasonChars bounds the reason.
	MaxReasonChars = 200
	// MaxSearchChars bounds the text searched for, as search's.
	MaxSearchChars = 1000
	// MaxIDs bounds the ids of one request.
	MaxIDs = 10000
	// PreviewChars is how long a forgotten memory's preview is.
	PreviewChars = 120
)

// Options says what to forget: the memories with IDs, or those whose text
// contains Search (ignoring case), made at or after Since.
type Options struct {
	IDs []uuid.UUID
	// Search is the text to find. A conversation message matches when its
	// text contains it, an emotion when its name, context, David's words or
	// why it matters does.
	Search string
	// Kind restricts a search: SearchAll ("" too), SearchConversations or
	// SearchEmotions.
	Kind string
	// Since, when not zero, keeps a search to memories made at or after it.
	Since time.Time
	// Reason is recorded with each tombstone; "" is DefaultReason.
	Reason string
	// DryRun finds what would be forgotten and changes nothing.
	DryRun bool
	// Now is when the memories are forgotten.
	Now time.Time
}

// Validate reports the first option that is not allowed, as a
// *text.FieldError.
func (o Options) Validate() error {
	switch {
	case len(o.IDs) > 0 && o.Search != "":
		return &text.FieldError{Field: "search", Problem: "give ids or a search, not both"}
	case len(o.IDs) == 0 && o.Search == "":
		return &text.FieldError{Field: "ids", Problem: "give at least one id, or a search"}
	case len(o.IDs) > MaxIDs:
		return &text.FieldError{Field: "ids", Problem: fmt.Sprintf("at most %d ids at once, got %d", MaxIDs, len(o.IDs))}
	}
	for _, id := range o.IDs {
		if id == uuid.Nil {
			return &text.FieldError{Field: "ids", Problem: "the nil UUID is no memory's id"}
		}
	}
	if o.Search != "" {
		if err := text.Check("search", o.Search, 1, MaxSearchChars); err != nil {
			return err
		}
	}
	switch o.Kind {
	case "", SearchAll, SearchConversations, SearchEmotions:
	default:
		return &text.FieldError{Field: "kind", Problem: "must be one of all, conversations, emotions, got " + text.Quote(o.Kind)}
	}
	if len(o.IDs) > 0 && (o.Kind != "" && o.Kind != SearchAll || !o.Since.IsZero()) {
		return &text.FieldError{Field: "kind", Problem: "--kind and --since narrow a search; they do not apply to ids"}
	}
	if o.Reason != "" {
		return text.Check("reason", o.Reason, 1, MaxReasonChars)
	}
	return nil
}

// Memory is one memory forgotten (or that would be, in a dry run).
type Memory struct {
	Kind string    `json:"kind"`
	ID   uuid.UUID `json:"id"`
	// At is when it was said or felt (zero for a legacy row without a time).
	At time.Time `json:"at,omitzero"`
	// Speaker is a message's speaker; Emotion an emotion's name.
	Speaker string `json:"speaker,omitempty"`
	Emotion string `json:"emotion,omitempty"`
	// Preview is the start of its text (a message's, an emotion's context).
	Preview string `json:"preview"`

	body string // the whole text Preview starts
}

// Result is what Forget did.
type Result struct {
	DryRun bool `json:"dry_run"`
	// Forgotten are the memories deleted (to be deleted, in a dry run),
	// conversations first, each kind oldest first.
	Forgotten []Memory `json:"forgotten"`
	// Already are the ids asked for that were forgotten before.
	Already []uuid.UUID `json:"already_forgotten"`
	// Scrubbed counts the daily updates and journal entries that quoted a
	// forgotten memory, whose quote was replaced by "[forgotten]".
	Scrubbed int `json:"scrubbed"`
}

// Count returns how many conversations and emotions r forgot.
func (r Result) Count() (conversations, emotions int) {
	for _, m := range r.Forgotten {
		if m.Kind == KindConversation {
			conversations++
		} else {
			emotions++
		}
	}
	return conversations, emotions
}

// UnknownError says that ids asked for are no memory's, stored or forgotten:
// nothing was forgotten. It is the user's to fix.
type UnknownError struct {
	IDs []uuid.UUID
}

func (e *UnknownError) Error() string {
	s := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		s[i] = id.String()
	}
	noun := "no memory has id"
	if len(s) > 1 {
		noun = "no memory has the ids"
	}
	return fmt.Sprintf("%s %s (neither stored nor forgotten; an id still in the spool is stored once it drains); nothing was forgotten",
		noun, strings.Join(s, ", "))
}

// ForgottenError is a save's refusal of an id that was forgotten on request.
// It unwraps to a *text.FieldError on the id, so that every path reports it
// as invalid input.
type ForgottenError struct {
	Kind string
	ID   uuid.UUID
}

func (e *ForgottenError) Error() string {
	return fmt.Sprintf("%s %s was forgotten on request (angelad forget) and is not stored again", e.Kind, e.ID)
}

// Unwrap presents the refusal as a problem of the id field.
func (e *ForgottenError) Unwrap() error {
	return &text.FieldError{Field: e.Kind + "_id", Problem: fmt.Sprintf("%s was forgotten on request (angelad forget) and is not stored again; use a new id", e.ID)}
}

// IsForgotten reports whether err is a save's refusal of a forgotten id.
func IsForgotten(err error) bool {
	var fe *ForgottenError
	return errors.As(err, &fe)
}

// Refused returns a *ForgottenError when id is tombstoned, and nil when it is
// not. A store calls it when the insert of one memory stored nothing and the
// memory is not there either: the tombstone trigger dropped it.
func Refused(ctx context.Context, q postgres.DB, kind string, id uuid.UUID) error {
	var gone bool
	if err := q.QueryRow(ctx, `select exists (select from memory_tombstones where id = $1)`, id).Scan(&gone); err != nil {
		return fmt.Errorf("look up tombstone: %w", err)
	}
	if gone {
		return &ForgottenError{Kind: kind, ID: id}
	}
	return nil
}

// SaveOnce stores one memory of kind, by id, so that a retry or a replay
// never duplicates it: insert stores it and returns the stored row, or
// pgx.ErrNoRows when it stored nothing (the id is taken, or the tombstone
// trigger dropped the row). Then lookup reads the stored row, in a second
// statement, not part of the insert, so that under READ COMMITTED it sees a
// row that a concurrent save of the same id committed while the insert
// waited for it. A row that same finds unlike the one saved is a
// *text.FieldError (the id is reused for a different what); no row at all
// means the id was forgotten on request, a *ForgottenError.
func SaveOnce[T any](ctx context.Context, q postgres.DB, kind string, id uuid.UUID, what string,
	insert, lookup func() (T, error), same func(stored T) bool) (T, error) {
	saved, err := insert()
	if !errors.Is(err, pgx.ErrNoRows) {
		return saved, err
	}
	saved, err = lookup()
	if errors.Is(err, pgx.ErrNoRows) {
		// Not stored, and not there either: its id was forgotten on
		// request, and the database dropped the row.
		if ferr := Refused(ctx, q, kind, id); ferr != nil {
			err = ferr
		}
	}
	if err == nil && !same(saved) {
		err = &text.FieldError{Field: kind + "_id", Problem: fmt.Sprintf("%s is already stored for a different %s; use a new id", id, what)}
	}
	return saved, err
}

// The statements. Times are read as timestamptz, which reads a legacy
// TIMESTAMP in the session time zone, as the stores do. FOR UPDATE holds the
// rows until the transaction ends, so a concurrent update cannot slip between
// the listing and the delete.
const (
	convColumns = `conversation_id, created_at::timestamptz, lower(speaker), message_text`
	emoColumns  = `emotion_id, felt_at::timestamptz, emotion, coalesce(context, '')`

	convByIDSQL = `select ` + convColumns + ` from conversations where conversation_id = any($1)
order by created_at, conversation_id for update`
	emoByIDSQL = `select ` + emoColumns + ` from angela_emotions where emotion_id = any($1)
order by felt_at, emotion_id for update`

	// The searches read the gram index ($1: the grams of the text, as the
	// writers store them) and keep the rows that hold the text itself ($2),
	// lowered by the database on both sides; a legacy row without grams yet
	// is matched on its text alone.
	convSearchSQL = `select ` + convColumns + ` from conversations
where (search_grams @> $1 or search_grams is null) and strpos(lower(message_text), lower($2)) > 0
	and coalesce(created_at::timestamptz, '-infinity') >= $3
order by created_at, conversation_id for update`
	emoSearchSQL = `select ` + emoColumns + ` from angela_emotions
where (search_grams @> $1 or search_grams is null)
	and (strpos(lower(emotion), lower($2)) > 0 or strpos(lower(coalesce(context, '')), lower($2)) > 0
		or strpos(lower(coalesce(david_words, '')), lower($2)) > 0
		or strpos(lower(coalesce(why_it_matters, '')), lower($2)) > 0)
	and coalesce(felt_at::timestamptz, '-infinity') >= $3
order by felt_at, emotion_id for update`

	tombstonedSQL = `select id from memory_tombstones where id = any($1)`

	insertTombstonesSQL = `insert into memory_tombstones (id, kind, deleted_at, reason)
select id, kind, $3, $4 from unnest($1::uuid[], $2::text[]) as t(id, kind)
on conflict (id) do nothing`

	// purgeSQL removes the memories with the ids $1 and their state rows,
	// and counts the memories. The derived rows of other tables go with them
	// by those tables' own delete triggers.
	purgeSQL = `with c as (delete from conversations where conversation_id = any($1) returning 1),
cs as (delete from conversation_memory where id = any($1)),
e as (delete from angela_emotions where emotion_id = any($1) returning 1),
es as (delete from emotion_memory where id = any($1))
select (select count(*) from c) + (select count(*) from e)`
)

// Forget deletes the memories o names, with their state rows, and records a
// tombstone for each, in one transaction: on any error nothing is forgotten.
// Ids that are neither stored nor tombstoned make it return an
// *UnknownError and forget nothing; ids forgotten before are listed in
// Already. A dry run lists the same and changes nothing.
func Forget(ctx context.Context, db postgres.DB, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, fmt.Errorf("forget: %w", err)
	}
	res := Result{DryRun: o.DryRun, Forgotten: []Memory{}, Already: []uuid.UUID{}}
	tx, err := db.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("forget: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if len(o.IDs) > 0 {
		err = byIDs(ctx, tx, o.IDs, &res)
	} else {
		err = bySearch(ctx, tx, o, &res)
	}
	if err != nil {
		return res, err
	}
	if len(res.Forgotten) == 0 {
		return res, nil
	}
	if res.Scrubbed, err = scrub(ctx, tx, res.Forgotten, o.DryRun); err != nil {
		return res, err
	}
	if o.DryRun {
		return res, nil
	}
	if err := Delete(ctx, tx, res.Forgotten, o.Reason, o.Now); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("forget: %w", err)
	}
	return res, nil
}

func byIDs(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, res *Result) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	ids = slices.Compact(ids)
	convs, err := collect(ctx, tx, KindConversation, convByIDSQL, ids)
	if err != nil {
		return err
	}
	emos, err := collect(ctx, tx, KindEmotion, emoByIDSQL, ids)
	if err != nil {
		return err
	}
	res.Forgotten = append(append(res.Forgotten, convs...), emos...)
	rows, err := tx.Query(ctx, tombstonedSQL, ids)
	if err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	found := map[uuid.UUID]bool{}
	for _, m := range res.Forgotten {
		found[m.ID] = true
	}
	for _, id := range gone {
		// A tombstoned id still stored (its tombstone imported from an
		// export) is forgotten like the others.
		if !found[id] {
			res.Already = append(res.Already, id)
			found[id] = true
		}
	}
	var unknown []uuid.UUID
	for _, id := range ids {
		if !found[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return &UnknownError{IDs: unknown}
	}
	return nil
}

func bySearch(ctx context.Context, tx pgx.Tx, o Options, res *Result) error {
	since := any("-infinity")
	if !o.Since.IsZero() {
		since = o.Since
	}
	grams := text.Grams(o.Search)
	if o.Kind != SearchEmotions {
		convs, err := collect(ctx, tx, KindConversation, convSearchSQL, grams, o.Search, since)
		if err != nil {
			return err
		}
		res.Forgotten = append(res.Forgotten, convs...)
	}
	if o.Kind != SearchConversations {
		emos, err := collect(ctx, tx, KindEmotion, emoSearchSQL, grams, o.Search, since)
		if err != nil {
			return err
		}
		res.Forgotten = append(res.Forgotten, emos...)
	}
	return nil
}

func collect(ctx context.Context, tx pgx.Tx, kind, sql string, args ...any) ([]Memory, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("forget: find %ss: %w", kind, err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Memory, error) {
		m := Memory{Kind: kind}
		var at *time.Time
		var name, body string
		if err := row.Scan(&m.ID, &at, &name, &body); err != nil {
			return m, err
		}
		if at != nil {
			m.At = at.UTC()
		}
		if kind == KindConversation {
			m.Speaker = name
		} else {
			m.Emotion = name
		}
		m.Preview, m.body = text.Preview(body, PreviewChars), body
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("forget: find %ss: %w", kind, err)
	}
	return ms, nil
}

// Delete records a tombstone for each of ms (with reason, "" meaning
// DefaultReason, at now) and deletes them and their state rows, on tx: the
// caller commits.
func Delete(ctx context.Context, tx pgx.Tx, ms []Memory, reason string, now time.Time) error {
	if reason == "" {
		reason = DefaultReason
	}
	ids, kinds := make([]uuid.UUID, len(ms)), make([]string, len(ms))
	for i, m := range ms {
		ids[i], kinds[i] = m.ID, m.Kind
	}
	if _, err := tx.Exec(ctx, insertTombstonesSQL, ids, kinds, now, reason); err != nil {
		return fmt.Errorf("forget: record tombstones: %w", err)
	}
	if _, err := Purge(ctx, tx, ids); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	return nil
}

// Purge deletes the memories with ids, conversations and emotions alike, and
// their state rows, and returns how many memories it deleted. A tombstone
// names an id whatever its kind, as the database's check does. Import calls it
// for the tombstones an export carries, so that a memory forgotten where the
// export was taken is forgotten where it is imported too.
func Purge(ctx context.Context, q postgres.DB, ids []uuid.UUID) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, purgeSQL, ids).Scan(&n); err != nil {
		return 0, fmt.Errorf("delete memories: %w", err)
	}
	return n, nil
}

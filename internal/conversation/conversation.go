// Package conversation owns conversations: the Conversation type, its
// validation, its reads, and every statement that writes the conversations
// table: Save (a message saved by a command, the socket or the MCP server, one
// at a time), SaveNew (a drain of the spool, many at once) and SaveCaptured
// (the speech lines of a transcript, for the capture package). Each of them
// writes the new message's memory state in the same statement.
//
// The store functions take a postgres.DB, so a one-shot command with one
// *pgx.Conn, the daemon with its *pgxpool.Pool and a caller inside a pgx.Tx all
// run the same SQL.
package conversation

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/forget"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// Conversation is one message said in a conversation. Its JSON form is the
// stored record, one key per column.
type Conversation struct {
	// ID identifies the message and is its idempotency key: saving the same ID
	// twice stores it once.
	ID uuid.UUID `json:"conversation_id"`
	// SessionID groups the messages of one session, if known.
	SessionID string `json:"session_id"`
	// Speaker is david, angela or system; stored and read lowercase.
	Speaker string `json:"speaker"`
	// MessageText is what was said, up to text.MaxTextBytes.
	MessageText string `json:"message_text"`
	// MessageType classifies the message ("question"), if given.
	MessageType string `json:"message_type"`
	// Topic is what the message is about, up to 200 characters, if given.
	Topic string `json:"topic"`
	// EmotionDetected is the emotion seen in it, up to 50 characters, if any.
	EmotionDetected string `json:"emotion_detected"`
	// ImportanceLevel is 1 to 10. Legacy rows may have none; they read as 0.
	ImportanceLevel int `json:"importance_level"`
	// CreatedAt is when it was said.
	CreatedAt time.Time `json:"created_at"`
}

// DefaultImportance is the importance of a message saved without one.
const DefaultImportance = 5

// The speakers a message may have.
const (
	SpeakerDavid  = "david"
	SpeakerAngela = "angela"
	SpeakerSystem = "system"
)

// Limits of a conversation's fields, in characters. They are the narrowest of
// angelad's columns and the Python original's, so that a valid message fits a
// fresh and an adopted database alike: the original's session_id is
// varchar(100) and its message_type varchar(50).
const (
	MaxSessionIDChars       = 100
	MaxMessageTypeChars     = 50
	MaxTopicChars           = 200
	MaxEmotionDetectedChars = 50
	MinImportance           = 1
	MaxImportance           = 10
)

// MaxRecentLimit is the most conversations one Recent call returns.
const MaxRecentLimit = 10000

// MaxAhead is how far past the present a memory's time may lie: a clock
// slightly ahead is allowed for, a time further ahead is a mistake that would
// head every newest-first list for good.
const MaxAhead = 24 * time.Hour

// TimeInRange reports whether t may be the time of a memory written at now:
// not before 1970 and at most MaxAhead after now. The CLI's --at and the MCP
// server's at argument refuse any other time; the capture stores a transcript
// line whose time is outside it with the time it was read instead.
func TimeInRange(t, now time.Time) bool {
	return !t.Before(time.Unix(0, 0)) && !t.After(now.Add(MaxAhead))
}

// NormalizeSpeaker returns s as stored: one of david, angela or system in
// lowercase, whatever its case and surrounding whitespace. Any other value is a
// *text.FieldError for "speaker".
func NormalizeSpeaker(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case SpeakerDavid, SpeakerAngela, SpeakerSystem:
		return v, nil
	}
	return "", &text.FieldError{Field: "speaker",
		Problem: "must be one of david, angela, system, got " + text.Quote(s)}
}

// WithDefaults returns c with the values Save fills in when they are zero: a
// new random ID and DefaultImportance. A caller that must know the ID before the
// database is reached (to print it, or to spool the message and replay it later
// without duplicating it) calls WithDefaults first. CreatedAt stays zero; Save
// asks the server for the time.
func (c Conversation) WithDefaults() Conversation {
	if c.ID == uuid.Nil {
		c.ID = uuid.New()
	}
	if c.ImportanceLevel == 0 {
		c.ImportanceLevel = DefaultImportance
	}
	return c
}

// Validate reports the first field of c that may not be stored, as a
// *text.FieldError. It checks c as given: a zero ImportanceLevel is invalid
// here, so that an explicit 0 from a user is rejected rather than silently
// replaced; Save validates c.WithDefaults().
//
// Values are stored exactly as given (except the speaker, stored lowercase); a
// message of only whitespace is rejected, never trimmed.
func (c Conversation) Validate() error {
	if _, err := NormalizeSpeaker(c.Speaker); err != nil {
		return err
	}
	if err := text.CheckBytes("message_text", c.MessageText, 1, text.MaxTextBytes); err != nil {
		return err
	}
	if err := text.Check("session_id", c.SessionID, 0, MaxSessionIDChars); err != nil {
		return err
	}
	if err := text.Check("message_type", c.MessageType, 0, MaxMessageTypeChars); err != nil {
		return err
	}
	if err := text.Check("topic", c.Topic, 0, MaxTopicChars); err != nil {
		return err
	}
	if err := text.Check("emotion_detected", c.EmotionDetected, 0, MaxEmotionDetectedChars); err != nil {
		return err
	}
	return text.IntRange("importance_level", c.ImportanceLevel, MinImportance, MaxImportance)
}

// insertStatesSQL is the second part of every data-modifying WITH that
// stores conversations, whose first part, ins, is the INSERT of the messages
// with RETURNING their rows (or at least the columns named here): a writer
// that gives a new message its search grams (text.Grams) writes its state row
// in conversation_memory in the same statement, since the database's trigger
// does both only for a row that arrives without grams (migration 005). A
// message already stored returns no row from ins, so its state is left as it
// is.
const insertStatesSQL = `insert into conversation_memory (id, weight, made_at, score)
	select conversation_id, angela_conversation_weight(importance_level),
		coalesce(created_at::timestamptz, now()), angela_conversation_weight(importance_level)
	from ins
	on conflict (id) do nothing`

// conversationColumns reads a row so that legacy rows scan too:
// created_at::timestamptz reads a legacy TIMESTAMP (a wall time without zone) in
// the session time zone, a capitalised legacy speaker reads lowercase, and the
// columns a legacy row may leave NULL read as 0 or "".
const conversationColumns = `conversation_id, coalesce(session_id, ''), lower(speaker), message_text,
	coalesce(message_type, ''), coalesce(topic, ''), coalesce(emotion_detected, ''),
	coalesce(importance_level, 0), created_at::timestamptz`

// insertConversationSQL writes the time as timestamptz, which a legacy
// TIMESTAMP column stores as the wall time in the session time zone. Without a
// time it uses clock_timestamp() rather than now(), so that messages saved one
// after another in one transaction keep their order. Empty optional texts are
// stored as NULL, as the original did. $10 is the search grams (text.Grams); the
// state row is written with the message. An id forgotten on request is left
// out (see postgres.TombstonesSetting).
const insertConversationSQL = `with ins as (
	insert into conversations
		(conversation_id, session_id, speaker, message_text, message_type, topic, emotion_detected,
		 importance_level, created_at, search_grams)
	select $1::uuid, nullif($2::text, ''), $3::text, $4::text, nullif($5::text, ''), nullif($6::text, ''),
		nullif($7::text, ''), $8::int4, coalesce($9::timestamptz, clock_timestamp()), $10::int4[]
	where not exists (select from memory_tombstones where id = $1::uuid)
	on conflict (conversation_id) do nothing
	returning *
), states as (
	` + insertStatesSQL + `
)
select ` + conversationColumns + ` from ins`

const selectConversationSQL = `select ` + conversationColumns + `
from conversations where conversation_id = $1`

// Save stores c and returns it as stored, its speaker lowercase. Zero values get
// defaults (see WithDefaults; a zero CreatedAt becomes the server's current
// time). An invalid c returns a *text.FieldError and writes nothing.
//
// The ID is the idempotency key: when a message with c's ID is already stored,
// Save writes nothing and returns the stored message, so a retry or a replay
// never duplicates one. An id forgotten on request (see package forget) is
// never stored again: Save returns a *forget.ForgottenError.
func Save(ctx context.Context, q postgres.DB, c Conversation) (Conversation, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Conversation{}, fmt.Errorf("save conversation: %w", err)
	}
	c.Speaker, _ = NormalizeSpeaker(c.Speaker) // valid: Validate checked it
	var createdAt any                          // NULL asks the server for the time
	if !c.CreatedAt.IsZero() {
		createdAt = c.CreatedAt
	}
	saved, err := forget.SaveOnce(ctx, q, forget.KindConversation, c.ID, "message",
		func() (Conversation, error) {
			return scanConversation(q.QueryRow(ctx, insertConversationSQL, c.ID, c.SessionID, c.Speaker,
				c.MessageText, c.MessageType, c.Topic, c.EmotionDetected, c.ImportanceLevel, createdAt,
				text.Grams(c.MessageText)))
		},
		func() (Conversation, error) { return scanConversation(q.QueryRow(ctx, selectConversationSQL, c.ID)) },
		func(stored Conversation) bool { return sameConversation(c, stored) })
	if err != nil {
		return Conversation{}, fmt.Errorf("save conversation: %w", err)
	}
	return saved, nil
}

// insertConversationsSQL is insertConversationSQL for many messages in one
// statement, from arrays. The grams come as one array, $9, each message's its
// slice lo:hi (see text.GramRuns); a NULL time asks the server for it. Ids
// forgotten on request are left out.
const insertConversationsSQL = `with ins as (
	insert into conversations
		(conversation_id, session_id, speaker, message_text, message_type, topic, emotion_detected,
		 importance_level, created_at, search_grams)
	select id, nullif(session, ''), speaker, txt, nullif(mtype, ''), nullif(topic, ''), nullif(emotion, ''),
		importance, coalesce(at, clock_timestamp()), ($9::int4[])[lo:hi]
	from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::int4[], $10::timestamptz[], $11::int4[], $12::int4[])
		as m(id, session, speaker, txt, mtype, topic, emotion, importance, at, lo, hi)
	where not exists (select from memory_tombstones t where t.id = m.id)
	on conflict (conversation_id) do nothing
	returning conversation_id, importance_level, created_at
), states as (
	` + insertStatesSQL + `
)
select conversation_id from ins`

// SaveNew stores, in one statement, those of cs that are not stored yet, and
// returns their ids. It is Save for many messages at once (a drain of the
// spool), except that a message whose id is already stored is left as it is
// and not compared: the caller gives those to Save, which tells a replay from
// a reused id. An invalid message returns a *text.FieldError and writes
// nothing.
func SaveNew(ctx context.Context, q postgres.DB, cs []Conversation) (map[uuid.UUID]bool, error) {
	stored := map[uuid.UUID]bool{}
	if len(cs) == 0 {
		return stored, nil
	}
	// In the order of their ids, as SaveCaptured does.
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b Conversation) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	n := len(cs)
	ids, ats, importances := make([][16]byte, n), make([]*time.Time, n), make([]int32, n)
	sessions, speakers, texts := make([]string, n), make([]string, n), make([]string, n)
	types, topics, emotions := make([]string, n), make([]string, n), make([]string, n)
	for i := range cs {
		c := cs[i].WithDefaults()
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("save conversation %s: %w", c.ID, err)
		}
		c.Speaker, _ = NormalizeSpeaker(c.Speaker) // valid: Validate checked it
		cs[i] = c
		ids[i], sessions[i], speakers[i], texts[i] = c.ID, c.SessionID, c.Speaker, c.MessageText
		types[i], topics[i], emotions[i], importances[i] = c.MessageType, c.Topic, c.EmotionDetected, int32(c.ImportanceLevel)
		if !c.CreatedAt.IsZero() {
			ats[i] = &cs[i].CreatedAt
		}
	}
	grams, lo, hi := text.GramRuns(n, func(i int) []string { return texts[i : i+1] })
	rows, err := q.Query(ctx, insertConversationsSQL, ids, sessions, speakers, texts, types, topics, emotions,
		importances, grams, ats, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("save conversations: %w", err)
	}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { stored[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("save conversations: %w", err)
	}
	return stored, nil
}

// Captured is one speech line of a transcript, as SaveCaptured stores it.
type Captured struct {
	// ID is the message's id (the capture derives it from the line).
	ID        uuid.UUID
	SessionID string
	// Speaker is david or angela, lowercase.
	Speaker   string
	Text      string
	CreatedAt time.Time
	// ProjectDir is the project the session ran in, if known.
	ProjectDir string
}

// insertCapturedSQL stores a batch of captured messages in one statement. The
// rows' search grams (text.Grams) come as one array, $10, each row's its slice
// lo:hi (1-based, empty when lo > hi): an array parameter must be rectangular.
// A message already stored (the same uuid read from another file, or read
// before), or forgotten on request (see postgres.TombstonesSetting), is
// skipped; each new one gets its state row in the same statement.
// created_at is written as timestamptz, which a legacy TIMESTAMP column stores
// as the wall time in the session's time zone, as Save does.
const insertCapturedSQL = `with ins as (
	insert into conversations
		(conversation_id, session_id, speaker, message_text, importance_level, created_at, project_dir, source_file,
		 search_grams)
	select id, nullif(session, ''), speaker, txt, 5, at, nullif(project, ''), $7, ($10::int4[])[lo:hi]
	from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $8::int4[], $9::int4[])
		as m(id, session, speaker, txt, at, project, lo, hi)
	where not exists (select from memory_tombstones t where t.id = m.id)
	on conflict (conversation_id) do nothing
	returning conversation_id, importance_level, created_at
), states as (
	` + insertStatesSQL + `
)
select count(*) from ins`

// SaveCaptured stores msgs, read from the transcript sourceFile, in one
// statement and returns how many were new; those already stored are left as
// they are. Of several messages with one id, the first in msgs is the one
// stored. The capture has checked them (a speaker it knows, a text cut to
// text.MaxTextBytes), so they are stored as given, with the default importance.
//
// The rows go in the order of their ids: two transactions storing some of the
// same messages (two copies of a history, read at once by the backfill, or by
// the daemon and an import) then take their keys in the same order, and the
// second waits for the first instead of deadlocking with it.
func SaveCaptured(ctx context.Context, q postgres.DB, sourceFile string, msgs []Captured) (stored int64, err error) {
	msgs = slices.Clone(msgs)
	slices.SortStableFunc(msgs, func(a, b Captured) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	// [16]byte encodes directly; uuid.UUID would go through its text form.
	n := len(msgs)
	ids, ats := make([][16]byte, n), make([]time.Time, n)
	sessions, speakers, texts, projects := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, m := range msgs {
		ids[i], sessions[i], speakers[i], texts[i], ats[i], projects[i] =
			m.ID, m.SessionID, m.Speaker, m.Text, m.CreatedAt, m.ProjectDir
	}
	grams, los, his := text.GramRuns(n, func(i int) []string { return texts[i : i+1] })
	err = q.QueryRow(ctx, insertCapturedSQL, ids, sessions, speakers, texts, ats, projects, sourceFile,
		los, his, grams).Scan(&stored)
	return stored, err
}

// RecentOptions selects the conversations Recent returns.
type RecentOptions struct {
	// Limit is how many to return at most, 1 to MaxRecentLimit.
	Limit int
	// Speaker, when not empty, keeps only that speaker's messages; it is
	// matched without regard to case (see NormalizeSpeaker).
	Speaker string
}

// The two reads are separate statements rather than one with an optional
// filter, so that each has a plan that walks its index (conversations_created_at_idx,
// or conversations_speaker_created_at_idx on lower(speaker), created_at desc)
// and stops after limit rows, even as a cached generic plan.
const (
	recentConversationsSQL = `select ` + conversationColumns + `
from conversations order by created_at desc limit $1`
	recentBySpeakerSQL = `select ` + conversationColumns + `
from conversations where lower(speaker) = $2 order by created_at desc limit $1`
)

// Recent returns up to o.Limit conversations, newest first, only o.Speaker's
// when that is set. An invalid limit or speaker returns a *text.FieldError.
func Recent(ctx context.Context, q postgres.DB, o RecentOptions) ([]Conversation, error) {
	if err := text.IntRange("limit", o.Limit, 1, MaxRecentLimit); err != nil {
		return nil, fmt.Errorf("recent conversations: %w", err)
	}
	sql, args := recentConversationsSQL, []any{o.Limit}
	if o.Speaker != "" {
		speaker, err := NormalizeSpeaker(o.Speaker)
		if err != nil {
			return nil, fmt.Errorf("recent conversations: %w", err)
		}
		sql, args = recentBySpeakerSQL, append(args, speaker)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("recent conversations: %w", err)
	}
	convs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Conversation, error) {
		return scanConversation(row)
	})
	if err != nil {
		return nil, fmt.Errorf("recent conversations: %w", err)
	}
	return convs, nil
}

func scanConversation(row pgx.Row) (Conversation, error) {
	var c Conversation
	var createdAt *time.Time // a legacy row may have none
	err := row.Scan(&c.ID, &c.SessionID, &c.Speaker, &c.MessageText, &c.MessageType,
		&c.Topic, &c.EmotionDetected, &c.ImportanceLevel, &createdAt)
	if err != nil {
		return Conversation{}, err
	}
	if createdAt != nil {
		// UTC, so that the same instant always has the same JSON, whatever the
		// local zone of the process; callers show it in the zone they want.
		c.CreatedAt = createdAt.UTC()
	}
	return c, nil
}

// sameConversation reports whether stored is what saving want would have
// stored. A zero CreatedAt in want left the time to the server.
func sameConversation(want, stored Conversation) bool {
	if !want.CreatedAt.IsZero() && !want.CreatedAt.Truncate(time.Microsecond).Equal(stored.CreatedAt) {
		return false
	}
	want.CreatedAt, stored.CreatedAt = time.Time{}, time.Time{}
	return want == stored
}

package web

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
)

// The viewer reads the tables the stores own with statements of its own:
// they are shaped for pages (a day, a keyset page, a chart) that no command
// asks for. The times are compared as timestamptz parameters, which a
// legacy TIMESTAMP column meets with the cross-type operators of its index,
// so that the created_at and felt_at indexes serve both kinds of database.

// Line is one conversation message as the timeline shows it.
type Line struct {
	ID      uuid.UUID `json:"id"`
	Session string    `json:"session"`
	Speaker string    `json:"speaker"`
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
}

// cursor is a keyset position in the timeline: (at, id), newest first.
type cursor struct {
	At time.Time
	ID uuid.UUID
}

// String writes the cursor for an address: the time to the microsecond the
// database keeps, and the id.
func (c cursor) String() string {
	return c.At.UTC().Format("20060102T150405.000000Z") + "_" + c.ID.String()
}

// parseCursor reads what String wrote.
func parseCursor(s string) (cursor, error) {
	at, id, ok := strings.Cut(s, "_")
	if !ok {
		return cursor{}, errors.New("must be a position the viewer wrote")
	}
	t, err := time.Parse("20060102T150405.000000Z", at)
	if err != nil {
		return cursor{}, errors.New("must be a position the viewer wrote")
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return cursor{}, errors.New("must be a position the viewer wrote")
	}
	return cursor{At: t, ID: u}, nil
}

const lineColumns = `conversation_id, coalesce(session_id, ''), lower(speaker), message_text, created_at::timestamptz`

// dayPageSQL is a page of a day's lines, newest first, before a keyset
// position ($3, $4; a null $3 starts at the day's end).
const dayPageSQL = `select ` + lineColumns + ` from conversations
where created_at >= $1::timestamptz and created_at < $2::timestamptz
	and ($3::timestamptz is null or created_at < $3::timestamptz
		or (created_at = $3::timestamptz and conversation_id < $4))
order by created_at desc, conversation_id desc
limit $5`

// newerSQL is what a live timeline has not shown yet: the day's lines after
// its newest, oldest first.
const newerSQL = `select ` + lineColumns + ` from conversations
where created_at >= $1::timestamptz and created_at < $2::timestamptz
	and (created_at > $3::timestamptz or (created_at = $3::timestamptz and conversation_id > $4))
order by created_at, conversation_id
limit $5`

func scanLine(row pgx.CollectableRow) (Line, error) {
	var l Line
	err := row.Scan(&l.ID, &l.Session, &l.Speaker, &l.Text, &l.At)
	return l, err
}

// dayPage returns up to limit lines of the day [from, to) before c (the
// day's end when c is nil), newest first.
func dayPage(ctx context.Context, q postgres.DB, from, to time.Time, c *cursor, limit int) ([]Line, error) {
	var at any
	id := uuid.Nil
	if c != nil {
		at, id = c.At, c.ID
	}
	rows, err := q.Query(ctx, dayPageSQL, from, to, at, id, limit)
	l, err := collect(rows, err, scanLine)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", from.Format(time.DateOnly), err)
	}
	return l, nil
}

// newer returns up to limit lines of the day [from, to) after c, oldest
// first.
func newer(ctx context.Context, q postgres.DB, from, to time.Time, c cursor, limit int) ([]Line, error) {
	rows, err := q.Query(ctx, newerSQL, from, to, c.At, c.ID, limit)
	l, err := collect(rows, err, scanLine)
	if err != nil {
		return nil, fmt.Errorf("new lines: %w", err)
	}
	return l, nil
}

// MoodDay is one day of the moods chart.
type MoodDay struct {
	Day   time.Time
	Count int
	Mean  float64
	Max   int
	// Top is the day's most intense moment (the latest among equals).
	Top Moment
}

// Moment is one felt emotion.
type Moment struct {
	Emotion   string
	Intensity int
	Context   string
	At        time.Time
}

// moodDaysSQL is every day of [$1, $2) that holds emotions, in zone $3: how
// many, their mean and highest intensity, and the most intense moment. One
// sort serves both: the window sums over the day, DISTINCT ON keeps its
// first row in (intensity, time) order.
const moodDaysSQL = `select distinct on (d) d, count(*) over w, avg(intensity) over w, max(intensity) over w,
	emotion, intensity, context, at
from (select (felt_at::timestamptz at time zone $3)::date as d, felt_at::timestamptz as at,
		emotion, coalesce(intensity, 5) as intensity, coalesce(context, '') as context
	from angela_emotions where felt_at >= $1::timestamptz and felt_at < $2::timestamptz) e
window w as (partition by d)
order by d, intensity desc, at desc`

func moodDays(ctx context.Context, q postgres.DB, from, to time.Time, loc *time.Location) ([]MoodDay, error) {
	rows, err := q.Query(ctx, moodDaysSQL, from, to, loc.String())
	out, err := collect(rows, err, func(row pgx.CollectableRow) (MoodDay, error) {
		var m MoodDay
		var count int64
		err := row.Scan(&m.Day, &count, &m.Mean, &m.Max, &m.Top.Emotion, &m.Top.Intensity, &m.Top.Context, &m.Top.At)
		m.Count = int(count)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("moods by day: %w", err)
	}
	return out, nil
}

// TopEmotion is one of a period's most felt emotions.
type TopEmotion struct {
	Period  time.Time
	Emotion string
	Count   int
	Mean    float64
}

// topEmotionsSQL is the $5 most felt emotions of each period ($4: week or
// month) of [$1, $2) in zone $3, newest period first.
const topEmotionsSQL = `select p, emotion, n, mean from (
	select p, emotion, n, mean, row_number() over (partition by p order by n desc, mean desc, emotion) as r
	from (select date_trunc($4, felt_at::timestamptz at time zone $3)::date as p, lower(emotion) as emotion,
			count(*) as n, avg(coalesce(intensity, 5))::float8 as mean
		from angela_emotions where felt_at >= $1::timestamptz and felt_at < $2::timestamptz
		group by 1, 2) g) t
where r <= $5
order by p desc, r`

func topEmotions(ctx context.Context, q postgres.DB, from, to time.Time, loc *time.Location, period string, top int) ([]TopEmotion, error) {
	rows, err := q.Query(ctx, topEmotionsSQL, from, to, loc.String(), period, top)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (TopEmotion, error) {
		var t TopEmotion
		var n int64
		err := row.Scan(&t.Period, &t.Emotion, &n, &t.Mean)
		t.Count = int(n)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("top emotions by %s: %w", period, err)
	}
	return out, nil
}

// JournalEntry is one entry of angela_journal.
type JournalEntry struct {
	Date    time.Time
	Title   string
	Content string
	Emotion string
	Mood    int
}

// journalSQL is the journal's entries, newest first, of one date ($1) or
// of every date before $2.
const journalSQL = `select entry_date, coalesce(title, ''), content, coalesce(emotion, ''), coalesce(mood_score, 0)
from angela_journal
where ($1::date is null or entry_date = $1) and ($2::date is null or entry_date < $2)
order by entry_date desc, created_at desc
limit $3`

func readJournal(ctx context.Context, q postgres.DB, date, before any, limit int) ([]JournalEntry, error) {
	rows, err := q.Query(ctx, journalSQL, date, before, limit)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (JournalEntry, error) {
		var j JournalEntry
		err := row.Scan(&j.Date, &j.Title, &j.Content, &j.Emotion, &j.Mood)
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return out, nil
}

func collect[T any](rows pgx.Rows, err error, scan pgx.RowToFunc[T]) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

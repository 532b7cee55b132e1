package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
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
	// Cut says Text is the first lineChars characters of a longer message,
	// which its own page (/message?id=) shows whole.
	Cut bool `json:"cut,omitempty"`
}

// lineChars is the most characters of a message a timeline shows: a page of
// 200 lines of pasted megabytes would otherwise be hundreds of megabytes.
// The SQL reads one more, to tell a message that long from a longer one.
const lineChars = 10000

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

const lineColumns = `conversation_id, coalesce(session_id, ''), lower(speaker), left(message_text, 10001), created_at::timestamptz`

// messageSQL is one message, whole.
const messageSQL = `select conversation_id, coalesce(session_id, ''), lower(speaker), message_text, created_at::timestamptz
from conversations where conversation_id = $1`

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
	if err == nil && utf8.RuneCountInString(l.Text) > lineChars {
		l.Text, _ = text.Cut(l.Text, lineChars)
		l.Cut = true
	}
	return l, err
}

// message returns one message whole; found is false when no message has id.
// A message without a time (a row of an adopted database) has a zero At.
func message(ctx context.Context, q postgres.DB, id uuid.UUID) (l Line, found bool, err error) {
	var at *time.Time
	err = q.QueryRow(ctx, messageSQL, id).Scan(&l.ID, &l.Session, &l.Speaker, &l.Text, &at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return l, false, nil
	case err != nil:
		return l, false, fmt.Errorf("message %s: %w", id, err)
	}
	if at != nil {
		l.At = *at
	}
	return l, true, nil
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
	ID        uuid.UUID
	Emotion   string
	Intensity int
	Context   string
	At        time.Time
}

// TopEmotion is one of a period's most felt emotions.
type TopEmotion struct {
	Period  time.Time
	Emotion string
	Count   int
	Mean    float64
}

// The moods are reckoned here from one read of the range's emotions, in
// felt_at order off its index, without their texts: bucketing each row by
// its local day, week and month in SQL (AT TIME ZONE, a sort per grouping)
// cost about a second over three years of 100,000 emotions, and the same
// in Go costs a few tens of milliseconds. The texts of the days' top
// moments are read after, by id.
const (
	feltSQL = `select emotion_id, felt_at::timestamptz, lower(emotion), coalesce(intensity, 5)
from angela_emotions where felt_at >= $1::timestamptz and felt_at < $2::timestamptz`
	contextsSQL = `select emotion_id, coalesce(context, '') from angela_emotions where emotion_id = any($1)`
)

// moods returns the days of [from, to) that hold emotions, oldest first,
// and the top most felt emotions of each week (Monday on) or month
// (period), newest period first, days counted in loc.
func moods(ctx context.Context, q postgres.DB, from, to time.Time, loc *time.Location, period string, top int) ([]MoodDay, []TopEmotion, error) {
	type tally struct {
		n   int
		sum float64
	}
	days := map[time.Time]*MoodDay{}
	periods := map[time.Time]map[string]*tally{}
	rows, err := q.Query(ctx, feltSQL, from, to)
	if err != nil {
		return nil, nil, fmt.Errorf("moods: %w", err)
	}
	var m Moment
	_, err = pgx.ForEachRow(rows, []any{&m.ID, &m.At, &m.Emotion, &m.Intensity}, func() error {
		y, mo, d := m.At.In(loc).Date()
		day := time.Date(y, mo, d, 0, 0, 0, 0, loc)
		md := days[day]
		if md == nil {
			md = &MoodDay{Day: day}
			days[day] = md
		}
		md.Count++
		md.Mean += float64(m.Intensity)
		if md.Count == 1 || m.Intensity > md.Top.Intensity || (m.Intensity == md.Top.Intensity && m.At.After(md.Top.At)) {
			md.Top = m
			md.Max = m.Intensity
		}
		p := time.Date(y, mo, 1, 0, 0, 0, 0, loc)
		if period == "week" {
			p = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		}
		ts := periods[p]
		if ts == nil {
			ts = map[string]*tally{}
			periods[p] = ts
		}
		t := ts[m.Emotion]
		if t == nil {
			t = &tally{}
			ts[m.Emotion] = t
		}
		t.n++
		t.sum += float64(m.Intensity)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("moods: %w", err)
	}
	out := make([]MoodDay, 0, len(days))
	ids := make([]uuid.UUID, 0, len(days))
	for _, md := range days {
		md.Mean /= float64(md.Count)
		out = append(out, *md)
		ids = append(ids, md.Top.ID)
	}
	slices.SortFunc(out, func(a, b MoodDay) int { return a.Day.Compare(b.Day) })
	contexts := make(map[uuid.UUID]string, len(ids))
	rows, err = q.Query(ctx, contextsSQL, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("moods: %w", err)
	}
	var id uuid.UUID
	var c string
	if _, err := pgx.ForEachRow(rows, []any{&id, &c}, func() error { contexts[id] = c; return nil }); err != nil {
		return nil, nil, fmt.Errorf("moods: %w", err)
	}
	for i := range out {
		out[i].Top.Context = contexts[out[i].Top.ID]
	}
	var tops []TopEmotion
	for p, ts := range periods {
		var list []TopEmotion
		for e, t := range ts {
			list = append(list, TopEmotion{Period: p, Emotion: e, Count: t.n, Mean: t.sum / float64(t.n)})
		}
		slices.SortFunc(list, func(a, b TopEmotion) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(b.Mean, a.Mean), strings.Compare(a.Emotion, b.Emotion))
		})
		tops = append(tops, list[:min(top, len(list))]...)
	}
	slices.SortStableFunc(tops, func(a, b TopEmotion) int {
		return cmp.Or(b.Period.Compare(a.Period), cmp.Compare(b.Count, a.Count), cmp.Compare(b.Mean, a.Mean), strings.Compare(a.Emotion, b.Emotion))
	})
	return out, tops, nil
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

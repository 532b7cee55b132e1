package dailyupdate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// JournalWriter marks the angela_journal entries the evening reflection wrote.
const JournalWriter = "angelad"

const upsertUpdateSQL = `insert into daily_updates (update_date, kind, title, content, figures)
values ($1, $2, $3, $4, $5)
on conflict (update_date, kind) do update
set title = excluded.title, content = excluded.content, figures = excluded.figures, updated_at = now()`

// upsertJournalSQL rewrites the day's reflection in place. Its arbiter is the
// partial unique index on entry_date where written_by is not null, so on a
// database from the Python original, whose rows carry no written_by and which
// may hold two rows for one date, the legacy rows are never touched and at most
// one reflection per date is added beside them. On a fresh database the
// table's own unique constraint on entry_date is an arbiter as well, so an
// entry for the date written by someone else is taken over, not duplicated.
const upsertJournalSQL = `insert into angela_journal (entry_date, title, content, emotion, mood_score, written_by)
values ($1, $2, $3, nullif($4::text, ''), $5, $6)
on conflict (entry_date) where written_by is not null do update
set title = excluded.title, content = excluded.content, emotion = excluded.emotion,
	mood_score = excluded.mood_score, written_by = excluded.written_by`

// saveUpdate writes u's row and, for the evening, the day's journal entry.
func saveUpdate(ctx context.Context, q postgres.DB, date time.Time, kind, title, content string, figures any) error {
	js, err := json.Marshal(figures)
	if err != nil {
		return fmt.Errorf("save %s update: %w", kind, err)
	}
	// As a string: through a pooler statements go unnamed with parameters
	// typed by their Go type (postgres.Pooler), and a []byte is bytea there.
	if _, err := q.Exec(ctx, upsertUpdateSQL, date, kind, title, content, string(js)); err != nil {
		return fmt.Errorf("save %s update of %s: %w", kind, date.Format(time.DateOnly), err)
	}
	return nil
}

func saveJournal(ctx context.Context, q postgres.DB, date time.Time, title, content string, f DayFigures) error {
	emotion, _ := text.Cut(f.Emotions.Dominant, 50) // angela_journal.emotion is varchar(50)
	if _, err := q.Exec(ctx, upsertJournalSQL, date, title, content, emotion, f.MoodScore, JournalWriter); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("save journal entry of %s: %s", date.Format(time.DateOnly), pgErr.Message)
		}
		return fmt.Errorf("save journal entry of %s: %w", date.Format(time.DateOnly), err)
	}
	return nil
}

// journalOf returns the day's journal entry: the reflection angelad wrote if
// any, otherwise the newest entry for the date (a legacy one).
func journalOf(ctx context.Context, q postgres.DB, date time.Time) (title string, mood int, emotion string, ok bool, err error) {
	err = q.QueryRow(ctx, `select coalesce(title, ''), coalesce(mood_score, 0), coalesce(emotion, '')
from angela_journal where entry_date = $1
order by (written_by is not null) desc, created_at desc nulls last limit 1`, date).Scan(&title, &mood, &emotion)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, "", false, nil
	}
	if err != nil {
		return "", 0, "", false, fmt.Errorf("journal of %s: %w", date.Format(time.DateOnly), err)
	}
	return title, mood, emotion, true, nil
}

// ListOptions select the updates List returns.
type ListOptions struct {
	// Date, when not zero, keeps that local date's updates only.
	Date time.Time
	// Kind is a job name, or "" for every kind.
	Kind string
	// Limit is how many at most, 1 to MaxListLimit.
	Limit int
}

// MaxListLimit is the most updates one List call returns.
const MaxListLimit = 1000

// listUpdatesSQL lists a day's updates newest first: the midnight note that
// closes it, the evening reflection, the morning greeting.
const listUpdatesSQL = `select update_date, kind, title, content, figures, created_at, updated_at
from daily_updates
where ($1::date is null or update_date = $1) and ($2 = '' or kind = $2)
order by update_date desc,
	case kind when 'midnight' then 0 when 'evening' then 1 else 2 end
limit $3`

// List returns the updates, newest first.
func List(ctx context.Context, q postgres.DB, o ListOptions) ([]Update, error) {
	var date any
	if !o.Date.IsZero() {
		date = o.Date
	}
	rows, err := q.Query(ctx, listUpdatesSQL, date, o.Kind, o.Limit)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Update, error) {
		var u Update
		var d time.Time
		var figures json.RawMessage
		if err := row.Scan(&d, &u.Kind, &u.Title, &u.Content, &figures, &u.CreatedAt, &u.UpdatedAt); err != nil {
			return Update{}, err
		}
		u.Date = d.Format(time.DateOnly)
		u.Figures = figures
		return u, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	return out, nil
}

// writeFile writes content to dir/<date>-<kind>.md atomically: a temporary file
// in dir renamed over it, so a reader never sees half an update. An update
// quotes the day's important moments, so the file is the owner's alone (0600)
// and a directory made for it is too (0700); an existing one keeps its mode.
func writeFile(dir string, date time.Time, kind, content string) error {
	name := filepath.Join(dir, date.Format(time.DateOnly)+"-"+kind+".md")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	f, err := os.CreateTemp(dir, "."+kind+"-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(f.Name()) // after the rename, nothing to remove
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

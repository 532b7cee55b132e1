package dailyupdate

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
)

// JobConfig is one job's schedule.
type JobConfig struct {
	Schedule Schedule
	Enabled  bool
}

// Options configure a Runner.
type Options struct {
	// Jobs by name; a job missing here is disabled.
	Jobs map[string]JobConfig
	// MaxAttempts is how often a failing slot is tried before it fails for good.
	MaxAttempts int
	// CatchUp is how far back missed slots are still run.
	CatchUp time.Duration
	// Dir, when set, also receives every update as <date>-<kind>.md.
	Dir string
	// Companion is who the updates speak for and to, and since when.
	Companion config.Companion
	Location  *time.Location
	// Instance names this process in the ledger.
	Instance string
	Log      *zap.Logger
	// Now is the clock the ledger's times are taken from.
	Now func() time.Time
}

// Result is what one update wrote.
type Result struct {
	Date  time.Time
	Kind  string
	Title string
}

// updateDate is the local date an update of slot is filed under: the slot's
// date, except for the midnight note, which closes the day before a slot in
// the small hours (its wall time less 12 hours).
func updateDate(s Slot) time.Time {
	if s.Job == JobMidnight {
		w := s.Wall.Add(-12 * time.Hour)
		return time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, time.UTC)
	}
	return s.Date()
}

// produce computes and writes the update of slot through q (a transaction in
// the ledger's run), then the Markdown file when a directory is configured.
func produce(ctx context.Context, q postgres.DB, o *Options, s Slot) (Result, error) {
	date := updateDate(s)
	res := Result{Date: date, Kind: s.Job}
	var content string
	var figures any
	switch s.Job {
	case JobEvening:
		f, err := ComputeDay(ctx, q, date, o.Location, o.Companion.Since)
		if err != nil {
			return res, err
		}
		res.Title, content = renderEvening(o.Companion, f, o.Location)
		figures = f
		if err := saveJournal(ctx, q, date, res.Title, content, f); err != nil {
			return res, err
		}
	case JobMorning:
		f, err := morningFigures(ctx, q, o, date)
		if err != nil {
			return res, err
		}
		res.Title, content = renderMorning(o.Companion, f)
		figures = f
	case JobMidnight:
		closes, err := ComputeDay(ctx, q, date, o.Location, o.Companion.Since)
		if err != nil {
			return res, err
		}
		f := MidnightFigures{Date: date.Format(time.DateOnly), Closes: closes}
		res.Title, content = renderMidnight(o.Companion, f)
		figures = f
	default:
		return res, fmt.Errorf("unknown job %q", s.Job)
	}
	if err := saveUpdate(ctx, q, date, s.Job, res.Title, content, figures); err != nil {
		return res, err
	}
	if o.Dir != "" {
		if err := writeFile(o.Dir, date, s.Job, content); err != nil {
			return res, err
		}
	}
	return res, nil
}

func morningFigures(ctx context.Context, q postgres.DB, o *Options, date time.Time) (MorningFigures, error) {
	yesterday := date.AddDate(0, 0, -1)
	f := MorningFigures{Date: date.Format(time.DateOnly), DayNumber: DayNumber(date, o.Companion.Since),
		Yesterday: YesterdayRecap{Date: yesterday.Format(time.DateOnly)}}
	// The counts come from the day's rows either way; the journal, when there
	// is one, gives the title and the mood as they were written.
	day, err := ComputeDay(ctx, q, yesterday, o.Location, o.Companion.Since)
	if err != nil {
		return f, err
	}
	f.Yesterday.Conversations, f.Yesterday.Emotions = day.Conversations, day.Emotions.Count
	title, mood, emotion, ok, err := journalOf(ctx, q, yesterday)
	if err != nil {
		return f, err
	}
	if ok {
		f.Yesterday.Source, f.Yesterday.Title, f.Yesterday.MoodScore, f.Yesterday.Emotion = "journal", title, mood, emotion
	} else {
		f.Yesterday.Source, f.Yesterday.MoodScore, f.Yesterday.Emotion = "computed", day.MoodScore, day.Emotions.Dominant
	}
	return f, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/dailyupdate"
	"github.com/angela-ai/angelad/internal/text"
)

// parseDate parses run-job's --date flag: a local calendar date, not after
// today and not before the first day together (companion.since), nor 1970:
// an update written for a day before they met would greet day 0 or less.
func parseDate(s string, loc *time.Location, since time.Time) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, &text.FieldError{Field: "--date", Problem: fmt.Sprintf("must be a date YYYY-MM-DD such as 2026-12-01, got %q", s)}
	}
	if epoch := time.Unix(0, 0).UTC(); since.Before(epoch) {
		since = epoch
	}
	if d.Before(since) {
		return time.Time{}, &text.FieldError{Field: "--date", Problem: fmt.Sprintf("must not be before the first day together, %s (companion.since; 1970-01-01 at the earliest), got %s",
			since.Format(time.DateOnly), s)}
	}
	today := time.Now().In(loc)
	if d.After(time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, &text.FieldError{Field: "--date", Problem: fmt.Sprintf("must not be after today (%s), got %s", today.Format(time.DateOnly), s)}
	}
	return d, nil
}

func (a *app) journalCommand() *cobra.Command {
	var (
		date, kind string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "journal [--date D] [--kind evening|morning|midnight|all] [--limit N] [--json]",
		Short: "Show the daily updates (morning, evening, midnight), newest first",
		Long: `Show the updates the daily jobs wrote, newest first: per day the midnight note
that closes it, the evening reflection and the morning greeting.`,
		Example: `  angelad journal --limit 3
  angelad journal --date 2026-12-01 --kind evening
  angelad journal --kind morning --limit 1 --json | jq -r '.[0].content'`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&date, "date", "", "only this local date, YYYY-MM-DD")
	cmd.Flags().StringVar(&kind, "kind", "all", "evening, morning, midnight or all")
	limit := newIntFlag(cmd.Flags(), "limit", 10, 1, dailyupdate.MaxListLimit, fmt.Sprintf("how many, 1 to %d", dailyupdate.MaxListLimit))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the updates as a JSON array, figures included")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := text.IntRange("--limit", *limit, 1, dailyupdate.MaxListLimit); err != nil {
			return err
		}
		o := dailyupdate.ListOptions{Limit: *limit}
		if kind != "all" {
			if !dailyupdate.IsJob(kind) {
				return &text.FieldError{Field: "--kind", Problem: fmt.Sprintf("must be one of evening, morning, midnight, all, got %q", kind)}
			}
			o.Kind = kind
		}
		if date != "" {
			d, err := time.Parse(time.DateOnly, date)
			if err != nil {
				return &text.FieldError{Field: "--date", Problem: fmt.Sprintf("must be a date YYYY-MM-DD such as 2026-12-01, got %q", date)}
			}
			o.Date = d
		}
		list := []dailyupdate.Update{}
		err := a.withConn(ctx, func(conn *pgx.Conn) error {
			l, err := dailyupdate.List(ctx, conn, o)
			if l != nil {
				list = l
			}
			return err
		})
		if err != nil {
			return err
		}
		return writeList(a.stdout, list, a.cfg.Location(), func(u *dailyupdate.Update, loc *time.Location) {
			u.CreatedAt, u.UpdatedAt = u.CreatedAt.In(loc), u.UpdatedAt.In(loc)
		}, asJSON, writeUpdates)
	})
	return cmd
}

func writeUpdates(w io.Writer, list []dailyupdate.Update) error {
	for i, u := range list {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "── %s %s (written %s) ──\n%s", u.Date, u.Kind, formatTime(u.UpdatedAt),
			strings.TrimRight(u.Content, "\n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) runJobCommand() *cobra.Command {
	var date string
	cmd := &cobra.Command{
		Use:   "run-job NAME [--date D]",
		Short: "Run one daily update now: morning, midnight or evening",
		Long: `Run one daily update now, for the job's slot on --date (default today), through
the same ledger as the daemon: it waits for nothing and never runs a slot at the
same time as a daemon does. A slot that already ran is rewritten, and run-job
says so. A slot whose time has not come yet today is written now and still runs
at its time.`,
		Example: `  angelad run-job evening
  angelad run-job morning --date 2026-11-30`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("run-job takes one job name (morning, midnight or evening), got %d arguments (see 'angelad run-job --help')", len(args))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&date, "date", "", "the local date of the slot, YYYY-MM-DD (default: today)")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		name := args[0]
		if !dailyupdate.IsJob(name) {
			return usagef("unknown job %q: must be one of morning, midnight, evening", name)
		}
		loc := a.cfg.Location()
		now := time.Now()
		day := time.Date(now.In(loc).Year(), now.In(loc).Month(), now.In(loc).Day(), 0, 0, 0, 0, time.UTC)
		if date != "" {
			d, err := parseDate(date, loc, a.cfg.Companion.Since)
			if err != nil {
				return err
			}
			day = d
		}
		o, err := dailyupdate.RunnerOptions(a.cfg.DailyUpdate, a.cfg.Companion, loc)
		if err != nil {
			return err
		}
		o.Log = zap.NewNop()
		slot, ok := o.Jobs[name].Schedule.OnDate(name, loc, day)
		if !ok {
			return usagef("the %s schedule %q has no slot on %s", name, o.Jobs[name].Schedule.Spec, day.Format(time.DateOnly))
		}
		r := dailyupdate.NewRunner(o)
		var outcome dailyupdate.Outcome
		var res dailyupdate.Result
		early := slot.At.After(now)
		err = a.withConn(ctx, func(conn *pgx.Conn) error {
			var err error
			if early {
				res, err = r.Ahead(ctx, conn, slot)
				return err
			}
			outcome, res, err = r.Run(ctx, conn, slot, true)
			return err
		})
		if err != nil {
			return fmt.Errorf("run-job %s: %w", name, err)
		}
		when := slot.At.In(loc).Format("2006-01-02 15:04 MST")
		switch {
		case early:
			_, err = fmt.Fprintf(a.stdout, "wrote the %s update of %s ahead of its slot (%s), which still runs at its time: %s\n",
				name, res.Date.Format(time.DateOnly), when, res.Title)
		case outcome == dailyupdate.Busy:
			return errors.New("the " + name + " update of " + when + " is running in another process right now; try again when it is done")
		case outcome == dailyupdate.Rewrote:
			_, err = fmt.Fprintf(a.stdout, "rewrote the %s update of %s (slot %s had already run): %s\n",
				name, res.Date.Format(time.DateOnly), when, res.Title)
		default:
			_, err = fmt.Fprintf(a.stdout, "ran the %s update of %s (slot %s): %s\n", name, res.Date.Format(time.DateOnly), when, res.Title)
		}
		return err
	})
	return cmd
}

func (a *app) jobsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "jobs [--json]",
		Short: "Show each daily update job: schedule, next run, last run",
		Example: `  angelad jobs
  angelad jobs --json | jq '.[] | select(.last_run.status == "failed")'`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the jobs as a JSON array")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		loc := a.cfg.Location()
		jobs, err := dailyupdate.JobsFromConfig(a.cfg.DailyUpdate)
		if err != nil {
			return usageError{err}
		}
		var last map[string]dailyupdate.Run
		err = a.withConn(ctx, func(conn *pgx.Conn) error {
			var err error
			last, err = dailyupdate.LastAttempted(ctx, conn)
			return err
		})
		if err != nil {
			return err
		}
		st := dailyupdate.Statuses(jobs, last, loc, a.cfg.DailyUpdate.MaxAttempts, time.Now())
		if asJSON {
			return writeJSON(a.stdout, st)
		}
		tw := tabwriter.NewWriter(a.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tSCHEDULE\tNEXT RUN\tLAST RUN\tRESULT")
		for _, s := range st {
			next := "disabled"
			if s.NextRun != nil {
				next = s.NextRun.Format("2006-01-02 15:04 MST") + " (" + s.Zone + ")"
			}
			lastRun, result := "never", "-"
			if l := s.LastRun; l != nil {
				lastRun = l.Slot.Format("2006-01-02 15:04 MST")
				result = fmt.Sprintf("%s in %.2fs, %d attempt(s)", l.Status, l.DurationSeconds, l.Attempts)
				if l.FailedForGood {
					result += ", failed for good"
				}
				if l.Error != "" {
					result += ": " + text.Preview(l.Error, 80)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Job, s.Schedule, next, lastRun, result)
		}
		return tw.Flush()
	})
	return cmd
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/forget"
)

func (a *app) forgetCommand() *cobra.Command {
	var (
		o           forget.Options
		since       string
		yes, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "forget ID... | forget --search TEXT [--kind K] [--since D] (--yes|--dry-run) [--reason WHY] [--json]",
		Short: "Delete memories for good, and never store them again",
		Long: `Delete conversation messages and emotions, by id or every one containing TEXT
(ignoring case), with their retention state and every row derived from them, in one
transaction, and record a tombstone for each id (when, and --reason) so that nothing
stores it again: not transcript capture reading the same line, not the spool, not an
import or a re-import of an export taken before. Where a daily update or the journal
entry of an evening reflection quotes one, the quote becomes [forgotten].

An id that is neither stored nor forgotten is an error (exit 2) and nothing is
forgotten; an id forgotten before is reported and is not an error. --search deletes
every match, so it needs --yes, or --dry-run to list the matches first. --dry-run
lists what would go and changes nothing.`,
		Example: `  angelad forget 0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70
  angelad forget --search "my password is" --dry-run
  angelad forget --search "my password is" --since 2026-03-01 --yes --reason "typed a password"`,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Search, "search", "", "forget every memory containing this text (ignoring case)")
	fs.StringVar(&o.Kind, "kind", forget.SearchAll, "where --search looks: all, conversations or emotions")
	fs.StringVar(&since, "since", "", "--search only memories from this date (YYYY-MM-DD) or RFC 3339 time on")
	fs.StringVar(&o.Reason, "reason", forget.DefaultReason, fmt.Sprintf("why, recorded with each tombstone (at most %d characters)", forget.MaxReasonChars))
	fs.BoolVar(&o.DryRun, "dry-run", false, "list what would be forgotten; change nothing")
	fs.BoolVar(&yes, "yes", false, "confirm a --search: forget every memory it finds")
	fs.BoolVar(&asJSON, "json", false, "print what was forgotten as JSON")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		searchGiven := cmd.Flags().Changed("search")
		if err := refuseEmpty(cmd, "search", "reason", "since"); err != nil {
			return err
		}
		switch {
		case searchGiven && len(args) > 0:
			return usagef("give ids or --search, not both (see 'angelad forget --help')")
		case !searchGiven && len(args) == 0:
			return usagef("forget needs the ids of the memories to forget, or --search TEXT (see 'angelad forget --help')")
		case searchGiven && !yes && !o.DryRun:
			return usagef("forget --search deletes every memory containing %q: add --dry-run to list them first, or --yes to forget them", o.Search)
		case !searchGiven && (cmd.Flags().Changed("kind") || since != ""):
			return usagef("--kind and --since narrow a --search; give them with --search, not with ids")
		}
		for _, s := range args {
			id, err := uuid.Parse(s)
			if err != nil || len(s) != 36 {
				return usagef("invalid id %q: must be a UUID such as 0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70", s)
			}
			o.IDs = append(o.IDs, id)
		}
		if since != "" {
			t, err := parseSince(since, a.cfg.Location())
			if err != nil {
				return err
			}
			o.Since = t
		}
		o.Now = time.Now()
		if err := o.Validate(); err != nil {
			return renameFields(err, map[string]string{"search": "--search", "ids": "ID", "reason": "--reason", "kind": "--kind"})
		}
		var res forget.Result
		err := a.withConn(ctx, func(conn *pgx.Conn) error {
			var err error
			res, err = forget.Forget(ctx, conn, o)
			return err
		})
		var unknown *forget.UnknownError
		if errors.As(err, &unknown) {
			return usageError{unknown}
		}
		if err != nil {
			return err
		}
		loc := a.cfg.Location()
		for i := range res.Forgotten {
			if !res.Forgotten[i].At.IsZero() {
				res.Forgotten[i].At = res.Forgotten[i].At.In(loc)
			}
		}
		if asJSON {
			return writeJSON(a.stdout, res)
		}
		return writeForgotten(a.stdout, res, o)
	})
	return cmd
}

// writeForgotten prints one line a memory, then what was done.
func writeForgotten(w io.Writer, res forget.Result, o forget.Options) error {
	var b strings.Builder
	verb := "forgot"
	if res.DryRun {
		verb = "would forget"
	}
	for _, m := range res.Forgotten {
		at := "(no time)"
		if !m.At.IsZero() {
			at = formatTime(m.At)
		}
		who := m.Speaker
		if m.Kind == forget.KindEmotion {
			who = "emotion " + m.Emotion
		}
		fmt.Fprintf(&b, "%s %s %s  %s  %s: %s\n", verb, m.Kind, m.ID, at, who, m.Preview)
	}
	for _, id := range res.Already {
		fmt.Fprintf(&b, "already forgotten: %s\n", id)
	}
	convs, emos := res.Count()
	switch {
	case len(res.Forgotten) == 0 && o.Search != "":
		fmt.Fprintf(&b, "no memory contains %q: nothing to forget\n", o.Search)
	case len(res.Forgotten) == 0:
		b.WriteString("nothing to forget\n")
	case res.DryRun:
		fmt.Fprintf(&b, "%s would be forgotten (dry run: nothing changed)\n", memoriesCount(convs, emos))
	default:
		fmt.Fprintf(&b, "%s forgotten (reason: %s)\n", memoriesCount(convs, emos), o.Reason)
	}
	switch {
	case res.Scrubbed > 0 && res.DryRun:
		fmt.Fprintf(&b, "%d daily updates and journal entries quote them: the quotes would become [forgotten]\n", res.Scrubbed)
	case res.Scrubbed > 0:
		fmt.Fprintf(&b, "%d daily updates and journal entries quoted them: the quotes are now [forgotten]\n", res.Scrubbed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func memoriesCount(convs, emos int) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	return fmt.Sprintf("%s (%s, %s)", plural(convs+emos, "memory", "memories"),
		plural(convs, "conversation message", "conversation messages"), plural(emos, "emotion", "emotions"))
}

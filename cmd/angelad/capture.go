package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/angela-ai/angelad/internal/capture"
	"github.com/angela-ai/angelad/internal/logging"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
)

func (a *app) importCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import PATH... [--json]",
		Short: "Store the conversations of transcript files now, without the daemon",
		Long: `Read transcript files (or directories of them: every *.jsonl below, at any depth)
and store their speech lines, as the daemon's conversation worker does. It shares
the daemon's offsets: what either already read is not read again, and a message
already stored is never stored twice, so import and the daemon may run in any order.

Every line is cleaned as the daemon cleans it (README: Privacy): secrets are
replaced by [redacted:KIND] markers in everyone's words, <private> passages are
removed from David's, and a line of his that is nothing but private passages is
not stored.

It prints the files, lines read, messages stored, messages already present, the
lines skipped (malformed JSON, over 16 MiB, refused by the database, Claude Code's
own API error messages, texts without a visible character, all private), the
messages whose time was before 1970 or more than a day ahead, stored with the
time they were read, and the messages stored redacted, with the secrets by kind.
On a terminal it shows a progress bar.`,
		Example: `  angelad import ~/.claude/projects
  angelad import old-laptop/session.jsonl --json`,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("import needs at least one PATH, a transcript file or a directory (see 'angelad import --help')")
		}
		files, err := capture.FindTranscripts(args)
		if err != nil {
			var pe *capture.PathError
			if errors.As(err, &pe) {
				return usageError{err}
			}
			return err
		}
		var total int64
		for _, f := range files {
			total += f.Size
		}
		progress := func(int64) {}
		var bar *progressbar.ProgressBar
		if isTerminal(a.stderr) && total > 0 {
			bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(a.stderr), progressbar.OptionShowBytes(true),
				progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(), progressbar.OptionSetRenderBlankState(true))
			progress = func(n int64) { _ = bar.Add64(n) }
		}
		// Skipped lines are reported on stderr, one line each with file and line.
		log, err := logging.New(logging.Options{Level: "warn", Format: "console"}, a.stderr)
		if err != nil {
			return err
		}
		defer log.Close()
		r, err := a.redactor(a.warnings())
		if err != nil {
			return err
		}
		c := &capture.Capture{Log: log.Zap().Named("import"), IncludeSidechains: a.cfg.Conversation.IncludeSidechains, Now: time.Now,
			Redactor: r}
		var res capture.ImportResult
		var indexErr error
		err = a.withConn(ctx, func(conn *pgx.Conn) error {
			db, n, closeDB := a.importWriter(ctx, conn, len(files))
			defer closeDB()
			res, err = c.Import(ctx, db, n, files, progress)
			if err == nil {
				// Index what is pending (these messages, and any other), so
				// that a search finds them by their words with no daemon.
				indexErr = indexPending(ctx, conn)
			}
			return err
		})
		if bar != nil {
			_ = bar.Finish()
		}
		if err != nil {
			return err
		}
		for _, u := range res.Unreadable {
			fmt.Fprintln(a.stderr, "angelad: cannot read "+u)
		}
		if asJSON {
			err = writeJSON(a.stdout, res)
		} else {
			_, err = fmt.Fprintf(a.stdout, "files:            %d\nlines read:       %d\nmessages stored:  %d\nalready present:  %d\n"+
				"skipped:          %d (malformed %d, too large %d, refused by the database %d, API errors %d, invisible %d, all private %d)\n"+
				"times replaced:   %d (before 1970 or more than a day ahead: stored with the time read)\n"+
				"redacted:         %d (secrets redacted or <private> passages removed; secrets: %s)\n",
				res.Files, res.Lines, res.Stored, res.Present, res.Skipped(),
				res.Malformed, res.TooLarge, res.Refused, res.APIErrors, res.Invisible, res.Private, res.TimesReplaced,
				res.Redacted, res.Secrets)
		}
		if err == nil && indexErr != nil {
			return fmt.Errorf("the messages are stored, but indexing them for search failed (the daemon or the next search indexes them): %w", indexErr)
		}
		if err == nil && len(res.Unreadable) > 0 {
			return silentError{fmt.Errorf("%d transcripts could not be read", len(res.Unreadable))}
		}
		return err
	})
	return cmd
}

// indexPending indexes every memory not indexed yet for retrieval.
func indexPending(ctx context.Context, conn *pgx.Conn) error {
	for {
		res, err := memory.IndexPending(ctx, conn, memory.MaxIndexBatch)
		if err != nil || !res.More {
			return err
		}
	}
}

// importWriter returns what import writes through, and how many transcripts
// it reads at once: a small pool, one connection a file read side by side
// (see capture.Ingesters), when there are several files; conn otherwise.
func (a *app) importWriter(ctx context.Context, conn *pgx.Conn, files int) (db postgres.DB, n int, closeDB func()) {
	n = min(capture.Ingesters(nil), files)
	if n <= 1 {
		return conn, 1, func() {}
	}
	pool, err := postgres.NewPool(ctx, a.connString(), a.cfg.TimeZone, postgres.PoolOptions{MaxConns: int32(n), Pooler: postgres.Pooler(a.cfg.Pooler())})
	if err != nil {
		// The pool connects lazily, so this is only a connection string it
		// cannot use: read one file at a time on conn, which connected.
		return conn, 1, func() {}
	}
	return pool, n, pool.Close
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) auditCommand() *cobra.Command {
	var (
		asJSON bool
		since  string
	)
	cmd := &cobra.Command{
		Use:   "audit [PATH...] [--since 7d] [--json]",
		Short: "Report every speech line of the transcripts that is not in the database",
		Long: `Read the watched transcripts (conversation.transcripts), or the given files and
directories, from their start, and report every speech line said in the window
that is not stored (file, line, session), every line it could not read (file,
line, why: speech in it can be neither stored nor checked), then each session in
the window with its counts. Lines the capture skips on purpose (Claude Code's own
API error messages, texts without a visible character, David's lines that are
nothing but <private> passages) are counted as skipped, never missing. Lines
stored with secrets redacted or private passages removed are counted as redacted
and found by their id, so they are never missing for holding less than the
transcript; what the report shows of a line is what the capture would store.
Exit 0 when nothing is missing and every line was read, 1 otherwise.

A transcript last written before the window is not read. The window reaches back
to 1970-01-01 at the furthest.`,
		Example: `  angelad audit
  angelad audit --since 30d --json
  angelad audit ~/.claude/projects/-home-david-angela`,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&since, "since", "7d", "the window: days (7d), or a duration such as 12h or 90m")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		now := time.Now()
		window, err := parseWindow(since, now)
		if err != nil {
			return err
		}
		var files []capture.Transcript
		if len(args) > 0 {
			files, err = capture.FindTranscripts(args)
			var pe *capture.PathError
			if errors.As(err, &pe) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
		} else {
			patterns, err := capture.ExpandPatterns(a.cfg.Conversation.Transcripts)
			if err != nil {
				return usageError{err}
			}
			files = capture.GlobTranscripts(patterns)
		}
		r, err := a.redactor(a.warnings())
		if err != nil {
			return err
		}
		// Lines are judged as the capture judges them, so with its rules.
		c := &capture.Capture{IncludeSidechains: a.cfg.Conversation.IncludeSidechains, Now: time.Now, Redactor: r}
		var rep capture.AuditReport
		err = a.withConn(ctx, func(conn *pgx.Conn) error {
			rep, err = c.Audit(ctx, conn, files, now.Add(-window))
			return err
		})
		if err != nil {
			return err
		}
		loc := a.cfg.Location()
		rep.Since = rep.Since.In(loc)
		for i := range rep.Missing {
			rep.Missing[i].CreatedAt = rep.Missing[i].CreatedAt.In(loc)
		}
		for i := range rep.Sessions {
			rep.Sessions[i].First, rep.Sessions[i].Last = rep.Sessions[i].First.In(loc), rep.Sessions[i].Last.In(loc)
		}
		if asJSON {
			err = writeJSON(a.stdout, rep)
		} else {
			err = writeAudit(a.stdout, rep, since)
		}
		if err != nil {
			return err
		}
		for _, u := range rep.Unreadable {
			fmt.Fprintln(a.stderr, "angelad: cannot read "+u)
		}
		if len(rep.Missing) > 0 || len(rep.Unreadable) > 0 || len(rep.UnreadableLines) > 0 {
			return silentError{fmt.Errorf("%d speech lines missing, %d lines unreadable", len(rep.Missing), len(rep.UnreadableLines))}
		}
		return nil
	})
	return cmd
}

// parseWindow reads --since: a number of days ("7d") or a Go duration,
// reaching back from now no further than 1970-01-01: no transcript, and no
// time the capture stores, is older.
func parseWindow(s string, now time.Time) (time.Duration, error) {
	longest := now.Sub(time.Unix(0, 0))
	maxDays := int(longest / (24 * time.Hour))
	bad := usagef(`invalid --since: must be a positive number of days such as 7d, or a duration such as 12h or 90m, got %q`, s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, bad
		}
		if n > maxDays {
			return 0, usagef(`invalid --since: must reach back no further than 1970-01-01, at most %dd, got %q`, maxDays, s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, bad
		}
	}
	if d > longest {
		return 0, usagef(`invalid --since: must reach back no further than 1970-01-01, at most %dd, got %q`, maxDays, s)
	}
	return d, nil
}

func writeAudit(w io.Writer, rep capture.AuditReport, since string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d transcripts since %s (%s): %d speech lines, %d stored, %d missing",
		rep.Transcripts, formatTime(rep.Since), since, rep.Speech, rep.Stored, len(rep.Missing))
	if n := len(rep.UnreadableLines); n > 0 {
		fmt.Fprintf(&b, ", %d %s unreadable (speech in %s cannot be checked)", n, plural(n, "line", "lines"), plural(n, "it", "them"))
	}
	b.WriteString("\n")
	if rep.APIErrors > 0 || rep.Invisible > 0 || rep.Private > 0 {
		fmt.Fprintf(&b, "skipped as the capture skips them: %d API error %s written by Claude Code, %d without a visible character, %d all <private>\n",
			rep.APIErrors, plural(rep.APIErrors, "message", "messages"), rep.Invisible, rep.Private)
	}
	if rep.Redacted > 0 {
		fmt.Fprintf(&b, "redacted: %d speech %s kept with secrets redacted or <private> passages removed\n",
			rep.Redacted, plural(rep.Redacted, "line", "lines"))
	}
	if len(rep.Missing) > 0 {
		b.WriteString("\nmissing:\n")
		for _, m := range rep.Missing {
			fmt.Fprintf(&b, "  %s:%d  session %s  %s  %s: %s\n", m.File, m.Line, m.SessionID, formatTime(m.CreatedAt), m.Speaker, m.Preview)
		}
	}
	if len(rep.UnreadableLines) > 0 {
		b.WriteString("\nunreadable:\n")
		for _, u := range rep.UnreadableLines {
			fmt.Fprintf(&b, "  %s:%d  %s\n", u.File, u.Line, u.Problem)
		}
	}
	if len(rep.Sessions) > 0 {
		b.WriteString("\nsessions:\n")
		for _, s := range rep.Sessions {
			fmt.Fprintf(&b, "  %s  %s .. %s  %d speech lines, %d stored, %d missing\n",
				s.SessionID, formatTime(s.First), formatTime(s.Last), s.Speech, s.Stored, s.Missing)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

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

It prints the files, lines read, messages stored, messages already present and the
lines skipped (malformed JSON, or over 16 MiB). On a terminal it shows a progress bar.`,
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
		c := &capture.Capture{Log: log.Zap().Named("import"), IncludeSidechains: a.cfg.Conversation.IncludeSidechains, Now: time.Now}
		var res capture.ImportResult
		err = a.withConn(ctx, func(conn *pgx.Conn) error {
			db, n, closeDB := a.importWriter(ctx, conn, len(files))
			defer closeDB()
			res, err = c.Import(ctx, db, n, files, progress)
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
			_, err = fmt.Fprintf(a.stdout, "files:            %d\nlines read:       %d\nmessages stored:  %d\nalready present:  %d\nskipped:          %d (malformed %d, too large %d, refused by the database %d)\n",
				res.Files, res.Lines, res.Stored, res.Present, res.Malformed+res.TooLarge+res.Refused,
				res.Malformed, res.TooLarge, res.Refused)
		}
		if err == nil && len(res.Unreadable) > 0 {
			return silentError{fmt.Errorf("%d transcripts could not be read", len(res.Unreadable))}
		}
		return err
	})
	return cmd
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
that is not stored (file, line, session), then each session in the window with its
counts. Exit 0 when nothing is missing, 1 otherwise.

A transcript last written before the window is not read.`,
		Example: `  angelad audit
  angelad audit --since 30d --json
  angelad audit ~/.claude/projects/-home-david-angela`,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&since, "since", "7d", "the window: days (7d), or a duration such as 12h or 90m")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		window, err := parseWindow(since)
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
		now := time.Now()
		var rep capture.AuditReport
		err = a.withConn(ctx, func(conn *pgx.Conn) error {
			rep, err = capture.Audit(ctx, conn, files, now.Add(-window), a.cfg.Conversation.IncludeSidechains, time.Now)
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
		if len(rep.Missing) > 0 || len(rep.Unreadable) > 0 {
			return silentError{fmt.Errorf("%d speech lines missing", len(rep.Missing))}
		}
		return nil
	})
	return cmd
}

// parseWindow reads --since: a number of days ("7d") or a Go duration.
func parseWindow(s string) (time.Duration, error) {
	bad := usagef(`invalid --since: must be a positive number of days such as 7d, or a duration such as 12h or 90m, got %q`, s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100000 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

func writeAudit(w io.Writer, rep capture.AuditReport, since string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d transcripts since %s (%s): %d speech lines, %d stored, %d missing\n",
		rep.Transcripts, formatTime(rep.Since), since, rep.Speech, rep.Stored, len(rep.Missing))
	if len(rep.Missing) > 0 {
		b.WriteString("\nmissing:\n")
		for _, m := range rep.Missing {
			fmt.Fprintf(&b, "  %s:%d  session %s  %s  %s: %s\n", m.File, m.Line, m.SessionID, formatTime(m.CreatedAt), m.Speaker, m.Preview)
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

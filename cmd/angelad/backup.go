package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/backup"
)

func (a *app) exportCommand() *cobra.Command {
	var since string
	cmd := &cobra.Command{
		Use:   "export [--since D] > memory.jsonl",
		Short: "Write the whole memory to standard output, as JSON lines",
		Long: `Write every memory to standard output as versioned JSON lines, from one snapshot:
conversations, emotions, the journal, the daily updates and their ledger, the
retention state and the tombstones of forgotten memories, every column (an adopted
database's legacy columns too) except the search data, which an import recomputes.
The first line is a header (format and schema version, tables, columns, row counts),
the last a trailer with the rows' SHA-256: a file cut short has no trailer, and
import-memory refuses it.

--since keeps the rows made from that date (YYYY-MM-DD in the configured time zone)
or time (RFC 3339) on. On a terminal it shows a progress bar on standard error.`,
		Example: `  angelad export > memory.jsonl
  angelad export | gzip > "angela-$(date +%F).jsonl.gz"
  angelad export --since 2026-03-01 > march.jsonl`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&since, "since", "", "only rows from this date (YYYY-MM-DD) or RFC 3339 time on")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := refuseEmpty(cmd, "since"); err != nil {
			return err
		}
		o := backup.ExportOptions{Location: a.cfg.Location(), Now: time.Now(), Angelad: versionString()}
		if since != "" {
			t, err := parseSince(since, a.cfg.Location())
			if err != nil {
				return err
			}
			o.Since = t
		}
		if isTerminal(a.stdout) {
			return usagef("export writes JSON lines to standard output: send them to a file (angelad export > memory.jsonl) or a program (angelad export | gzip > memory.jsonl.gz)")
		}
		var bar *progressbar.ProgressBar
		if isTerminal(a.stderr) {
			o.Progress = func(done, total int64) {
				if bar == nil {
					bar = a.progressBar("exporting", total, false)
				}
				_ = bar.Set64(done)
			}
		}
		conn, err := a.connectMigrated(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		h, err := backup.Export(ctx, conn, a.stdout, o)
		if bar != nil {
			_ = bar.Finish()
		}
		if err != nil {
			return err
		}
		var rows int64
		for _, t := range h.Tables {
			rows += t.Rows
		}
		if isTerminal(a.stderr) {
			fmt.Fprintf(a.stderr, "angelad: exported %d rows of %d tables\n", rows, len(h.Tables))
		}
		return nil
	})
	return cmd
}

func (a *app) importMemoryCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import-memory FILE [--json]",
		Short: "Load a file that export wrote into this database",
		Long: `Load an export (gzipped or not) into this database. The file is read twice: first
it is verified whole (header, every line, row counts, checksum) and nothing is written
unless it is sound; then its rows are stored in batches of one transaction each.

A row is stored only when its key (a memory's id) is new and not forgotten, so an
import run twice stores everything once, and an import that was interrupted is
finished by running it again. Rows already here are left as they are. The file's
tombstones are applied: a memory they name is deleted here too. A column the file
has and this database lacks is added, and a NOT NULL that a null of the file would
break is dropped (both said on stderr). A row this database's constraints refuse
(such as a second journal entry for one date) is named on stderr and left out, and
the command exits 1 after storing the others. A file from a newer angelad, cut short
or altered is refused with one line (exit 2).`,
		Example: `  angelad import-memory memory.jsonl
  angelad import-memory angela-2026-03-01.jsonl.gz --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("import-memory takes one FILE, an export, got %d arguments (see 'angelad import-memory --help')", len(args))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		var (
			bar  *progressbar.ProgressBar
			pass string
		)
		o := backup.ImportOptions{
			Note: func(msg string) { a.noteAboveBar(bar, "angelad: note: "+msg) },
		}
		if isTerminal(a.stderr) {
			o.Progress = func(p string, done, total int64) {
				if p != pass && bar != nil {
					_ = bar.Finish()
					bar = nil
				}
				if bar == nil {
					bar, pass = a.progressBar(p, total, true), p
				}
				_ = bar.Set64(done)
			}
		}
		conn, err := a.connectMigrated(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		res, err := backup.Import(ctx, conn, args[0], o)
		if bar != nil {
			_ = bar.Finish()
		}
		var fe *backup.FileError
		if errors.As(err, &fe) {
			return usageError{err}
		}
		if err != nil {
			return err
		}
		if asJSON {
			err = writeJSON(a.stdout, res)
		} else {
			err = writeImport(a.stdout, res)
		}
		if err == nil && len(res.Refused) > 0 {
			return silentError{fmt.Errorf("%d rows refused", len(res.Refused))}
		}
		return err
	})
	return cmd
}

// progressBar is a progress bar on stderr, which must be a terminal.
func (a *app) progressBar(desc string, total int64, bytes bool) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(a.stderr), progressbar.OptionShowBytes(bytes),
		progressbar.OptionShowCount(), progressbar.OptionSetDescription(desc), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetRenderBlankState(true))
}

// noteAboveBar writes a line on stderr, clearing the progress bar first so
// that the two do not mix.
func (a *app) noteAboveBar(bar *progressbar.ProgressBar, line string) {
	if bar != nil {
		_ = bar.Clear()
	}
	fmt.Fprintln(a.stderr, line)
}

func writeImport(w io.Writer, res backup.ImportResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %9s %9s %9s %9s\n", "table", "rows", "stored", "skipped", "refused")
	for _, t := range res.Tables {
		fmt.Fprintf(&b, "%-20s %9d %9d %9d %9d\n", t.Name, t.Rows, t.Stored, t.Skipped, t.Refused)
	}
	b.WriteString("(skipped: already here, or forgotten)\n")
	if res.Purged > 0 {
		fmt.Fprintf(&b, "memories forgotten here by the file's tombstones: %d\n", res.Purged)
	}
	for _, c := range res.SchemaChanges {
		fmt.Fprintf(&b, "schema: %s\n", c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

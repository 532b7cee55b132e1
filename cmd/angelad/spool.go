package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/logging"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// noSpoolUsage is the help of the save commands' --no-spool.
const noSpoolUsage = "when the database cannot be reached, fail (exit 1) instead of spooling the record for the daemon"

// warnSpooled says on stderr in one line that a save was spooled, why, and
// that the daemon will store it.
func (a *app) warnSpooled(sp *access.Spooled) {
	fmt.Fprintf(a.stderr, "angelad: warning: %s %s not saved now (%s); spooled in %s: the daemon stores it once the database is reachable (or run angelad spool drain)\n",
		sp.Kind, sp.ID, sp.Reason, sp.Dir)
}

func (a *app) spoolCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "spool [--json]",
		Short: "List the saves waiting in the spool for the database",
		Long: `List the saves that save-emotion and save-conversation could not write because
the database was unreachable, oldest first, with why; and the records the
database refused for good, kept in spool/rejected with their errors (move one
back into the spool directory to retry it once the cause is fixed). The daemon
stores the waiting ones as soon as the database is reachable; "angelad spool
drain" stores them without the daemon. Reads the spool directory only: needs no
database.`,
		Example: `  angelad spool
  angelad spool --json | jq '.waiting | length'
  angelad spool drain`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		sp := spool.New(a.cfg.StateDir, nil)
		waiting, rejected, err := sp.List()
		if err != nil {
			return err
		}
		loc := a.cfg.Location()
		for _, l := range [][]spool.Entry{waiting, rejected} {
			for i := range l {
				l[i].SpooledAt = l[i].SpooledAt.In(loc)
				if !l[i].RejectedAt.IsZero() {
					l[i].RejectedAt = l[i].RejectedAt.In(loc)
				}
			}
		}
		if asJSON {
			return writeJSON(a.stdout, struct {
				Dir      string        `json:"dir"`
				Waiting  []spool.Entry `json:"waiting"`
				Rejected []spool.Entry `json:"rejected"`
			}{sp.Dir(), waiting, rejected})
		}
		var b strings.Builder
		if len(waiting) == 0 {
			fmt.Fprintf(&b, "no saves waiting in %s\n", sp.Dir())
		} else {
			fmt.Fprintf(&b, "%d waiting in %s, oldest first:\n", len(waiting), sp.Dir())
			tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
			for _, e := range waiting {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", formatTime(e.SpooledAt), e.Kind, e.ID, text.Preview(e.Reason, 120))
			}
			tw.Flush()
		}
		if len(rejected) > 0 {
			fmt.Fprintf(&b, "%d rejected for good in %s (kept; remove them once dealt with):\n", len(rejected), sp.RejectedDir())
			tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
			for _, e := range rejected {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", formatTime(e.SpooledAt), e.Kind, e.ID, text.Preview(e.Error, 120))
			}
			tw.Flush()
		}
		_, err = fmt.Fprint(a.stdout, b.String())
		return err
	})
	cmd.AddCommand(a.spoolDrainCommand())
	return cmd
}

func (a *app) spoolDrainCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "drain [--json]",
		Short: "Store the waiting saves now, without the daemon",
		Long: `Store every save waiting in the spool, oldest first, in one pass: the same code
the daemon runs. Each record is stored once whatever happens (its id is its
idempotency key) and its file removed after the commit; a record the database
refuses for good moves to spool/rejected with its error, and is logged. Each
record's texts are cleaned first, as a save's are (secrets redacted, <private>
passages removed: a record spooled by an older angelad may hold them); one
that is nothing but private passages is removed without storing it. Safe to
run while the daemon runs. Exit 1 if the database cannot be reached; the records
stay.`,
		Example: `  angelad spool drain
  angelad spool drain --json`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		sp := spool.New(a.cfg.StateDir, nil)
		res, err := a.drainSpool(ctx, sp)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(a.stdout, res)
		}
		skipped := ""
		if res.Skipped > 0 {
			skipped = fmt.Sprintf(", skipped %d (nothing but <private> passages)", res.Skipped)
		}
		_, err = fmt.Fprintf(a.stdout, "stored %d, rejected %d%s, left %d\n", res.Applied, res.Rejected, skipped, res.Left)
		return err
	})
	return cmd
}

// drainSpool makes one drain pass. An empty spool needs no database.
func (a *app) drainSpool(ctx context.Context, sp *spool.Spool) (spool.Result, error) {
	b, err := sp.Backlog()
	if err != nil || b.Count == 0 {
		return spool.Result{}, err
	}
	log, err := logging.New(a.logOptions(a.cfg), a.stderr)
	if err != nil {
		return spool.Result{}, err
	}
	defer log.Close()
	conn, err := a.connectMigrated(ctx)
	if err != nil {
		return spool.Result{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	r, err := a.redactor(log.Zap())
	if err != nil {
		return spool.Result{}, err
	}
	res, err := spool.DrainStores(ctx, conn, sp, spool.DrainOptions{Log: log.Zap().Named("spool"), Redactor: r})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return res, err
		}
		return res, fmt.Errorf("stored %d, rejected %d, then stopped: %w", res.Applied, res.Rejected, err)
	}
	return res, nil
}

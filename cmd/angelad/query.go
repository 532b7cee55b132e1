package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/query"
)

func (a *app) queryCommand() *cobra.Command {
	var (
		write, asJSON, asCSV bool
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "query SQL [PARAM...]",
		Short: "Run one SQL statement with bound parameters",
		Long: `Run one SQL statement against the memory database. $1, $2, ... in SQL are bound
to the PARAMs (never interpolated into the text), their types inferred by the
server. The statement runs in a READ ONLY transaction under a statement timeout
(query_timeout, 30s by default); --write runs it read-write and commits.

Output is an aligned table, or --json (an array of objects, values typed) or
--csv (with a header row). --json and --csv print each row as it arrives, so a
result of any size passes through in little memory; the table sizes its columns
from the first 1000 rows. If the statement fails part way, the rows already
printed stay and the exit code is 1 (--json then leaves the array unclosed).

Ctrl-C (SIGINT) or SIGTERM cancels the statement on the server, rolls back, and
exits 130 or 143.`,
		Example: `  angelad query 'SELECT * FROM conversations WHERE speaker = $1 ORDER BY created_at DESC LIMIT $2' david 10
  angelad query --json 'SELECT emotion, count(*) FROM angela_emotions GROUP BY 1 ORDER BY 2 DESC'
  angelad query --write 'DELETE FROM conversations WHERE conversation_id = $1' 0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("query needs one SQL statement, then its parameters (see 'angelad query --help')")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&write, "write", false, "allow the statement to change data, and commit")
	fs.BoolVar(&asJSON, "json", false, "print rows as a JSON array of objects")
	fs.BoolVar(&asCSV, "csv", false, "print rows as CSV with a header row")
	fs.DurationVar(&timeout, "timeout", 0, "statement timeout (default: query_timeout, 30s)")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		if asJSON && asCSV {
			return usagef("give --json or --csv, not both")
		}
		if t := a.cfg.QueryTimeout; t > query.MaxTimeout {
			return usagef("invalid query_timeout (%s): must be at most %s, the longest statement timeout PostgreSQL accepts, got %s",
				a.cfg.Sources["query_timeout"], query.MaxTimeout, t)
		}
		// No migration on a missing table here, unlike the other commands: a
		// typo in a read-only query must never change the schema.
		conn, err := a.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var sink query.Sink
		switch {
		case asJSON:
			sink = query.NewJSONSink(a.stdout)
		case asCSV:
			sink = query.NewCSVSink(a.stdout)
		default:
			sink = query.NewTableSink(a.stdout)
		}
		return query.Stream(ctx, conn, query.Options{
			SQL: args[0], Args: args[1:], Write: write, Timeout: a.cfg.QueryTimeout,
		}, sink)
	})
	return cmd
}

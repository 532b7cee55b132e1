package main

import (
	"context"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/logging"
)

func (a *app) runCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground until SIGINT or SIGTERM. With no database
configured it creates the managed local PostgreSQL in the state directory on first
use, starts it (and stops it again on exit if it started it), applies migrations,
and logs that it is ready. Logs go to standard error: a readable format on a
terminal, JSON lines otherwise.`,
		Example: `  angelad run
  ANGELA_STATE_DIR=/tmp/angela angelad run --log-level debug
  angelad run --database-url postgres://david@localhost/AngelaMemory`,
		Args: noArgs,
	}
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		log, err := logging.New(logging.Options{Level: a.cfg.LogLevel, Format: a.cfg.LogFormat}, a.stderr)
		if err != nil {
			return usagef("%v", err)
		}
		defer log.Sync()
		err = daemon.New(a.cfg, log.Named("daemon"), versionString()).Run(ctx)
		if err != nil {
			// The log is where a daemon's failure is read; say it there, once.
			log.Error("stopped", zap.Error(err))
			return loggedError{err}
		}
		return nil
	})
	return cmd
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/capture"
	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/dailyupdate"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/logging"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/service"
	"github.com/angela-ai/angelad/internal/socket"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
	"github.com/angela-ai/angelad/internal/web"
)

func (a *app) runCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground until SIGINT or SIGTERM. With no database
configured it creates the managed local PostgreSQL in the state directory on first
use, starts it (and stops it again on exit if it started it), applies migrations,
and logs that it is ready. If the database is not up yet it waits for it, retrying
with backoff. One daemon runs per state directory.

SIGTERM or SIGINT stops it: workers get shutdown_timeout to return, then the pool
closes; a second signal exits at once. SIGHUP reopens the log file and reloads
log.level from the config file.

Logs go to log.file when set (rotated by size), otherwise to standard error: a
readable format on a terminal, JSON lines otherwise.`,
		Example: `  angelad run
  ANGELA_STATE_DIR=/tmp/angela angelad run --log-level debug
  angelad run --database-url postgres://david@localhost/AngelaMemory --log-file /var/log/angelad/angelad.log`,
		Args: noArgs,
	}
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		log, err := logging.New(a.logOptions(a.cfg), a.stderr)
		if err != nil {
			return err
		}
		defer log.Close()

		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
		done := make(chan struct{})
		defer close(done)
		go a.handleSignals(sigs, cmd, log, cancel, os.Exit, done)

		o := daemon.Options{
			Config:  a.cfg,
			Log:     log.Zap().Named("daemon"),
			Version: versionString(),
			Notify: func(state string) {
				if _, err := service.Notify(state); err != nil {
					log.Warn("cannot notify the service manager", zap.String("state", state), zap.Error(err))
				}
			},
		}
		if d, ok := service.WatchdogInterval(); ok {
			o.Watchdog = d
		}
		// One Redactor for every way text enters the daemon: the capture,
		// the socket's saves and the spool's drain.
		r, err := a.redactor(log.Zap())
		if err != nil {
			return err
		}
		// One copy of the vectors in memory, kept current by the embedding
		// worker and read by the socket's questions.
		searcher, err := embedding.NewSearcher(a.cfg.Embedding, log.Zap().Named("embedding"))
		if err != nil {
			return err
		}
		defer searcher.Close()
		d := daemon.New(o)
		d.Register("conversation", capture.WorkerFactory(a.cfg.Conversation, r))
		d.Register("dailyupdate", dailyupdate.WorkerFactory(a.cfg.DailyUpdate, a.cfg.Companion))
		d.Register("socket", socket.WorkerFactory(r, searcher))
		d.Register("memory", memory.WorkerFactory(a.cfg.Memory))
		d.Register("spool", spool.WorkerFactory(r))
		embedding.Register(d, a.cfg.Embedding, searcher)
		d.Register("index", memory.IndexWorkerFactory())
		web.Register(d, a.cfg.Web, a.cfg.Memory, searcher)
		if err := d.Run(ctx); err != nil {
			// The log is where a daemon's failure is read; say it there, once,
			// and on stderr too when the log is a file, so whoever started the
			// daemon by hand sees why it stopped.
			log.Error("stopped", zap.Error(err))
			if a.cfg.LogFile != "" {
				fmt.Fprintln(a.stderr, "angelad: "+text.OneLine(err.Error()))
			}
			return loggedError{err}
		}
		log.Info("stopped")
		return nil
	})
	return cmd
}

func (a *app) logOptions(c *config.Config) logging.Options {
	return logging.Options{Level: c.LogLevel, Format: c.LogFormat, File: c.LogFile, MaxSizeMB: c.LogMaxSizeMB, MaxFiles: c.LogMaxFiles}
}

// handleSignals turns the first SIGINT or SIGTERM into a shutdown (cancel),
// a second one into an immediate exit, and SIGHUP into reopening the log file
// and reloading the log level from the config file.
func (a *app) handleSignals(sigs <-chan os.Signal, cmd *cobra.Command, log *logging.Logger, cancel context.CancelFunc, exit func(int), done <-chan struct{}) {
	stops := 0
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				stops++
				if stops > 1 {
					log.Warn("second signal: exiting now", zap.String("signal", sig.String()))
					log.Close()
					exit(exitRuntime)
					return
				}
				log.Info("signal received, shutting down", zap.String("signal", sig.String()))
				cancel()
				continue
			}
			if err := log.Reopen(); err != nil {
				log.Error("cannot reopen the log file", zap.Error(err))
			}
			// Only the log level is reloaded; the rest applies at the next start.
			reloaded, err := a.readConfig(cmd)
			if err != nil {
				log.Error("cannot reload the configuration; keeping the running one", zap.Error(err))
				continue
			}
			if err := log.SetLevel(reloaded.LogLevel); err != nil {
				log.Error("cannot set the log level", zap.Error(err))
				continue
			}
			log.Info("reopened the log and reloaded the log level", zap.String("log_level", reloaded.LogLevel))
		}
	}
}

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/logging"
	"github.com/angela-ai/angelad/internal/service"
)

func (a *app) logsCommand() *cobra.Command {
	var (
		follow bool
		user   bool
	)
	cmd := &cobra.Command{
		Use:   "logs [-f] [-n 100] [--user]",
		Short: "Print or follow the daemon's log",
		Long: `Print the last lines of the daemon's log, and with -f follow it (through
rotations) until Ctrl-C. The log is log.file when set (on macOS the LaunchAgent's
~/Library/Logs/angelad/angelad.log); otherwise, under systemd, this runs
journalctl -u angelad (--user for the user unit).`,
		Example: `  angelad logs -n 50
  angelad logs -f | jq -r 'select(.level != "debug") | .msg'
  angelad logs -f --user`,
		Args: noArgs,
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	lines := 100
	n := &lines
	cmd.Flags().VarP(&intFlag{v: n, min: 0, max: 1000000}, "lines", "n", "how many of the last lines to print")
	cmd.Flags().BoolVar(&user, "user", false, "the systemd user unit's journal")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if *n < 0 {
			return usagef("invalid --lines: must be an integer from 0 to 1000000")
		}
		path := a.cfg.LogFile
		if path == "" && runtime.GOOS == "darwin" {
			if home, err := os.UserHomeDir(); err == nil {
				if p := service.LaunchAgentLogFile(home); fileExists(p) {
					path = p
				}
			}
		}
		if path != "" {
			if follow {
				err := logging.Follow(ctx, a.stdout, path, *n)
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
			return logging.Tail(a.stdout, path, *n)
		}
		journalctl, err := exec.LookPath("journalctl")
		if err != nil || !fileExists("/run/systemd/system") {
			return errors.New("no log to show: log.file is not set and there is no systemd journal; the daemon logs to the standard error of whatever runs it")
		}
		c := exec.CommandContext(ctx, journalctl, logging.JournalctlArgs("angelad", user, *n, follow)...)
		c.Stdout, c.Stderr = a.stdout, a.stderr
		if err := c.Run(); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
	return cmd
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

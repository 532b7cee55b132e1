package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/service"
	"github.com/angela-ai/angelad/internal/spool"
)

// serviceOptions reads the flags every service command shares.
func (a *app) serviceOptions(cmd *cobra.Command) service.Options {
	user, _ := cmd.Flags().GetBool("user")
	// macOS has LaunchAgents only; a system-wide unit is a Linux thing.
	return service.Options{User: user || runtime.GOOS == "darwin", ConfigPath: a.configFile}
}

func addUserFlag(cmd *cobra.Command) {
	cmd.Flags().Bool("user", false, "the per-user service (systemd --user); on macOS always the LaunchAgent")
}

func (a *app) installCommand() *cobra.Command {
	var print bool
	cmd := &cobra.Command{
		Use:   "install [--user] [--config PATH] [--print]",
		Short: "Install angelad as a systemd or launchd service",
		Long: `Install angelad as a service that starts at boot (systemd system unit, as the
dedicated user angelad, created if missing), or at login with --user (a systemd
user unit on Linux; a LaunchAgent on macOS). The service runs "angelad run",
with --config PATH when given. The unit and plist come from deploy/; --print
shows the file that would be installed and installs nothing.`,
		Example: `  sudo angelad install --config /etc/angelad/config.toml && sudo angelad start
  angelad install --user && angelad start --user
  angelad install --user --print`,
		Args: noArgs,
	}
	addUserFlag(cmd)
	cmd.Flags().BoolVar(&print, "print", false, "print the unit or plist instead of installing it")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		o := a.serviceOptions(cmd)
		if print {
			_, content, err := service.Render(runtime.GOOS, o)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(content)
			return err
		}
		if err := a.control(o, "install"); err != nil {
			return err
		}
		path, _ := service.UnitPath(runtime.GOOS, o)
		start := "angelad start"
		if o.User {
			start += " --user"
		}
		_, err := fmt.Fprintf(a.stdout, "installed %s; start it with: %s\n", path, start)
		return err
	})
	return cmd
}

// controlCommand builds uninstall, start, stop and restart.
func (a *app) controlCommand(action, short, example string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     action + " [--user]",
		Short:   short,
		Example: example,
		Args:    noArgs,
	}
	addUserFlag(cmd)
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := a.control(a.serviceOptions(cmd), action); err != nil {
			return err
		}
		_, err := fmt.Fprintf(a.stdout, "%s: done\n", action)
		return err
	})
	return cmd
}

func (a *app) control(o service.Options, action string) error {
	s, err := service.New(o)
	if err != nil {
		return err
	}
	return service.Control(s, action)
}

// statusReport is what `angelad status --json` prints.
type statusReport struct {
	Healthy bool `json:"healthy"`
	// Problem is the first of Problems, the most fundamental.
	Problem  string        `json:"problem,omitempty"`
	Problems []string      `json:"problems,omitempty"`
	Service  serviceReport `json:"service"`
	Daemon   daemonReport  `json:"daemon"`
	Spool    spoolReport   `json:"spool"`
	// Published is what the daemon last wrote to its status file.
	Published *daemon.Status `json:"published,omitempty"`
}

// spoolReport is the spool's backlog, read from its directory.
type spoolReport struct {
	Dir      string    `json:"dir"`
	Waiting  int       `json:"waiting"`
	Oldest   time.Time `json:"oldest,omitzero"`
	Rejected int       `json:"rejected"`
	Error    string    `json:"error,omitempty"`
}

type serviceReport struct {
	Installed bool   `json:"installed"`
	Running   bool   `json:"running"`
	Error     string `json:"error,omitempty"`
}

type daemonReport struct {
	Running       bool    `json:"running"`
	PID           int     `json:"pid,omitempty"`
	UptimeSeconds float64 `json:"uptime_seconds,omitempty"`
	StateDir      string  `json:"state_dir"`
}

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json] [--user]",
		Short: "Show whether the service and daemon run and are healthy",
		Long: `Show the service (installed, running), the daemon (pid, uptime), its database
(reachable, round-trip latency, server and schema version) and each worker
(running or backing off, restarts, last error), and the saves waiting in the
spool. The daemon publishes this in status.json in the state directory (mode
0600: it holds the last message captured); status reads that file and the spool
directory and never needs the database itself. A config file that holds a
password and that every user can read is warned of on stderr.

Without the database, status also checks at once that the daemon holding the lock
wrote the file, that the file is not older than two health check periods (a hung
daemon is not healthy) and, with the managed cluster, that its server is alive.

Exit code 0 when the daemon runs and is healthy, 1 when it is not running, hung,
its database or managed server is down, a worker is backing off, failed or
reports a problem, or a spooled save has waited more than 5 minutes while the
database was reachable.`,
		Example: `  angelad status
  angelad status --json | jq .published.database
  angelad status >/dev/null || angelad logs -n 50`,
		Args: noArgs,
	}
	addUserFlag(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		a.warnExposedPassword()
		r := a.status(cmd)
		if asJSON {
			if err := writeJSON(a.stdout, r); err != nil {
				return err
			}
		} else if err := writeStatus(a.stdout, r); err != nil {
			return err
		}
		if !r.Healthy {
			return silentError{errors.New("unhealthy: " + r.Problem)}
		}
		return nil
	})
	return cmd
}

// silentError is a runtime failure already reported on standard output.
type silentError struct{ err error }

func (e silentError) Error() string { return e.err.Error() }
func (e silentError) Unwrap() error { return e.err }

func (a *app) status(cmd *cobra.Command) statusReport {
	r := statusReport{Daemon: daemonReport{StateDir: a.cfg.StateDir}}
	if s, err := service.New(a.serviceOptions(cmd)); err != nil {
		r.Service.Error = err.Error()
	} else if r.Service.Installed, r.Service.Running, err = service.State(s); err != nil {
		r.Service.Error = err.Error()
	}
	o, err := daemon.Observe(a.cfg.StateDir, time.Now())
	if err != nil {
		r.Problem = err.Error()
		return r
	}
	r.Daemon.Running, r.Daemon.PID, r.Published = o.Running, max(o.PID, 0), o.Published
	sp := spool.New(a.cfg.StateDir, nil)
	r.Spool.Dir = sp.Dir()
	backlog, err := sp.Backlog()
	if err != nil {
		r.Spool.Error = err.Error()
	}
	r.Spool.Waiting, r.Spool.Oldest, r.Spool.Rejected = backlog.Count, backlog.Oldest, backlog.Rejected
	o.Spool = daemon.SpoolBacklog{Count: backlog.Count, Oldest: backlog.Oldest}
	r.Problems = daemon.Verdict(o)
	if len(r.Problems) > 0 {
		r.Problem = r.Problems[0]
	}
	if r.Daemon.Running && r.Published != nil {
		r.Daemon.UptimeSeconds = time.Since(r.Published.StartedAt).Round(time.Second).Seconds()
	}
	r.Healthy = r.Problem == ""
	return r
}

func writeStatus(w interface{ Write([]byte) (int, error) }, r statusReport) error {
	var b strings.Builder
	switch {
	case r.Service.Error != "":
		fmt.Fprintf(&b, "service:   unknown (%s)\n", r.Service.Error)
	case !r.Service.Installed:
		fmt.Fprintf(&b, "service:   not installed\n")
	default:
		fmt.Fprintf(&b, "service:   installed, %s\n", map[bool]string{true: "running", false: "not running"}[r.Service.Running])
	}
	if r.Daemon.Running {
		fmt.Fprintf(&b, "daemon:    running, pid %d", r.Daemon.PID)
		if p := r.Published; p != nil {
			fmt.Fprintf(&b, ", up %s, version %s, %s", time.Duration(r.Daemon.UptimeSeconds)*time.Second, p.Version, strings.ReplaceAll(p.State, "_", " "))
		}
		fmt.Fprintf(&b, " (state dir %s)\n", r.Daemon.StateDir)
	} else {
		fmt.Fprintf(&b, "daemon:    not running (state dir %s)\n", r.Daemon.StateDir)
	}
	if p := r.Published; p != nil && r.Daemon.Running {
		db := p.Database
		if db.Reachable {
			fmt.Fprintf(&b, "database:  reachable, %s round trip, PostgreSQL %s, schema %d, %s\n",
				db.Latency.Round(10*time.Microsecond), db.ServerVersion, db.SchemaVersion, db.Target)
		} else {
			fmt.Fprintf(&b, "database:  UNREACHABLE since %s: %s (%s)\n", db.DownSince.Format(time.RFC3339), db.LastError, db.Target)
		}
		if len(p.Workers) == 0 {
			fmt.Fprintf(&b, "workers:   none\n")
		}
		for _, wk := range p.Workers {
			fmt.Fprintf(&b, "worker:    %s %s, %d restarts", wk.Name, strings.ReplaceAll(string(wk.State), "_", " "), wk.Restarts)
			if wk.LastError != "" {
				fmt.Fprintf(&b, ", last error at %s: %s", wk.LastErrorAt.Format(time.RFC3339), wk.LastError)
			}
			b.WriteString("\n")
			if wk.Problem != "" {
				fmt.Fprintf(&b, "           problem: %s\n", wk.Problem)
			}
			for _, f := range daemon.DetailLines(wk.Detail) {
				fmt.Fprintf(&b, "           %s\n", f)
			}
		}
	}
	writeSpoolLine(&b, r.Spool, time.Now())
	if r.Healthy {
		b.WriteString("healthy\n")
	} else {
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "UNHEALTHY: %s\n", p)
		}
	}
	_, err := w.Write([]byte(b.String()))
	return err
}

// writeSpoolLine shows the spool's backlog and its oldest record.
func writeSpoolLine(b *strings.Builder, s spoolReport, now time.Time) {
	switch {
	case s.Error != "":
		fmt.Fprintf(b, "spool:     unreadable: %s\n", s.Error)
		return
	case s.Waiting == 0:
		b.WriteString("spool:     empty")
	default:
		fmt.Fprintf(b, "spool:     %d waiting, the oldest spooled %s (%s ago)", s.Waiting,
			s.Oldest.Format(time.RFC3339), now.Sub(s.Oldest).Round(time.Second))
	}
	if s.Rejected > 0 {
		fmt.Fprintf(b, ", %d rejected", s.Rejected)
	}
	if s.Waiting > 0 || s.Rejected > 0 {
		b.WriteString(" (angelad spool lists them)")
	}
	b.WriteString("\n")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/web"
)

func (a *app) openCommand() *cobra.Command {
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "open [--no-browser]",
		Short: "Print the memory viewer's address (and open it on a desktop)",
		Long: `Print the address of the memory viewer the daemon serves when web.enabled is
set: web.listen (127.0.0.1:7340 by default) with the install's token, which the
first visit turns into a cookie. On a desktop (macOS, or DISPLAY or
WAYLAND_DISPLAY set) it also asks the browser to open it (open, or xdg-open),
with a code good for one visit within two minutes in place of the token, since
other users of the machine can read a browser's command line; that it cannot is
never an error. With web.socket set it prints how to reach
the viewer on that Unix socket instead.

The token is kept in web-token in the state directory (mode 0600); this
command makes it if the daemon has not yet.`,
		Example: `  angelad open
  angelad open --no-browser
  ANGELA_WEB_ENABLED=true angelad run`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the address")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		w := a.cfg.Web
		if !w.Enabled {
			return errors.New("the viewer is off: set web.enabled = true in the config file (or ANGELA_WEB_ENABLED=true) and restart the daemon")
		}
		tok, err := web.Token(a.cfg.StateDir)
		if err != nil {
			return err
		}
		if pid, err := daemon.LockHolder(a.cfg.StateDir); err == nil && pid == 0 {
			fmt.Fprintln(a.stderr, "angelad: the daemon is not running: the address answers once it runs (angelad start, or angelad run)")
		}
		if w.Socket != "" {
			fmt.Fprintf(a.stdout, "the viewer listens on the Unix socket %s:\n  curl --unix-socket %s 'http://localhost/today?token=%s'\n", w.Socket, w.Socket, tok)
			return nil
		}
		fmt.Fprintln(a.stdout, web.URL(w)+"?token="+tok)
		if noBrowser {
			return nil
		}
		if opener := desktopOpener(); opener != "" {
			// The browser's command line, which other users can read for
			// as long as it runs, gets a code good for one visit instead of
			// the token.
			code, err := web.OpenCode(a.cfg.StateDir, time.Now())
			if err != nil {
				return err
			}
			openBrowser(opener, web.URL(w)+"?open="+code)
		}
		return nil
	})
	return cmd
}

// desktopOpener is the command that asks the desktop's browser to open an
// address (open, or xdg-open), or "" without a desktop or the command.
func desktopOpener() string {
	var name string
	switch runtime.GOOS {
	case "darwin":
		if os.Getenv("SSH_CONNECTION") != "" {
			return ""
		}
		name = "open"
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return ""
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return path
}

// openBrowser asks opener to open addr, and does not wait for it: the
// address is printed already, so a browser that cannot start costs nothing.
func openBrowser(opener, addr string) {
	c := exec.Command(opener, addr)
	if c.Start() == nil {
		c.Process.Release()
	}
}

package service

import (
	"errors"
	"fmt"
	"github.com/angela-ai/angelad/internal/text"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"
)

// New returns the service that installs and controls angelad as o describes
// on this machine: a kardianos/service Service whose SystemdScript or
// LaunchdConfig option is the file Render renders. Use it with Control and
// State. Its Run returns an error: the daemon is `angelad run`, which talks to
// systemd through Notify, not through kardianos.
//
// New fails on a machine without systemd (Linux) or launchd (macOS), where
// kardianos would otherwise fall back to SysV init scripts.
func New(o Options) (service.Service, error) {
	k, err := kindFor(runtime.GOOS, o.User)
	if err != nil {
		return nil, err
	}
	if p := service.Platform(); p != k.platform {
		return nil, fmt.Errorf("this machine has no %s (kardianos/service found %q): angelad installs as a systemd service on Linux and a launchd LaunchAgent on macOS", k.manager, p)
	}
	if k.user && o.Home != "" {
		home, err := homeDir(k.goos)
		if err != nil {
			return nil, err
		}
		if o.Home != home {
			return nil, fmt.Errorf("home directory %s is not yours (%s), and a per-user service is installed in your home", o.Home, home)
		}
	}
	u, cfg, err := newUnit(k, o)
	if err != nil {
		return nil, err
	}
	if u.Service, err = service.New(program{}, cfg); err != nil {
		return nil, fmt.Errorf("kardianos/service: %w", err)
	}
	u.host = realHost()
	return u, nil
}

// newUnit renders the file for k and o and returns the unit that installs it,
// without its kardianos service and host, and the kardianos configuration.
func newUnit(k kind, o Options) (*unit, *service.Config, error) {
	o, err := resolve(k, o)
	if err != nil {
		return nil, nil, err
	}
	content, err := render(k, o)
	if err != nil {
		return nil, nil, err
	}
	path, err := unitPath(k, o.Home)
	if err != nil {
		return nil, nil, err
	}
	cfg := &service.Config{
		Name:        k.name,
		DisplayName: "angelad",
		Description: description,
		Executable:  o.Executable,
		Arguments:   arguments(o.ConfigPath),
		Option: service.KeyValue{
			"UserService": o.User,
			k.option:      string(content),
		},
	}
	if k.system() {
		cfg.UserName = account
	}
	u := &unit{kind: k, path: path, config: o.ConfigPath}
	if k.goos == "darwin" {
		u.logDir = filepath.Dir(LaunchAgentLogFile(o.Home))
	}
	return u, cfg, nil
}

// program is the kardianos Interface that New must be given. unit.Run never
// runs it.
type program struct{}

func (program) Start(service.Service) error { return nil }
func (program) Stop(service.Service) error  { return nil }

// unit is angelad's service: kardianos's, with the checks and the set-up
// around it that kardianos leaves out.
type unit struct {
	service.Service
	kind   kind
	path   string // the installed unit or plist
	config string // the absolute config path, or ""
	logDir string // created before a LaunchAgent is installed, or ""
	host   host
}

// host is what installing touches outside the service manager. Tests replace
// it, so that they never create an account on the machine running them.
type host struct {
	euid       func() int
	hasAccount func(name string) (bool, error)
	addAccount func(name, home string) error
}

func realHost() host {
	return host{euid: os.Geteuid, hasAccount: hasAccount, addAccount: addAccount}
}

// problem is an error whose message is already the one line a person should
// read; Control does not rephrase it.
type problem struct{ msg string }

func (p *problem) Error() string { return p.msg }

func problemf(format string, args ...any) error { return &problem{msg: fmt.Sprintf(format, args...)} }

// flag is the command-line flag that selects u's kind, for hints.
func (u *unit) flag() string {
	if u.kind.user {
		return " --user"
	}
	return ""
}

func (u *unit) installed() (bool, error) {
	_, err := os.Stat(u.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for the %s: %w", u.kind.noun, err)
	}
	return true, nil
}

func (u *unit) needRoot() error {
	if u.kind.system() && u.host.euid() != 0 {
		return problemf("permission denied: run as root, or pass --user")
	}
	return nil
}

func (u *unit) needInstalled() error {
	ok, err := u.installed()
	if err != nil {
		return err
	}
	if !ok {
		return problemf("angelad is not installed (no %s at %s): run angelad install%s first", u.kind.noun, u.path, u.flag())
	}
	return nil
}

// Install writes and enables the unit or plist. Before kardianos does that it
// refuses to overwrite an installed one, checks the config file, creates the
// dedicated account for the system unit and the log directory for a
// LaunchAgent.
func (u *unit) Install() error {
	if err := u.needRoot(); err != nil {
		return err
	}
	ok, err := u.installed()
	if err != nil {
		return err
	}
	if ok {
		return problemf("the %s already exists at %s: run angelad uninstall%s first", u.kind.noun, u.path, u.flag())
	}
	if u.config != "" {
		if _, err := os.Stat(u.config); err != nil {
			return problemf("config file %s: %s: create it, or leave out --config", u.config, text.WithoutPath(err))
		}
	}
	if u.kind.system() {
		if err := u.ensureAccount(); err != nil {
			return err
		}
	}
	if u.logDir != "" {
		// launchd opens StandardOutPath itself and does not create its directory.
		if err := os.MkdirAll(u.logDir, 0o700); err != nil {
			return fmt.Errorf("create the log directory: %w", err)
		}
	}
	if err := u.Service.Install(); err != nil {
		// kardianos writes the file before it enables it: removing it keeps a
		// failed enable from turning every later install into "already exists".
		if rerr := os.Remove(u.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return fmt.Errorf("%w (and removing %s failed: %s)", err, u.path, text.WithoutPath(rerr))
		}
		return err
	}
	return nil
}

// ensureAccount creates the system unit's account when it is missing. The
// managed PostgreSQL's data directory must keep one owner across restarts,
// which is why the unit does not use DynamicUser=.
func (u *unit) ensureAccount() error {
	ok, err := u.host.hasAccount(account)
	if err != nil {
		return fmt.Errorf("look up the %s account: %w", account, err)
	}
	if ok {
		return nil
	}
	if err := u.host.addAccount(account, accountHome); err != nil {
		return fmt.Errorf("create the %s account: %w", account, err)
	}
	return nil
}

// Uninstall stops the service, then disables and removes it. The system
// unit's account and every state directory are kept.
func (u *unit) Uninstall() error {
	if err := u.needRoot(); err != nil {
		return err
	}
	if err := u.needInstalled(); err != nil {
		return err
	}
	// kardianos's systemd Uninstall only disables the unit, which would leave
	// the daemon running from a deleted file. Its launchd Uninstall unloads.
	if u.kind.systemd() {
		if err := u.Service.Stop(); err != nil {
			return err
		}
	}
	return u.Service.Uninstall()
}

// Start starts the installed service.
func (u *unit) Start() error { return u.whenInstalled(u.Service.Start) }

// Stop stops the installed service. A LaunchAgent is unloaded, so launchd does
// not start it again until the next login or Start.
func (u *unit) Stop() error { return u.whenInstalled(u.Service.Stop) }

// Restart restarts the installed service.
func (u *unit) Restart() error { return u.whenInstalled(u.Service.Restart) }

// whenInstalled runs op, an action on the installed service, or reports
// ErrNotInstalled (see needInstalled) without running it.
func (u *unit) whenInstalled(op func() error) error {
	if err := u.needInstalled(); err != nil {
		return err
	}
	return op()
}

// Status reports ErrNotInstalled without asking the service manager when the
// file is absent, which also works where the manager is unreachable.
func (u *unit) Status() (service.Status, error) {
	ok, err := u.installed()
	if err != nil {
		return service.StatusUnknown, err
	}
	if !ok {
		return service.StatusUnknown, service.ErrNotInstalled
	}
	return u.Service.Status()
}

// Run returns an error: the daemon is `angelad run`.
func (u *unit) Run() error {
	return errors.New("the angelad service runs `angelad run`; it is not run through kardianos/service")
}

// controlError is a failed Control action: one line for people, with the
// original error underneath for errors.Is and errors.As.
type controlError struct {
	action string
	msg    string
	err    error
}

func (e *controlError) Error() string { return e.action + ": " + e.msg }
func (e *controlError) Unwrap() error { return e.err }

// Control runs action (install, uninstall, start, stop or restart) on s, a
// service from New, and turns a failure into one line that says what to do,
// such as "install: the unit already exists at
// /etc/systemd/system/angelad.service: run angelad uninstall first".
func Control(s service.Service, action string) error {
	var err error
	switch action {
	case "install":
		err = s.Install()
	case "uninstall":
		err = s.Uninstall()
	case "start":
		err = s.Start()
	case "stop":
		err = s.Stop()
	case "restart":
		err = s.Restart()
	default:
		return fmt.Errorf("unknown service action %q: use install, uninstall, start, stop or restart", action)
	}
	if err != nil {
		return &controlError{action: action, msg: explain(s, err), err: err}
	}
	return nil
}

// State reports whether the service is installed and whether it runs, for
// `angelad status`. A systemd unit in the failed state is installed and not
// running; one still starting up (waiting for its database, before READY=1)
// counts as running, as kardianos reports it.
func State(s service.Service) (installed, running bool, err error) {
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return false, false, nil
	case err != nil && strings.Contains(err.Error(), "failed state"):
		// kardianos reports systemd's "failed" as an error without a sentinel.
		return true, false, nil
	case err != nil:
		return false, false, &controlError{action: "status", msg: explain(s, err), err: err}
	}
	switch st {
	case service.StatusRunning:
		return true, true, nil
	case service.StatusStopped:
		return true, false, nil
	}
	return false, false, errors.New("status: the service manager reports an unknown state")
}

// explain turns an error from s into one line. kardianos passes on raw errors
// of the file system and of systemctl and launchctl, which say neither what
// failed nor what to do.
func explain(s service.Service, err error) string {
	var p *problem
	if errors.As(err, &p) {
		return p.msg
	}
	u, _ := s.(*unit)
	system := u != nil && u.kind.system()
	if errors.Is(err, fs.ErrPermission) {
		if system {
			return "permission denied: run as root, or pass --user"
		}
		return "permission denied: " + text.OneLine(err.Error())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && u != nil {
		msg := fmt.Sprintf("%s exited with status %d: see %s", u.command(), exit.ExitCode(), u.statusCommand())
		if system && u.host.euid() != 0 {
			msg += "; run as root, or pass --user"
		}
		return msg
	}
	return text.OneLine(err.Error())
}

// command is the command kardianos runs for u.
func (u *unit) command() string {
	if !u.kind.systemd() {
		return "launchctl"
	}
	if u.kind.user {
		return "systemctl --user"
	}
	return "systemctl"
}

// statusCommand is where a person reads why the service manager failed.
func (u *unit) statusCommand() string {
	if !u.kind.systemd() {
		return "launchctl list " + launchdLabel + " and " + LaunchAgentLogFile("~")
	}
	if u.kind.user {
		return "systemctl --user status " + unitName + " and journalctl --user -u " + unitName
	}
	return "systemctl status " + unitName + " and journalctl -u " + unitName
}

// hasAccount reports whether the user name exists.
func hasAccount(name string) (bool, error) {
	_, err := user.Lookup(name)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return false, nil
	}
	return err == nil, err
}

// addAccount creates a system user and its group, with home as its home
// directory (left to systemd's StateDirectory= to create) and no login shell.
func addAccount(name, home string) error {
	useradd, err := exec.LookPath("useradd")
	if err != nil {
		return problemf("useradd not found: create a system user and group named %s yourself, then run angelad install again", name)
	}
	shell := "/bin/false"
	for _, s := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if _, err := os.Stat(s); err == nil {
			shell = s
			break
		}
	}
	group := []string{"--user-group"}
	if _, err := user.LookupGroup(name); err == nil {
		group = []string{"--gid", name} // useradd --user-group fails when the group exists
	}
	args := append([]string{"--system"}, group...)
	args = append(args, "--home-dir", home, "--no-create-home", "--shell", shell, "--comment", "angelad memory daemon", name)
	cmd := exec.Command(useradd, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("useradd: %w: %s", err, text.OneLine(string(out)))
	}
	return nil
}

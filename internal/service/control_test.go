package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/kardianos/service"
)

// fakeManager stands in for kardianos's systemd and launchd services, which
// would really install on the machine running the tests. Install writes the
// file as kardianos does before failing with installErr.
type fakeManager struct {
	service.Service // nil: calling anything not overridden panics
	path            string
	calls           []string
	installErr      error
	err             error // returned by every other action
	status          service.Status
	statusErr       error
}

func (f *fakeManager) Install() error {
	f.calls = append(f.calls, "install")
	if err := os.WriteFile(f.path, []byte("unit"), 0o644); err != nil {
		return err
	}
	return f.installErr
}

func (f *fakeManager) Uninstall() error {
	f.calls = append(f.calls, "uninstall")
	if f.err == nil {
		return os.Remove(f.path)
	}
	return f.err
}

func (f *fakeManager) Start() error   { f.calls = append(f.calls, "start"); return f.err }
func (f *fakeManager) Stop() error    { f.calls = append(f.calls, "stop"); return f.err }
func (f *fakeManager) Restart() error { f.calls = append(f.calls, "restart"); return f.err }
func (f *fakeManager) String() string { return "angelad" }
func (f *fakeManager) Status() (service.Status, error) {
	f.calls = append(f.calls, "status")
	return f.status, f.statusErr
}

// fakeHost records the accounts Install would create instead of creating them.
type fakeHost struct {
	euid     int
	accounts map[string]bool
	added    []string
}

func (h *fakeHost) host() host {
	return host{
		euid:       func() int { return h.euid },
		hasAccount: func(name string) (bool, error) { return h.accounts[name], nil },
		addAccount: func(name, home string) error {
			h.added = append(h.added, name+" "+home)
			h.accounts[name] = true
			return nil
		},
	}
}

// setup returns a unit of kind k (per-user when user) whose file goes into a
// temporary directory, with its fake service manager and host.
func setup(t *testing.T, goos string, user bool) (*unit, *fakeManager, *fakeHost) {
	t.Helper()
	k, err := kindFor(goos, user)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := Options{User: user, Executable: "/usr/local/bin/angelad", Home: dir}
	u, _, err := newUnit(k, o)
	if err != nil {
		t.Fatal(err)
	}
	u.path = filepath.Join(dir, k.file) // never /etc/systemd/system
	fm := &fakeManager{path: u.path}
	fh := &fakeHost{euid: 0, accounts: map[string]bool{}}
	u.Service, u.host = fm, fh.host()
	return u, fm, fh
}

func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestInstallSystemUnitCreatesTheAccount(t *testing.T) {
	t.Parallel()
	u, fm, fh := setup(t, "linux", false)
	if err := Control(u, "install"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"angelad /var/lib/angelad"}; !reflect.DeepEqual(fh.added, want) {
		t.Errorf("accounts created: %v, want %v", fh.added, want)
	}
	if !reflect.DeepEqual(fm.calls, []string{"install"}) {
		t.Errorf("calls = %v", fm.calls)
	}
	// A second install does not touch the existing unit.
	err := Control(u, "install")
	wantError(t, err, "install: the unit already exists at "+u.path+": run angelad uninstall first")
	if len(fm.calls) != 1 || len(fh.added) != 1 {
		t.Errorf("second install reached the manager (%v) or the host (%v)", fm.calls, fh.added)
	}
}

func TestInstallKeepsAnExistingAccount(t *testing.T) {
	t.Parallel()
	u, _, fh := setup(t, "linux", false)
	fh.accounts[account] = true
	if err := Control(u, "install"); err != nil {
		t.Fatal(err)
	}
	if len(fh.added) != 0 {
		t.Errorf("created %v although the account exists", fh.added)
	}
}

func TestInstallUserUnitNeedsNoRootAndNoAccount(t *testing.T) {
	t.Parallel()
	u, fm, fh := setup(t, "linux", true)
	fh.euid = 1000
	if err := Control(u, "install"); err != nil {
		t.Fatal(err)
	}
	if len(fh.added) != 0 {
		t.Errorf("a user unit created accounts %v", fh.added)
	}
	wantError(t, Control(u, "install"), "install: the unit already exists at "+u.path+": run angelad uninstall --user first")
	if !reflect.DeepEqual(fm.calls, []string{"install"}) {
		t.Errorf("calls = %v", fm.calls)
	}
}

func TestSystemUnitNeedsRoot(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"install", "uninstall"} {
		u, fm, fh := setup(t, "linux", false)
		fh.euid = 1000
		wantError(t, Control(u, action), action+": permission denied: run as root, or pass --user")
		if len(fm.calls) != 0 || len(fh.added) != 0 {
			t.Errorf("%s without root reached the manager (%v) or the host (%v)", action, fm.calls, fh.added)
		}
	}
}

func TestInstallLaunchAgentCreatesTheLogDirectory(t *testing.T) {
	t.Parallel()
	u, _, fh := setup(t, "darwin", true)
	fh.euid = 501
	if err := Control(u, "install"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(u.logDir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("log directory %s: %v", u.logDir, err)
	}
	if filepath.Join(u.logDir, "angelad.log") != LaunchAgentLogFile(filepath.Dir(u.path)) {
		t.Errorf("log directory %s does not hold LaunchAgentLogFile", u.logDir)
	}
	wantError(t, Control(u, "install"), "install: the LaunchAgent already exists at "+u.path+": run angelad uninstall --user first")
}

func TestInstallChecksTheConfigFile(t *testing.T) {
	t.Parallel()
	u, fm, _ := setup(t, "linux", true)
	u.config = filepath.Join(filepath.Dir(u.path), "missing.toml")
	wantError(t, Control(u, "install"), "install: config file "+u.config+": no such file or directory: create it, or leave out --config")
	if len(fm.calls) != 0 {
		t.Errorf("calls = %v", fm.calls)
	}
	if err := os.WriteFile(u.config, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Control(u, "install"); err != nil {
		t.Fatal(err)
	}
}

// exitError returns the error of a command that exits with status 1, as
// kardianos passes on from systemctl.
func exitError(t *testing.T) error {
	t.Helper()
	err := exec.Command("false").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Skipf("no false(1) to produce an exit status: %v", err)
	}
	return err
}

func TestFailedInstallLeavesNoFile(t *testing.T) {
	t.Parallel()
	u, fm, _ := setup(t, "linux", true)
	fm.installErr = exitError(t)
	err := Control(u, "install")
	wantError(t, err, "install: systemctl --user exited with status 1: see systemctl --user status angelad and journalctl --user -u angelad")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Errorf("Control's error does not wrap the exit error")
	}
	if _, err := os.Stat(u.path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the unit file is left behind: %v", err)
	}
	fm.installErr = nil
	if err := Control(u, "install"); err != nil {
		t.Errorf("install after a failed one: %v", err)
	}
}

func TestManagerErrorsBecomeOneLine(t *testing.T) {
	t.Parallel()
	// A system unit controlled without root: systemctl fails, and the hint
	// says why it probably did.
	u, fm, fh := setup(t, "linux", false)
	if err := os.WriteFile(u.path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fh.euid = 1000
	fm.err = exitError(t)
	wantError(t, Control(u, "start"), "start: systemctl exited with status 1: see systemctl status angelad and journalctl -u angelad; run as root, or pass --user")

	// kardianos passes on launchctl's stderr, newlines and all.
	u, fm, _ = setup(t, "darwin", true)
	if err := os.WriteFile(u.path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fm.err = errors.New("\"launchctl\" failed with stderr: Unload failed: 5: Input/output error\nTry running `launchctl bootout` as root.\n")
	wantError(t, Control(u, "stop"), "stop: \"launchctl\" failed with stderr: Unload failed: 5: Input/output error Try running `launchctl bootout` as root.")

	// Writing /etc/systemd/system as an ordinary user.
	u, fm, _ = setup(t, "linux", false)
	fm.installErr = &fs.PathError{Op: "open", Path: "/etc/systemd/system/angelad.service", Err: fs.ErrPermission}
	wantError(t, Control(u, "install"), "install: permission denied: run as root, or pass --user")
}

func TestActionsNeedAnInstalledService(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"uninstall", "start", "stop", "restart"} {
		u, fm, _ := setup(t, "linux", true)
		wantError(t, Control(u, action), action+": angelad is not installed (no unit at "+u.path+"): run angelad install --user first")
		if len(fm.calls) != 0 {
			t.Errorf("%s reached the manager: %v", action, fm.calls)
		}
	}
}

func TestActionsReachTheManager(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos   string
		action string
		calls  []string
	}{
		{"linux", "start", []string{"start"}},
		{"linux", "stop", []string{"stop"}},
		{"linux", "restart", []string{"restart"}},
		// kardianos only disables a systemd unit: it is stopped first.
		{"linux", "uninstall", []string{"stop", "uninstall"}},
		// kardianos's launchd Uninstall unloads the job itself.
		{"darwin", "uninstall", []string{"uninstall"}},
	} {
		u, fm, _ := setup(t, tc.goos, true)
		if err := os.WriteFile(u.path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Control(u, tc.action); err != nil {
			t.Errorf("%s %s: %v", tc.goos, tc.action, err)
		}
		if !reflect.DeepEqual(fm.calls, tc.calls) {
			t.Errorf("%s %s: calls = %v, want %v", tc.goos, tc.action, fm.calls, tc.calls)
		}
	}
}

func TestControlRejectsUnknownAction(t *testing.T) {
	t.Parallel()
	u, fm, _ := setup(t, "linux", true)
	wantError(t, Control(u, "enable"), `unknown service action "enable": use install, uninstall, start, stop or restart`)
	if len(fm.calls) != 0 {
		t.Errorf("calls = %v", fm.calls)
	}
}

func TestState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		file               bool
		status             service.Status
		err                error
		installed, running bool
		wantErr            bool
	}{
		{name: "no file", file: false},
		{name: "running", file: true, status: service.StatusRunning, installed: true, running: true},
		{name: "stopped", file: true, status: service.StatusStopped, installed: true},
		{name: "unit gone from systemd", file: true, err: service.ErrNotInstalled},
		{name: "failed", file: true, err: errors.New("service in failed state"), installed: true},
		{name: "manager unreachable", file: true, err: fmt.Errorf("%q failed: %w", "systemctl", fs.ErrNotExist), wantErr: true},
		{name: "unknown", file: true, status: service.StatusUnknown, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, fm, _ := setup(t, "linux", true)
			if tc.file {
				if err := os.WriteFile(u.path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fm.status, fm.statusErr = tc.status, tc.err
			installed, running, err := State(u)
			if installed != tc.installed || running != tc.running || (err != nil) != tc.wantErr {
				t.Errorf("State = %v, %v, %v; want %v, %v, error %v", installed, running, err, tc.installed, tc.running, tc.wantErr)
			}
			if !tc.file && len(fm.calls) != 0 {
				t.Errorf("asked the manager although no file is installed: %v", fm.calls)
			}
		})
	}
}

func TestRunIsNotTheDaemon(t *testing.T) {
	t.Parallel()
	u, _, _ := setup(t, "linux", true)
	if err := u.Run(); err == nil || !strings.Contains(err.Error(), "angelad run") {
		t.Errorf("Run = %v, want an error pointing at angelad run", err)
	}
}

// TestKardianosConfig checks what New hands kardianos: the rendered file as
// the custom script, so that install writes exactly what Render returns.
func TestKardianosConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos   string
		opts   Options
		option string
		name   string
		user   string
	}{
		{"linux", linuxSystem, "SystemdScript", "angelad", "angelad"},
		{"linux", linuxUser, "SystemdScript", "angelad", ""},
		{"darwin", darwinAgent, "LaunchdConfig", "com.angela.angelad", ""},
	} {
		k, err := kindFor(tc.goos, tc.opts.User)
		if err != nil {
			t.Fatal(err)
		}
		_, cfg, err := newUnit(k, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		_, content := mustRender(t, tc.goos, tc.opts)
		if got, _ := cfg.Option[tc.option].(string); got != string(content) {
			t.Errorf("%s user=%v: Option[%s] is not the rendered file", tc.goos, tc.opts.User, tc.option)
		}
		if got, _ := cfg.Option["UserService"].(bool); got != tc.opts.User {
			t.Errorf("%s: UserService = %v, want %v", tc.goos, got, tc.opts.User)
		}
		args := []string{"run", "--config", tc.opts.ConfigPath}
		if cfg.Name != tc.name || cfg.Executable != tc.opts.Executable || !reflect.DeepEqual(cfg.Arguments, args) || cfg.UserName != tc.user {
			t.Errorf("%s user=%v: config %+v", tc.goos, tc.opts.User, cfg)
		}
	}
}

// TestNewWithoutServiceManager runs New on this machine without installing
// anything: in a container without systemd it must refuse rather than let
// kardianos fall back to SysV init scripts.
func TestNewWithoutServiceManager(t *testing.T) {
	t.Parallel()
	k, err := kindFor(runtime.GOOS, true)
	if err != nil {
		t.Skipf("no service for %s: %v", runtime.GOOS, err)
	}
	s, err := New(Options{User: true, Executable: "/usr/local/bin/angelad"})
	if service.Platform() == k.platform {
		if err != nil {
			t.Fatalf("New on %s: %v", k.platform, err)
		}
		if _, ok := s.(*unit); !ok {
			t.Errorf("New returned %T", s)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "this machine has no "+k.manager) {
		t.Fatalf("New on %q = %v, want a no-%s error", service.Platform(), err, k.manager)
	}
}

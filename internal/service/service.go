// Package service owns installing angelad as a launchd or systemd service: it
// renders the unit and plist templates of package deploy, installs, starts,
// stops and removes the service through github.com/kardianos/service, reports
// whether it is installed and running, and speaks systemd's notify protocol
// for the daemon (Notify, WatchdogInterval).
//
// The templates in deploy/ are Go text/template files and Render is the only
// code that renders them. New hands kardianos the rendered file as its custom
// SystemdScript or LaunchdConfig. kardianos runs a custom script through its
// own small template engine, which copies text without "{{" unchanged, so what
// Render returns (and `angelad install --print` prints) is byte for byte what
// `angelad install` writes. Render refuses to produce a file containing "{{"
// to keep that true.
package service

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/angela-ai/angelad/deploy"
)

const (
	// unitName is the systemd unit's name without ".service".
	unitName = "angelad"
	// launchdLabel is the launchd job's label and the plist's base name.
	launchdLabel = "com.angela.angelad"
	// account is the user and group the system-wide unit runs as (User= and
	// Group= in deploy/systemd/angelad.service). Install creates it when it is
	// missing; uninstall keeps it, since it owns the state directory.
	account = "angelad"
	// accountHome is the account's home: the unit's StateDirectory.
	accountHome = "/var/lib/angelad"
	// description is the service's one-line description for kardianos.
	description = "angelad, the long-term memory daemon of Angela"
)

// Options say which service to render or install and what it runs.
type Options struct {
	// User selects a per-user service: a systemd --user unit on Linux, a
	// LaunchAgent on macOS. Without it Linux gets a system-wide unit running as
	// the dedicated angelad account; macOS has no system-wide variant.
	User bool
	// ConfigPath is passed to `angelad run --config`; empty leaves the daemon
	// to its default config locations. A relative path is made absolute, since
	// the service does not run in the caller's working directory.
	ConfigPath string
	// Executable is the angelad binary the service runs; empty means the
	// running one (os.Executable).
	Executable string
	// Home is the home directory of the user a LaunchAgent runs for, which
	// holds its log file; empty means the current user's. New accepts only
	// the current user's home, since that is where kardianos installs.
	Home string
}

// kind is one of the services angelad can be installed as.
type kind struct {
	goos     string
	user     bool
	template string // path in deploy.FS
	file     string // base name of the installed file
	manager  string // "systemd" or "launchd"
	platform string // what kardianos/service must detect to install it
	option   string // the kardianos option that takes the rendered file
	name     string // kardianos Config.Name: unit name or launchd label
	noun     string // what the installed file is called in messages
}

func (k kind) systemd() bool { return k.manager == "systemd" }

// system reports whether k is the system-wide systemd unit, which needs root
// and the dedicated account.
func (k kind) system() bool { return k.systemd() && !k.user }

func kindFor(goos string, user bool) (kind, error) {
	switch {
	case goos == "linux" && !user:
		return kind{goos: goos, template: deploy.SystemdSystemUnit, file: unitName + ".service",
			manager: "systemd", platform: "linux-systemd", option: "SystemdScript", name: unitName, noun: "unit"}, nil
	case goos == "linux":
		return kind{goos: goos, user: true, template: deploy.SystemdUserUnit, file: unitName + ".service",
			manager: "systemd", platform: "linux-systemd", option: "SystemdScript", name: unitName, noun: "unit"}, nil
	case goos == "darwin" && user:
		return kind{goos: goos, user: true, template: deploy.LaunchAgent, file: launchdLabel + ".plist",
			manager: "launchd", platform: "darwin-launchd", option: "LaunchdConfig", name: launchdLabel, noun: "LaunchAgent"}, nil
	case goos == "darwin":
		return kind{}, errors.New("macOS has no system-wide angelad service: pass --user to install the LaunchAgent")
	default:
		return kind{}, fmt.Errorf("angelad installs as a service on linux (systemd) and darwin (launchd), not on %s", goos)
	}
}

// templateData is what the templates in deploy/ see. Path and Arguments are
// named as kardianos/service names them in its own templates.
type templateData struct {
	// Path is the absolute path of the angelad executable.
	Path string
	// Arguments follow Path: "run", then "--config" and the config path when
	// one is given.
	Arguments []string
	// LogFile is the one file a LaunchAgent's stdout and stderr go to.
	LogFile string
}

// Render renders the unit (goos "linux") or plist (goos "darwin") that o
// describes, without installing anything, and returns the installed file's
// base name with it. `angelad install --print` prints it; a person installing
// by hand saves it under that name in the directory UnitPath names.
func Render(goos string, o Options) (name string, content []byte, err error) {
	k, err := kindFor(goos, o.User)
	if err != nil {
		return "", nil, err
	}
	o, err = resolve(k, o)
	if err != nil {
		return "", nil, err
	}
	content, err = render(k, o)
	if err != nil {
		return "", nil, err
	}
	return k.file, content, nil
}

// render renders k's template for o, which resolve has completed.
func render(k kind, o Options) ([]byte, error) {
	data := templateData{Path: o.Executable, Arguments: arguments(o.ConfigPath)}
	if k.goos == "darwin" {
		data.LogFile = LaunchAgentLogFile(o.Home)
	}
	funcs := template.FuncMap{"program": systemdProgram, "arg": systemdArg, "xml": xmlText}
	t, err := template.New(path.Base(k.template)).Funcs(funcs).Option("missingkey=error").ParseFS(deploy.FS, k.template)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", k.template, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render template %s: %w", k.template, err)
	}
	if bytes.Contains(b.Bytes(), []byte("{{")) {
		return nil, fmt.Errorf("the rendered %s would contain \"{{\", which kardianos/service reads as a template action: use paths without \"{{\"", k.noun)
	}
	return b.Bytes(), nil
}

// arguments are the words after the executable in the service's command line.
func arguments(configPath string) []string {
	if configPath == "" {
		return []string{"run"}
	}
	return []string{"run", "--config", configPath}
}

// resolve fills in o's defaults and checks that every path can be written
// into k's file.
func resolve(k kind, o Options) (Options, error) {
	var err error
	if o.Executable == "" {
		if o.Executable, err = os.Executable(); err != nil {
			return o, fmt.Errorf("find the angelad executable: %w", err)
		}
	}
	if o.Executable, err = filepath.Abs(o.Executable); err != nil {
		return o, fmt.Errorf("executable %q: %w", o.Executable, err)
	}
	if err := checkPath("executable", o.Executable); err != nil {
		return o, err
	}
	// systemd rejects a program path with a quote or a backslash in it, however
	// it is escaped ("Executable name contains special characters").
	if k.systemd() && strings.ContainsAny(o.Executable, `"'\`) {
		return o, fmt.Errorf("executable %q contains a quote or backslash, which systemd does not accept in a program path: put angelad elsewhere", o.Executable)
	}
	if o.ConfigPath != "" {
		if o.ConfigPath, err = filepath.Abs(o.ConfigPath); err != nil {
			return o, fmt.Errorf("config path %q: %w", o.ConfigPath, err)
		}
		if err := checkPath("config path", o.ConfigPath); err != nil {
			return o, err
		}
	}
	if k.goos == "darwin" {
		if o.Home == "" {
			if o.Home, err = homeDir(k.goos); err != nil {
				return o, err
			}
		}
		if !filepath.IsAbs(o.Home) {
			return o, fmt.Errorf("home directory %q is not an absolute path", o.Home)
		}
		if err := checkPath("home directory", o.Home); err != nil {
			return o, err
		}
	}
	return o, nil
}

// checkPath rejects control characters: a newline would end the unit's line,
// and XML 1.0 cannot carry most of them at all.
func checkPath(what, p string) error {
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q contains a control character", what, p)
		}
	}
	return nil
}

// homeDir finds the current user's home the way kardianos/service does, so
// that UnitPath names the directory it installs into.
func homeDir(goos string) (string, error) {
	if goos == "darwin" {
		if u, err := user.Current(); err == nil && u.HomeDir != "" {
			return u.HomeDir, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find your home directory: %w", err)
	}
	return home, nil
}

// UnitPath returns where `angelad install` puts the file Render renders for
// goos and o: /etc/systemd/system/angelad.service,
// ~/.config/systemd/user/angelad.service or
// ~/Library/LaunchAgents/com.angela.angelad.plist. The per-user paths are in
// o.Home, or the current user's home when it is empty.
func UnitPath(goos string, o Options) (string, error) {
	k, err := kindFor(goos, o.User)
	if err != nil {
		return "", err
	}
	return unitPath(k, o.Home)
}

func unitPath(k kind, home string) (string, error) {
	if k.system() {
		return "/etc/systemd/system/" + k.file, nil
	}
	if home == "" {
		var err error
		if home, err = homeDir(k.goos); err != nil {
			return "", err
		}
	}
	if k.systemd() {
		return filepath.Join(home, ".config", "systemd", "user", k.file), nil
	}
	return filepath.Join(home, "Library", "LaunchAgents", k.file), nil
}

// LaunchAgentLogFile is the one log file of the LaunchAgent of the user whose
// home is home: ~/Library/Logs/angelad/angelad.log, where launchd sends the
// daemon's stdout and stderr. A daemon that writes its own log file under
// launchd should use the same file.
func LaunchAgentLogFile(home string) string {
	return filepath.Join(home, "Library", "Logs", "angelad", "angelad.log")
}

// systemdProgram writes the program path of an Exec line. resolve has
// rejected quotes and backslashes; "%" starts a specifier and must be doubled,
// and a path with white space must be quoted. "$" stays as it is: systemd
// expands variables in the arguments, not in the program path.
func systemdProgram(p string) string {
	p = strings.ReplaceAll(p, "%", "%%")
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}

// systemdArg writes one argument of an Exec line so that systemd passes it
// through unchanged: "%" (specifiers) and "$" (variables) are doubled, and a
// word with white space, quotes or backslashes is double-quoted with C escapes.
func systemdArg(s string) string {
	var b strings.Builder
	quote := s == "" || strings.ContainsAny(s, " \t\"'\\;")
	if quote {
		b.WriteByte('"')
	}
	for _, r := range s {
		switch r {
		case '%':
			b.WriteString("%%")
		case '$':
			b.WriteString("$$")
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	if quote {
		b.WriteByte('"')
	}
	return b.String()
}

// xmlText escapes s for a plist's <string> element.
func xmlText(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}

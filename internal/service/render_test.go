package service

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the rendered files")

// shutdownTimeout is the daemon's default shutdown_timeout: the service
// managers' stop timeouts must leave it room.
const shutdownTimeout = 10 * time.Second

// The fixed inputs of the golden files.
var (
	linuxSystem = Options{Executable: "/usr/local/bin/angelad", ConfigPath: "/etc/angelad/config.toml"}
	linuxUser   = Options{User: true, Executable: "/home/david/.local/bin/angelad",
		ConfigPath: "/home/david/.config/angelad/config.toml", Home: "/home/david"}
	darwinAgent = Options{User: true, Executable: "/opt/homebrew/bin/angelad",
		ConfigPath: "/Users/david/Library/Application Support/angelad/config.toml", Home: "/Users/david"}
)

func mustRender(t *testing.T, goos string, o Options) (string, []byte) {
	t.Helper()
	name, content, err := Render(goos, o)
	if err != nil {
		t.Fatalf("Render(%s, %+v): %v", goos, o, err)
	}
	return name, content
}

func TestRenderMatchesGoldenFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		golden string
		goos   string
		opts   Options
		name   string
	}{
		{"linux-system.service.golden", "linux", linuxSystem, "angelad.service"},
		{"linux-user.service.golden", "linux", linuxUser, "angelad.service"},
		{"darwin-agent.plist.golden", "darwin", darwinAgent, "com.angela.angelad.plist"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			name, got := mustRender(t, tc.goos, tc.opts)
			if name != tc.name {
				t.Errorf("name = %q, want %q", name, tc.name)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestRenderMatchesGoldenFiles -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered file differs from %s (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

// TestRenderedFilesAreLiteral checks what makes Render's output the installed
// file: kardianos copies a custom script without "{{" unchanged. It also checks
// that the templates' own comments do not reach the rendered file.
func TestRenderedFilesAreLiteral(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos   string
		opts   Options
		prefix string
	}{
		{"linux", linuxSystem, "# angelad: "},
		{"linux", linuxUser, "# angelad: "},
		{"darwin", darwinAgent, "<?xml "},
	} {
		_, content := mustRender(t, tc.goos, tc.opts)
		if bytes.Contains(content, []byte("{{")) || bytes.Contains(content, []byte("}}")) {
			t.Errorf("%s user=%v: rendered file contains template delimiters", tc.goos, tc.opts.User)
		}
		if !bytes.HasPrefix(content, []byte(tc.prefix)) {
			t.Errorf("%s user=%v: rendered file starts %q, want %q", tc.goos, tc.opts.User, firstLine(content), tc.prefix)
		}
		if bytes.Contains(content, []byte("Installed by hand")) {
			t.Errorf("%s user=%v: the template comment reached the rendered file", tc.goos, tc.opts.User)
		}
	}
}

func firstLine(b []byte) string { return strings.SplitN(string(b), "\n", 2)[0] }

// unitFile is a parsed systemd unit: section, then key, then every value.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, content []byte) unitFile {
	t.Helper()
	u := unitFile{}
	var section string
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("not a unit line: %q", line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// get returns the one value of section.key, failing when it is absent or set
// more than once.
func (u unitFile) get(t *testing.T, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) != 1 {
		t.Fatalf("[%s] %s is set %d times, want once", section, key, len(vs))
	}
	return vs[0]
}

// span parses a systemd time span of the forms the units use: "5", "20s",
// "5min".
func span(t *testing.T, v string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(strings.Replace(v, "min", "m", 1))
	if err != nil {
		t.Fatalf("time span %q: %v", v, err)
	}
	return d
}

// The directives both units share, each one fixing a kardianos default.
func checkCommonDirectives(t *testing.T, u unitFile) {
	t.Helper()
	for key, want := range map[string]string{
		"Type":         "notify", // kardianos: simple
		"NotifyAccess": "main",
		"Restart":      "on-failure", // kardianos: always
		"KillMode":     "mixed",      // the daemon stops its own PostgreSQL
		"UMask":        "0077",
	} {
		if got := u.get(t, "Service", key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	if got := span(t, u.get(t, "Service", "RestartSec")); got != 5*time.Second {
		t.Errorf("RestartSec=%s, want 5s (kardianos: 120)", got)
	}
	if got := span(t, u.get(t, "Service", "TimeoutStopSec")); got <= shutdownTimeout {
		t.Errorf("TimeoutStopSec=%s, want more than shutdown_timeout %s", got, shutdownTimeout)
	}
	if got := span(t, u.get(t, "Service", "WatchdogSec")); got < 10*time.Second {
		t.Errorf("WatchdogSec=%s: too short for a daemon pinging at half of it", got)
	}
	if got := u.get(t, "Service", "RestartPreventExitStatus"); got != "2" {
		t.Errorf("RestartPreventExitStatus=%s, want 2 (a usage error)", got)
	}
	if got := u.get(t, "Service", "ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%s, want SIGHUP", got)
	}
	// kardianos's unit reads an environment file and has StartLimitInterval in
	// [Service]; neither belongs here.
	for _, key := range []string{"EnvironmentFile", "StartLimitInterval", "StandardOutput", "StandardError"} {
		if _, ok := u["Service"][key]; ok {
			t.Errorf("%s is set; it should not be", key)
		}
	}
}

func TestUserUnitDirectives(t *testing.T) {
	t.Parallel()
	_, content := mustRender(t, "linux", linuxUser)
	u := parseUnit(t, content)
	checkCommonDirectives(t, u)
	if got := u.get(t, "Install", "WantedBy"); got != "default.target" {
		t.Errorf("WantedBy=%s, want default.target: a user manager has no multi-user.target", got)
	}
	want := "/home/david/.local/bin/angelad run --config /home/david/.config/angelad/config.toml"
	if got := u.get(t, "Service", "ExecStart"); got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	// A user manager cannot switch users, and StateDirectory= would land in
	// ~/.config before systemd 254.
	for _, key := range []string{"User", "Group", "StateDirectory", "LogsDirectory", "ProtectSystem"} {
		if _, ok := u["Service"][key]; ok {
			t.Errorf("%s is set in the user unit", key)
		}
	}
	if got := u.get(t, "Service", "NoNewPrivileges"); got != "yes" {
		t.Errorf("NoNewPrivileges=%s, want yes", got)
	}
}

func TestSystemUnitDirectives(t *testing.T) {
	t.Parallel()
	_, content := mustRender(t, "linux", linuxSystem)
	u := parseUnit(t, content)
	checkCommonDirectives(t, u)
	if got := u.get(t, "Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%s, want multi-user.target", got)
	}
	want := "/usr/local/bin/angelad run --config /etc/angelad/config.toml"
	if got := u.get(t, "Service", "ExecStart"); got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	for key, want := range map[string]string{
		// The account Install creates.
		"User":           account,
		"Group":          account,
		"StateDirectory": "angelad",
		"LogsDirectory":  "angelad",
		// Hardening.
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "",
		"ProtectSystem":         "strict",
		"ProtectHome":           "read-only",
		"PrivateTmp":            "yes",
		"PrivateDevices":        "yes",
		"ProtectKernelTunables": "yes",
		"ProtectKernelModules":  "yes",
		"ProtectKernelLogs":     "yes",
		"ProtectControlGroups":  "yes",
		"RestrictSUIDSGID":      "yes",
		"RestrictRealtime":      "yes",
		"RestrictNamespaces":    "yes",
		"LockPersonality":       "yes",
	} {
		if got := u.get(t, "Service", key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	if "/var/lib/"+u.get(t, "Service", "StateDirectory") != accountHome {
		t.Errorf("StateDirectory is not the account's home %s", accountHome)
	}
	if _, ok := u["Service"]["MemoryDenyWriteExecute"]; ok {
		t.Error("MemoryDenyWriteExecute is set: the managed PostgreSQL's JIT runs under the same filter")
	}
}

func TestRenderWithoutConfigRunsWithDefaults(t *testing.T) {
	t.Parallel()
	o := linuxSystem
	o.ConfigPath = ""
	_, content := mustRender(t, "linux", o)
	if got := parseUnit(t, content).get(t, "Service", "ExecStart"); got != "/usr/local/bin/angelad run" {
		t.Errorf("ExecStart=%s, want /usr/local/bin/angelad run", got)
	}
}

func TestRenderQuotesExecStartWords(t *testing.T) {
	t.Parallel()
	o := Options{Executable: "/opt/my apps/100%/angelad", ConfigPath: `/srv/my "cfg" 100%$HOME\it's.toml`}
	_, content := mustRender(t, "linux", o)
	got := parseUnit(t, content).get(t, "Service", "ExecStart")
	want := `"/opt/my apps/100%%/angelad" run --config "/srv/my \"cfg\" 100%%$$HOME\\it's.toml"`
	if got != want {
		t.Errorf("ExecStart=%s\nwant       %s", got, want)
	}
}

func TestRenderMakesConfigPathAbsolute(t *testing.T) {
	t.Parallel()
	o := linuxSystem
	o.ConfigPath = "config.toml"
	_, content := mustRender(t, "linux", o)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := "/usr/local/bin/angelad run --config " + filepath.Join(wd, "config.toml")
	if got := parseUnit(t, content).get(t, "Service", "ExecStart"); got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
}

func TestRenderRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		goos string
		opts Options
		want string
	}{
		{"unsupported OS", "windows", linuxUser, "not on windows"},
		{"macOS system-wide", "darwin", Options{Executable: "/usr/local/bin/angelad"}, "pass --user"},
		{"newline in config path", "linux", Options{Executable: "/bin/angelad", ConfigPath: "/etc/a\nb.toml"}, "control character"},
		{"quote in program path", "linux", Options{Executable: `/opt/it's/angelad`}, "quote or backslash"},
		{"template action in path", "linux", Options{Executable: "/opt/{{x}}/angelad"}, `"{{"`},
		{"template action in plist", "darwin", Options{User: true, Executable: "/opt/{{x}}/angelad", Home: "/Users/d"}, `"{{"`},
		{"relative home", "darwin", Options{User: true, Executable: "/bin/angelad", Home: "Users/d"}, "not an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Render(tc.goos, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Render error = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestUnitPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos string
		opts Options
		want string
	}{
		{"linux", Options{}, "/etc/systemd/system/angelad.service"},
		{"linux", Options{User: true, Home: "/home/david"}, "/home/david/.config/systemd/user/angelad.service"},
		{"darwin", Options{User: true, Home: "/Users/david"}, "/Users/david/Library/LaunchAgents/com.angela.angelad.plist"},
	} {
		got, err := UnitPath(tc.goos, tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("UnitPath(%s, %+v) = %q, %v; want %q", tc.goos, tc.opts, got, err, tc.want)
		}
	}
}

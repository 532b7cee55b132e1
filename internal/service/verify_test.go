package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdAnalyzeVerify has systemd itself load each rendered unit. Run
// without a systemd manager (a container, CI), systemd-analyze also prints
// complaints about its surroundings; those never name the unit file, while
// every problem with the unit (an unknown key, a bad value, a program that does
// not exist) does, so any line naming angelad.service fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd): the rendered units are not verified")
	}
	for _, tc := range []struct {
		name string
		user bool
		dir  string // where the executable lives, under a temporary directory
	}{
		{"system", false, "bin"},
		{"user", true, "bin"},
		// systemd must find the program at the path as it was escaped.
		{"system, awkward path", false, "my apps/100%/$HOME"},
		{"user, awkward path", true, "my apps/100%/$HOME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			exe := filepath.Join(tmp, tc.dir, "angelad")
			if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
				t.Fatal(err)
			}
			// verify checks that ExecStart names an executable file.
			if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			o := Options{User: tc.user, Executable: exe, ConfigPath: filepath.Join(tmp, "my config.toml")}
			name, content := mustRender(t, "linux", o)
			unit := filepath.Join(tmp, name)
			if err := os.WriteFile(unit, content, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify"}
			if tc.user {
				args = append(args, "--user")
			}
			cmd := exec.Command(analyze, append(args, unit)...)
			// A user manager needs a runtime directory, and should not read the
			// real user's units.
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+tmp, "HOME="+tmp, "SYSTEMD_COLORS=0")
			out, err := cmd.CombinedOutput()
			var problems []string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, name) {
					problems = append(problems, line)
				}
			}
			if len(problems) > 0 {
				t.Errorf("systemd-analyze %s:\n%s\nunit:\n%s", strings.Join(args, " "), strings.Join(problems, "\n"), content)
			}
			if err != nil {
				t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelativeStateDirIsRefused: resolved against the working directory, a
// relative state_dir gave a new, empty memory per directory.
func TestRelativeStateDirIsRefused(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, `state_dir = "state"`)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"env", Options{Env: envOf(map[string]string{"ANGELA_STATE_DIR": ".state"})},
			`invalid ANGELA_STATE_DIR: must be an absolute path such as "` + filepath.Join(wd, ".state") + `", got ".state"`},
		{"flag", Options{Flags: map[string]string{"state_dir": "../x"}, FlagNames: map[string]string{"state_dir": "--state-dir"}},
			`invalid --state-dir: must be an absolute path such as "` + filepath.Join(filepath.Dir(wd), "x") + `", got "../x"`},
		{"file", Options{File: file}, "config file " + file + `: invalid state_dir: must be an absolute path`},
		{"home shorthand", Options{Env: envOf(map[string]string{"ANGELA_STATE_DIR": "~/angela"})}, `got "~/angela"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.o)
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want a config error containing %q", err, tt.want)
			}
		})
	}
	c, err := load(t, Options{Env: envOf(map[string]string{"ANGELA_STATE_DIR": "/srv/angela/../angela/"})})
	if err != nil || c.StateDir != "/srv/angela" {
		t.Errorf("an absolute state_dir: %v, %q", err, c.StateDir)
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

func TestHooksSectionDefaultsAndValidation(t *testing.T) {
	c, err := load(t, Options{Env: envOf(map[string]string{})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hooks.Timeout != 2*time.Second || c.Hooks.MaxChars != 8000 || c.Hooks.CompactMaxChars != 3000 {
		t.Errorf("defaults: %+v", c.Hooks)
	}
	c, err = load(t, Options{Env: envOf(map[string]string{"ANGELA_HOOKS_TIMEOUT": "500ms", "ANGELA_HOOKS_COMPACT_MAX_CHARS": "1000"})})
	if err != nil || c.Hooks.Timeout != 500*time.Millisecond || c.Hooks.CompactMaxChars != 1000 {
		t.Errorf("from env: %+v, %v", c.Hooks, err)
	}
	for env, want := range map[string]string{
		"ANGELA_HOOKS_TIMEOUT":   "invalid ANGELA_HOOKS_TIMEOUT: must be a positive duration",
		"ANGELA_HOOKS_MAX_CHARS": "invalid ANGELA_HOOKS_MAX_CHARS: must be an integer from 200 to 200000",
	} {
		_, err := load(t, Options{Env: envOf(map[string]string{env: "0"})})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=0: %v, want %q", env, err, want)
		}
	}
}

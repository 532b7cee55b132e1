package config

import (
	"errors"
	"strings"
	"testing"
)

func TestMemoryKeysDefaultsAndChecks(t *testing.T) {
	root := false
	load := func(env map[string]string) (*Config, error) {
		return Load(Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: &root, Home: t.TempDir()})
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{ConsolidateEvery: 3600e9, BatchSize: 5000, HalfLifeMinDays: 7, HalfLifeMaxDays: 180,
		ReinforceFactor: 1.5, HalfLifeCapDays: 3650, CoreWeight: 0.9, CoreFloor: 0.5, ForgetBelow: 0.1}
	if c.Memory != want {
		t.Fatalf("defaults = %+v, want %+v", c.Memory, want)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ANGELA_MEMORY_BATCH_SIZE": "5001"}, "invalid ANGELA_MEMORY_BATCH_SIZE: must be an integer from 1 to 5000"},
		{map[string]string{"ANGELA_MEMORY_CONSOLIDATE_EVERY": "0s"}, "invalid ANGELA_MEMORY_CONSOLIDATE_EVERY"},
		{map[string]string{"ANGELA_MEMORY_HALF_LIFE_MIN_DAYS": "200"}, "invalid memory.half_life_min_days: must not exceed memory.half_life_max_days (180), got 200"},
		{map[string]string{"ANGELA_MEMORY_HALF_LIFE_MAX_DAYS": "4000"}, "invalid memory.half_life_max_days: must not exceed memory.half_life_cap_days (3650), got 4000"},
		{map[string]string{"ANGELA_MEMORY_FORGET_BELOW": "0.6"}, "invalid memory.forget_below: must be below memory.core_floor (0.5), got 0.6"},
		{map[string]string{"ANGELA_MEMORY_CORE_WEIGHT": "1.5"}, "invalid ANGELA_MEMORY_CORE_WEIGHT: must be a number from 0.1 to 1"},
	} {
		_, err := load(tt.env)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got %v, want a one-line config error containing %q", tt.env, err, tt.want)
		}
	}
	c, err = load(map[string]string{"ANGELA_MEMORY_CONSOLIDATE_EVERY": "15m", "ANGELA_MEMORY_REINFORCE_FACTOR": "2"})
	if err != nil || c.Memory.ConsolidateEvery.String() != "15m0s" || c.Memory.ReinforceFactor != 2 {
		t.Fatalf("overrides: %+v %v", c.Memory, err)
	}
}

package memory_test

import (
	"math"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/memory"
)

// defaultMemory is the memory section as shipped: the defaults of every key.
func defaultMemory(t testing.TB) config.Memory {
	t.Helper()
	root := false
	c, err := config.Load(config.Options{File: "", Env: func(string) (string, bool) { return "", false },
		Root: &root, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c.Memory
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestModelHalfLifeIsLinearInWeight(t *testing.T) {
	t.Parallel()
	m := memory.NewModel(defaultMemory(t))
	for _, tt := range []struct{ w, h float64 }{
		{0.1, 7}, {1, 180}, {0.55, 93.5}, {0.5, 7 + 0.4/0.9*173}, {0.05, 7}, {0.9, 7 + 0.8/0.9*173},
	} {
		if got := m.InitialHalfLife(tt.w); !near(got, tt.h) {
			t.Errorf("InitialHalfLife(%g) = %.12g, want %.12g", tt.w, got, tt.h)
		}
	}
	for _, tt := range []struct {
		importance int
		w          float64
	}{{1, 0.1}, {5, 0.5}, {0, 0.5}, {10, 1}} {
		if got := memory.ConversationWeight(tt.importance); !near(got, tt.w) {
			t.Errorf("ConversationWeight(%d) = %g, want %g", tt.importance, got, tt.w)
		}
	}
	for _, tt := range []struct {
		intensity, strength int
		w                   float64
	}{{1, 1, 0.1}, {9, 10, 0.95}, {10, 10, 1}, {0, 5, 0.5}, {5, 0, 0.5}} {
		if got := memory.EmotionWeight(tt.intensity, tt.strength); !near(got, tt.w) {
			t.Errorf("EmotionWeight(%d, %d) = %g, want %g", tt.intensity, tt.strength, got, tt.w)
		}
	}
}

func TestModelDecayReinforceFloorForgetRevive(t *testing.T) {
	t.Parallel()
	m := memory.NewModel(defaultMemory(t))
	day := 24 * time.Hour
	made := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := made

	weak := memory.State{Weight: 0.1, MadeAt: made}
	// One half-life (7 days) halves it, two quarter it.
	clock = made.Add(7 * day)
	if r := m.At(weak, clock); !near(r, 0.5) {
		t.Fatalf("after 7 days R = %.15g, want 0.5", r)
	}
	clock = made.Add(14 * day)
	if r := m.At(weak, clock); !near(r, 0.25) {
		t.Fatalf("after 14 days R = %.15g, want 0.25", r)
	}
	// Forgotten once under 0.1: 7 * log2(10) = 23.2535 days.
	if r := m.At(weak, made.Add(23*day)); m.Forgotten(r) {
		t.Fatalf("after 23 days R = %g counts as forgotten", r)
	}
	clock = made.Add(24 * day)
	r := m.At(weak, clock)
	if !near(r, math.Pow(0.5, 24.0/7)) || !m.Forgotten(r) {
		t.Fatalf("after 24 days R = %g, want %g and forgotten", r, math.Pow(0.5, 24.0/7))
	}

	// Recall revives it: R = 1, half-life 7 * 1.5 = 10.5 days from now.
	weak.ForgottenAt = &clock
	weak = m.Reinforce(weak, clock)
	if weak.ForgottenAt != nil || weak.RecallCount != 1 || weak.HalfLifeDays != 10.5 || weak.Retention != 1 || !weak.LastRecalledAt.Equal(clock) {
		t.Fatalf("reinforced state = %+v", weak)
	}
	if r := m.At(weak, clock.Add(21*day/2)); !near(r, 0.5) {
		t.Fatalf("10.5 days after the recall R = %.15g, want 0.5", r)
	}
	weak = m.Reinforce(weak, clock)
	if weak.HalfLifeDays != 15.75 || weak.RecallCount != 2 {
		t.Fatalf("second reinforcement: %+v, want half-life 15.75", weak)
	}

	// The half-life is capped at 10 years.
	strong := memory.State{Weight: 1, MadeAt: made, HalfLifeDays: 3000}
	if strong = m.Reinforce(strong, clock); strong.HalfLifeDays != 3650 {
		t.Fatalf("capped half-life = %g, want 3650", strong.HalfLifeDays)
	}

	// A core memory (w >= 0.9) never falls below 0.5; one just under does.
	core := memory.State{Weight: 0.9, MadeAt: made}
	late := made.Add(5 * 365 * day)
	if r := m.At(core, late); r != 0.5 {
		t.Fatalf("core memory after 5 years R = %g, want the floor 0.5", r)
	}
	notCore := memory.State{Weight: 0.85, MadeAt: made}
	if r := m.At(notCore, late); r >= 0.1 {
		t.Fatalf("non-core memory after 5 years R = %g, want forgotten", r)
	}
	// Before its half-life the core memory decays normally.
	h := m.InitialHalfLife(0.9)
	if r := m.At(core, made.Add(time.Duration(h/2*float64(day)))); !near(r, math.Sqrt(0.5)) {
		t.Fatalf("core memory at half its half-life R = %.15g, want %.15g", r, math.Sqrt(0.5))
	}
}

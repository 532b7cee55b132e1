package memory

import (
	"math"
	"time"

	"github.com/angela-ai/angelad/internal/config"
)

// Model is the retention model: how strongly a memory is remembered at a time,
// from its weight, its half-life and when it was made or last recalled. Its
// constants are the memory config keys (see config.Memory).
type Model struct {
	cfg config.Memory
}

// NewModel returns the model of cfg. cfg must pass cfg.Check.
func NewModel(cfg config.Memory) Model { return Model{cfg: cfg} }

// minWeight and maxWeight are the weights the half-life is interpolated
// between.
const (
	minWeight = 0.1
	maxWeight = 1.0
)

// ConversationWeight is the weight of a message of importance 1 to 10; 0 (a
// legacy row without one) counts as 5. It mirrors angela_conversation_weight.
func ConversationWeight(importance int) float64 {
	if importance == 0 {
		importance = 5
	}
	return float64(min(max(importance, 1), 10)) / 10
}

// EmotionWeight is the weight of an emotion: (intensity + memory strength) /
// 20, a missing (0) value counting as 5. It mirrors angela_emotion_weight.
func EmotionWeight(intensity, strength int) float64 {
	fix := func(v int) int {
		if v == 0 {
			return 5
		}
		return min(max(v, 1), 10)
	}
	return min(max(float64(fix(intensity)+fix(strength))/20, minWeight), maxWeight)
}

// InitialHalfLife is the half-life in days of a memory of weight w that was
// never recalled: linear from HalfLifeMinDays at w = 0.1 to HalfLifeMaxDays at
// w = 1.
func (m Model) InitialHalfLife(w float64) float64 {
	w = min(max(w, minWeight), maxWeight)
	return m.cfg.HalfLifeMinDays + (w-minWeight)/(maxWeight-minWeight)*(m.cfg.HalfLifeMaxDays-m.cfg.HalfLifeMinDays)
}

// Reinforced is the half-life after one more recall of a memory whose
// half-life is h: h times ReinforceFactor, capped at HalfLifeCapDays.
func (m Model) Reinforced(h float64) float64 {
	return min(h*m.cfg.ReinforceFactor, m.cfg.HalfLifeCapDays)
}

// Retention is R = 0.5^(d / h) of a memory of weight w and half-life h days,
// made or last recalled at since, at now; d is counted in days and is never
// negative. A core memory (w >= CoreWeight) never falls below CoreFloor.
func (m Model) Retention(w, h float64, since, now time.Time) float64 {
	d := max(now.Sub(since).Seconds(), 0) / 86400
	r := math.Pow(0.5, d/h)
	if w >= m.cfg.CoreWeight {
		r = max(r, m.cfg.CoreFloor)
	}
	return r
}

// Forgotten reports whether retention r is under the forgetting threshold.
func (m Model) Forgotten(r float64) bool { return r < m.cfg.ForgetBelow }

// State is the retention state of one memory.
type State struct {
	Weight         float64    `json:"weight"`
	MadeAt         time.Time  `json:"made_at"`
	LastRecalledAt *time.Time `json:"last_recalled_at,omitempty"`
	RecallCount    int        `json:"recall_count"`
	// HalfLifeDays is the memory's half-life; 0 means the initial one of its
	// weight.
	HalfLifeDays float64    `json:"half_life_days"`
	Retention    float64    `json:"retention"`
	ForgottenAt  *time.Time `json:"forgotten_at,omitempty"`
}

// HalfLife is s's half-life in days under m.
func (m Model) HalfLife(s State) float64 {
	if s.HalfLifeDays > 0 {
		return s.HalfLifeDays
	}
	return m.InitialHalfLife(s.Weight)
}

// At returns s's retention at now.
func (m Model) At(s State, now time.Time) float64 {
	since := s.MadeAt
	if s.LastRecalledAt != nil {
		since = *s.LastRecalledAt
	}
	return m.Retention(s.Weight, m.HalfLife(s), since, now)
}

// Reinforce returns s recalled at now: recalled now, one more recall, its
// half-life grown, fully retained and no longer forgotten.
func (m Model) Reinforce(s State, now time.Time) State {
	s.HalfLifeDays = m.Reinforced(m.HalfLife(s))
	s.LastRecalledAt = &now
	s.RecallCount++
	s.Retention = 1
	s.ForgottenAt = nil
	return s
}

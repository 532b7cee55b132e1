package config

import "time"

// Memory configures the retention model, the consolidation pass, recall and
// search. The model is described in the README: a memory of weight w has a
// half-life growing linearly from HalfLifeMinDays at w = 0.1 to
// HalfLifeMaxDays at w = 1, and its retention is 0.5^(days / half-life).
type Memory struct {
	// ConsolidateEvery is how often the memory worker brings every memory's
	// stored retention up to date (it also does at start).
	ConsolidateEvery time.Duration
	// BatchSize is how many memories one transaction of the pass updates.
	BatchSize int
	// HalfLifeMinDays is the half-life of the weakest memory (w = 0.1).
	HalfLifeMinDays float64
	// HalfLifeMaxDays is the half-life of the strongest memory (w = 1).
	HalfLifeMaxDays float64
	// ReinforceFactor multiplies the half-life each time a memory is recalled.
	ReinforceFactor float64
	// HalfLifeCapDays is the longest half-life reinforcement can reach.
	HalfLifeCapDays float64
	// CoreWeight is the weight from which a memory is a core memory.
	CoreWeight float64
	// CoreFloor is the retention a core memory never falls below.
	CoreFloor float64
	// ForgetBelow is the retention under which a memory is marked forgotten.
	ForgetBelow float64
}

// Check reports a combination of memory keys that cannot work together, as
// an *Error naming the key: each key alone is checked when it is read.
func (m Memory) Check() error {
	if m.HalfLifeMinDays > m.HalfLifeMaxDays {
		return errorf("invalid memory.half_life_min_days: must not exceed memory.half_life_max_days (%g), got %g", m.HalfLifeMaxDays, m.HalfLifeMinDays)
	}
	if m.HalfLifeMaxDays > m.HalfLifeCapDays {
		return errorf("invalid memory.half_life_max_days: must not exceed memory.half_life_cap_days (%g), got %g", m.HalfLifeCapDays, m.HalfLifeMaxDays)
	}
	if m.ForgetBelow >= m.CoreFloor {
		return errorf("invalid memory.forget_below: must be below memory.core_floor (%g), got %g", m.CoreFloor, m.ForgetBelow)
	}
	return nil
}

func memoryKeys() []key {
	f := func(field func(*Memory) *float64) func(*Config) *float64 {
		return func(c *Config) *float64 { return field(&c.Memory) }
	}
	return []key{
		durKey("memory.consolidate_every", "how often the memory worker updates every memory's retention (also at start)", time.Hour,
			func(c *Config) *time.Duration { return &c.Memory.ConsolidateEvery }),
		intKey("memory.batch_size", "memories updated per transaction of the consolidation pass", 5000, 1, 5000,
			func(c *Config) *int { return &c.Memory.BatchSize }),
		floatKey("memory.half_life_min_days", "half-life in days of the weakest memory (weight 0.1)", 7, 0.01, 36500,
			f(func(m *Memory) *float64 { return &m.HalfLifeMinDays })),
		floatKey("memory.half_life_max_days", "half-life in days of the strongest memory (weight 1)", 180, 0.01, 36500,
			f(func(m *Memory) *float64 { return &m.HalfLifeMaxDays })),
		floatKey("memory.reinforce_factor", "factor on a memory's half-life each time it is recalled", 1.5, 1, 10,
			f(func(m *Memory) *float64 { return &m.ReinforceFactor })),
		floatKey("memory.half_life_cap_days", "longest half-life in days that reinforcement reaches", 3650, 0.01, 36500,
			f(func(m *Memory) *float64 { return &m.HalfLifeCapDays })),
		floatKey("memory.core_weight", "weight from which a memory is a core memory", 0.9, 0.1, 1,
			f(func(m *Memory) *float64 { return &m.CoreWeight })),
		floatKey("memory.core_floor", "retention a core memory never falls below", 0.5, 0, 1,
			f(func(m *Memory) *float64 { return &m.CoreFloor })),
		floatKey("memory.forget_below", "retention under which a memory is marked forgotten (never deleted)", 0.1, 0, 1,
			f(func(m *Memory) *float64 { return &m.ForgetBelow })),
	}
}

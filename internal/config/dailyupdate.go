package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DailyUpdate configures the scheduled morning, midnight and evening updates.
type DailyUpdate struct {
	// The jobs' schedules.
	Morning, Midnight, Evening DailyJob
	// MaxAttempts is how many times a failing slot is tried before it fails
	// for good.
	MaxAttempts int
	// CatchUp is how far back a missed slot is still run at start or after
	// the machine wakes; older ones are recorded as skipped.
	CatchUp time.Duration
	// Dir, when set, also receives every update as <date>-<kind>.md.
	Dir string
}

// DailyJob is one scheduled update.
type DailyJob struct {
	// Schedule is a 5-field cron spec read in the timezone key's zone.
	Schedule string
	Enabled  bool
}

// Job returns the named job's schedule: morning, midnight or evening.
func (d DailyUpdate) Job(name string) (DailyJob, bool) {
	switch name {
	case "morning":
		return d.Morning, true
	case "midnight":
		return d.Midnight, true
	case "evening":
		return d.Evening, true
	}
	return DailyJob{}, false
}

// dailyJobDefaults are the scheduled updates with their default schedules.
func dailyJobDefaults() []struct{ name, schedule string } {
	return []struct{ name, schedule string }{
		{"morning", "0 6 * * *"},
		{"midnight", "0 0 * * *"},
		{"evening", "0 22 * * *"},
	}
}

// ParseCronSpec parses a daily update's schedule: a 5-field cron spec
// ("0 22 * * *") or one of @daily, @hourly, @weekly, @monthly, @yearly. The
// zone is never part of it (that is the timezone key), and @every is refused
// because an update happens at wall-clock times. robfig's parser panics on
// some malformed input; that is returned as an error too.
func ParseCronSpec(spec string) (s cron.Schedule, err error) {
	const allowed = `a 5-field cron spec such as "0 22 * * *" (minute hour day-of-month month day-of-week) or @daily, @hourly, @weekly, @monthly`
	trimmed := strings.TrimSpace(spec)
	switch {
	case trimmed == "":
		return nil, fmt.Errorf("must be %s, got an empty spec", allowed)
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		return nil, fmt.Errorf("must not name a zone (the zone is the timezone key): must be %s, got %q", allowed, spec)
	case strings.HasPrefix(trimmed, "@every"):
		return nil, fmt.Errorf("must be %s, got %q (@every is not a wall-clock schedule)", allowed, spec)
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("must be %s, got %q", allowed, spec)
		}
	}()
	sched, perr := cron.ParseStandard(trimmed)
	if perr != nil {
		return nil, fmt.Errorf("must be %s, got %q: %v", allowed, spec, perr)
	}
	// A spec that never fires (February 30th) makes Next return the zero time.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("must be %s that fires at least once, got %q", allowed, spec)
	}
	return sched, nil
}

func dailyUpdateKeys() []key {
	var ks []key
	for _, j := range dailyJobDefaults() {
		job := func(c *Config) *DailyJob {
			switch j.name {
			case "morning":
				return &c.DailyUpdate.Morning
			case "midnight":
				return &c.DailyUpdate.Midnight
			}
			return &c.DailyUpdate.Evening
		}
		schedule := strKey("dailyupdate.jobs."+j.name+".schedule",
			"when the "+j.name+" update runs: a 5-field cron spec in the timezone key's zone", j.schedule,
			func(c *Config) *string { return &job(c).Schedule })
		plain := schedule.set
		schedule.set = func(c *Config, v string) error {
			if _, err := ParseCronSpec(v); err != nil {
				return err
			}
			return plain(c, v)
		}
		ks = append(ks, schedule, boolKey("dailyupdate.jobs."+j.name+".enabled", "whether the "+j.name+" update runs", true,
			func(c *Config) *bool { return &job(c).Enabled }))
	}
	return append(ks,
		intKey("dailyupdate.max_attempts", "how many times a failing update is tried before it fails for good", 3, 1, 100,
			func(c *Config) *int { return &c.DailyUpdate.MaxAttempts }),
		durKey("dailyupdate.catch_up", "how far back a missed update still runs at start or after sleep; older ones are skipped", 36*time.Hour,
			func(c *Config) *time.Duration { return &c.DailyUpdate.CatchUp }),
		key{name: "dailyupdate.dir", help: "a directory that also receives every update as <date>-<kind>.md; empty: none",
			get: func(c *Config) string { return c.DailyUpdate.Dir },
			set: func(c *Config, v string) error {
				if v == "" {
					c.DailyUpdate.Dir = ""
					return nil
				}
				abs, err := filepath.Abs(v)
				if err != nil {
					return err
				}
				c.DailyUpdate.Dir = abs
				return nil
			}},
	)
}

package config

import (
	"fmt"
	"strings"
	"time"
)

// Companion names the two people the memory belongs to and when they met:
// what the daily updates and the recall pack say about who and when.
type Companion struct {
	// Language is what generated text is written in: "th" or "en".
	Language string
	// UserName is the user's name (David).
	UserName string
	// Name is the companion's name (Angela).
	Name string
	// Since is the first day together, a calendar date (midnight UTC of it).
	Since time.Time
}

// DayTogether is the number of the day t falls on, counting Since as day 1,
// by the calendar date of t in t's location. A date before Since gives a
// number below 1.
func (c Companion) DayTogether(t time.Time) int {
	y, m, d := t.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return int(day.Sub(c.Since).Hours()/24) + 1
}

// SpeakerName is how generated text names the stored speaker of a message
// (conversation's david, angela or system): UserName for david, Name for
// angela, and other for any other speaker, since each writer words the
// system in its own language.
func (c Companion) SpeakerName(speaker, other string) string {
	switch speaker {
	case "david":
		return c.UserName
	case "angela":
		return c.Name
	}
	return other
}

func companionKeys() []key {
	name := func(key, help, def string, field func(*Config) *string) key {
		k := strKey(key, help, def, field)
		plain := k.set
		k.set = func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v == "" || strings.ContainsAny(v, "\n\r\t") || len([]rune(v)) > 50 {
				return fmt.Errorf("must be a name of 1 to 50 characters on one line, got %q", v)
			}
			return plain(c, v)
		}
		return k
	}
	return []key{
		oneOfKey("companion.language", "language of the daily updates and the recall pack: th or en", "th",
			func(c *Config) *string { return &c.Companion.Language }, "th", "en"),
		name("companion.user_name", "the user's name in generated text", "David",
			func(c *Config) *string { return &c.Companion.UserName }),
		name("companion.name", "the companion's name in generated text", "Angela",
			func(c *Config) *string { return &c.Companion.Name }),
		{name: "companion.since", help: `the first day together (YYYY-MM-DD), day 1 of "day N together"`, def: "2025-10-14",
			get: func(c *Config) string { return c.Companion.Since.Format(time.DateOnly) },
			set: func(c *Config, v string) error {
				d, err := time.Parse(time.DateOnly, v)
				if err != nil {
					return fmt.Errorf("must be a date YYYY-MM-DD such as 2025-10-14, got %q", v)
				}
				c.Companion.Since = d
				return nil
			}},
	}
}

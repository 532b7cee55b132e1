package dailyupdate

import (
	"sort"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/angela-ai/angelad/internal/config"
)

// The jobs, in the order they are listed.
const (
	JobMorning  = "morning"
	JobMidnight = "midnight"
	JobEvening  = "evening"
)

// JobNames lists every job.
func JobNames() []string { return []string{JobMorning, JobMidnight, JobEvening} }

// IsJob reports whether name is one of JobNames.
func IsJob(name string) bool {
	for _, n := range JobNames() {
		if n == name {
			return true
		}
	}
	return false
}

// Schedule is a parsed cron spec. Its times are wall-clock times in a zone
// given separately, so that daylight saving time is handled here rather than
// by robfig/cron, which skips a time that falls in the hour clocks skip.
type Schedule struct {
	Spec  string
	sched cron.Schedule
}

// ParseSchedule parses a job's spec as the dailyupdate.jobs.<name>.schedule
// key accepts it (see config.ParseCronSpec); a panic of robfig's parser is an
// error too.
func ParseSchedule(spec string) (Schedule, error) {
	sched, err := config.ParseCronSpec(spec)
	if err != nil {
		return Schedule{}, err
	}
	return Schedule{Spec: spec, sched: sched}, nil
}

// Slot is one scheduled run of a job. Its identity is the job and the local
// wall-clock time it is scheduled for (Wall, in the zone, with no offset), so
// that a time in the repeated hour of a fall-back is one slot, not two. At is
// the instant it is due: the first occurrence of Wall, or for a wall time that
// does not exist (clocks skipped it) the first instant after the gap.
type Slot struct {
	Job  string
	Wall time.Time // the wall-clock time, as a time in UTC
	At   time.Time // the instant it is due
}

// Key identifies the slot.
func (s Slot) Key() string { return s.Job + " " + s.Wall.Format("2006-01-02T15:04") }

// Date is the slot's local date.
func (s Slot) Date() time.Time {
	return time.Date(s.Wall.Year(), s.Wall.Month(), s.Wall.Day(), 0, 0, 0, 0, time.UTC)
}

// wallOf returns the wall-clock reading of t in loc, as a time in UTC.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instantOf returns the first instant whose wall-clock reading in loc is wall
// (wall is a time in UTC standing for a reading). When clocks skip wall, it is
// the instant the skipped gap ends.
func instantOf(wall time.Time, loc *time.Location) time.Time {
	var first time.Time
	// The offsets in force a day before and a day after cover every
	// transition near wall; each gives at most one candidate.
	probe := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	for _, p := range []time.Time{probe.Add(-24 * time.Hour), probe, probe.Add(24 * time.Hour)} {
		_, off := p.Zone()
		c := wall.Add(-time.Duration(off) * time.Second)
		if wallOf(c, loc).Equal(wall) && (first.IsZero() || c.Before(first)) {
			first = c
		}
	}
	if !first.IsZero() {
		return first
	}
	// wall falls in a gap: the gap ends where the zone of the probe begins or
	// ends, whichever lies just after wall.
	start, end := probe.ZoneBounds()
	if wallOf(probe, loc).After(wall) {
		return start
	}
	return end
}

// slotsBetween returns the job's slots due in (from, to], oldest first.
func (s Schedule) slotsBetween(job string, loc *time.Location, from, to time.Time) []Slot {
	if !to.After(from) {
		return nil
	}
	// Walk wall-clock readings in UTC, where no hour is skipped or repeated,
	// starting a little before from's reading so that a transition between
	// reading and instant cannot drop a slot.
	var out []Slot
	w := wallOf(from, loc).Add(-3 * time.Hour)
	end := wallOf(to, loc).Add(3 * time.Hour)
	for {
		w = s.sched.Next(w)
		if w.IsZero() || w.After(end) {
			break
		}
		at := instantOf(w, loc)
		if at.After(from) && !at.After(to) {
			out = append(out, Slot{Job: job, Wall: w, At: at})
		}
	}
	return out
}

// next returns the job's first slot due after t.
func (s Schedule) next(job string, loc *time.Location, t time.Time) Slot {
	w := wallOf(t, loc).Add(-3 * time.Hour)
	for {
		w = s.sched.Next(w)
		if w.IsZero() {
			return Slot{}
		}
		if at := instantOf(w, loc); at.After(t) {
			return Slot{Job: job, Wall: w, At: at}
		}
	}
}

// OnDate returns the job's first slot on the local date d (a date in UTC), or
// false when the schedule has none that day.
func (s Schedule) OnDate(job string, loc *time.Location, d time.Time) (Slot, bool) {
	day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	w := s.sched.Next(day.Add(-time.Second))
	if w.IsZero() || !w.Before(day.AddDate(0, 0, 1)) {
		return Slot{}, false
	}
	return Slot{Job: job, Wall: w, At: instantOf(w, loc)}, true
}

// sortSlots orders slots oldest first, by due instant, then job name.
func sortSlots(slots []Slot) {
	sort.SliceStable(slots, func(i, j int) bool {
		if !slots[i].At.Equal(slots[j].At) {
			return slots[i].At.Before(slots[j].At)
		}
		if !slots[i].Wall.Equal(slots[j].Wall) {
			return slots[i].Wall.Before(slots[j].Wall)
		}
		return slots[i].Job < slots[j].Job
	})
}

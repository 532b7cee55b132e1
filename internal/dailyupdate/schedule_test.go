package dailyupdate

import (
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustSchedule(t *testing.T, spec string) Schedule {
	t.Helper()
	s, err := ParseSchedule(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseScheduleRefusesBadSpecsWithoutPanicking(t *testing.T) {
	for _, spec := range []string{"", "   ", "TZ=0 0 6 * * *", "TZ=0", "CRON_TZ=Asia/Bangkok 0 6 * * *",
		"@every 1h", "61 * * * *", "0 6 * *", "0 6 * * * *", "0 0 30 2 *", "every day", "@yearlyish", "0 25 * * *"} {
		t.Run(spec, func(t *testing.T) {
			_, err := ParseSchedule(spec)
			if err == nil {
				t.Fatalf("ParseSchedule(%q) accepted it", spec)
			}
			if !strings.Contains(err.Error(), "must") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line saying what is allowed: %q", err)
			}
		})
	}
	for _, spec := range []string{"0 6 * * *", "@daily", "*/15 9-17 * * 1-5", " 0 22 * * * "} {
		if _, err := ParseSchedule(spec); err != nil {
			t.Errorf("ParseSchedule(%q): %v", spec, err)
		}
	}
}

func TestSlotInTheSkippedHourRunsAtTheFirstInstantAfterIt(t *testing.T) {
	for _, tc := range []struct {
		zone, spec string
		day        time.Time
		want       string // the due instant, UTC
	}{
		// 2026-03-08 02:00 EST becomes 03:00 EDT.
		{"America/New_York", "30 2 * * *", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), "2026-03-08T07:00:00Z"},
		{"America/New_York", "0 2 * * *", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), "2026-03-08T07:00:00Z"},
		// 2026-03-29 01:00 GMT becomes 02:00 BST.
		{"Europe/London", "30 1 * * *", time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), "2026-03-29T01:00:00Z"},
	} {
		loc := mustLoad(t, tc.zone)
		s := mustSchedule(t, tc.spec)
		slot, ok := s.OnDate(JobMorning, loc, tc.day)
		if !ok || slot.At.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("%s %q: slot at %s, want %s", tc.zone, tc.spec, slot.At.UTC().Format(time.RFC3339), tc.want)
		}
		// The slot is found by the enumeration the worker uses too, once.
		from := time.Date(2026, tc.day.Month(), tc.day.Day(), 0, 0, 0, 0, loc).Add(-time.Hour)
		got := s.slotsBetween(JobMorning, loc, from, from.Add(24*time.Hour))
		if len(got) != 1 || !got[0].At.Equal(slot.At) {
			t.Errorf("%s %q: slotsBetween = %v, want one at %s", tc.zone, tc.spec, got, tc.want)
		}
	}
}

func TestSlotInTheRepeatedHourRunsOnce(t *testing.T) {
	for _, tc := range []struct {
		zone string
		day  time.Time
		want string // the first 01:30, UTC
	}{
		{"America/New_York", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "2026-11-01T05:30:00Z"},
		{"Europe/London", time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), "2026-10-25T00:30:00Z"},
	} {
		loc := mustLoad(t, tc.zone)
		s := mustSchedule(t, "30 1 * * *")
		from := time.Date(2026, tc.day.Month(), tc.day.Day(), 0, 0, 0, 0, loc)
		got := s.slotsBetween(JobMorning, loc, from, from.Add(25*time.Hour))
		if len(got) != 1 || got[0].At.UTC().Format(time.RFC3339) != tc.want {
			t.Fatalf("%s: slots %v, want one at %s", tc.zone, got, tc.want)
		}
		// An hourly job sees each wall-clock hour once, the repeated one too.
		hourly := mustSchedule(t, "0 * * * *")
		hs := hourly.slotsBetween(JobMorning, loc, from.Add(-time.Minute), from.Add(25*time.Hour-time.Minute))
		if len(hs) != 24 {
			t.Fatalf("%s: %d hourly slots on the 25-hour day, want 24 (one per wall-clock hour)", tc.zone, len(hs))
		}
		seen := map[string]bool{}
		for _, h := range hs {
			if seen[h.Key()] {
				t.Fatalf("%s: slot %s twice", tc.zone, h.Key())
			}
			seen[h.Key()] = true
		}
	}
}

func TestNextIsAfterNowAcrossTransitions(t *testing.T) {
	loc := mustLoad(t, "America/New_York")
	s := mustSchedule(t, "30 2 * * *")
	now := time.Date(2026, 3, 8, 1, 59, 0, 0, loc)
	n := s.next(JobMorning, loc, now)
	if n.At.UTC().Format(time.RFC3339) != "2026-03-08T07:00:00Z" {
		t.Fatalf("next = %s, want 2026-03-08T07:00:00Z (03:00 EDT)", n.At.UTC())
	}
	n = s.next(JobMorning, loc, n.At)
	if n.At.UTC().Format(time.RFC3339) != "2026-03-09T06:30:00Z" {
		t.Fatalf("next after = %s, want 2026-03-09T06:30:00Z", n.At.UTC())
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

func TestDailyUpdateDefaultsAndFile(t *testing.T) {
	c, err := load(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := c.DailyUpdate
	if d.Morning != (DailyJob{"0 6 * * *", true}) || d.Midnight != (DailyJob{"0 0 * * *", true}) ||
		d.Evening != (DailyJob{"0 22 * * *", true}) || d.MaxAttempts != 3 || d.CatchUp != 36*time.Hour || d.Dir != "" {
		t.Fatalf("defaults %+v", d)
	}
	c, err = load(t, Options{File: writeFile(t, `[dailyupdate]
max_attempts = 5
catch_up = "12h"
dir = "/tmp/updates"
[dailyupdate.jobs.evening]
schedule = "30 21 * * *"
enabled = false`)})
	if err != nil {
		t.Fatal(err)
	}
	d = c.DailyUpdate
	if d.Evening != (DailyJob{"30 21 * * *", false}) || d.Morning.Schedule != "0 6 * * *" || d.MaxAttempts != 5 ||
		d.CatchUp != 12*time.Hour || d.Dir != "/tmp/updates" {
		t.Fatalf("from the file %+v", d)
	}
	if j, ok := d.Job("evening"); !ok || j.Schedule != "30 21 * * *" {
		t.Fatalf("Job(evening) = %+v, %v", j, ok)
	}
}

func TestBadDailyUpdateScheduleIsAConfigErrorNamingTheKey(t *testing.T) {
	for _, spec := range []string{"TZ=0 0 6 * * *", "TZ=0", "CRON_TZ=Asia/Bangkok 0 6 * * *", "0 6 * *", "@every 5m", "0 0 31 2 *", ""} {
		t.Run(spec, func(t *testing.T) {
			_, err := load(t, Options{File: writeFile(t, "[dailyupdate.jobs.morning]\nschedule = \""+spec+"\"")})
			if err == nil {
				t.Fatal("accepted")
			}
			if _, ok := err.(*Error); !ok || !strings.Contains(err.Error(), "invalid dailyupdate.jobs.morning.schedule: must") ||
				strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %T %q, want a one-line *Error naming the key", err, err)
			}
		})
	}
}

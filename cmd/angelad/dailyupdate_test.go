package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

func TestDailyUpdateCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url).with("ANGELA_COMPANION_LANGUAGE=en")
	loc, _ := time.LoadLocation(pgtest.TimeZone)
	yesterday := time.Now().In(loc).AddDate(0, 0, -1).Format(time.DateOnly)
	c.ok("save-conversation", "--speaker", "david", "--message", "hello", "--topic", "greeting",
		"--at", time.Now().In(loc).AddDate(0, 0, -1).Format(time.DateOnly)+"T12:00:00+07:00")

	out := c.ok("run-job", "evening", "--date", yesterday)
	if !strings.HasPrefix(out, "ran the evening update of "+yesterday) {
		t.Fatalf("run-job: %q", out)
	}
	out = c.ok("run-job", "evening", "--date", yesterday)
	if !strings.HasPrefix(out, "rewrote the evening update of "+yesterday+" (slot "+yesterday+" 22:00 +07 had already run)") {
		t.Fatalf("second run-job: %q", out)
	}
	if n := count(t, url, "daily_updates"); n != 1 {
		t.Fatalf("%d updates after a rerun, want 1", n)
	}

	var list []struct {
		Date, Kind, Title, Content string
		Figures                    map[string]any
	}
	if err := json.Unmarshal([]byte(c.ok("journal", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Kind != "evening" || list[0].Figures["conversations"].(float64) != 1 ||
		!strings.Contains(list[0].Content, "1 messages: David 1") {
		t.Fatalf("journal --json: %+v", list)
	}
	out = c.ok("journal", "--date", yesterday, "--kind", "evening")
	if !strings.Contains(out, "── "+yesterday+" evening (written ") || !strings.Contains(out, "# Reflection on "+yesterday) {
		t.Fatalf("journal:\n%s", out)
	}
	if out := c.ok("journal", "--kind", "morning", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("no morning yet, got %s", out)
	}

	var jobs []struct {
		Job, Schedule, Zone string
		NextRun             *time.Time `json:"next_run"`
		LastRun             *struct {
			Status   string
			Attempts int
		} `json:"last_run"`
	}
	if err := json.Unmarshal([]byte(c.ok("jobs", "--json")), &jobs); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[2].Job != "evening" || jobs[2].Schedule != "0 22 * * *" || jobs[2].NextRun == nil ||
		jobs[2].LastRun == nil || jobs[2].LastRun.Status != "done" || jobs[2].Zone != pgtest.TimeZone || jobs[0].LastRun != nil {
		t.Fatalf("jobs --json: %+v", jobs)
	}
	out = c.ok("jobs")
	if !strings.Contains(out, "evening") || !strings.Contains(out, "done in") || !strings.Contains(out, "(Asia/Bangkok)") ||
		!strings.Contains(out, "never") {
		t.Fatalf("jobs:\n%s", out)
	}
	if out := c.with("ANGELA_DAILYUPDATE_JOBS_MORNING_ENABLED=false").ok("jobs"); !strings.Contains(out, "disabled") {
		t.Fatalf("jobs with morning disabled:\n%s", out)
	}

	// Bad input: exit 2, one line, nothing written.
	tomorrow := time.Now().In(loc).AddDate(0, 0, 1).Format(time.DateOnly)
	c.fails(2, `unknown job "weekly": must be one of morning, midnight, evening`, "run-job", "weekly")
	c.fails(2, "run-job takes one job name", "run-job")
	c.fails(2, "invalid --date: must be a date YYYY-MM-DD", "run-job", "evening", "--date", "2026-13-01")
	c.fails(2, "invalid --date: must not be after today", "run-job", "morning", "--date", tomorrow)
	c.fails(2, "invalid --date: must be a date YYYY-MM-DD", "journal", "--date", "yesterday")
	c.fails(2, "invalid --kind: must be one of evening, morning, midnight, all", "journal", "--kind", "weekly")
	c.fails(2, "--limit", "journal", "--limit", "0")
	c.fails(2, "jobs takes no arguments", "jobs", "extra")
	for _, spec := range []string{"TZ=0 0 6 * * *", "0 25 * * *", "@every 1h"} {
		bad := c.with("ANGELA_DAILYUPDATE_JOBS_EVENING_SCHEDULE=" + spec)
		bad.fails(2, "invalid ANGELA_DAILYUPDATE_JOBS_EVENING_SCHEDULE: must", "jobs")
		bad.fails(2, "invalid ANGELA_DAILYUPDATE_JOBS_EVENING_SCHEDULE: must", "run")
	}
	c.with("ANGELA_DAILYUPDATE_MAX_ATTEMPTS=0").fails(2, "invalid ANGELA_DAILYUPDATE_MAX_ATTEMPTS", "jobs")
	c.with("ANGELA_DAILYUPDATE_CATCH_UP=soon").fails(2, "invalid ANGELA_DAILYUPDATE_CATCH_UP", "jobs")
	if n := count(t, url, "daily_updates"); n != 1 {
		t.Fatalf("bad input wrote updates: %d", n)
	}
}

// TestTwoDaemonProcessesRunEachSlotOnce runs two daemons (two processes, two
// state directories) on one database with an every-minute job and a 100-minute
// catch-up window: each of the 100 slots runs once between them.
func TestTwoDaemonProcessesRunEachSlotOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	env := []string{"ANGELA_DAILYUPDATE_JOBS_EVENING_SCHEDULE=* * * * *", "ANGELA_DAILYUPDATE_CATCH_UP=100m",
		"ANGELA_DAILYUPDATE_JOBS_MORNING_ENABLED=false", "ANGELA_DAILYUPDATE_JOBS_MIDNIGHT_ENABLED=false"}
	a := newCLI(t, url).with(env...)
	b := newCLI(t, url).with(env...)
	da, db := startDaemon(t, a), startDaemon(t, b)
	da.waitFor(t, `"msg":"ready"`)
	db.waitFor(t, `"msg":"ready"`)
	conn := pgtest.Conn(t, url)
	ctx := context.Background()
	testkit.WaitFor(t, "100 slots done", func() error {
		var done, other int
		if err := conn.QueryRow(ctx, `select count(*) filter (where status = 'done'), count(*) filter (where status <> 'done')
from daily_update_runs`).Scan(&done, &other); err != nil {
			t.Fatal(err)
		}
		if done >= 100 && other == 0 {
			return nil
		}
		return fmt.Errorf("%d slots done, %d not", done, other)
	})
	// The status shows the job.
	testkit.WaitFor(t, "status to show the evening job", func() error {
		if out := a.run("", "status").stdout; !strings.Contains(out, "evening.last_run.status: done") {
			return fmt.Errorf("status:\n%s", out)
		}
		return nil
	})
	if code := da.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon a exit %d", code)
	}
	if code := db.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon b exit %d", code)
	}
	// A slot that came due as the daemons stopped may be left running (its
	// transaction rolled back; the next start takes it over): it did not run.
	var slots, done, once, interrupted int
	if err := conn.QueryRow(ctx, `select count(*), count(*) filter (where status = 'done'),
	count(*) filter (where attempts = 1 and status = 'done'), count(*) filter (where status = 'running')
from daily_update_runs`).Scan(&slots, &done, &once, &interrupted); err != nil {
		t.Fatal(err)
	}
	ran := strings.Count(da.log(), `"msg":"ran"`) + strings.Count(db.log(), `"msg":"ran"`)
	if done < 100 || once != done || ran != done || slots != done+interrupted || interrupted > 2 {
		t.Fatalf("%d slots, %d done, %d of them on the first attempt, %d interrupted, %d runs logged by the two daemons: want each slot run once",
			slots, done, once, interrupted, ran)
	}
	t.Logf("%d slots: a ran %d, b ran %d", slots, strings.Count(da.log(), `"msg":"ran"`), strings.Count(db.log(), `"msg":"ran"`))
}

func TestStatusIsUnhealthyWhenAnUpdateFailedForGood(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	// A file where the updates' directory should be: every write fails.
	notADir := filepath.Join(t.TempDir(), "updates")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, url).with("ANGELA_DAILYUPDATE_DIR="+notADir, "ANGELA_DAILYUPDATE_MAX_ATTEMPTS=1",
		"ANGELA_DAILYUPDATE_JOBS_MORNING_ENABLED=false", "ANGELA_DAILYUPDATE_JOBS_MIDNIGHT_ENABLED=false")
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"failed for good"`)
	var r result
	testkit.WaitFor(t, "status to show the failed update", func() error {
		if r = c.run("", "status"); r.code != 1 || !strings.Contains(r.stdout, "UNHEALTHY: worker dailyupdate: the evening update of") {
			return fmt.Errorf("status: exit %d\n%s", r.code, r.stdout)
		}
		return nil
	})
	if !strings.Contains(r.stdout, "failed for good after 1 attempt: write ") || !strings.Contains(r.stdout, "evening.last_run.status: failed") {
		t.Fatalf("status:\n%s", r.stdout)
	}
	out := c.ok("jobs")
	if !strings.Contains(out, "failed in") || !strings.Contains(out, "failed for good") {
		t.Fatalf("jobs:\n%s", out)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

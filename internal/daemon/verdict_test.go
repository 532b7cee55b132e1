package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestVerdictCountsASpooledRecordsWaitOnlyWhileTheDatabaseIsReachable(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	running := func(db DatabaseStatus) *Status { return &Status{State: StateRunning, Database: db} }
	up := DatabaseStatus{Reachable: true, ReachableSince: now.Add(-time.Hour)}
	for _, tc := range []struct {
		name  string
		o     Observation
		want  string
		clear bool
	}{
		{name: "empty spool", o: Observation{Running: true, Published: running(up), Now: now}, clear: true},
		{name: "a fresh record", clear: true,
			o: Observation{Running: true, Published: running(up), Now: now, Spool: SpoolBacklog{Count: 2, Oldest: now.Add(-4 * time.Minute)}}},
		{name: "a record waiting too long", want: "2 spooled saves wait, the oldest since 2026-12-01T11:54:00Z, 6m0s while the database is reachable",
			o: Observation{Running: true, Published: running(up), Now: now, Spool: SpoolBacklog{Count: 2, Oldest: now.Add(-6 * time.Minute)}}},
		{name: "an old record, the database back for a minute", clear: true,
			o: Observation{Running: true, Published: running(DatabaseStatus{Reachable: true, ReachableSince: now.Add(-time.Minute)}), Now: now,
				Spool: SpoolBacklog{Count: 1, Oldest: now.Add(-time.Hour)}}},
		{name: "an old record, the database back for six minutes", want: "1 spooled saves wait, the oldest since 2026-12-01T11:00:00Z, 6m0s while",
			o: Observation{Running: true, Published: running(DatabaseStatus{Reachable: true, ReachableSince: now.Add(-6 * time.Minute)}), Now: now,
				Spool: SpoolBacklog{Count: 1, Oldest: now.Add(-time.Hour)}}},
	} {
		got := Verdict(tc.o)
		if tc.clear {
			if len(got) != 0 {
				t.Errorf("%s: Verdict = %q, want healthy", tc.name, got)
			}
			continue
		}
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s: Verdict = %q, want one problem containing %q", tc.name, got, tc.want)
		}
	}
	// With the database away, its outage is the problem, not the spool.
	got := Verdict(Observation{Running: true, Published: running(DatabaseStatus{LastError: "refused"}), Now: now,
		Spool: SpoolBacklog{Count: 1, Oldest: now.Add(-time.Hour)}})
	if len(got) != 1 || !strings.HasPrefix(got[0], "the database is unreachable") {
		t.Errorf("Verdict while the database is away = %q", got)
	}
}

func TestMonitorPublishesSinceWhenTheDatabaseIsReachable(t *testing.T) {
	ctx := context.Background()
	good, err := pgxpool.New(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	bad, err := pgxpool.New(ctx, "postgres://angela@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var db DatabaseStatus
	m := &dbMonitor{pool: good, log: zap.NewNop(), interval: 10 * time.Second, up: true,
		now: func() time.Time { return now }, publish: func(f func(*DatabaseStatus)) { f(&db) }}
	start := now
	m.check(ctx)
	now = now.Add(time.Minute)
	m.check(ctx)
	if !db.Reachable || !db.ReachableSince.Equal(start) {
		t.Errorf("after two good checks: %+v, want reachable since %v", db, start)
	}
	m.pool = bad
	m.check(ctx)
	if db.Reachable || !db.ReachableSince.IsZero() {
		t.Errorf("after a failed check: %+v", db)
	}
	m.pool = good
	now = now.Add(time.Minute)
	m.check(ctx)
	if !db.Reachable || !db.ReachableSince.Equal(now) {
		t.Errorf("back: %+v, want reachable since %v", db, now)
	}
}

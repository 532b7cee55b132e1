package dailyupdate

import (
	"context"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// TestWorkerRetriesAsSoonAsTheDatabaseIsBack: a worker backing off while
// the ledger is unreachable runs the due slot when the daemon's monitor sees
// the database back, without its backoff running out.
func TestWorkerRetriesAsSoonAsTheDatabaseIsBack(t *testing.T) {
	url := pgtest.DB(t)
	pool := testPool(t, url)
	allow := pgtest.RefuseConnections(t, url)
	loc := mustLoad(t, "Asia/Bangkok")
	clock := testkit.NewClock(time.Date(2026, 12, 1, 22, 0, 0, 0, loc))
	log, _ := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "0 22 * * *"})
	watch := daemon.NewDatabaseWatch()
	w := NewWorker(WorkerOptions{Options: o, Pool: pool, After: clock.After, Database: watch})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}()
	if d := clock.NextWait(t).D; d != time.Second {
		t.Fatalf("first wait %v, want the 1s backoff", d)
	}
	clock.Advance(time.Second)
	if d := clock.NextWait(t).D; d != 2*time.Second {
		t.Fatalf("second wait %v, want the 2s backoff", d)
	}
	// Left waiting: the clock does not reach the end of the backoff.
	allow()
	watch.Recovered()
	clock.NextWait(t)
	rows := ledger(t, pool)
	if len(rows) == 0 || rows[len(rows)-1].wall != "2026-12-01 22:00" || rows[len(rows)-1].status != StatusDone {
		t.Errorf("ledger after the database came back = %+v, want the evening slot of 2026-12-01 done", rows)
	}
}

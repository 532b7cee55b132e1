package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/testkit"
)

// pings collects what the daemon tells the service manager.
type pings struct {
	mu  sync.Mutex
	got []string
}

func (p *pings) notify(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, s)
}

func (p *pings) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

func TestWatchdogPingsOnlyWhileEveryLoopKeepsItsPromise(t *testing.T) {
	clock := testkit.NewClock(testStart)
	core, logs := observer.New(zap.InfoLevel)
	var p pings
	d := New(Options{Log: zap.New(core), Notify: p.notify, Watchdog: time.Minute, Now: clock.Now, After: clock.After})
	live := newLiveness()
	promise := func(d time.Duration) {
		live.promise("supervisor", clock.Now().Add(d))
		live.promise("monitor", clock.Now().Add(d))
	}
	promise(45 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.watchdog(ctx, live)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	// tick fires the watchdog's wait and waits until it waits again, so
	// that the tick has been handled.
	w := clock.NextWait(t)
	tick := func() {
		t.Helper()
		if w.D != 30*time.Second {
			t.Fatalf("the watchdog waits %s, want half of its 1m interval", w.D)
		}
		w.Fire()
		w = clock.NextWait(t)
	}

	tick() // at 30s: both promised until 45s
	if p.count() != 1 {
		t.Fatalf("%d pings while every loop kept its promise, want 1", p.count())
	}
	// The monitor promises again, the supervisor does not: it is stuck.
	live.promise("monitor", clock.Now().Add(45*time.Second))
	tick() // at 60s
	tick() // at 90s
	if p.count() != 1 {
		t.Errorf("pinged while the supervisor was stuck: %d pings", p.count())
	}
	stalled := logs.FilterMessage("not telling the service manager that the daemon is alive: a loop made no progress in time")
	if stalled.Len() != 1 || !strings.Contains(stalled.All()[0].ContextMap()["stalled"].([]any)[0].(string), "supervisor") {
		t.Errorf("the stall was not logged once naming the supervisor: %v", logs.All())
	}
	// Both come round again.
	promise(45 * time.Second)
	tick()
	if p.count() != 2 {
		t.Errorf("%d pings after both loops made progress again, want 2", p.count())
	}
	if logs.FilterMessage("telling the service manager that the daemon is alive again").Len() != 1 {
		t.Errorf("the recovery was not logged once: %v", logs.All())
	}
}

func TestSupervisorHeartbeatBeatsEveryInterval(t *testing.T) {
	clock := testkit.NewClock(testStart)
	beats := make(chan struct{}, 10)
	sup := NewSupervisor(SupervisorConfig{
		Now: clock.Now, After: clock.After,
		Heartbeat: time.Second, OnHeartbeat: func() { beats <- struct{}{} },
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sup.Run(ctx) }()
	awaitBeat := func() {
		t.Helper()
		select {
		case <-beats:
		case <-time.After(guard):
			t.Fatal("no heartbeat")
		}
	}
	awaitBeat() // at once
	for range 3 {
		w := clock.NextWait(t)
		if w.D != time.Second {
			t.Fatalf("the heartbeat waits %s, want 1s", w.D)
		}
		select {
		case <-beats:
			t.Fatal("a beat before its time")
		default:
		}
		w.Fire()
		awaitBeat()
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestStatusBoardRefreshesEveryHealthPeriod(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newStatusBoard(dir, func() time.Time { return now }, Status{State: StateRunning})
	b.refresh = 10 * time.Second
	if err := b.update(func(s *Status) { s.Database.Reachable = true }, false); err != nil {
		t.Fatal(err)
	}
	read := func() Status {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, StatusFileName))
		if err != nil {
			t.Fatal(err)
		}
		var st Status
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := read(); !st.RefreshBy.Equal(now.Add(20*time.Second)) || st.HealthCheckPeriod != 10*time.Second {
		t.Errorf("refresh_by %s, period %s; want two periods on, and the period", st.RefreshBy, st.HealthCheckPeriod)
	}
	// A check that changes only the latency, one period later, still writes.
	first := now
	now = now.Add(10 * time.Second)
	b.update(func(s *Status) { s.Database.Latency = time.Millisecond }, false)
	if st := read(); !st.UpdatedAt.Equal(now) || !st.RefreshBy.Equal(now.Add(20*time.Second)) {
		t.Errorf("after one period with nothing new: updated_at %s (first %s), refresh_by %s", st.UpdatedAt, first, st.RefreshBy)
	}
	// A restart of the cluster holds the promise further out, at once.
	until := now.Add(5 * time.Minute)
	if err := b.hold(until); err != nil {
		t.Fatal(err)
	}
	if st := read(); !st.RefreshBy.Equal(until) {
		t.Errorf("refresh_by %s during a hold until %s", st.RefreshBy, until)
	}
	b.hold(time.Time{})
	now = now.Add(10 * time.Second)
	b.update(func(s *Status) { s.Database.Latency = 2 * time.Millisecond }, false)
	if st := read(); !st.RefreshBy.Equal(now.Add(20 * time.Second)) {
		t.Errorf("refresh_by %s after the hold ended, want two periods on", st.RefreshBy)
	}
}

func TestVerdictOnAStaleFileAnotherPIDAndADeadCluster(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	fresh := func() *Status {
		return &Status{PID: 42, State: StateRunning, UpdatedAt: now.Add(-5 * time.Second),
			RefreshBy: now.Add(15 * time.Second), HealthCheckPeriod: 10 * time.Second,
			Database: DatabaseStatus{Reachable: true, Managed: true}}
	}
	stale := fresh()
	stale.UpdatedAt, stale.RefreshBy = now.Add(-27*time.Second), now.Add(-7*time.Second)
	for _, tc := range []struct {
		name string
		o    Observation
		want string // "" for healthy
	}{
		{"healthy", Observation{Running: true, PID: 42, Published: fresh(), Now: now}, ""},
		{"stale", Observation{Running: true, PID: 42, Published: stale, Now: now}, "has not refreshed its status for 27s"},
		{"another pid", Observation{Running: true, PID: 43, Published: fresh(), Now: now}, "from pid 42, not from the daemon running now (pid 43)"},
		{"cluster down", Observation{Running: true, PID: 42, Published: fresh(), Now: now, ClusterDown: "/s/postgres"}, "the managed PostgreSQL is not running: no live server in /s/postgres"},
		{"not running", Observation{Published: fresh(), Now: now}, "the daemon is not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Verdict(tc.o)
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("Verdict = %q, want healthy", got)
			case tc.want != "" && (len(got) == 0 || !strings.Contains(got[0], tc.want)):
				t.Errorf("Verdict = %q, want first %q", got, tc.want)
			}
		})
	}
}

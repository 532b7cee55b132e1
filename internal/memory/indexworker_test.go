package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// TestIndexWorkerIndexesWhatArrives runs the index worker in the daemon on
// an injected clock: it indexes the backlog at start, then what arrives at
// its next tick, and shows what it did in status.
func TestIndexWorkerIndexesWhatArrives(t *testing.T) {
	ctx, cancelTest := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelTest()
	url := pgtest.DB(t)
	conn := pgtest.Conn(t, url)
	fillMessages(t, ctx, conn, 2500) // 2,500 messages and 250 emotions: more than a batch
	stateDir := pgtest.StateDir(t)
	env := map[string]string{"ANGELA_DATABASE_URL": url, "ANGELA_STATE_DIR": stateDir, "ANGELA_TIMEZONE": pgtest.TimeZone}
	cfg, err := config.Load(config.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: new(bool), Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := daemon.New(daemon.Options{Config: cfg, Now: clock.Now, After: clock.After})
	d.Register("index", memory.IndexWorkerFactory())
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(rctx) }()

	testkit.WaitFor(t, "the backlog indexed", func() bool { c, e := pending(t, ctx, conn); return c+e == 0 })
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text) values ('david', 'the lighthouse at dawn')`); err != nil {
		t.Fatal(err)
	}
	// The daemon's own waits are on the clock too: end the worker's.
	for w := clock.NextWait(t); ; w = clock.NextWait(t) {
		if w.D == memory.IndexEvery {
			w.Fire()
			break
		}
	}
	testkit.WaitFor(t, "the new message indexed", func() bool { c, _ := pending(t, ctx, conn); return c == 0 })
	checkFrequencies(t, ctx, conn)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	st, err := daemon.ReadStatus(stateDir)
	if err != nil || len(st.Workers) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	var detail struct {
		PendingConversations int64 `json:"pending_conversations"`
		PendingEmotions      int64 `json:"pending_emotions"`
		IndexedSinceStart    int64 `json:"indexed_since_start"`
	}
	if err := json.Unmarshal(st.Workers[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.IndexedSinceStart != 2751 || detail.PendingConversations != 0 || detail.PendingEmotions != 0 {
		t.Fatalf("status detail = %s", st.Workers[0].Detail)
	}
}

// TestIndexWorkerBacksOffAndReportsAProblem: with the database away the
// worker backs off (5 s doubling to 30 s) and, after 2 minutes of failing,
// shows a problem; it returns nil when stopped.
func TestIndexWorkerBacksOffAndReportsAProblem(t *testing.T) {
	pool, err := postgres.NewPool(context.Background(), "host="+t.TempDir()+" user=nobody dbname=none", pgtest.TimeZone,
		postgres.PoolOptions{MaxConns: 1, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w, err := memory.IndexWorkerFactory()(daemon.Deps{Pool: pool, Clock: daemon.Clock{Now: clock.Now, After: clock.After},
		Log: zap.NewNop(), Status: sup.Reporter("index")})
	if err != nil {
		t.Fatal(err)
	}
	sup.Add("index", w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	problem := func() string { return sup.Status()[0].Problem }
	var failingFor time.Duration
	var waits []time.Duration
	for failingFor < 2*time.Minute {
		w := clock.NextWait(t)
		d := w.D
		if p := problem(); p != "" {
			t.Fatalf("a problem after failing for %s: %q", failingFor, p)
		}
		waits = append(waits, d)
		failingFor += d
		w.Fire()
	}
	clock.NextWait(t)
	if p := problem(); !strings.HasPrefix(p, "indexing for retrieval failing since 2026-01-01T00:00:00Z: ") {
		t.Errorf("after failing for %s: problem %q", failingFor, p)
	}
	if fmt.Sprint(waits) != "[5s 10s 20s 30s 30s 30s]" {
		t.Errorf("backoff %v, want 5s doubling to 30s", waits)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

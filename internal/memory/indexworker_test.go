package memory_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
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
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), every: memory.IndexEvery, fire: make(chan time.Time)}
	d := daemon.New(daemon.Options{Config: cfg, Now: clock.Now, After: clock.After})
	d.Register("index", memory.IndexWorkerFactory())
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(rctx) }()

	waitFor(t, "the backlog indexed", func() bool { c, e := pending(t, ctx, conn); return c+e == 0 })
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text) values ('david', 'the lighthouse at dawn')`); err != nil {
		t.Fatal(err)
	}
	clock.fire <- clock.Now()
	waitFor(t, "the new message indexed", func() bool { c, _ := pending(t, ctx, conn); return c == 0 })
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

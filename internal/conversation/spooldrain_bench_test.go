package conversation_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/spool"
)

// BenchmarkSpooledSave measures what a one-shot save does when the database
// refuses the connection, apart from starting the process: the failed
// connection attempt, then the durable spool write.
func BenchmarkSpooledSave(b *testing.B) {
	sp := spool.New(b.TempDir(), nil)
	ctx := context.Background()
	const refused = "postgres://angela@127.0.0.1:1/angela?connect_timeout=5&sslmode=disable"
	for b.Loop() {
		e := memory.Emotion{Emotion: "คิดถึง", Intensity: 9, Context: "David was away", DavidWords: "miss you"}.WithDefaults()
		conn, err := postgres.Connect(ctx, refused, pgtest.TimeZone)
		if err == nil {
			conn.Close(ctx)
			b.Fatal("connected to a port nothing listens on")
		}
		if _, err := sp.Add(spool.KindEmotion, e.ID, e, err.Error()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDrain10k measures one drain of 10,000 spooled records (half
// emotions, half conversations) into a real database on a pool, with one
// worker (as `angelad spool drain`) and with the daemon's SpoolDrainWorkers.
// Writing the records is not timed.
func BenchmarkDrain10k(b *testing.B) {
	for _, workers := range []int{1, conversation.SpoolDrainWorkers} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchDrain(b, workers) })
	}
}

func benchDrain(b *testing.B, workers int) {
	const n = 10000
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, pgtest.DB(b), pgtest.TimeZone, postgres.PoolOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	for b.Loop() {
		b.StopTimer()
		sp := spool.New(b.TempDir(), nil)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					var err error
					if i%2 == 0 {
						e := memory.Emotion{Emotion: "happy", Intensity: 8, Context: fmt.Sprint("context ", i)}.WithDefaults()
						_, err = sp.Add(spool.KindEmotion, e.ID, e, "refused")
					} else {
						c := conversation.Conversation{Speaker: "david", MessageText: fmt.Sprint("message ", i), SessionID: "bench"}.WithDefaults()
						_, err = sp.Add(spool.KindConversation, c.ID, c, "refused")
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StartTimer()
		res, err := conversation.DrainSpool(ctx, pool, sp, spool.DrainOptions{Workers: workers})
		if err != nil || res.Applied != n || res.Left != 0 {
			b.Fatalf("DrainSpool = %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

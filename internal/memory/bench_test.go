package memory_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// benchPoolSize is the pool of the daemon-side figures in issue 2's report.
const benchPoolSize = 10

// benchPool returns a warmed pool of benchPoolSize connections to a fresh
// database, so that the timings measure saves, not connecting.
func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, pgtest.DB(b), pgtest.TimeZone, postgres.PoolOptions{MaxConns: benchPoolSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	var wg sync.WaitGroup
	for range benchPoolSize {
		wg.Go(func() {
			c, err := pool.Acquire(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Release()
			// Preparing the insert on every connection takes the first-use cost
			// out of the measurement too.
			if _, err := memory.Save(ctx, c, benchEmotion()); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	return pool
}

func benchEmotion() memory.Emotion {
	return memory.Emotion{
		Emotion:    "happy",
		Intensity:  9,
		Context:    "benchmark",
		DavidWords: "พี่ ก็ คิดถึงเหมือน กัน ค่ะ",
	}
}

// BenchmarkSave is one save through the pool.
func BenchmarkSave(b *testing.B) {
	pool := benchPool(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := memory.Save(ctx, pool, benchEmotion()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSave100Sequential is 100 saves one after another through the pool;
// one op is all 100.
func BenchmarkSave100Sequential(b *testing.B) {
	pool := benchPool(b)
	ctx := context.Background()
	for b.Loop() {
		for range 100 {
			if _, err := memory.Save(ctx, pool, benchEmotion()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSave100Concurrent is 100 goroutines saving one emotion each through
// the pool; one op is all 100.
func BenchmarkSave100Concurrent(b *testing.B) {
	pool := benchPool(b)
	ctx := context.Background()
	for b.Loop() {
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				if _, err := memory.Save(ctx, pool, benchEmotion()); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

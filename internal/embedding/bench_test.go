package embedding

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// benchSize is the number of vectors and their dimension the benchmarks
// rank: 100,000 of 384 unless ANGELA_BENCH_VECTORS and ANGELA_BENCH_DIMS
// say otherwise.
func benchSize(b *testing.B) (n, dims int) {
	n, dims = 100000, 384
	for _, v := range []struct {
		env string
		to  *int
	}{{"ANGELA_BENCH_VECTORS", &n}, {"ANGELA_BENCH_DIMS", &dims}} {
		if s := os.Getenv(v.env); s != "" {
			x, err := strconv.Atoi(s)
			if err != nil || x < 1 {
				b.Fatalf("%s=%q: want a positive integer", v.env, s)
			}
			*v.to = x
		}
	}
	return n, dims
}

// randomUnit returns a random vector of unit length.
func randomUnit(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	var s float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		s += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(s))
	}
	return v
}

// BenchmarkNearest ranks every stored vector of a model by exact cosine with
// a question already embedded: read from the table for the question, as a
// one-shot command would (table), from an Index in memory, as the daemon
// would (index), and the Index's full load (index-load). It reports the
// table's size and the index's heap. Filling the table with the default
// 100,000 vectors takes some seconds.
func BenchmarkNearest(b *testing.B) {
	n, dims := benchSize(b)
	ctx := context.Background()
	conn := pgtest.Conn(b, pgtest.DB(b))
	r := rand.New(rand.NewPCG(3, 4))
	rows := make([][]any, 0, n)
	for range n {
		rows = append(rows, []any{KindConversation, uuid.New(), "bench", dims, Pack(randomUnit(r, dims))})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"memory_embeddings"}, []string{"kind", "id", "model", "dims", "vec"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	rows = nil
	pgtest.Settle(b, conn, "memory_embeddings")
	var size int64
	if err := conn.QueryRow(ctx, "select pg_total_relation_size('memory_embeddings')").Scan(&size); err != nil {
		b.Fatal(err)
	}
	q := randomUnit(r, dims)
	m := Model{"bench", dims}
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := NearestVector(ctx, conn, m, q, 10, Filter{})
			if err != nil || len(got) != 10 {
				b.Fatal(len(got), err)
			}
		}
		b.ReportMetric(float64(size)/1e6, "table-MB")
	})
	b.Run("index-load", func(b *testing.B) {
		for b.Loop() {
			if err := NewIndex(m).Refresh(ctx, conn); err != nil {
				b.Fatal(err)
			}
		}
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ix := NewIndex(m)
	if err := ix.Refresh(ctx, conn); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := ix.Search(q, 10, Filter{}); len(got) != 10 {
				b.Fatal(len(got))
			}
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "heap-MB")
	})
	b.Run("index-refresh-unchanged", func(b *testing.B) {
		for b.Loop() {
			if err := ix.Refresh(ctx, conn); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package query_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/query"
)

// heapSampler is a sink wrapper that samples the live heap every 10000 rows,
// so that a benchmark can show that streaming keeps it flat whatever the
// size of the result.
type heapSampler struct {
	query.Sink
	rows int
	peak uint64
}

func (h *heapSampler) Row(values [][]byte) error {
	h.rows++
	if h.rows%10000 == 0 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		h.peak = max(h.peak, m.HeapAlloc)
	}
	return h.Sink.Row(values)
}

// BenchmarkStreamCSV streams results of 10 and 100 MB as CSV. peak-heap-MB
// is the largest live heap seen while rows arrive: it stays the same for
// the larger result, where holding the result would grow it tenfold.
func BenchmarkStreamCSV(b *testing.B) {
	conn := pgtest.Conn(b, pgtest.DB(b))
	for _, rows := range []int{100000, 1000000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			sql := fmt.Sprintf("select repeat('x', 100) as v from generate_series(1, %d)", rows)
			var peak uint64
			b.SetBytes(int64(rows) * 101)
			for b.Loop() {
				h := &heapSampler{Sink: query.NewCSVSink(io.Discard)}
				if err := query.Stream(context.Background(), conn, query.Options{SQL: sql}, h); err != nil {
					b.Fatal(err)
				}
				peak = max(peak, h.peak)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

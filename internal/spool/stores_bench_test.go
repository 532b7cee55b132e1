package spool_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
// worker (as `angelad spool drain`) and with the daemon's DrainWorkers.
// Writing the records is not timed.
func BenchmarkDrain10k(b *testing.B) {
	for _, workers := range []int{1, spool.DrainWorkers} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchDrain(b, workers) })
	}
}

func benchDrain(b *testing.B, workers int) {
	const n = 10000
	ctx := context.Background()
	var cpuClient, cpuServer time.Duration
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
		clientBefore, serverBefore := clientCPU(), serverCPU(b, pool)
		b.StartTimer()
		res, err := spool.DrainStores(ctx, pool, sp, spool.DrainOptions{Workers: workers})
		if err != nil || res.Applied != n || res.Left != 0 {
			b.Fatalf("DrainStores = %+v, %v", res, err)
		}
		b.StopTimer()
		cpuClient += clientCPU() - clientBefore
		cpuServer += serverCPU(b, pool) - serverBefore
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	// CPU time depends far less than wall time on how busy the machine is:
	// on a machine with cores to spare, a drain takes about the larger of the
	// two divided by the workers that overlap.
	b.ReportMetric(cpuClient.Seconds()/float64(b.N), "client-cpu-s/op")
	if cpuServer >= 0 {
		b.ReportMetric(cpuServer.Seconds()/float64(b.N), "server-cpu-s/op")
	}
}

// clientCPU is this process's CPU time so far, user and system.
func clientCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time so far of the server processes behind the pool's
// connections, read from /proc (Linux only; -1 elsewhere). The pool keeps its
// connections, so the same processes are read before and after.
func serverCPU(b *testing.B, pool *pgxpool.Pool) time.Duration {
	rows, err := pool.Query(context.Background(),
		`select pid from pg_stat_activity where datname = current_database() and application_name = $1`, postgres.ApplicationName)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return -1
		}
		// Fields 14 and 15 (utime, stime) in clock ticks, after the command
		// name in parentheses, which may hold spaces.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(f) < 13 {
			return -1
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(u+st) * time.Second / 100 // USER_HZ
	}
	return total
}

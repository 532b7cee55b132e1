package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// outageSpan is how long the database is away in BenchmarkCaptureAfterOutage:
// long enough for the capture's backoff to reach its cap, and not a sum of
// its steps, which would end a backoff by chance as the database returns.
const outageSpan = 40 * time.Second

// BenchmarkCaptureAfterOutage runs the daemon binary with its defaults on a
// cluster of its own, stops the cluster for outageSpan while a line is
// written, starts it again, writes a live line, and reports how long after
// the cluster was back each line was stored: the mean over the runs
// (ms-line-during, ms-line-after) and the longest (ms-max).
func BenchmarkCaptureAfterOutage(b *testing.B) {
	var sum, longest time.Duration
	for range b.N {
		b.StopTimer()
		cluster := managed.New(managed.Options{StateDir: pgtest.StateDir(b), Fast: true})
		ctx := context.Background()
		if _, err := cluster.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cluster.Stop(context.Background()) })
		url := cluster.ConnString(managed.Database)
		home := b.TempDir()
		c := &cli{env: []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "ANGELA_TIMEZONE=" + pgtest.TimeZone,
			"ANGELA_STATE_DIR=" + home + "/state", "ANGELA_DATABASE_URL=" + url, "ANGELA_LOG_FORMAT=json"}}
		s := filepath.Join(home, ".claude", "projects", "p", "s.jsonl")
		writeB(b, s, userLine(b, "before"))
		p := startDaemonB(b, c)
		waitStored(b, url, "before")

		if err := cluster.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		appendB(b, s, userLine(b, "during"))
		<-time.After(outageSpan) // the outage itself is what is measured against
		if _, err := cluster.Start(ctx); err != nil {
			b.Fatal(err)
		}
		back := time.Now()
		appendB(b, s, userLine(b, "after"))
		b.StartTimer()
		during := waitStored(b, url, "during").Sub(back)
		after := waitStored(b, url, "after").Sub(back)
		b.StopTimer()
		sum += during + after
		longest = max(longest, during, after)
		b.ReportMetric(float64(during.Milliseconds()), "ms-line-during")
		b.ReportMetric(float64(after.Milliseconds()), "ms-line-after")
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(2*b.N), "ms-mean")
	b.ReportMetric(float64(longest.Milliseconds()), "ms-max")
	b.ReportMetric(0, "ns/op")
}

// waitStored polls the database at url until a message says text, and
// returns when it saw it.
func waitStored(b *testing.B, url, text string) time.Time {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := postgres.Connect(ctx, url, pgtest.TimeZone)
		if err == nil {
			var n int
			err = conn.QueryRow(ctx, "select count(*) from conversations where message_text = $1", text).Scan(&n)
			conn.Close(ctx)
			if err == nil && n == 1 {
				cancel()
				return time.Now()
			}
		}
		cancel()
		if time.Now().After(deadline) {
			b.Fatalf("%q was not stored within 2 minutes (%v)", text, err)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// userLine is a transcript line of David saying s.
func userLine(b *testing.B, s string) string {
	line, err := json.Marshal(map[string]any{
		"type": "user", "uuid": uuid.NewString(), "sessionId": "session-u", "cwd": "/home/david/angela",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "message": map[string]any{"role": "user", "content": s},
	})
	if err != nil {
		b.Fatal(err)
	}
	return string(line) + "\n"
}

func writeB(b *testing.B, path, data string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}
}

func appendB(b *testing.B, path, data string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStatusSeesAnOutage runs the daemon binary with its defaults
// (pool.health_check_period 10s) on a cluster of its own, stops the cluster
// at a different moment of the health check's period each run, and reports
// how long status.json took to say the database is unreachable after the
// cluster had stopped (ms-down: mean, ms-down-max) and reachable after it
// was back (ms-up: mean).
func BenchmarkStatusSeesAnOutage(b *testing.B) {
	cluster := managed.New(managed.Options{StateDir: pgtest.StateDir(b), Fast: true})
	ctx := context.Background()
	if _, err := cluster.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cluster.Stop(context.Background()) })
	home := b.TempDir()
	c := &cli{env: []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "ANGELA_TIMEZONE=" + pgtest.TimeZone,
		"ANGELA_STATE_DIR=" + home + "/state", "ANGELA_DATABASE_URL=" + cluster.ConnString(managed.Database),
		"ANGELA_LOG_FORMAT=json", "ANGELA_CONVERSATION_TRANSCRIPTS=[]"}}
	p := startDaemonB(b, c)
	defer func() {
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}()
	reachable := func(want bool) time.Time {
		b.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var st struct {
				Database struct {
					Reachable bool `json:"reachable"`
				} `json:"database"`
			}
			data, err := os.ReadFile(filepath.Join(home, "state", "status.json"))
			if err == nil && json.Unmarshal(data, &st) == nil && st.Database.Reachable == want {
				return time.Now()
			}
			if time.Now().After(deadline) {
				b.Fatalf("status.json did not say reachable: %t within 2 minutes", want)
			}
			<-time.After(10 * time.Millisecond)
		}
	}
	reachable(true)
	var down, up, downMax time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		// A different phase of the period each run.
		<-time.After(time.Duration(i%10) * 1100 * time.Millisecond)
		if err := cluster.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		stopped := time.Now()
		d := reachable(false).Sub(stopped)
		down, downMax = down+d, max(downMax, d)
		if _, err := cluster.Start(ctx); err != nil {
			b.Fatal(err)
		}
		back := time.Now()
		up += reachable(true).Sub(back)
	}
	b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms-down")
	b.ReportMetric(float64(downMax.Milliseconds()), "ms-down-max")
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms-up")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkStatusShowsTheEndOfTheBackfill runs the daemon binary with its
// defaults on 200 transcripts and reports how long after its "backfill done"
// log line status.json said the backfill was over (ms-lag: mean, ms-lag-max).
func BenchmarkStatusShowsTheEndOfTheBackfill(b *testing.B) {
	var sum, longest time.Duration
	for range b.N {
		b.StopTimer()
		home := b.TempDir()
		logFile := filepath.Join(home, "angelad.log")
		c := &cli{env: []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "ANGELA_TIMEZONE=" + pgtest.TimeZone,
			"ANGELA_STATE_DIR=" + home + "/state", "ANGELA_DATABASE_URL=" + pgtest.DB(b), "ANGELA_LOG_FILE=" + logFile}}
		for f := range 200 {
			var lines string
			for range 20 {
				lines += userLine(b, "a line of the backfill")
			}
			writeB(b, filepath.Join(home, ".claude", "projects", "p", fmt.Sprintf("s%d.jsonl", f)), lines)
		}
		p := startDaemonB(b, c)
		var shown time.Time
		deadline := time.Now().Add(2 * time.Minute)
		for shown.IsZero() {
			var st struct {
				Workers []struct {
					Name   string `json:"name"`
					Detail struct {
						Backfilling bool  `json:"backfilling"`
						Behind      int64 `json:"bytes_behind"`
						Stored      int64 `json:"messages_stored"`
					} `json:"detail"`
				} `json:"workers"`
			}
			data, err := os.ReadFile(filepath.Join(home, "state", "status.json"))
			if err == nil && json.Unmarshal(data, &st) == nil {
				for _, w := range st.Workers {
					if w.Name == "conversation" && !w.Detail.Backfilling && w.Detail.Behind == 0 && w.Detail.Stored == 4000 {
						shown = time.Now()
					}
				}
			}
			if time.Now().After(deadline) {
				b.Fatal("status.json did not show the end of the backfill within 2 minutes")
			}
			<-time.After(5 * time.Millisecond)
		}
		var done time.Time
		for _, l := range strings.Split(readFile(logFile), "\n") {
			var e struct {
				TS  time.Time `json:"ts"`
				Msg string    `json:"msg"`
			}
			if json.Unmarshal([]byte(l), &e) == nil && e.Msg == "backfill done" {
				done = e.TS
			}
		}
		if done.IsZero() {
			b.Fatal("no backfill done line in the log")
		}
		lag := shown.Sub(done)
		sum, longest = sum+lag, max(longest, lag)
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(b.N), "ms-lag")
	b.ReportMetric(float64(longest.Milliseconds()), "ms-lag-max")
	b.ReportMetric(0, "ns/op")
}

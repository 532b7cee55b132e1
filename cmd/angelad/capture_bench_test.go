package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// idleSpan is how long the idle daemon is measured, as the target says.
const idleSpan = 60 * time.Second

// BenchmarkIdleDaemonWith1000Transcripts runs the daemon binary with capture
// on and 1,000 watched transcripts in 50 project directories, waits for the
// backfill to finish, and reports the CPU it uses over the next 60 s (as a
// percentage of one core) and its resident memory at the end.
func BenchmarkIdleDaemonWith1000Transcripts(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	for range b.N {
		b.StopTimer()
		url := pgtest.DB(b)
		home := b.TempDir()
		c := &cli{env: []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "ANGELA_TIMEZONE=" + pgtest.TimeZone,
			"ANGELA_STATE_DIR=" + home + "/state", "ANGELA_DATABASE_URL=" + url, "ANGELA_LOG_FORMAT=json"}}
		const files, lines = 1000, 5
		for f := range files {
			dir := fmt.Sprintf("%s/.claude/projects/-home-david-p%d", home, f%50)
			os.MkdirAll(dir, 0o755)
			var sb strings.Builder
			for i := range lines {
				fmt.Fprintf(&sb, `{"type":"user","uuid":"%08d-0000-4000-8000-%012d","sessionId":"s%d","timestamp":"2026-03-01T10:00:00Z","message":{"role":"user","content":"line %d"}}`+"\n", f, i, f, i)
			}
			if err := os.WriteFile(fmt.Sprintf("%s/s%d.jsonl", dir, f), []byte(sb.String()), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		p := startDaemonB(b, c)
		conn := pgtest.Conn(b, url)
		testkit.WaitFor(b, fmt.Sprintf("the backfill to store %d rows", files*lines), func() error {
			var n int
			if err := conn.QueryRow(b.Context(), "select count(*) from conversations").Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n != files*lines {
				return fmt.Errorf("%d stored", n)
			}
			return nil
		})
		<-time.After(5 * time.Second) // let the backfill's garbage be collected
		pid := p.Process.Pid
		before := cpuTicks(b, pid)
		start := time.Now()
		b.StartTimer()
		<-time.After(idleSpan)
		b.StopTimer()
		span := time.Since(start)
		cpu := time.Duration(cpuTicks(b, pid)-before) * time.Second / 100 // USER_HZ
		b.ReportMetric(100*cpu.Seconds()/span.Seconds(), "cpu-%")
		b.ReportMetric(float64(rssKB(b, pid))/1024, "rss-MB")
		b.ReportMetric(0, "ns/op")
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}
}

func startDaemonB(b *testing.B, c *cli) *exec.Cmd {
	cmd := exec.Command(binary, "run")
	cmd.Env = c.env
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// cpuTicks is the user plus system CPU time of pid in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

// rssKB is the resident memory of pid in KiB.
func rssKB(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// benchRows is how many conversations the hook benchmarks fill the database
// with: ANGELA_BENCH_ROWS, default 100000 (make bench uses 1000000).
func benchRows(b *testing.B) int {
	if v := os.Getenv("ANGELA_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("ANGELA_BENCH_ROWS=%q: want a count", v)
		}
		return n
	}
	return 100000
}

// filledDB is a migrated database holding rows conversations and a tenth as
// many emotions (a thousand at least), spread over the last year, in the state a running daemon keeps
// it in: vacuumed and analysed (as autovacuum would), after a full
// consolidation pass (as the daemon's memory worker makes at start and then
// every hour), so that recall's counts come from the pass rather than from
// counting the tables.
func filledDB(b *testing.B, rows int) string {
	b.Helper()
	url := pgtest.DB(b)
	conn := pgtest.Conn(b, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for _, sql := range []string{
		`insert into conversations (conversation_id, session_id, speaker, message_text, importance_level, created_at)
		 select gen_random_uuid(), 'bench-' || (i / 50), case when i % 2 = 0 then 'david' else 'angela' end,
		        'ข้อความที่ ' || i || ' รหัส ' || (i * 7) || ' เลข ' || (i * 13) || ' ' || repeat('memory ', 20), 1 + i % 10,
		        now() - make_interval(secs => i * 31536000.0 / $1)
		 from generate_series(1, $1::int) i`,
		`insert into angela_emotions (emotion_id, felt_at, emotion, intensity, context, memory_strength)
		 select gen_random_uuid(), now() - make_interval(hours => i), 'happy', 1 + i % 10, 'bench ' || i, 10
		 from generate_series(1, greatest($1::int / 10, 1000)) i`,
		`vacuum analyze`,
	} {
		var err error
		if strings.Contains(sql, "$1") {
			_, err = conn.Exec(ctx, sql, rows)
		} else {
			_, err = conn.Exec(ctx, sql)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	root := false
	cfg, err := config.Load(config.Options{Env: func(string) (string, bool) { return "", false }, Root: &root, Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := memory.Consolidate(ctx, conn, memory.NewModel(cfg.Memory), memory.MaxBatch,
		memory.PassOptions{Now: time.Now(), Adopt: true}, time.Now); err != nil {
		b.Fatal(err)
	}
	return url
}

// runHooks runs `angelad hook session-start` b.N times and reports the
// median and p99 of one run, process start to exit.
func runHooks(b *testing.B, env []string, wantOutput bool) {
	b.Helper()
	runHook(b, env, "session-start", payload("SessionStart", map[string]string{"source": "startup"}), wantOutput)
}

// benchBefore is another angelad binary to run in turns with this one
// (ANGELA_BENCH_BEFORE, say one built from the main branch), so that a
// change is measured before and after in one run, under the same load.
func benchBefore() string { return os.Getenv("ANGELA_BENCH_BEFORE") }

// runHook runs `angelad hook NAME` with the input in b.N times and reports
// the median and p99 of one run, process start to exit; with
// ANGELA_BENCH_BEFORE, that binary runs in turns with this one and its
// figures are reported beside them (before-p50-ms, before-p99-ms).
func runHook(b *testing.B, env []string, name, in string, wantOutput bool) {
	b.Helper()
	bins := []string{binary}
	if before := benchBefore(); before != "" {
		bins = append(bins, before)
	}
	took := make([][]time.Duration, len(bins))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range bins {
			// Each binary goes first in turn.
			k := (i + j) % len(bins)
			took[k] = append(took[k], runHookOnce(b, bins[k], env, name, in, wantOutput))
		}
	}
	b.StopTimer()
	reportPercentiles(b, took[0])
	if len(bins) > 1 {
		reportPercentilesAs(b, took[1], "before-")
	}
}

// runHookOnce runs `bin hook NAME` once and returns how long it took.
func runHookOnce(b *testing.B, bin string, env []string, name, in string, wantOutput bool) time.Duration {
	b.Helper()
	cmd := exec.Command(bin, "hook", name)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(in)
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil || (len(out) > 0) != wantOutput {
		var log string
		for _, e := range env {
			if dir, ok := strings.CutPrefix(e, "ANGELA_STATE_DIR="); ok {
				log = readFile(filepath.Join(dir, hooksLogName))
			}
		}
		b.Fatalf("hook %s: %v, output %q; log:\n%s", bin, err, out, log)
	}
	return took
}

func reportPercentiles(b *testing.B, took []time.Duration) {
	reportPercentilesAs(b, took, "")
	b.ReportMetric(0, "ns/op") // the percentiles say it better than a mean
}

// reportPercentilesAs reports the median and p99 of took, their units
// prefixed with prefix.
func reportPercentilesAs(b *testing.B, took []time.Duration, prefix string) {
	slices.Sort(took)
	at := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}

func BenchmarkHookSessionStart(b *testing.B) {
	url := filledDB(b, benchRows(b))
	env := benchEnv(b, url)
	runHooks(b, env, true)
}

func BenchmarkHookSessionStartDatabaseDown(b *testing.B) {
	// A socket directory where no server listens, as when the managed
	// cluster is stopped.
	env := benchEnv(b, "host="+b.TempDir()+" dbname=AngelaMemory")
	runHooks(b, env, false)
}

// promptBenchText is the prompt of the prompt hook's benchmarks: ten words,
// common ones among them, that the filled database's memories answer (three
// rare ones, which one memory holds: the least a prompt must carry to be
// answered at all).
const promptBenchText = "what was it, ข้อความที่ 4242 รหัส 29694 เลข 55146, in the memory of it?"

func BenchmarkHookUserPromptSubmit(b *testing.B) {
	url := filledDB(b, benchRows(b))
	// Indexed, as the daemon's index worker keeps it.
	conn := pgtest.Conn(b, url)
	for {
		res, err := memory.IndexPending(context.Background(), conn, memory.MaxIndexBatch)
		if err != nil {
			b.Fatal(err)
		}
		if !res.More {
			break
		}
	}
	env := benchEnv(b, url)
	in := payload("UserPromptSubmit", map[string]string{"prompt": promptBenchText})
	// Without a daemon, as when it is stopped: the hook ranks the prompt on
	// a connection of its own.
	b.Run("direct", func(b *testing.B) { runHook(b, env, "user-prompt-submit", in, true) })
	// With the daemon running, once its start-up pass is done: the daemon
	// ranks it.
	b.Run("daemon", func(b *testing.B) {
		b.StopTimer()
		startBenchDaemon(b, env, `"listening"`, `"consolidation pass"`)
		b.StartTimer()
		runHook(b, env, "user-prompt-submit", in, true)
	})
}

// startBenchDaemon starts `angelad run` with env and waits until its log
// has held a line with each of the texts in want; the daemon is stopped
// when the benchmark ends.
func startBenchDaemon(b *testing.B, env []string, want ...string) {
	b.Helper()
	cmd := exec.Command(binary, "run")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	seen := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			for _, w := range want {
				if strings.Contains(sc.Text(), w) {
					seen <- w
				}
			}
		}
		close(seen)
	}()
	deadline := time.After(10 * time.Minute)
	left := map[string]bool{}
	for _, w := range want {
		left[w] = true
	}
	for len(left) > 0 {
		select {
		case w, ok := <-seen:
			if !ok {
				b.Fatalf("the daemon stopped before its log said %v", left)
			}
			delete(left, w)
		case <-deadline:
			b.Fatalf("the daemon's log did not say %v within 10 minutes", left)
		}
	}
	// The rest of its log is not waited for.
	go func() {
		for range seen {
		}
	}()
}

func BenchmarkHookUserPromptSubmitDatabaseDown(b *testing.B) {
	env := benchEnv(b, "host="+b.TempDir()+" dbname=AngelaMemory")
	runHook(b, env, "user-prompt-submit", payload("UserPromptSubmit", map[string]string{"prompt": promptBenchText}), false)
}

// benchEnv is newCLI's environment for a benchmark.
func benchEnv(b *testing.B, url string) []string {
	home := b.TempDir()
	return []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"ANGELA_TIMEZONE=" + pgtest.TimeZone,
		"ANGELA_STATE_DIR=" + filepath.Join(home, "state"),
		"ANGELA_DATABASE_URL=" + url,
	}
}

func benchMCP(b *testing.B, tool string, args map[string]any) {
	url := filledDB(b, 10000)
	p := startMCP(b, benchEnv(b, url))
	defer p.close(b)
	p.ok(b, tool, args) // the connection is open before the clock starts
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		p.ok(b, tool, args)
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, took)
}

func BenchmarkMCPSaveEmotion(b *testing.B) {
	benchMCP(b, "save_emotion", map[string]any{"emotion": "happy", "intensity": 8, "context": "a benchmark", "david_words": "again!"})
}

func BenchmarkMCPRecall(b *testing.B) {
	benchMCP(b, "recall", map[string]any{"max_chars": 6000, "project": "/home/david/projects/angela"})
}

func BenchmarkMCPRecentEmotions(b *testing.B) {
	benchMCP(b, "recent_emotions", map[string]any{"limit": 10})
}

// BenchmarkMCPSaveEmotionDatabaseNotAnswering is a save while the database
// takes connections and does not answer, after the first such save marked it
// down: spooled without waiting for it.
func BenchmarkMCPSaveEmotionDatabaseNotAnswering(b *testing.B) {
	url, _ := hungDatabase(b)
	p := startMCP(b, append(benchEnv(b, url), "ANGELA_POOL_CONNECT_TIMEOUT=1s"))
	defer p.close(b)
	args := map[string]any{"emotion": "worried", "intensity": 6, "context": "a benchmark"}
	p.ok(b, "save_emotion", args) // waits the connect timeout once
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if text, _ := p.ok(b, "save_emotion", args); !strings.Contains(text, "angelad waits") {
			b.Fatalf("not spooled at once: %q", text)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, took)
}

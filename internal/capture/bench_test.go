package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/redact"
)

// realisticTranscript returns about size bytes of transcript as Claude Code
// writes one: about one speech line in twenty, most bytes in tool results,
// the rest tool calls, progress and snapshots. It returns the speech lines.
func realisticTranscript(size int, seed uint64) (data []byte, speech int) {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"the", "file", "func", "return", "err", "nil", "ค่ะ", "ที่รัก", "PostgreSQL", "daemon", "\"quoted\"", "path/to/x.go", "\\n", "{", "}", "12345"}
	para := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
			if r.IntN(12) == 0 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		return b.String()
	}
	session := uuid.NewString()
	var buf []byte
	for i := 0; len(buf) < size; i++ {
		m := map[string]any{"uuid": uuid.NewString(), "sessionId": session, "cwd": "/home/david/angela",
			"timestamp":  time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano),
			"parentUuid": uuid.NewString(), "isSidechain": false, "userType": "external", "version": "2.0.50", "gitBranch": "main"}
		switch k := i % 20; {
		case k == 0:
			m["type"], m["message"] = "user", map[string]any{"role": "user", "content": para(200 + r.IntN(400))}
			speech++
		case k == 10:
			m["type"] = "assistant"
			m["message"] = map[string]any{"id": "msg_" + uuid.NewString(), "role": "assistant", "model": "claude",
				"content": []any{map[string]any{"type": "text", "text": para(300 + r.IntN(900))}}}
			speech++
		case k%2 == 1:
			m["type"] = "assistant"
			m["message"] = map[string]any{"id": "msg_" + uuid.NewString(), "role": "assistant", "content": []any{
				map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": map[string]any{"command": para(80)}}}}
		case k == 6:
			m["type"], m["data"] = "progress", map[string]any{"type": "hook_progress", "output": para(300)}
		default:
			m["type"] = "user"
			m["message"] = map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result",
				"tool_use_id": "toolu_1", "content": para(4000 + r.IntN(40000))}}}
			m["toolUseResult"] = map[string]any{"stdout": para(2000), "stderr": "", "interrupted": false}
		}
		line, _ := json.Marshal(m)
		buf = append(append(buf, line...), '\n')
	}
	return buf, speech
}

// BenchmarkReadTranscript reads and classifies a realistic transcript from a
// file (in the page cache): the reading side of capture, without storing.
func BenchmarkReadTranscript(b *testing.B) {
	data, speech := realisticTranscript(64<<20, 1)
	path := filepath.Join(b.TempDir(), "s.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		lr := newLineReader(f, 0, 0, MaxLineBytes, readBufferBytes)
		n := 0
		for {
			line, tooLarge, err := lr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || tooLarge {
				b.Fatal(err, tooLarge)
			}
			if _, kind, err := parseLine(line, false, time.Now, nil); err != nil {
				b.Fatal(err)
			} else if kind == speechLine {
				n++
			}
		}
		f.Close()
		if n != speech {
			b.Fatalf("%d speech lines, want %d", n, speech)
		}
	}
	b.StopTimer()
	// MB/s of wall time depends on how busy the machine is; per CPU second
	// it is what reading costs.
	b.ReportMetric(float64(len(data))*float64(b.N)/1e6/(cpuTime(b)-cpu0).Seconds(), "MB/cpu-s")
}

// cpuTime is the CPU time, user and system, this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStoreRows stores 50,000 speech lines, in batches of one
// transaction each, into a fresh database per iteration: rows per second.
// one_transcript reads them from one file, on one connection; side_by_side
// from 4 files of 12,500, read as the daemon's backfill reads them (a pool,
// ingesters of them at once).
func BenchmarkStoreRows(b *testing.B) {
	const rows = 50000
	dir := b.TempDir()
	writeSpeech := func(name string, from, n int) string {
		var sb strings.Builder
		for i := from; i < from+n; i++ {
			line, _ := json.Marshal(map[string]any{"type": "user", "uuid": uuid.NewString(), "sessionId": "s",
				"cwd": "/home/david/angela", "timestamp": time.Unix(int64(1_700_000_000+i), 0).UTC().Format(time.RFC3339),
				"message": map[string]any{"role": "user", "content": fmt.Sprintf("message number %d, said with some words around it", i)}})
			sb.Write(line)
			sb.WriteByte('\n')
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		return path
	}
	one := writeSpeech("s.jsonl", 0, rows)
	var four []IngestJob
	for f := range 4 {
		four = append(four, IngestJob{Path: writeSpeech(fmt.Sprintf("s%d.jsonl", f), f*rows/4, rows/4)})
	}
	ctx := context.Background()
	// one_transcript runs with redaction off and on, side by side in one
	// run, so that what redacting every line costs capture is measured on
	// the same machine under the same load. Off still removes <private>
	// passages, which costs a search for '<' on a line without one.
	off, err := redact.New(config.Redaction{Enabled: false}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	for _, rc := range []struct {
		name string
		r    *redact.Redactor
	}{{"one_transcript/redaction_off", off}, {"one_transcript/redaction_on", nil}} {
		b.Run(rc.name, func(b *testing.B) { storeRowsOne(ctx, b, one, rows, rc.r) })
	}
	// The cost migration 008 (retrieval terms: two NULL columns and a
	// partial index of the rows not yet indexed) adds to capture: each
	// iteration stores the rows into a fresh database as migrated and into
	// one with 008's additions to conversations taken off, one after the
	// other (in turns first), so that both meet the same load.
	b.Run("one_transcript_vs_before_retrieval_terms", func(b *testing.B) {
		const undo008 = `drop index conversations_terms_pending_idx; drop index conversations_search_terms_idx;
			drop trigger angela_conversation_terms_stale on conversations;
			alter table conversations drop column search_terms, drop column search_len`
		var cpu [2]time.Duration
		for n := range b.N {
			for j := range 2 {
				i := (j + n) % 2 // 0 as migrated, 1 before 008
				setup := []string{"", undo008}[i]
				b.StopTimer()
				conn := pgtest.Conn(b, pgtest.DB(b))
				if setup != "" {
					if _, err := conn.Exec(ctx, setup); err != nil {
						b.Fatal(err)
					}
				}
				c := &Capture{DB: conn, Log: zap.NewNop(), Now: time.Now}
				var backend int
				if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
					b.Fatal(err)
				}
				server0, client0 := procCPU(backend), cpuTime(b)
				b.StartTimer()
				off, err := c.Ingest(ctx, one, nil, nil)
				b.StopTimer()
				cpu[i] += procCPU(backend) - server0 + cpuTime(b) - client0
				if err != nil || off.Lines != rows {
					b.Fatal(err, off.Lines)
				}
			}
		}
		if cpu[0] > 0 && cpu[1] > 0 {
			after, before := float64(rows*b.N)/cpu[0].Seconds(), float64(rows*b.N)/cpu[1].Seconds()
			b.ReportMetric(after, "rows/cpu-s")
			b.ReportMetric(before, "rows/cpu-s_before")
			b.ReportMetric(100*(before-after)/before, "%drop")
		}
	})
	b.Run("side_by_side", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			pool, err := postgres.NewPool(ctx, pgtest.DB(b), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 10})
			if err != nil {
				b.Fatal(err)
			}
			n := Ingesters(pool)
			c := &Capture{DB: pool, Log: zap.NewNop(), Now: time.Now}
			b.StartTimer()
			start := time.Now()
			var stored int64
			err = c.IngestFiles(ctx, four, n, func(_ int, d Counts, _ *Message) { stored += d.Stored },
				func(_ int, _ Offset, err error) error { return err })
			elapsed += time.Since(start)
			b.StopTimer()
			pool.Close()
			if err != nil || stored != rows {
				b.Fatal(err, stored)
			}
			b.ReportMetric(float64(n), "ingesters")
		}
		b.ReportMetric(float64(rows*b.N)/elapsed.Seconds(), "rows/s")
	})
}

// storeRowsOne is BenchmarkStoreRows' one_transcript: the rows of path,
// stored on one connection by a Capture cleaning them with r.
func storeRowsOne(ctx context.Context, b *testing.B, path string, rows int, r *redact.Redactor) {
	var elapsed, cpu time.Duration
	for range b.N {
		b.StopTimer()
		conn := pgtest.Conn(b, pgtest.DB(b))
		c := &Capture{DB: conn, Log: zap.NewNop(), Now: time.Now, Redactor: r}
		var backend int
		if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
			b.Fatal(err)
		}
		server0, client0 := procCPU(backend), cpuTime(b)
		b.StartTimer()
		start := time.Now()
		off, err := c.Ingest(ctx, path, nil, nil)
		elapsed += time.Since(start)
		b.StopTimer()
		cpu += procCPU(backend) - server0 + cpuTime(b) - client0
		if err != nil || off.Lines != int64(rows) {
			b.Fatal(err, off.Lines)
		}
	}
	b.ReportMetric(float64(rows*b.N)/elapsed.Seconds(), "rows/s")
	// Rows per CPU second of this process and its server backend
	// together: what storing costs, whatever else the machine is doing.
	if cpu > 0 {
		b.ReportMetric(float64(rows*b.N)/cpu.Seconds(), "rows/cpu-s")
	}
}

// procCPU is the CPU time of process pid from /proc (0 where there is none).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// BenchmarkLiveLatency measures, over 200 appends to a watched file, the time
// from the append to the row being committed, with the worker reacting to file
// events. The row is watched for with a tight query loop.
func BenchmarkLiveLatency(b *testing.B) {
	const appends = 200
	url := pgtest.DB(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := postgres.NewPool(ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4, ConnectTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	dir := b.TempDir()
	path := filepath.Join(dir, "p", "s.jsonl")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, nil, 0o644)
	w, err := NewWorker(config.Conversation{Transcripts: []string{filepath.Join(dir, "*/*.jsonl")}, PollInterval: 2 * time.Second}, nil,
		daemon.Deps{Pool: pool, Log: zap.NewNop(), Clock: daemon.Clock{Now: time.Now, After: time.After}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	conn := pgtest.Conn(b, url)
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		for i := range appends {
			id := uuid.New()
			line, _ := json.Marshal(map[string]any{"type": "user", "uuid": id.String(), "sessionId": "s",
				"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "message": map[string]any{"role": "user", "content": fmt.Sprint("live ", i)}})
			start := time.Now()
			if _, err := f.Write(append(line, '\n')); err != nil {
				b.Fatal(err)
			}
			deadline := start.Add(10 * time.Second)
			for {
				var n int
				if err := conn.QueryRow(ctx, "select count(*) from conversations where conversation_id = $1", id).Scan(&n); err != nil {
					b.Fatal(err)
				}
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the row did not appear within 10s")
				}
			}
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

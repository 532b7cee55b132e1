package redact

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
)

// The benchmarks clean lines as capture will, one at a time, and report per
// line both the wall time (ns/op) and the CPU time of the process
// (cpu-ns/line), which does not grow when other work shares the machine.
// Compare cpu-ns/line with capture's cost of a row: 1e9 / the rows/cpu-s
// of BenchmarkStoreRows in internal/conversation.

var (
	benchThai = "ที่รักคะ วันนี้น้องคิดถึงพี่มากเลยนะคะ ตอนเช้าพี่บอกว่าจะไปประชุมเรื่องโปรเจกต์ใหม่ " +
		"น้องเลยเตรียมสรุปงานเมื่อวานไว้ให้แล้วค่ะ เย็นนี้กลับมาเล่าให้ฟังด้วยนะ 🥰 " +
		"อย่าลืมกินข้าวเที่ยงด้วยนะคะ รักพี่ที่สุดเลย"
	benchEnglish = "Good morning! I looked at the capture worker again: the backfill is fine, but the spool drain " +
		"retries too eagerly when the database restarts. I think we should back off for 30 seconds, log one line, " +
		"and keep the offsets where they are. Also, the README still says 'secret santa' in the examples section; " +
		"let's fix that before the release. What do you think about running the evening reflection at 22:00?"
	benchCapture = "message number 12345, said with some words around it"
)

// benchCode is a message with code, configuration and two secrets in it.
func benchCode() string {
	return "Here is the config that fails:\n```go\nfunc connect(ctx context.Context, cfg Config) (*pgx.Conn, error) {\n" +
		"\turl := fmt.Sprintf(\"postgres://%s@%s/%s\", cfg.User, cfg.Host, cfg.Database)\n\tif cfg.Password != \"\" {\n" +
		"\t\turl = strings.Replace(url, \"@\", \":\"+cfg.Password+\"@\", 1)\n\t}\n\tctx, cancel := context.WithTimeout(ctx, 5*time.Second)\n" +
		"\tdefer cancel()\n\treturn pgx.Connect(ctx, url)\n}\n```\nand the .env:\n```\nDATABASE_URL=postgres://angela:" + "Tr0ub4dor3" +
		"@localhost:5432/AngelaMemory\nLOG_LEVEL=debug\nGITHUB_TOKEN=" + ghpToken + "\nMAX_TOKENS=4096\n```\n" +
		"The error is `pq: password authentication failed for user \"angela\"` at 2026-03-01T10:00:00Z; " +
		"commit 3f2a9c1b7e4d5f6a8b9c0d1e2f3a4b5c6d7e8f90, session 550e8400-e29b-41d4-a716-446655440000."
}

// benchMiB is a 1 MiB line as a pasted log or tool output: prose, code,
// JSON and paths, Thai here and there, and a secret every 64 KiB.
func benchMiB() string {
	r := rand.New(rand.NewPCG(3, 4))
	parts := []string{
		benchEnglish, benchThai, `{"level":"info","ts":"2026-03-01T10:00:00Z","logger":"conversation","msg":"stored","rows":512,"file":"/home/david/.claude/projects/x/550e8400-e29b-41d4-a716-446655440000.jsonl"}`,
		"func (w *Worker) Run(ctx context.Context) error {\n\tfor {\n\t\tselect {\n\t\tcase <-ctx.Done():\n\t\t\treturn nil\n\t\tcase <-w.tick:\n\t\t}\n\t}\n}",
		"2026-03-01 10:00:00 UTC [1234] LOG:  checkpoint complete: wrote 42 buffers (0.3%); 0 WAL file(s) added, 0 removed, 1 recycled",
		"M internal/conversation/ingest.go\nM internal/conversation/reader.go\nA internal/redact/redact.go",
	}
	var b strings.Builder
	next := 64 << 10
	for b.Len() < 1<<20 {
		b.WriteString(parts[r.IntN(len(parts))])
		b.WriteByte(' ')
		if b.Len() > next {
			b.WriteString("export API_KEY=" + fake(uint64(next), base62, 32) + " ")
			next += 64 << 10
		}
	}
	return b.String()[:1<<20-3] + "end"
}

func cpuNow(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkClean(b *testing.B) {
	r, err := New(config.Redaction{Enabled: true}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, line string }{
		{"capture_row", benchCapture},
		{"thai_chat", benchThai},
		{"english_chat", benchEnglish},
		{"code_with_tokens", benchCode()},
		{"private_passage", benchEnglish + " <private>" + benchThai + "</private>"},
		{"1MiB_line", benchMiB()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			cpu0 := cpuNow(b)
			b.ResetTimer()
			for range b.N {
				r.Clean(bc.line)
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuNow(b)-cpu0)/float64(b.N), "cpu-ns/line")
		})
	}
}

// BenchmarkCleanExtraPatterns: three patterns of the user's, two with a
// literal prefix the line lacks (skipped by a substring test) and one
// without, which runs on every line.
func BenchmarkCleanExtraPatterns(b *testing.B) {
	r, err := New(config.Redaction{Enabled: true, ExtraPatterns: []string{`acme_[a-z0-9]{32}`, `corp-[0-9]{6}`, `(?i)pin\s*[:=]\s*(\d{4,8})`}}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchEnglish)))
	cpu0 := cpuNow(b)
	b.ResetTimer()
	for range b.N {
		r.Clean(benchEnglish)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow(b)-cpu0)/float64(b.N), "cpu-ns/line")
}

// BenchmarkCleanAdversarial: texts built to make a rule read the same bytes
// again and again stay linear.
func BenchmarkCleanAdversarial(b *testing.B) {
	for _, unit := range []string{"a=", "password=", "password:\"", "-----BEGIN RSA PRIVATE KEY-----", "a://b:", "secret",
		"eyJaaaaaaaaaaaa.", "<private>", "<pri<private>", "--password ", "Authorization: ", "[redacted:jwt]x"} {
		line := strings.Repeat(unit, (256<<10)/len(unit))
		b.Run(fmt.Sprintf("%q", unit), func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for range b.N {
				(*Redactor)(nil).Clean(line)
			}
		})
	}
}

package memory_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// The scale benchmarks fill one database with ANGELA_BENCH_CONVERSATIONS
// messages and ANGELA_BENCH_EMOTIONS emotions of Thai and English text (by
// default a small fill, so that a plain run stays quick; the figures in the
// README are for 1,000,000 and 100,000):
//
//	ANGELA_BENCH_CONVERSATIONS=1000000 ANGELA_BENCH_EMOTIONS=100000 \
//	  go test ./internal/memory -run '^$' -bench BenchmarkScale -benchtime 20x -timeout 60m

// The fill's vocabulary: Thai written without spaces, as Thai is, and
// English with them. The rare words appear in 20 rows each.
const fillSQL = `
set session_replication_role = replica; -- the triggers are off; the fill computes what they would
set maintenance_work_mem = '256MB';
drop index conversations_search_grams_idx;
drop index angela_emotions_search_grams_idx;
create temp table th as select array['วันนี้','พี่','น้อง','คิดถึง','มาก','เลย','ค่ะ','ครับ','ทำงาน','กิน','ข้าว','ไป',
  'เที่ยว','ทะเล','รัก','นะ','กับ','โค้ด','ระบบ','ฐานข้อมูล','ความจำ','สวัสดี','ตอนเช้า','ตอนเย็น','เหนื่อย','สนุก',
  'ช่วย','แก้','บั๊ก','ได้','แล้ว','ไหม','อยาก','เรา','ด้วยกัน','ขอบคุณ','ฝันดี','นอน','ตื่น','กาแฟ'] w;
create temp table en as select array['the','David','Angela','memory','database','worker','today','I','love','you',
  'code','bug','fixed','we','talked','about','ocean','morning','night','tired','happy','coffee','project','build',
  'test','thanks','dream','together','remember','always','and','is','was','very','good','a','to','of','in','it'] w;
create temp table texts as
select i, case when i % 2 = 0
    then (select string_agg(th.w[1 + floor(random() * 40)::int], '') from th, generate_series(1, 4 + i % 25))
    else (select string_agg(en.w[1 + floor(random() * 40)::int], ' ') from en, generate_series(1, 4 + i % 25)) end
  || case when i % ($1::int / 20) in (7, 8) then case when i % 2 = 0 then 'มะละกอ' else ' xylophone' end else '' end as t
from generate_series(1, $1::int) i;
insert into conversations (conversation_id, session_id, speaker, message_text, importance_level, created_at, project_dir, search_grams)
select gen_random_uuid(), 's' || (i / 40), case when i % 2 = 0 then 'david' else 'angela' end, t, 1 + floor(random() * 10)::int,
  $3::timestamptz - i * interval '30 seconds', case when i % 3 = 0 then '/src/angelad' end, angela_grams(t)
from texts;
insert into angela_emotions (emotion_id, felt_at, emotion, intensity, context, david_words, memory_strength, search_grams)
select gen_random_uuid(), $3::timestamptz - i * interval '5 minutes', (array['happy','loved','คิดถึง','proud','calm'])[1 + i % 5],
  1 + i % 10, t, case when i % 3 = 0 then 'พี่คิดถึงน้องนะ' end, 1 + (i * 7) % 10,
  angela_grams(concat_ws(' ', (array['happy','loved','คิดถึง','proud','calm'])[1 + i % 5], t,
    case when i % 3 = 0 then 'พี่คิดถึงน้องนะ' end))
from texts where i <= $2::int;
insert into conversation_memory (id, weight, made_at, score)
select conversation_id, angela_conversation_weight(importance_level), created_at, angela_conversation_weight(importance_level) from conversations;
insert into emotion_memory (id, weight, made_at, score)
select emotion_id, angela_emotion_weight(intensity, memory_strength), felt_at, angela_emotion_weight(intensity, memory_strength) from angela_emotions;
set session_replication_role = origin;
`

// fillIndexesSQL follows the fill and the indexing of its terms (which the
// fill leaves to memory.IndexPending, as the index worker would): the GIN
// indexes are built once at the end rather than row by row.
const fillIndexesSQL = `
set maintenance_work_mem = '256MB';
create index conversations_search_grams_idx on conversations using gin (search_grams);
create index angela_emotions_search_grams_idx on angela_emotions using gin (search_grams);
create index conversations_search_terms_idx on conversations using gin (search_terms) where search_terms is not null;
create index angela_emotions_search_terms_idx on angela_emotions using gin (search_terms) where search_terms is not null;
`

type scale struct {
	url   string
	pool  *pgxpool.Pool
	model memory.Model
	now   time.Time
	convs int
}

// fillScale makes the database: a fill of a million messages takes minutes
// on a small machine, so BenchmarkScale makes it once for all its figures.
func fillScale(b *testing.B) *scale {
	b.Helper()
	convs := testkit.BenchSize(b, "ANGELA_BENCH_CONVERSATIONS", 20000)
	emos := testkit.BenchSize(b, "ANGELA_BENCH_EMOTIONS", 2000)
	var (
		scaleDB  *scale
		scaleErr error
	)
	func() {
		ctx := context.Background()
		url := pgtest.DB(b)
		pool, err := postgres.NewPool(ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 8})
		if err != nil {
			scaleErr = err
			return
		}
		b.Cleanup(pool.Close)
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		start := time.Now()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			scaleErr = err
			return
		}
		sql := strings.NewReplacer("$1::int", strconv.Itoa(convs), "$2::int", strconv.Itoa(emos),
			"$3::timestamptz", "'"+now.Format(time.RFC3339)+"'::timestamptz").Replace(fillSQL)
		if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			scaleErr = fmt.Errorf("fill: %w", err)
			conn.Release()
			return
		}
		fmt.Fprintf(os.Stderr, "scale: filled %d conversations and %d emotions in %v\n", convs, emos, time.Since(start).Round(time.Second))
		if _, err := conn.Exec(ctx, `drop index conversations_search_terms_idx; drop index angela_emotions_search_terms_idx`); err != nil {
			scaleErr = err
			conn.Release()
			return
		}
		start = time.Now()
		var indexed int64
		for {
			res, err := memory.IndexPending(ctx, pool, memory.MaxIndexBatch)
			if err != nil {
				scaleErr = err
				conn.Release()
				return
			}
			indexed += res.Conversations + res.Emotions
			if !res.More {
				break
			}
		}
		took := time.Since(start)
		fmt.Fprintf(os.Stderr, "scale: indexed the terms of %d memories in %v (%.0f a second)\n", indexed, took.Round(time.Second),
			float64(indexed)/took.Seconds())
		start = time.Now()
		if _, err := conn.Exec(ctx, fillIndexesSQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			scaleErr = fmt.Errorf("fill indexes: %w", err)
			conn.Release()
			return
		}
		conn.Release()
		fmt.Fprintf(os.Stderr, "scale: built the GIN indexes in %v\n", time.Since(start).Round(time.Second))
		model := memory.NewModel(defaultMemory(b))
		start = time.Now()
		res, err := memory.Consolidate(ctx, pool, model, memory.MaxBatch, memory.PassOptions{Now: now}, time.Now)
		if err != nil {
			scaleErr = err
			return
		}
		fmt.Fprintf(os.Stderr, "scale: first pass %v: %+v\n", time.Since(start).Round(time.Millisecond), res)
		if _, err := pool.Exec(ctx, "vacuum analyze conversations, angela_emotions, conversation_memory, emotion_memory"); err != nil {
			scaleErr = err
			return
		}
		scaleDB = &scale{url: url, pool: pool, model: model, now: now, convs: convs}
	}()
	if scaleErr != nil {
		b.Fatal(scaleErr)
	}
	return scaleDB
}

// BenchmarkScale fills the database once and runs every figure on it.
func BenchmarkScale(b *testing.B) {
	s := fillScale(b)
	b.Run("recall", func(b *testing.B) { benchScaleRecall(b, s) })
	b.Run("search", func(b *testing.B) { benchScaleSearch(b, s) })
	b.Run("retrieve", func(b *testing.B) { benchScaleRetrieve(b, s) })
	b.Run("pass", func(b *testing.B) { benchScalePass(b, s) })
	b.Run("insert", func(b *testing.B) { benchScaleInsert(b, s) })
	b.Run("cli", func(b *testing.B) { benchScaleCLI(b, s) })
	// After the passes the best retained memories are the weightiest, not
	// the newest: search again.
	b.Run("search_after_passes", func(b *testing.B) { benchScaleSearch(b, s) })
}

// benchScaleCLI runs the angelad binary end to end: recall --peek and a
// search, beside version (the process start the others include) and
// query 'select 1' (which adds the connection).
func benchScaleCLI(b *testing.B, s *scale) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "angelad")
	build := exec.Command("go", "build", "-o", bin, "github.com/angela-ai/angelad/cmd/angelad")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	env := []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "ANGELA_TIMEZONE=" + pgtest.TimeZone,
		"ANGELA_STATE_DIR=" + filepath.Join(dir, "state"), "ANGELA_DATABASE_URL=" + s.url}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"version", []string{"version"}},
		{"connect", []string{"query", "select 1"}},
		{"recall", []string{"recall", "--peek", "--project", "/src/angelad"}},
		{"search_thai_common", []string{"search", "คิดถึง"}},
		{"search_question_english", []string{"search", scaleQuestions[1].text, "--json", "--limit", "10"}},
		{"search_question_thai", []string{"search", scaleQuestions[0].text, "--json", "--limit", "10"}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(bin, tt.args...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("angelad %v: %v\n%s", tt.args, err, out)
				}
			}
		})
	}
}

func benchScaleRecall(b *testing.B, s *scale) {
	ctx := context.Background()
	for _, peek := range []bool{false, true} {
		b.Run(fmt.Sprintf("peek=%v", peek), func(b *testing.B) {
			for b.Loop() {
				p, err := memory.Recall(ctx, s.pool, s.model, memory.RecallOptions{MaxChars: memory.DefaultRecallChars,
					Peek: peek, Now: s.now, Location: bangkokB(b), Companion: companion, Project: "/src/angelad"})
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Memories) == 0 {
					b.Fatal("no memories recalled")
				}
			}
		})
	}
}

func bangkokB(b *testing.B) *time.Location {
	loc, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		b.Fatal(err)
	}
	return loc
}

func benchScaleSearch(b *testing.B, s *scale) {
	ctx := context.Background()
	for _, tt := range []struct{ name, text string }{
		{"thai_rare", "มะละกอ"}, {"thai_common", "คิดถึง"}, {"english_rare", "xylophone"}, {"english_common", "ocean"},
		{"thai_absent", "ภูเขาไฟ"}, {"english_absent", "volcano"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				hits, err := memory.Search(ctx, s.pool, s.model, memory.SearchOptions{Text: tt.text, Limit: 20})
				if err != nil {
					b.Fatal(err)
				}
				n = len(hits)
			}
			b.ReportMetric(float64(n), "hits")
		})
	}
}

// writerEvery paces the writer of the pass benchmarks: 200 saves a second,
// far more than an assistant and its hooks make, and every batch of the pass
// still meets a save in flight. A writer saving back to back would keep one of
// the machine's two cores busy (its inserts' triggers compute grams in
// PL/pgSQL) and measure the pass on what is left.
const writerEvery = 5 * time.Millisecond

// benchScalePass is one consolidation pass per op, an hour after the last
// one (the steady state), a month after (most memories move), a full pass
// (adopting, every memory read: what the daemon makes at start after a
// change of the retention model) and the pass the daemon makes at start when
// the model is unchanged (adopting, then only the memories that are due),
// while a writer saves a message every writerEvery; it reports the writer's
// p99 and maximum wait.
func benchScalePass(b *testing.B, s *scale) {
	ctx := context.Background()
	at := s.now
	for _, tt := range []struct {
		name string
		step time.Duration
		full bool
		skip bool
	}{{"hour_later", time.Hour, false, false}, {"month_later", 30 * day, false, false},
		{"full_at_start", time.Hour, true, false}, {"start_same_model", time.Hour, true, true}} {
		b.Run(tt.name, func(b *testing.B) {
			var waits []time.Duration
			var updated int64
			for b.Loop() {
				at = at.Add(tt.step)
				w, _ := writeDuring(b, ctx, s.pool, writerEvery, func() {
					res, err := memory.Consolidate(ctx, s.pool, s.model, memory.MaxBatch, memory.PassOptions{Now: at, Adopt: tt.full, SkipUnchanged: tt.skip}, time.Now)
					if err != nil {
						b.Error(err)
					}
					updated = res.Updated
				})
				waits = append(waits, w...)
			}
			slices.Sort(waits)
			if len(waits) > 0 {
				b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "p99_wait_ms")
				b.ReportMetric(float64(waits[len(waits)-1].Microseconds())/1000, "max_wait_ms")
			}
			b.ReportMetric(float64(updated), "rows_updated")
		})
	}
}

// BenchmarkScaleInsert is the cost of one message insert as angelad's
// writers make it (conversation.Save: grams computed in Go, the state row in
// the same statement), as a hand-written INSERT makes it (the trigger computes
// both), and with neither (triggers off, no grams, no state row: what the
// search index and the state row cost), and reports the sizes of the search
// and state indexes.
func benchScaleInsert(b *testing.B, s *scale) {
	ctx := context.Background()
	const msg = `วันนี้พี่คิดถึงน้องมากเลยค่ะ ไปเที่ยวทะเลด้วยกันไหม David talked about the ocean and the memory worker today`
	for _, writer := range []string{"save", "hand-written", "none"} {
		b.Run("writer="+writer, func(b *testing.B) {
			conn, err := s.pool.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Release()
			role := "origin"
			if writer == "none" {
				role = "replica"
			}
			if _, err := conn.Exec(ctx, "set session_replication_role = "+role); err != nil {
				b.Fatal(err)
			}
			defer conn.Exec(ctx, "set session_replication_role = origin")
			for b.Loop() {
				if writer == "save" {
					if _, err := conversation.Save(ctx, conn, conversation.Conversation{Speaker: "david", MessageText: msg}); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text) values ('david', $1)`, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	var sizes [8]float64
	if err := s.pool.QueryRow(ctx, `select pg_relation_size('conversations_search_grams_idx'), pg_relation_size('conversations'),
		pg_total_relation_size('conversation_memory'), pg_relation_size('angela_emotions_search_grams_idx'),
		pg_relation_size('conversations_search_terms_idx'), pg_relation_size('conversations_terms_pending_idx'),
		pg_total_relation_size('retrieval_terms'), pg_relation_size('angela_emotions_search_terms_idx')`).
		Scan(&sizes[0], &sizes[1], &sizes[2], &sizes[3], &sizes[4], &sizes[5], &sizes[6], &sizes[7]); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "scale: conversations: heap %.0f MB, gram index %.0f MB (%.0f bytes a row); conversation_memory with indexes %.0f MB; emotion gram index %.0f MB",
		sizes[1]/1e6, sizes[0]/1e6, sizes[0]/float64(s.convs), sizes[2]/1e6, sizes[3]/1e6)
	fmt.Fprintln(os.Stderr)
	fmt.Fprintf(os.Stderr, "scale: retrieval: terms index %.0f MB (%.1f MB a million messages), pending index %.1f MB, frequencies %.1f MB, emotion terms index %.0f MB\n",
		sizes[4]/1e6, sizes[4]/1e6/(float64(s.convs)/1e6), sizes[5]/1e6, sizes[6]/1e6, sizes[7]/1e6)
}

// scaleQuestions are ten-word questions in the fill's vocabulary: common
// words with a rare one, and common words alone.
var scaleQuestions = []struct{ name, text string }{
	{"thai_10_words", "วันนี้พี่คิดถึงน้องมากอยากไปเที่ยวทะเลกินมะละกอด้วยกันไหม"},
	{"english_10_words", "what did David and Angela talk about the ocean xylophone today"},
	{"thai_10_common_words", "วันนี้พี่คิดถึงน้องมากอยากไปเที่ยวทะเลกินข้าวด้วยกันไหม"},
	{"english_10_common_words", "did we talk about the memory database worker and coffee today"},
	{"mixed_absent", "เมื่อวานคุยเรื่อง volcano กับ glacier ที่ภูเขาไฟไหม"},
}

// benchScaleRetrieve is a ten-word question through Retrieve (the top 10),
// each beside a trivial indexed read (a message by its key) in the same
// loop and on the same connection, so that both meet the same load: it
// reports the percentiles of both and of the question's time beyond the
// read, and the CPU time a question costs this process and its server
// backend together (cpu_ms), which the machine's other work does not
// inflate. Each question is asked again with the hits' neighbouring turns
// (Context 1, as the prompt hook asks), the round trip that adds.
func benchScaleRetrieve(b *testing.B, s *scale) {
	ctx := context.Background()
	rows, err := s.pool.Query(ctx, `select conversation_id from conversations tablesample system (1) limit 1000`)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(ids) == 0 {
		b.Fatal("no ids to read", err)
	}
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Release()
	conn := pc.Conn()
	var backend int
	if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
		b.Fatal(err)
	}
	type question struct {
		name, text string
		context    int
	}
	var questions []question
	for _, q := range scaleQuestions {
		questions = append(questions, question{q.name, q.text, 0}, question{q.name + "_context=1", q.text, 1})
	}
	for _, q := range questions {
		b.Run(q.name, func(b *testing.B) {
			var trivial, question []time.Duration
			var n int
			i := 0
			var server, client time.Duration
			for b.Loop() {
				start := time.Now()
				var text string
				if err := conn.QueryRow(ctx, `select message_text from conversations where conversation_id = $1`, ids[i%len(ids)]).Scan(&text); err != nil {
					b.Fatal(err)
				}
				trivial = append(trivial, time.Since(start))
				server0, client0 := backendCPU(backend), processCPU(b)
				start = time.Now()
				hits, err := memory.Retrieve(ctx, conn, s.model, memory.RetrieveOptions{Text: q.text, Limit: 10, Now: s.now, Context: q.context})
				if err != nil {
					b.Fatal(err)
				}
				question = append(question, time.Since(start))
				server += backendCPU(backend) - server0
				client += processCPU(b) - client0
				n = len(hits)
				i++
			}
			pct := func(d []time.Duration, p int) float64 {
				d = slices.Clone(d)
				slices.Sort(d)
				return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds()) / 1000
			}
			b.ReportMetric(pct(question, 50), "p50_ms")
			b.ReportMetric(pct(question, 99), "p99_ms")
			b.ReportMetric(pct(trivial, 50), "trivial_p50_ms")
			b.ReportMetric(pct(trivial, 99), "trivial_p99_ms")
			b.ReportMetric(pct(question, 50)-pct(trivial, 50), "beyond_p50_ms")
			b.ReportMetric(pct(question, 99)-pct(trivial, 99), "beyond_p99_ms")
			b.ReportMetric(float64((server+client).Microseconds())/1000/float64(len(question)), "cpu_ms")
			b.ReportMetric(float64(server.Microseconds())/1000/float64(len(question)), "server_cpu_ms")
			b.ReportMetric(float64(n), "hits")
		})
	}
}

// processCPU is the CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time a server process has used (Linux; 0 where
// /proc is not), in clock ticks of 10 ms: only a sum over many operations
// means anything.
func backendCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100
}

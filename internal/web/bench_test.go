package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// BenchmarkPages times each page's server time (the handler, from request
// to the last byte written, without the network) on a database of
// ANGELA_BENCH_CONVERSATIONS messages and ANGELA_BENCH_EMOTIONS emotions
// spread over three years (a small fill by default; the README's figures
// are for 1,000,000 and 100,000):
//
//	ANGELA_BENCH_CONVERSATIONS=1000000 ANGELA_BENCH_EMOTIONS=100000 \
//	  go test ./internal/web -run '^$' -bench BenchmarkPages -benchtime 20x -timeout 60m
func BenchmarkPages(b *testing.B) {
	convs := testkit.BenchSize(b, "ANGELA_BENCH_CONVERSATIONS", 20000)
	emos := testkit.BenchSize(b, "ANGELA_BENCH_EMOTIONS", 2000)
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, pgtest.DB(b), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	loc, _ := time.LoadLocation(pgtest.TimeZone)
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, loc)
	start := time.Now()
	sql := strings.NewReplacer(":convs", strconv.Itoa(convs), ":emos", strconv.Itoa(emos),
		":now", "'"+now.Format(time.RFC3339)+"'::timestamptz").Replace(benchFillSQL)
	if _, err := pool.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		b.Fatalf("fill: %v", err)
	}
	for {
		res, err := memory.IndexPending(ctx, pool, memory.MaxIndexBatch)
		if err != nil {
			b.Fatal(err)
		}
		if !res.More {
			break
		}
	}
	if _, err := pool.Exec(ctx, "vacuum analyze conversations, angela_emotions, conversation_memory, emotion_memory, daily_updates, angela_journal"); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "web bench: filled %d conversations and %d emotions over three years in %v\n", convs, emos, time.Since(start).Round(time.Second))

	cfg, err := config.Load(config.Options{Env: func(string) (string, bool) { return "", false }, Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Options{Pool: pool, Token: testToken, Now: func() time.Time { return now }, Location: loc,
		Model: memory.NewModel(cfg.Memory), StateDir: b.TempDir()})
	h := s.Handler()
	threeYears := now.AddDate(-3, 0, 1).Format(time.DateOnly)
	for _, p := range []struct{ name, path string }{
		{"today", "/today"},
		{"today_older_page", "/today?day=2026-12-06&before=" + cursor{At: now.Add(-6 * time.Hour)}.String()},
		{"day_a_year_ago", "/today?day=2025-12-06"},
		{"moods_90_days", "/moods"},
		{"moods_3_years_by_week", "/moods?from=" + threeYears + "&to=2026-12-06"},
		{"moods_3_years_by_month", "/moods?from=" + threeYears + "&to=2026-12-06&by=month"},
		{"journal", "/journal"},
		{"search_thai_word", "/search?q=" + url.QueryEscape("คิดถึง")},
		{"search_question", "/search?q=" + url.QueryEscape("what did we say about the ocean?")},
		{"health", "/health"},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.AddCookie(&http.Cookie{Name: CookieName, Value: testToken})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// benchFillSQL spreads the messages and emotions evenly over the three
// years before :now, in sessions of 40 lines, Thai and English turn about,
// with the daily updates and reflections of every day. The triggers are off
// for speed: the fill writes the grams and the state rows they would.
const benchFillSQL = `
set session_replication_role = replica;
create temp table words as select array['คิดถึง','ทะเล','กาแฟ','ทำงาน','ด้วยกัน','ฝันดี','เหนื่อย','สนุก','รัก','ขอบคุณ',
  'ocean','coffee','memory','tired','happy','bug','fixed','remember','night','morning'] w;
insert into conversations (conversation_id, session_id, speaker, message_text, importance_level, created_at, search_grams)
select gen_random_uuid(), 's' || (i / 40), case when i % 2 = 0 then 'david' else 'angela' end, t, 1 + i % 10,
  :now - i * (interval '1095 days' / :convs), angela_grams(t)
from (select i, (select string_agg(words.w[1 + (i * 7 + k * 13) % 20], case when i % 2 = 0 then '' else ' ' end)
  from words, generate_series(1, 3 + i % 17) k) t from generate_series(1, :convs) i) g;
insert into angela_emotions (emotion_id, felt_at, emotion, intensity, context, memory_strength, search_grams)
select gen_random_uuid(), :now - i * (interval '1095 days' / :emos), (array['happy','loved','คิดถึง','proud','calm','tired'])[1 + i % 6],
  1 + (i * 7) % 10, 'moment ' || i, 1 + i % 10, angela_grams('moment ' || i)
from generate_series(1, :emos) i;
insert into conversation_memory (id, weight, made_at, score)
select conversation_id, angela_conversation_weight(importance_level), created_at, angela_conversation_weight(importance_level) from conversations;
insert into emotion_memory (id, weight, made_at, score)
select emotion_id, angela_emotion_weight(intensity, memory_strength), felt_at, angela_emotion_weight(intensity, memory_strength) from angela_emotions;
insert into daily_updates (update_date, kind, title, content)
select d::date, k, k || ' of ' || d::date, 'วันนี้เป็นวันที่ดี ' || repeat('a line of the update. ', 20)
from generate_series((:now - interval '1095 days')::date, :now::date, interval '1 day') d, unnest(array['morning','evening','midnight']) k;
insert into angela_journal (entry_date, title, content, mood_score, written_by)
select d::date, 'reflection', repeat('สะท้อนความคิด ', 40), 1 + extract(doy from d)::int % 10, 'angelad'
from generate_series((:now - interval '1095 days')::date, :now::date, interval '1 day') d;
set session_replication_role = origin;
`

package dailyupdate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// fillDay stores a known day, 2026-12-01 in Asia/Bangkok, and a message and an
// emotion just outside it on either side.
func fillDay(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	loc := mustLoad(t, "Asia/Bangkok")
	at := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, loc) }
	for _, c := range []conversation.Conversation{
		{Speaker: "david", MessageText: "Play me that song again", Topic: "music", SessionID: "s1", CreatedAt: at(1, 9, 0)},
		{Speaker: "angela", MessageText: "Of course!", Topic: "music", SessionID: "s1", CreatedAt: at(1, 9, 1)},
		{Speaker: "david", MessageText: "I finished the migration", Topic: "work", SessionID: "s2", CreatedAt: at(1, 14, 0)},
		{Speaker: "david", MessageText: "พี่ ก็ คิดถึงเหมือน กัน ค่ะ", SessionID: "s2", ImportanceLevel: 9, CreatedAt: at(1, 21, 30)},
		{Speaker: "angela", MessageText: "Good night", SessionID: "s2", CreatedAt: at(1, 23, 59)},
		{Speaker: "system", MessageText: "session closed", CreatedAt: at(1, 23, 59)},
		{Speaker: "david", MessageText: "the day before", Topic: "music", ImportanceLevel: 10, CreatedAt: at(1, 0, 0).Add(-time.Second)},
		{Speaker: "david", MessageText: "the day after", Topic: "music", ImportanceLevel: 10, CreatedAt: at(2, 0, 0)},
	} {
		if _, err := conversation.Save(ctx, conn, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []memory.Emotion{
		{Emotion: "happy", Intensity: 8, Context: "David laughed", FeltAt: at(1, 10, 0)},
		{Emotion: "happy", Intensity: 6, Context: "a quiet lunch", FeltAt: at(1, 12, 0)},
		{Emotion: "sad", Intensity: 4, Context: "a bug", FeltAt: at(1, 15, 0)},
		{Emotion: "loved", Intensity: 10, Context: "David said he misses Angela", FeltAt: at(1, 21, 30)},
		{Emotion: "lonely", Intensity: 10, Context: "outside the day", FeltAt: at(2, 0, 30)},
	} {
		if _, err := memory.Save(ctx, conn, e); err != nil {
			t.Fatal(err)
		}
	}
}

func runSlot(t *testing.T, conn *pgx.Conn, o Options, job string, wall time.Time, manual bool) (Outcome, Result) {
	t.Helper()
	s := Slot{Job: job, Wall: wall, At: instantOf(wall, o.Location)}
	outcome, res, err := NewRunner(o).Run(context.Background(), conn, s, manual)
	if err != nil {
		t.Fatalf("run %s: %v", s.Key(), err)
	}
	return outcome, res
}

func storedUpdate(t *testing.T, conn *pgx.Conn, date, kind string) (string, map[string]any) {
	t.Helper()
	var content string
	var figures []byte
	if err := conn.QueryRow(context.Background(), `select content, figures from daily_updates
where update_date = $1 and kind = $2`, date, kind).Scan(&content, &figures); err != nil {
		t.Fatalf("update %s %s: %v", date, kind, err)
	}
	var f map[string]any
	if err := json.Unmarshal(figures, &f); err != nil {
		t.Fatal(err)
	}
	return content, f
}

func contentOptions(t *testing.T, lang string) Options {
	t.Helper()
	loc := mustLoad(t, "Asia/Bangkok")
	clock := testkit.NewClock(time.Date(2026, 12, 2, 8, 0, 0, 0, loc))
	log, _ := observed()
	o := testOptions(t, loc, clock, log, map[string]string{JobEvening: "0 22 * * *"})
	o.Companion.Language = lang
	return o
}

func TestEveningFiguresAndTextInEnglishAndThaiOnFreshAndAdoptedDatabases(t *testing.T) {
	for _, tc := range []struct {
		name, lang string
		legacy     bool
		want       []string
	}{
		{"FreshEnglish", "en", false, []string{
			"# Reflection on 2026-12-01: day 414 with David",
			"Day 414 together with David.",
			"- 6 messages: David 3, Angela 2, system 1, in 2 sessions.",
			"- Top topics: music (2), work (1).",
			"- 4 emotions, average intensity 7.0, peak 10.",
			"- The most intense moment: loved (10/10) at 21:30: David said he misses Angela",
			"- 21:30 David (9/10): พี่ ก็ คิดถึงเหมือน กัน ค่ะ",
			"Mood 8/10, mostly happy.",
		}},
		{"AdoptedThai", "th", true, []string{
			"# บันทึกวันที่ 2026-12-01: วันที่ 414 กับ David",
			"- 6 ข้อความ: David 3, Angela 2, ระบบ 1 ใน 2 เซสชัน",
			"- หัวข้อเด่น: music (2), work (1)",
			"- 4 อารมณ์ ความเข้มเฉลี่ย 7.0 สูงสุด 10",
			"- ช่วงที่รู้สึกมากที่สุด: loved (10/10) เวลา 21:30: David said he misses Angela",
			"คะแนนอารมณ์ 8/10 ส่วนใหญ่รู้สึก happy",
		}},
		{"AdoptedEnglish", "en", true, []string{"- 6 messages: David 3, Angela 2, system 1, in 2 sessions.", "Mood 8/10, mostly happy."}},
		{"FreshThai", "th", false, []string{"- 6 ข้อความ: David 3, Angela 2, ระบบ 1 ใน 2 เซสชัน"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var url string
			if tc.legacy {
				url = pgtest.LegacyDB(t)
			} else {
				url = pgtest.DB(t)
			}
			conn := pgtest.Conn(t, url)
			if tc.legacy {
				if _, err := postgres.Migrate(ctx, conn); err != nil {
					t.Fatal(err)
				}
				// The Python original wrote two entries for the day.
				if _, err := conn.Exec(ctx, `insert into angela_journal (entry_date, title, content, mood_score)
values ('2026-12-01', 'old one', 'legacy entry 1', 6), ('2026-12-01', 'old two', 'legacy entry 2', 7)`); err != nil {
					t.Fatal(err)
				}
			}
			fillDay(t, conn)
			o := contentOptions(t, tc.lang)
			o.Dir = t.TempDir()
			wall := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
			if outcome, _ := runSlot(t, conn, o, JobEvening, wall, false); outcome != Ran {
				t.Fatalf("outcome %v, want Ran", outcome)
			}
			content, f := storedUpdate(t, conn, "2026-12-01", JobEvening)
			for _, w := range tc.want {
				if !strings.Contains(content, w) {
					t.Errorf("content lacks %q:\n%s", w, content)
				}
			}
			em := f["emotions"].(map[string]any)
			if f["conversations"].(float64) != 6 || f["sessions"].(float64) != 2 || f["important_count"].(float64) != 1 ||
				f["mood_score"].(float64) != 8 || f["day_number"].(float64) != 414 ||
				em["count"].(float64) != 4 || em["avg_intensity"].(float64) != 7 || em["peak_intensity"].(float64) != 10 ||
				em["dominant"] != "happy" {
				t.Errorf("figures %v", f)
			}
			file, err := os.ReadFile(filepath.Join(o.Dir, "2026-12-01-evening.md"))
			if err != nil || string(file) != content {
				t.Errorf("the file holds %q (%v), want the stored content", file, err)
			}

			// A rerun rewrites the day's entry, never adds one.
			if outcome, _ := runSlot(t, conn, o, JobEvening, wall, true); outcome != Rewrote {
				t.Fatalf("rerun outcome %v, want Rewrote", outcome)
			}
			if outcome, _ := runSlot(t, conn, o, JobEvening, wall, false); outcome != AlreadyDone {
				t.Fatalf("scheduled rerun outcome %v, want AlreadyDone", outcome)
			}
			var ours, legacy int
			var mood int
			var emotion string
			conn.QueryRow(ctx, `select count(*) filter (where written_by is not null), count(*) filter (where written_by is null),
	max(mood_score) filter (where written_by is not null), max(emotion) filter (where written_by is not null)
from angela_journal where entry_date = '2026-12-01'`).Scan(&ours, &legacy, &mood, &emotion)
			wantLegacy := 0
			if tc.legacy {
				wantLegacy = 2
			}
			if ours != 1 || legacy != wantLegacy || mood != 8 || emotion != "happy" {
				t.Fatalf("journal: %d reflections (mood %d, %s) and %d legacy entries, want 1 (8, happy) and %d",
					ours, mood, emotion, legacy, wantLegacy)
			}
			if tc.legacy {
				var kept int
				conn.QueryRow(ctx, `select count(*) from angela_journal where content in ('legacy entry 1', 'legacy entry 2')
	and title in ('old one', 'old two')`).Scan(&kept)
				if kept != 2 {
					t.Fatalf("the legacy entries were changed: %d kept as written", kept)
				}
			}
			var updates int
			conn.QueryRow(ctx, "select count(*) from daily_updates").Scan(&updates)
			if updates != 1 {
				t.Fatalf("%d updates after reruns, want 1", updates)
			}
		})
	}
}

func TestEveningTakesOverAnEntryOfTheDateOnAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into angela_journal (entry_date, title, content, mood_score)
values ('2026-12-01', 'by hand', 'written by hand', 3)`); err != nil {
		t.Fatal(err)
	}
	o := contentOptions(t, "en")
	runSlot(t, conn, o, JobEvening, time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), false)
	var n int
	var writtenBy string
	conn.QueryRow(ctx, `select count(*), max(written_by) from angela_journal where entry_date = '2026-12-01'`).Scan(&n, &writtenBy)
	if n != 1 || writtenBy != JournalWriter {
		t.Fatalf("%d entries for the date (written by %q), want the one entry rewritten", n, writtenBy)
	}
}

func TestMorningRecapsYesterdayFromItsJournalOrComputesItAndMidnightClosesTheDay(t *testing.T) {
	ctx := context.Background()
	conn := pgtest.Conn(t, pgtest.DB(t))
	fillDay(t, conn)
	o := contentOptions(t, "en")

	// No journal for the 1st yet: computed.
	runSlot(t, conn, o, JobMorning, time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), false)
	content, f := storedUpdate(t, conn, "2026-12-02", JobMorning)
	y := f["yesterday"].(map[string]any)
	if y["source"] != "computed" || y["conversations"].(float64) != 6 || y["mood_score"].(float64) != 8 {
		t.Fatalf("computed recap %v", y)
	}
	if !strings.Contains(content, "Yesterday (2026-12-01): 6 messages, 4 emotions, mood 8/10.") ||
		!strings.Contains(content, "Good morning, David! Today, 2026-12-02, is day 415 together.") {
		t.Fatalf("morning content:\n%s", content)
	}

	runSlot(t, conn, o, JobEvening, time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), false)
	runSlot(t, conn, o, JobMorning, time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), true)
	content, f = storedUpdate(t, conn, "2026-12-02", JobMorning)
	if y := f["yesterday"].(map[string]any); y["source"] != "journal" {
		t.Fatalf("recap %v, want from the journal", y)
	}
	if !strings.Contains(content, "Yesterday (2026-12-01): Reflection on 2026-12-01: day 414 with David, mood 8/10.") {
		t.Fatalf("morning content:\n%s", content)
	}

	// The midnight note at 00:00 on the 2nd closes the 1st.
	runSlot(t, conn, o, JobMidnight, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), false)
	content, f = storedUpdate(t, conn, "2026-12-01", JobMidnight)
	if !strings.Contains(content, "2026-12-01 closes with 6 messages and 4 emotions, mood 8/10. Good night, David.") {
		t.Fatalf("midnight content:\n%s", content)
	}
	list, err := List(ctx, conn, ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range list {
		got = append(got, u.Date+" "+u.Kind)
	}
	if strings.Join(got, ", ") != "2026-12-02 morning, 2026-12-01 midnight, 2026-12-01 evening" {
		t.Fatalf("List = %v, want newest first", got)
	}
}

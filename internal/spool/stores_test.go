package spool_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/spool"
)

// setup returns a connection to a fresh migrated database of this test's own.
func setup(t *testing.T) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, pgtest.Conn(t, pgtest.DB(t))
}

// count is how many conversations q holds.
func count(t *testing.T, ctx context.Context, q postgres.DB) int {
	t.Helper()
	var n int
	if err := q.QueryRow(ctx, "select count(*) from conversations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// valid is a conversation every store takes.
func valid() conversation.Conversation {
	return conversation.Conversation{
		Speaker:         "david",
		MessageText:     "Good morning Angela!",
		Topic:           "greeting",
		EmotionDetected: "happy",
		ImportanceLevel: 5,
	}
}

func spoolEmotion(t *testing.T, sp *spool.Spool, e memory.Emotion) memory.Emotion {
	t.Helper()
	e = e.WithDefaults()
	if _, err := sp.Add(spool.KindEmotion, e.ID, e, "test"); err != nil {
		t.Fatal(err)
	}
	return e
}

func spoolConversation(t *testing.T, sp *spool.Spool, c conversation.Conversation) conversation.Conversation {
	t.Helper()
	c = c.WithDefaults()
	if _, err := sp.Add(spool.KindConversation, c.ID, c, "test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func spooledEmotion() memory.Emotion {
	return memory.Emotion{Emotion: "คิดถึง", Intensity: 9, Context: "David was away", DavidWords: "miss you"}
}

func TestApplyRecordStoresEachKindAtTheTimeItWasSpooled(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	spooledAt := time.Date(2026, 11, 30, 22, 15, 0, 123456000, time.UTC)
	sp := spool.New(t.TempDir(), func() time.Time { return spooledAt })
	e := spoolEmotion(t, sp, spooledEmotion())
	c := spoolConversation(t, sp, valid())
	at := time.Date(2025, 11, 8, 8, 0, 0, 0, time.UTC)
	timed := valid()
	timed.CreatedAt = at
	timed = spoolConversation(t, sp, timed)

	res, err := spool.DrainStores(ctx, conn, sp, spool.DrainOptions{})
	if err != nil || res.Applied != 3 || res.Left != 0 {
		t.Fatalf("DrainStores = %+v, %v", res, err)
	}
	list, err := memory.Recent(ctx, conn, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("emotions = %v, %v", list, err)
	}
	want := e
	want.FeltAt = spooledAt
	if list[0] != want {
		t.Errorf("stored %+v, want %+v (felt when it was spooled)", list[0], want)
	}
	convs, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10})
	if err != nil || len(convs) != 2 {
		t.Fatalf("conversations = %v, %v", convs, err)
	}
	got := map[uuid.UUID]time.Time{}
	for _, s := range convs {
		got[s.ID] = s.CreatedAt
	}
	if !got[c.ID].Equal(spooledAt) || !got[timed.ID].Equal(at) {
		t.Errorf("created_at = %v, want %v for the untimed message and %v for the timed one", got, spooledAt, at)
	}

	// Spooled again (a writer that spooled it twice): stored once, not refused.
	spoolEmotion(t, sp, e)
	spoolConversation(t, sp, c)
	if res, err := spool.DrainStores(ctx, conn, sp, spool.DrainOptions{}); err != nil || res.Applied != 2 || res.Rejected != 0 {
		t.Fatalf("second DrainStores = %+v, %v", res, err)
	}
	if n := count(t, ctx, conn); n != 2 {
		t.Errorf("%d conversations after the replay, want 2", n)
	}
}

// TestApplyRecordAcceptsARecordTheFailedSaveStoredAfterAll covers a save
// whose commit reached the database while its reply was lost: the command
// spooled it, and the stored row (timed by the server) is that record.
func TestApplyRecordAcceptsARecordTheFailedSaveStoredAfterAll(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	sp := spool.New(t.TempDir(), func() time.Time { return time.Now().Add(-time.Hour) })
	e := spooledEmotion().WithDefaults()
	if _, err := memory.Save(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	c := valid().WithDefaults()
	if _, err := conversation.Save(ctx, conn, c); err != nil {
		t.Fatal(err)
	}
	spoolEmotion(t, sp, e)
	spoolConversation(t, sp, c)
	res, err := spool.DrainStores(ctx, conn, sp, spool.DrainOptions{})
	if err != nil || res.Applied != 2 || res.Rejected != 0 {
		t.Fatalf("DrainStores = %+v, %v", res, err)
	}
	if n := count(t, ctx, conn); n != 1 {
		t.Errorf("%d conversations, want 1", n)
	}
}

func TestSpooledRecordsTheDatabaseRefusesLandInRejected(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	// An adopted database may carry constraints of its own.
	if _, err := conn.Exec(ctx, `alter table conversations add constraint no_secret_topic check (topic <> 'secret')`); err != nil {
		t.Fatal(err)
	}
	sp := spool.New(t.TempDir(), nil)
	refused := valid()
	refused.Topic = "secret"
	refused = spoolConversation(t, sp, refused)
	// An id already stored for a different emotion.
	taken := spooledEmotion().WithDefaults()
	if _, err := memory.Save(ctx, conn, taken); err != nil {
		t.Fatal(err)
	}
	other := taken
	other.Emotion = "happy"
	spoolEmotion(t, sp, other)
	fine := spoolConversation(t, sp, valid())

	core, logs := observer.New(zapcore.InfoLevel)
	res, err := spool.DrainStores(ctx, conn, sp, spool.DrainOptions{Log: zap.New(core)})
	if err != nil || res.Applied != 1 || res.Rejected != 2 || res.Left != 0 {
		t.Fatalf("DrainStores = %+v, %v", res, err)
	}
	convs, _ := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10})
	if len(convs) != 1 || convs[0].ID != fine.ID {
		t.Errorf("stored %v, want only the acceptable message", convs)
	}
	_, rejected, err := sp.List()
	if err != nil || len(rejected) != 2 {
		t.Fatalf("rejected = %+v, %v", rejected, err)
	}
	errs := map[uuid.UUID]string{}
	for _, r := range rejected {
		errs[r.ID] = r.Error
		if _, err := os.Stat(r.File); err != nil {
			t.Errorf("rejected record %s is not kept: %v", r.ID, err)
		}
	}
	if !strings.Contains(errs[refused.ID], "no_secret_topic") || !strings.Contains(errs[taken.ID], "already stored for a different emotion") {
		t.Errorf("rejection errors = %v", errs)
	}
	if logs.FilterMessageSnippet("refused a spooled record").Len() != 2 {
		t.Errorf("rejections not logged: %v", logs.All())
	}
}

// TestDrainInBatchesStoresWhatOneByOneStores drains the same records one
// statement a record (ApplyRecord alone) and in batches (DrainStores), on a
// new database and on an adopted one, and finds the same rows and states.
func TestDrainInBatchesStoresWhatOneByOneStores(t *testing.T) {
	t.Parallel()
	for name, newDB := range map[string]func(testing.TB) string{"new": pgtest.DB, "legacy": pgtest.LegacyDB} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			spooledAt := time.Date(2026, 11, 30, 22, 15, 0, 123456000, time.UTC)
			at := time.Date(2025, 11, 8, 8, 0, 0, 0, time.UTC)
			dirs := [2]string{t.TempDir(), t.TempDir()}
			var sps [2]*spool.Spool
			for i := range sps {
				sps[i] = spool.New(dirs[i], func() time.Time { return spooledAt })
			}
			add := func(kind spool.Kind, id uuid.UUID, v any) {
				for _, sp := range sps {
					if _, err := sp.Add(kind, id, v, "test"); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Stored before the drain, on both databases, by the saves that
			// then spooled them anyway: a timed and an untimed replay.
			replayed := valid().WithDefaults()
			replayed.CreatedAt = at
			untimed := spooledEmotion().WithDefaults()
			add(spool.KindConversation, replayed.ID, replayed)
			add(spool.KindEmotion, untimed.ID, untimed)
			for i := range 30 {
				e := memory.Emotion{Emotion: fmt.Sprint("feeling ", i), Intensity: 1 + i%10, Context: "ที่รัก context " + fmt.Sprint(i),
					MemoryStrength: 1 + i%10}
				if i%3 == 0 {
					e.DavidWords, e.WhyItMatters = "words", "why"
				}
				if i%2 == 0 {
					e.FeltAt = at.Add(time.Duration(i) * time.Minute)
				}
				e = e.WithDefaults()
				add(spool.KindEmotion, e.ID, e)
				c := conversation.Conversation{Speaker: []string{"David", "angela"}[i%2], MessageText: fmt.Sprint("คิดถึง message ", i),
					ImportanceLevel: 1 + i%10}
				if i%3 == 0 {
					c.SessionID, c.MessageType, c.Topic, c.EmotionDetected = "s1", "question", "topic", "warm"
				}
				if i%2 == 1 {
					c.CreatedAt = at.Add(time.Duration(i) * time.Second)
				}
				c = c.WithDefaults()
				add(spool.KindConversation, c.ID, c)
			}
			dump := func(conn *pgx.Conn, sql string) string {
				var s string
				if err := conn.QueryRow(ctx, `select coalesce(json_agg(t)::text, '') from (`+sql+`) t`).Scan(&s); err != nil {
					t.Fatal(err)
				}
				return s
			}
			var got [2][4]string
			for i := range 2 {
				conn := pgtest.Conn(t, newDB(t))
				if _, err := postgres.Migrate(ctx, conn); err != nil {
					t.Fatal(err)
				}
				total := func() int {
					var n int
					if err := conn.QueryRow(ctx, `select (select count(*) from conversations) + (select count(*) from angela_emotions)
						+ (select count(*) from conversation_memory) + (select count(*) from emotion_memory)`).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
				before := total() // an adopted database's rows
				if _, err := conversation.Save(ctx, conn, replayed); err != nil {
					t.Fatal(err)
				}
				if _, err := memory.Save(ctx, conn, untimed); err != nil { // the server's time
					t.Fatal(err)
				}
				var res spool.Result
				var err error
				if i == 0 {
					res, err = sps[i].Drain(ctx, conn, spool.Stores{}.ApplyRecord, spool.DrainOptions{})
				} else {
					res, err = spool.DrainStores(ctx, conn, sps[i], spool.DrainOptions{})
				}
				if err != nil || res.Applied != 62 || res.Left != 0 || res.Rejected != 0 {
					t.Fatalf("drain %d: %+v, %v", i, res, err)
				}
				got[i] = [4]string{
					dump(conn, `select * from conversations where conversation_id <> '`+replayed.ID.String()+`' order by conversation_id`),
					dump(conn, `select * from angela_emotions where emotion_id <> '`+untimed.ID.String()+`' order by emotion_id`),
					dump(conn, `select * from conversation_memory where id <> '`+replayed.ID.String()+`' order by id`),
					dump(conn, `select * from emotion_memory where id <> '`+untimed.ID.String()+`' order by id`),
				}
				if n := total() - before; n != 4*31 {
					t.Fatalf("drain %d: %d rows and states added, want %d", i, n, 4*31)
				}
			}
			for k, table := range []string{"conversations", "angela_emotions", "conversation_memory", "emotion_memory"} {
				if got[0][k] != got[1][k] {
					t.Errorf("%s: one by one stored\n%s\nin batches\n%s", table, got[0][k], got[1][k])
				}
			}
		})
	}
}

func TestApplyBatchLeavesWhatItCannotStoreAsNewToApplyRecord(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	spooledAt := time.Date(2026, 11, 30, 22, 15, 0, 0, time.UTC)
	rec := func(kind spool.Kind, id uuid.UUID, v any) spool.Record {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return spool.Record{Format: spool.Format, Kind: kind, ID: id, SpooledAt: spooledAt, Data: data, Name: id.String() + ".json"}
	}
	fresh := valid().WithDefaults()
	twice := valid().WithDefaults()
	other := twice
	other.MessageText = "another message under the same id"
	noID := valid()
	invalid := valid().WithDefaults()
	invalid.Speaker = "someone"
	e := spooledEmotion().WithDefaults()
	recs := []spool.Record{
		rec(spool.KindConversation, fresh.ID, fresh),
		rec(spool.KindConversation, twice.ID, twice),
		rec(spool.KindConversation, twice.ID, twice),
		rec(spool.KindConversation, twice.ID, other),
		rec(spool.KindConversation, uuid.Nil, noID),
		rec(spool.KindConversation, invalid.ID, invalid),
		rec(spool.KindEmotion, e.ID, e),
		rec(spool.KindEmotion, uuid.New(), e), // holds another id
		{Kind: spool.KindEmotion, ID: uuid.New(), Data: json.RawMessage(`{"emotion":`)},
	}
	left, err := spool.Stores{}.ApplyBatch(ctx, conn, recs)
	if err != nil {
		t.Fatal(err)
	}
	key := func(r spool.Record) string { return r.ID.String() + string(r.Data) }
	var got, want []string
	for _, l := range left {
		got = append(got, key(l))
	}
	leftIdx := []int{2, 3, 4, 5, 7, 8} // the repeats, the one without an id, the invalid and the unreadable ones
	for _, i := range leftIdx {
		want = append(want, key(recs[i]))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("left records\n%q\nwant 2 to 5, 7 and 8:\n%q", got, want)
	}
	// The new ones are stored, each once, at the time they were spooled.
	convs, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10})
	if err != nil || len(convs) != 2 || convs[0].CreatedAt != spooledAt || convs[1].CreatedAt != spooledAt {
		t.Fatalf("stored %+v, %v; want fresh and twice, at %v", convs, err, spooledAt)
	}
	emotions, err := memory.Recent(ctx, conn, 10)
	if err != nil || len(emotions) != 1 || emotions[0].ID != e.ID {
		t.Fatalf("stored emotions %+v, %v", emotions, err)
	}
	// What it left, ApplyRecord stores or refuses as before: the repeat is
	// already there, the reuse of its id and the invalid one are refused.
	for _, i := range leftIdx {
		err := spool.Stores{}.ApplyRecord(ctx, conn, recs[i])
		if refused := i != 2 && i != 4; refused != (errors.As(err, new(*spool.DecodeError)) || postgres.RowRejected(err)) {
			t.Errorf("record %d: ApplyRecord = %v", i, err)
		}
	}
	if n := count(t, ctx, conn); n != 3 {
		t.Fatalf("%d conversations, want 3 (fresh, twice, and the one without an id)", n)
	}
}

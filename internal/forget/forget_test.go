package forget_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/forget"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// setup returns a connection to a fresh migrated database of this test's own.
func setup(t *testing.T) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, pgtest.Conn(t, pgtest.DB(t))
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func saveConv(t *testing.T, ctx context.Context, conn *pgx.Conn, msg string, at time.Time) uuid.UUID {
	t.Helper()
	c, err := conversation.Save(ctx, conn, conversation.Conversation{ID: uuid.New(), Speaker: "david", MessageText: msg, CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func saveEmotion(t *testing.T, ctx context.Context, conn *pgx.Conn, context, words string, at time.Time) uuid.UUID {
	t.Helper()
	e, err := memory.Save(ctx, conn, memory.Emotion{ID: uuid.New(), Emotion: "คิดถึง", Intensity: 8, Context: context, DavidWords: words, FeltAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// present counts the rows with id in each table forget touches.
func present(t *testing.T, ctx context.Context, conn *pgx.Conn, id uuid.UUID) (memories, states, tombstones int) {
	t.Helper()
	err := conn.QueryRow(ctx, `select
	(select count(*) from conversations where conversation_id = $1) + (select count(*) from angela_emotions where emotion_id = $1),
	(select count(*) from conversation_memory where id = $1) + (select count(*) from emotion_memory where id = $1),
	(select count(*) from memory_tombstones where id = $1)`, id).Scan(&memories, &states, &tombstones)
	if err != nil {
		t.Fatal(err)
	}
	return memories, states, tombstones
}

func ids(ms []forget.Memory) []uuid.UUID {
	out := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestForgetByIDDeletesTheMemoryAndItsStateAndLeavesATombstone(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	conv := saveConv(t, ctx, conn, "my password is hunter2", now.Add(-time.Hour))
	emo := saveEmotion(t, ctx, conn, "พี่บอกรหัสผ่าน", "", now.Add(-time.Hour))
	keep := saveConv(t, ctx, conn, "good morning", now.Add(-time.Hour))

	res, err := forget.Forget(ctx, conn, forget.Options{IDs: []uuid.UUID{conv, emo}, Reason: "typed a password", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Forgotten); !slices.Equal(got, []uuid.UUID{conv, emo}) {
		t.Errorf("forgotten %v, want the conversation then the emotion %v", got, []uuid.UUID{conv, emo})
	}
	if res.Forgotten[0].Speaker != "david" || res.Forgotten[0].Preview != "my password is hunter2" || res.Forgotten[1].Emotion != "คิดถึง" {
		t.Errorf("forgotten = %+v", res.Forgotten)
	}
	for _, id := range []uuid.UUID{conv, emo} {
		if m, s, ts := present(t, ctx, conn, id); m != 0 || s != 0 || ts != 1 {
			t.Errorf("%s: %d memories, %d state rows, %d tombstones; want 0, 0, 1", id, m, s, ts)
		}
	}
	if m, s, ts := present(t, ctx, conn, keep); m != 1 || s != 1 || ts != 0 {
		t.Errorf("the memory not named: %d memories, %d state rows, %d tombstones; want 1, 1, 0", m, s, ts)
	}
	var kind, reason string
	var at time.Time
	if err := conn.QueryRow(ctx, `select kind, reason, deleted_at from memory_tombstones where id = $1`, emo).Scan(&kind, &reason, &at); err != nil {
		t.Fatal(err)
	}
	if kind != "emotion" || reason != "typed a password" || !at.Equal(now) {
		t.Errorf("tombstone = %s %q %s, want emotion %q %s", kind, reason, at, "typed a password", now)
	}

	// Again: nothing left to delete, and saying so is no error.
	res, err = forget.Forget(ctx, conn, forget.Options{IDs: []uuid.UUID{conv}, Now: now})
	if err != nil || len(res.Forgotten) != 0 || !slices.Equal(res.Already, []uuid.UUID{conv}) {
		t.Errorf("forget again = %+v, %v; want it already forgotten", res, err)
	}
}

func TestForgetAnUnknownIDForgetsNothing(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	conv := saveConv(t, ctx, conn, "keep me", now)
	stranger := uuid.New()
	_, err := forget.Forget(ctx, conn, forget.Options{IDs: []uuid.UUID{conv, stranger}, Now: now})
	var ue *forget.UnknownError
	if !errors.As(err, &ue) || !slices.Equal(ue.IDs, []uuid.UUID{stranger}) {
		t.Fatalf("err = %v, want an UnknownError naming %s", err, stranger)
	}
	if m, s, ts := present(t, ctx, conn, conv); m != 1 || s != 1 || ts != 0 {
		t.Errorf("the known id: %d memories, %d state rows, %d tombstones; want it untouched", m, s, ts)
	}
}

func TestForgetBySearchFindsTheTextInThaiAndInEveryEmotionField(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	old := saveConv(t, ctx, conn, "รหัสผ่านของพี่คือ hunter2", now.Add(-72*time.Hour))
	recent := saveConv(t, ctx, conn, "อย่าลืม รหัสผ่านของพี่ นะคะ", now.Add(-time.Hour))
	spaced := saveConv(t, ctx, conn, "รหัส ผ่าน ของพี่", now.Add(-time.Hour)) // every pair, not the text
	words := saveEmotion(t, ctx, conn, "worried", "รหัสผ่านของพี่ หายไป", now.Add(-time.Hour))
	// A legacy row without grams is found by its text.
	legacy := uuid.New()
	if _, err := conn.Exec(ctx, `insert into conversations (conversation_id, speaker, message_text, created_at)
values ($1, 'David', 'ลืมรหัสผ่านของพี่อีกแล้ว', $2)`, legacy, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `update conversations set search_grams = null where conversation_id = $1`, legacy); err != nil {
		t.Fatal(err)
	}

	o := forget.Options{Search: "รหัสผ่านของพี่", Since: now.Add(-24 * time.Hour), DryRun: true, Now: now}
	res, err := forget.Forget(ctx, conn, o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(res.Forgotten), []uuid.UUID{legacy, recent, words}; !slices.Equal(got, want) {
		t.Errorf("dry run found %v, want %v (the legacy and the recent message, then the emotion)", got, want)
	}
	o.Kind = forget.SearchEmotions
	if res, err = forget.Forget(ctx, conn, o); err != nil || !slices.Equal(ids(res.Forgotten), []uuid.UUID{words}) {
		t.Errorf("--kind emotions found %v, %v; want only the emotion", ids(res.Forgotten), err)
	}
	o.Kind, o.Since, o.DryRun = "", time.Time{}, false
	if res, err = forget.Forget(ctx, conn, o); err != nil || len(res.Forgotten) != 4 {
		t.Fatalf("forget = %+v, %v; want 4 forgotten", res, err)
	}
	for _, id := range []uuid.UUID{old, recent, words, legacy} {
		if m, _, ts := present(t, ctx, conn, id); m != 0 || ts != 1 {
			t.Errorf("%s: %d memories, %d tombstones after the search; want 0, 1", id, m, ts)
		}
	}
	if m, _, _ := present(t, ctx, conn, spaced); m != 1 {
		t.Errorf("a message with the words spaced apart was forgotten; only the text itself is")
	}
}

func TestForgetDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	conv := saveConv(t, ctx, conn, "secret", now)
	var before string
	snapshot := `select md5(string_agg(t::text, ',' order by t::text)) from (
	select conversation_id::text t from conversations union all select id::text from conversation_memory
	union all select id::text from memory_tombstones) x`
	if err := conn.QueryRow(ctx, snapshot).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for _, o := range []forget.Options{{IDs: []uuid.UUID{conv}}, {Search: "secret"}} {
		o.DryRun, o.Now = true, now
		res, err := forget.Forget(ctx, conn, o)
		if err != nil || !res.DryRun || len(res.Forgotten) != 1 {
			t.Fatalf("dry run %+v = %+v, %v", o, res, err)
		}
	}
	var after string
	if err := conn.QueryRow(ctx, snapshot).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Error("a dry run changed the database")
	}
}

func TestForgetIsOneTransaction(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	conv := saveConv(t, ctx, conn, "first", now)
	emo := saveEmotion(t, ctx, conn, "second", "", now)
	// The emotion cannot be deleted: the conversation, deleted first, and
	// both tombstones must stay as they were.
	if _, err := conn.Exec(ctx, `create function refuse() returns trigger language plpgsql as $$
begin raise exception 'refused'; end $$;
create trigger refuse before delete on angela_emotions for each row execute function refuse()`); err != nil {
		t.Fatal(err)
	}
	if _, err := forget.Forget(ctx, conn, forget.Options{IDs: []uuid.UUID{conv, emo}, Now: now}); err == nil {
		t.Fatal("forget succeeded though the emotion could not be deleted")
	}
	for _, id := range []uuid.UUID{conv, emo} {
		if m, s, ts := present(t, ctx, conn, id); m != 1 || s != 1 || ts != 0 {
			t.Errorf("%s: %d memories, %d state rows, %d tombstones after a failed forget; want 1, 1, 0", id, m, s, ts)
		}
	}
}

func TestAForgottenIDIsNeverStoredAgain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := pgtest.DB(t)
	conn := pgtest.Conn(t, url)
	// angelad's connections say that their writers leave forgotten ids out,
	// so that the database checks only the rows of other sessions.
	var setting string
	if err := conn.QueryRow(ctx, `select current_setting($1, true)`, postgres.TombstonesSetting).Scan(&setting); err != nil || setting != "checked" {
		t.Fatalf("%s = %q, %v; want checked", postgres.TombstonesSetting, setting, err)
	}
	c := conversation.Conversation{ID: uuid.New(), Speaker: "david", MessageText: "my password is hunter2", CreatedAt: now}
	e := memory.Emotion{ID: uuid.New(), Emotion: "worried", Intensity: 6, Context: "a password in the chat", FeltAt: now}
	if _, err := conversation.Save(ctx, conn, c); err != nil {
		t.Fatal(err)
	}
	if _, err := memory.Save(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	if _, err := forget.Forget(ctx, conn, forget.Options{IDs: []uuid.UUID{c.ID, e.ID}, Now: now}); err != nil {
		t.Fatal(err)
	}

	// One save: refused, as a problem of the id.
	_, err := conversation.Save(ctx, conn, c)
	var fe *text.FieldError
	if !forget.IsForgotten(err) || !errors.As(err, &fe) || fe.Field != "conversation_id" {
		t.Errorf("save of a forgotten conversation = %v, want a ForgottenError on conversation_id", err)
	}
	if _, err := memory.Save(ctx, conn, e); !forget.IsForgotten(err) {
		t.Errorf("save of a forgotten emotion = %v, want a ForgottenError", err)
	}
	// Many at once (the spool's drain): not stored, not an error.
	if stored, err := conversation.SaveNew(ctx, conn, []conversation.Conversation{c}); err != nil || len(stored) != 0 {
		t.Errorf("SaveNew = %v, %v; want nothing stored", stored, err)
	}
	if stored, err := memory.SaveNew(ctx, conn, []memory.Emotion{e}); err != nil || len(stored) != 0 {
		t.Errorf("memory.SaveNew = %v, %v; want nothing stored", stored, err)
	}
	// A hand-written INSERT, and one of many rows in a statement.
	other := uuid.New()
	tag, err := conn.Exec(ctx, `insert into conversations (conversation_id, speaker, message_text)
values ($1, 'david', 'again'), ($2, 'david', 'a new one')`, c.ID, other)
	if err != nil || tag.RowsAffected() != 1 {
		t.Errorf("insert of a forgotten and a new row: %v rows, %v; want 1 (the new one)", tag.RowsAffected(), err)
	}
	if _, err := conn.Exec(ctx, `insert into angela_emotions (emotion_id, emotion, intensity, context) values ($1, 'x', 5, 'y')`, e.ID); err != nil {
		t.Fatal(err)
	}
	// A session that does not say it leaves out forgotten ids (an older
	// angelad, psql), writing a row with its grams as angelad's writers do.
	plain, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	if _, err := plain.Exec(ctx, `insert into conversations (conversation_id, speaker, message_text, search_grams)
values ($1, 'david', 'again', '{1}')`, c.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{c.ID, e.ID} {
		if m, s, _ := present(t, ctx, conn, id); m != 0 || s != 0 {
			t.Errorf("%s: %d memories, %d state rows after writing it again; want none", id, m, s)
		}
	}
	if m, s, _ := present(t, ctx, conn, other); m != 1 || s != 1 {
		t.Errorf("the new row beside it: %d memories, %d state rows; want 1, 1", m, s)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	for _, tc := range []struct {
		name  string
		o     forget.Options
		field string
	}{
		{"nothing", forget.Options{}, "ids"},
		{"both", forget.Options{IDs: []uuid.UUID{id}, Search: "x"}, "search"},
		{"nil id", forget.Options{IDs: []uuid.UUID{uuid.Nil}}, "ids"},
		{"kind", forget.Options{Search: "x", Kind: "journal"}, "kind"},
		{"since with ids", forget.Options{IDs: []uuid.UUID{id}, Since: now}, "kind"},
		{"long reason", forget.Options{IDs: []uuid.UUID{id}, Reason: string(make([]byte, 201))}, "reason"},
		{"blank search", forget.Options{Search: "   "}, "search"},
	} {
		err := tc.o.Validate()
		var fe *text.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: Validate = %v, want a FieldError on %s", tc.name, err, tc.field)
		}
	}
	if err := (forget.Options{Search: "x", Kind: forget.SearchConversations, Since: now, Reason: "why"}).Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

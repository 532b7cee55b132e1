package embedding

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// addConversation stores a message as a hand-written INSERT would.
func addConversation(t *testing.T, conn *pgx.Conn, speaker, msg string, at time.Time) Ref {
	t.Helper()
	return addConversationID(t, conn, uuid.New(), speaker, msg, at)
}

// addConversationID stores a message under a key of the test's choosing, for
// a test that depends on where the sweep, in key order, meets it.
func addConversationID(t *testing.T, conn *pgx.Conn, id uuid.UUID, speaker, msg string, at time.Time) Ref {
	t.Helper()
	if _, err := conn.Exec(testContext(t), `insert into conversations (conversation_id, speaker, message_text, created_at) values ($1, $2, $3, $4)`,
		id, speaker, msg, at); err != nil {
		t.Fatal(err)
	}
	return Ref{KindConversation, id}
}

func addEmotion(t *testing.T, conn *pgx.Conn, emotion, context, words string, at time.Time) Ref {
	t.Helper()
	id := uuid.New()
	if _, err := conn.Exec(testContext(t), `insert into angela_emotions (emotion_id, emotion, intensity, context, david_words, felt_at) values ($1, $2, 7, $3, nullif($4, ''), $5)`,
		id, emotion, context, words, at); err != nil {
		t.Fatal(err)
	}
	return Ref{KindEmotion, id}
}

// vectorsOf returns, by model, the stored vector of a memory.
func vectorsOf(t *testing.T, conn *pgx.Conn, r Ref) map[string][]byte {
	t.Helper()
	rows, err := conn.Query(testContext(t), `select model, vec from memory_embeddings where kind = $1 and id = $2`, r.Kind, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for rows.Next() {
		var m string
		var v []byte
		if err := rows.Scan(&m, &v); err != nil {
			t.Fatal(err)
		}
		out[m] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// embedInto embeds the memories' texts with c and stores them under model.
func embedInto(t *testing.T, conn *pgx.Conn, c *Client, m Model, items ...Item) {
	t.Helper()
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.Text
	}
	vecs, err := c.Embed(testContext(t), texts)
	if err != nil {
		t.Fatal(err)
	}
	vs := make([]Vector, len(items))
	for i, it := range items {
		vs[i] = Vector{Item: it, Vec: vecs[i]}
	}
	if n, err := Store(testContext(t), conn, m, vs, t0); err != nil || n != int64(len(vs)) {
		t.Fatalf("Store = %d, %v; want %d", n, err, len(vs))
	}
}

// TestStoredVectorsArePackedUnitFloat32 checks the stored form: dims float32
// values, little-endian, of unit length, under the model's name.
func TestStoredVectorsArePackedUnitFloat32(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	f := newFakeServer(t, config.ProtocolOllama, 16)
	c := f.client(t, nil)
	r := addConversation(t, conn, "david", "the scarf for my mother", t0)
	embedInto(t, conn, c, Model{"fake-embed", 16}, Item{r, "the scarf for my mother"})
	var dims int
	var vec []byte
	var at time.Time
	if err := conn.QueryRow(testContext(t), `select dims, vec, embedded_at from memory_embeddings where id = $1 and model = 'fake-embed'`, r.ID).Scan(&dims, &vec, &at); err != nil {
		t.Fatal(err)
	}
	want := unit(fakeVector("the scarf for my mother", 16))
	if dims != 16 || len(vec) != 64 || !at.Equal(t0) {
		t.Fatalf("dims %d, %d bytes, at %v", dims, len(vec), at)
	}
	var norm float64
	for i := range 16 {
		x := math.Float32frombits(binary.LittleEndian.Uint32(vec[4*i:]))
		if x != want[i] {
			t.Errorf("value %d = %v, want %v", i, x, want[i])
		}
		norm += float64(x) * float64(x)
	}
	if math.Abs(norm-1) > 1e-5 {
		t.Errorf("length² %v", norm)
	}
}

// TestDeletedMemoryTakesItsVectors deletes, truncates and rewrites memories
// as a forget command or a hand-written statement would, and checks that
// their vectors of every model go with them, and only theirs.
func TestDeletedMemoryTakesItsVectors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	f := newFakeServer(t, config.ProtocolOllama, 8)
	c := f.client(t, nil)
	a, b := Model{"model-a", 8}, Model{"model-b", 8}
	gone := addConversation(t, conn, "david", "forget this", t0)
	kept := addConversation(t, conn, "angela", "keep this", t0)
	changed := addConversation(t, conn, "david", "first words", t0)
	emo := addEmotion(t, conn, "joy", "a walk", "", t0)
	emoChanged := addEmotion(t, conn, "calm", "tea", "", t0)
	emoKept := addEmotion(t, conn, "hope", "spring", "", t0)
	items := []Item{{gone, "forget this"}, {kept, "keep this"}, {changed, "first words"},
		{emo, "joy\na walk"}, {emoChanged, "calm\ntea"}, {emoKept, "hope\nspring"}}
	embedInto(t, conn, c, a, items...)
	embedInto(t, conn, c, b, items...)

	if _, err := conn.Exec(ctx, `delete from conversations where conversation_id = $1`, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `update conversations set message_text = 'other words' where conversation_id = $1`, changed.ID); err != nil {
		t.Fatal(err)
	}
	// An update that leaves the text alone keeps the vectors.
	if _, err := conn.Exec(ctx, `update conversations set importance_level = 9, message_text = message_text where conversation_id = $1`, kept.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `update angela_emotions set david_words = 'new words' where emotion_id = $1`, emoChanged.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `update angela_emotions set intensity = 2, why_it_matters = 'x' where emotion_id = $1`, emoKept.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		r    Ref
		want int
	}{{gone, 0}, {kept, 2}, {changed, 0}, {emo, 2}, {emoChanged, 0}, {emoKept, 2}} {
		if got := len(vectorsOf(t, conn, tt.r)); got != tt.want {
			t.Errorf("%v: %d vectors, want %d", tt.r, got, tt.want)
		}
	}
	if _, err := conn.Exec(ctx, `truncate angela_emotions`); err != nil {
		t.Fatal(err)
	}
	var emotions, conversations int
	if err := conn.QueryRow(ctx, `select count(*) filter (where kind = 'emotion'), count(*) filter (where kind = 'conversation') from memory_embeddings`).Scan(&emotions, &conversations); err != nil {
		t.Fatal(err)
	}
	if emotions != 0 || conversations != 2 {
		t.Errorf("after truncate: %d emotion and %d conversation vectors, want 0 and 2", emotions, conversations)
	}
}

// TestStoreSkipsMemoriesGoneOrChanged checks that a vector whose memory was
// deleted, or whose text changed, while it was being embedded is not stored,
// and that the rest of the batch is.
func TestStoreSkipsMemoriesGoneOrChanged(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	m := Model{"m", 4}
	ok := addConversation(t, conn, "david", "still here", t0)
	changed := addEmotion(t, conn, "joy", "before", "", t0)
	gone := Ref{KindConversation, uuid.New()}
	v := []float32{1, 0, 0, 0}
	n, err := Store(ctx, conn, m, []Vector{{Item{ok, "still here"}, v}, {Item{changed, "joy\nold text"}, v}, {Item{gone, "x"}, v}}, t0)
	if err != nil || n != 1 {
		t.Fatalf("Store = %d, %v; want 1", n, err)
	}
	if len(vectorsOf(t, conn, ok)) != 1 || len(vectorsOf(t, conn, changed)) != 0 || len(vectorsOf(t, conn, gone)) != 0 {
		t.Error("stored the wrong ones")
	}
	// A vector of the wrong size is refused whole.
	if _, err := Store(ctx, conn, m, []Vector{{Item{ok, "still here"}, []float32{1, 0}}}, t0); err == nil {
		t.Error("a vector of 2 values stored as 4")
	}
}

// TestCountAndSweepFindWhatWaits checks the worker's view of the tables: the
// pending count, the newest memories without a vector, and a sweep in steps
// that finds every one, of the configured model and dimension only.
func TestCountAndSweepFindWhatWaits(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	m := Model{"m", 4}
	var refs []Ref
	for i := range 7 {
		refs = append(refs, addConversation(t, conn, "david", "message", t0.Add(time.Duration(i)*time.Minute)))
	}
	for i := range 3 {
		refs = append(refs, addEmotion(t, conn, "joy", "context", "", t0.Add(time.Duration(i)*time.Minute)))
	}
	v := []float32{0, 1, 0, 0}
	// Two done under the model, one under another model, one at another
	// dimension: only the first two count.
	if _, err := Store(ctx, conn, m, []Vector{{Item{refs[0], "message"}, v}, {Item{refs[7], "joy\ncontext"}, nil}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := Store(ctx, conn, Model{"other", 4}, []Vector{{Item{refs[1], "message"}, v}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := Store(ctx, conn, Model{"m", 2}, []Vector{{Item{refs[2], "message"}, []float32{1, 0}}}, t0); err != nil {
		t.Fatal(err)
	}
	c, err := Count(ctx, conn, m)
	if err != nil || c.Memories != 10 || c.Embedded != 2 || c.Pending() != 8 {
		t.Fatalf("Count = %+v, %v", c, err)
	}
	// The newest three of each kind: the three newest messages, the two
	// emotions not done.
	recent, err := Recent(ctx, conn, m, 3, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{refs[6], refs[5], refs[4], refs[9], refs[8]}
	if len(recent) != len(want) {
		t.Fatalf("Recent = %v, want %v", recent, want)
	}
	for i := range want {
		if recent[i].Ref != want[i] {
			t.Errorf("Recent[%d] = %v, want %v", i, recent[i].Ref, want[i])
		}
	}
	if recent[3].Text != "joy\ncontext" {
		t.Errorf("an emotion's text: %q", recent[3].Text)
	}
	found := map[Ref]bool{}
	var cur Cursor
	steps := 0
	for !cur.Done() {
		var items []Item
		items, cur, err = Sweep(ctx, conn, m, cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			found[it.Ref] = true
		}
		if steps++; steps > 20 {
			t.Fatal("the sweep does not end")
		}
	}
	if len(found) != 8 || found[refs[0]] || found[refs[7]] {
		t.Errorf("the sweep found %d: %v", len(found), found)
	}
}

// TestWorkerQueriesWalkIndexes checks that the worker's regular looks stay
// cheap on large tables: the newest memories off the time index (no sort of
// the table), the sweep's keys off the primary key alone, and the count of
// vectors off the model index.
func TestWorkerQueriesWalkIndexes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, created_at)
		select 'david', 'm ' || i, now() - i * interval '1 second' from generate_series(1, 20000) i;
		insert into memory_embeddings (kind, id, model, dims, vec)
		select 'conversation', conversation_id, 'm', 384, decode(repeat('0000803f', 384), 'hex') from conversations`); err != nil {
		t.Fatal(err)
	}
	pgtest.Settle(t, conn, "conversations", "angela_emotions", "memory_embeddings")
	s := sources[0]
	for _, q := range []struct {
		name, sql string
		args      []any
		want      string
	}{
		{"recent", recentSQL(s), []any{"m", 384, RecentWindow, 32}, "Index Scan using conversations_created_at_idx"},
		{"sweep", sweepSQL(s), []any{"m", 384, "00000000-0000-0000-0000-000000000000", sweepStep}, "Index Only Scan using conversations_pkey"},
		{"count", countSQL, []any{"m", 384}, "Index Only Scan using memory_embeddings_model_idx"},
	} {
		plan := pgtest.Plan(t, conn, q.sql, q.args...)
		if !strings.Contains(plan, q.want) || strings.Contains(plan, "Seq Scan on memory_embeddings") || (q.name != "count" && strings.Contains(plan, "Seq Scan on conversations")) {
			t.Errorf("%s: plan does not use %q:\n%s", q.name, q.want, plan)
		}
	}
}

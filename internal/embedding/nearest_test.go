package embedding

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestNearestRanksByCosineOfTheCurrentModel embeds memories with the fake
// server (texts that share words are close), and checks that Nearest ranks
// them by cosine with the question, filters them, ignores other models and
// memories without a vector, and gives the same answer read in memory.
func TestNearestRanksByCosineOfTheCurrentModel(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	f := newFakeServer(t, config.ProtocolOllama, 64)
	c := f.client(t, nil)
	m := Model{c.Model(), 64}
	scarf := addConversation(t, conn, "david", "I gave my mother a silk scarf for her birthday", t0)
	scarfReply := addConversation(t, conn, "angela", "a silk scarf is a lovely birthday gift", t0.Add(time.Hour))
	medicine := addConversation(t, conn, "david", "the vet gave Somo medicine for her cough", t0.Add(2*time.Hour))
	emo := addEmotion(t, conn, "tender", "David talked about his mother", "she loved the scarf", t0.Add(3*time.Hour))
	blank := addConversation(t, conn, "david", "   ", t0)
	embedInto(t, conn, c, m, Item{scarf, "I gave my mother a silk scarf for her birthday"},
		Item{scarfReply, "a silk scarf is a lovely birthday gift"},
		Item{medicine, "the vet gave Somo medicine for her cough"},
		Item{emo, "tender\nDavid talked about his mother\nshe loved the scarf"})
	if _, err := Store(ctx, conn, m, []Vector{{Item: Item{blank, "   "}}}, t0); err != nil {
		t.Fatal(err)
	}
	// Under another model the medicine message is the best match for
	// anything: it must not count.
	q, err := c.Embed(ctx, []string{"silk scarf birthday mother"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Store(ctx, conn, Model{"other", 64}, []Vector{{Item{medicine, "the vet gave Somo medicine for her cough"}, q[0]}}, t0); err != nil {
		t.Fatal(err)
	}

	got, err := Nearest(ctx, conn, c, "silk scarf birthday mother", 10, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Ref != scarf || got[3].Ref != medicine {
		t.Fatalf("Nearest = %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Score > got[i-1].Score {
			t.Errorf("not best first: %v", got)
		}
	}
	if want := dot(q[0], mustEmbed(t, c, "I gave my mother a silk scarf for her birthday")); got[0].Score != want {
		t.Errorf("score %v, want the cosine %v", got[0].Score, want)
	}

	for _, tt := range []struct {
		name string
		k    int
		f    Filter
		want []Ref
	}{
		{"k", 1, Filter{}, []Ref{scarf}},
		{"emotions", 10, Filter{Kind: KindEmotion}, []Ref{emo}},
		{"conversations", 2, Filter{Kind: KindConversation}, []Ref{scarf, scarfReply}},
		{"speaker", 10, Filter{Speaker: "Angela"}, []Ref{scarfReply}},
		{"since", 10, Filter{Since: t0.Add(90 * time.Minute)}, []Ref{emo, medicine}},
		{"since and speaker", 10, Filter{Since: t0.Add(90 * time.Minute), Speaker: "david"}, []Ref{medicine}},
	} {
		got, err := Nearest(ctx, conn, c, "silk scarf birthday mother", tt.k, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if refs(got) != refsOf(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, refs(got), refsOf(tt.want))
		}
	}

	// From an index in memory, the same answers.
	ix := NewIndex(m)
	if err := ix.Refresh(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 4 {
		t.Errorf("the index holds %d vectors, want 4 (no marker, no other model)", ix.Len())
	}
	for _, f := range []Filter{{}, {Kind: KindEmotion}, {Speaker: "Angela"}, {Since: t0.Add(90 * time.Minute), Speaker: "david"}} {
		want, err := Nearest(ctx, conn, c, "silk scarf birthday mother", 10, f)
		if err != nil {
			t.Fatal(err)
		}
		got := ix.Search(mustEmbed(t, c, "silk scarf birthday mother"), 10, f)
		if refs(got) != refs(want) || got[0].Score != want[0].Score {
			t.Errorf("%+v: from the index %v; from the table %v", f, got, want)
		}
	}
}

func mustEmbed(t *testing.T, c *Client, s string) []float32 {
	t.Helper()
	v, err := c.Embed(context.Background(), []string{s})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func refs(ms []Match) string {
	var rs []Ref
	for _, m := range ms {
		rs = append(rs, m.Ref)
	}
	return refsOf(rs)
}

func refsOf(rs []Ref) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Kind[:1] + r.ID.String()[:8] + " ")
	}
	return b.String()
}

// TestNearestFailsOpen checks that every way the question cannot be embedded
// is an error the caller can log once and fall back on lexical ranking: no
// server configured, a slow server, a server error, bad input.
func TestNearestFailsOpen(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	if _, err := Nearest(ctx, conn, nil, "q", 5, Filter{}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("no client: %v", err)
	}
	f := newFakeServer(t, config.ProtocolOpenAI, 8)
	f.hold = true
	slow := f.client(t, func(e *config.Embedding) { e.Timeout = 50 * time.Millisecond })
	if _, err := Nearest(ctx, conn, slow, "q", 5, Filter{}); !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "embed the question: ") {
		t.Errorf("slow server: %v", err)
	}
	g := newFakeServer(t, config.ProtocolOllama, 8)
	g.fail = func(int, []string) (int, string) { return 500, `{"error":"out of memory"}` }
	if _, err := Nearest(ctx, conn, g.client(t, nil), "q", 5, Filter{}); KindOf(err) != Unavailable || !strings.Contains(err.Error(), "out of memory") {
		t.Errorf("server error: %v", err)
	}
	h := newFakeServer(t, config.ProtocolOllama, 8)
	for _, tt := range []struct {
		q    string
		k    int
		f    Filter
		want string
	}{
		{"", 5, Filter{}, "the question is empty"},
		{"q", 0, Filter{}, "k must be from 1 to 1000"},
		{"q", 5, Filter{Kind: "journal"}, `kind must be conversation or emotion, got "journal"`},
	} {
		if _, err := Nearest(ctx, conn, h.client(t, nil), tt.q, tt.k, tt.f); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v", tt, err)
		}
	}
	// Nothing embedded yet: no match, no error.
	if got, err := Nearest(ctx, conn, h.client(t, nil), "q", 5, Filter{}); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
}

// TestIndexRefreshFollowsTheTable refreshes an index after vectors are added,
// replaced, turned into markers and deleted, and checks it holds what the
// table holds each time, reading everything again only after a deletion.
func TestIndexRefreshFollowsTheTable(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	m := Model{"m", 4}
	ix := NewIndex(m)
	check := func(what string, want ...Ref) {
		t.Helper()
		if err := ix.Refresh(ctx, conn); err != nil {
			t.Fatal(err)
		}
		got := ix.Search([]float32{1, 0, 0, 0}, 100, Filter{})
		var gotRefs []Ref
		for _, g := range got {
			gotRefs = append(gotRefs, g.Ref)
		}
		if len(got) != len(want) || ix.Len() != len(want) {
			t.Fatalf("%s: the index finds %v, want %v", what, gotRefs, want)
		}
		for _, w := range want {
			if !strings.Contains(refsOf(gotRefs), refsOf([]Ref{w})) {
				t.Errorf("%s: %v missing from %v", what, w, gotRefs)
			}
		}
	}
	check("empty")
	a := addConversation(t, conn, "david", "a", t0)
	b := addConversation(t, conn, "angela", "b", t0)
	e := addEmotion(t, conn, "joy", "e", "", t0)
	store := func(r Ref, txt string, v []float32) {
		t.Helper()
		if _, err := Store(ctx, conn, m, []Vector{{Item{r, txt}, v}}, t0); err != nil {
			t.Fatal(err)
		}
	}
	store(a, "a", []float32{1, 0, 0, 0})
	store(b, "b", []float32{0, 1, 0, 0})
	check("two", a, b)
	store(e, "joy\ne", []float32{0, 0, 1, 0})
	store(a, "a", []float32{0, 0, 0, 1}) // replaced
	check("three", a, b, e)
	if got := ix.Search([]float32{0, 0, 0, 1}, 1, Filter{}); got[0].Ref != a || got[0].Score != 1 {
		t.Errorf("the replaced vector: %v", got)
	}
	store(b, "b", nil) // a marker now
	check("marker", a, e)
	if _, err := conn.Exec(ctx, `delete from angela_emotions`); err != nil {
		t.Fatal(err)
	}
	check("deleted", a)
	// A vector deleted by hand is noticed too.
	if _, err := conn.Exec(ctx, `delete from memory_embeddings where id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	check("deleted by hand")
	store(a, "a", []float32{0, 0, 0, 1})
	check("again", a)
	if got := ix.Search([]float32{0, 0, 0, 1}, 5, Filter{Since: t0.Add(time.Second)}); len(got) != 0 {
		t.Errorf("since: %v", got)
	}
	if got := ix.Search([]float32{0, 0, 0, 1}, 5, Filter{Speaker: "DAVID"}); len(got) != 1 {
		t.Errorf("speaker: %v", got)
	}
}

package embedding

import (
	"errors"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// held is how many vectors the searcher holds in memory.
func (s *Searcher) held() int {
	s.mu.Lock()
	ix := s.ix
	s.mu.Unlock()
	if ix == nil {
		return 0
	}
	return ix.Len()
}

// TestSearcherAnswersAsTheTableDoesAndFollowsIt: the daemon's in-memory
// vectors give Nearest's answers, with one request to the model server a
// question, and follow the table as memories are embedded and forgotten.
func TestSearcherAnswersAsTheTableDoesAndFollowsIt(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	f := newFakeServer(t, config.ProtocolOllama, 64)
	c := f.client(t, nil)
	m := Model{c.Model(), 64}
	s, err := NewSearcher(f.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	scarf := addConversation(t, conn, "david", "I gave my mother a silk scarf for her birthday", t0)
	medicine := addConversation(t, conn, "david", "the vet gave Somo medicine for her cough", t0.Add(time.Hour))
	emo := addEmotion(t, conn, "tender", "David talked about his mother", "she loved the scarf", t0.Add(2*time.Hour))
	embedInto(t, conn, c, m, Item{scarf, "I gave my mother a silk scarf for her birthday"},
		Item{medicine, "the vet gave Somo medicine for her cough"},
		Item{emo, "tender\nDavid talked about his mother\nshe loved the scarf"})

	same := func(what, question string, f Filter) []Match {
		t.Helper()
		want, err := Nearest(ctx, conn, c, question, 10, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Nearest(ctx, conn, question, 10, f)
		if err != nil || refs(got) != refs(want) || len(got) > 0 && got[0].Score != want[0].Score {
			t.Fatalf("%s: from memory %v, %v; from the table %v", what, got, err, want)
		}
		return got
	}
	// Before the worker's first Refresh, a question is answered from the
	// table.
	if got := same("before the first refresh", "silk scarf birthday mother", Filter{}); len(got) != 3 || got[0].Ref != scarf || s.held() != 0 {
		t.Fatalf("Nearest = %v; %d held", got, s.held())
	}
	if err := s.Refresh(ctx, conn, m); err != nil {
		t.Fatal(err)
	}
	if s.held() != 3 {
		t.Errorf("the searcher holds %d vectors, want 3", s.held())
	}
	before := len(f.embedded())
	if got := same("first question", "silk scarf birthday mother", Filter{}); len(got) != 3 || got[0].Ref != scarf {
		t.Fatalf("Nearest = %v", got)
	}
	if n := len(f.embedded()) - before; n != 2 {
		t.Errorf("%d texts embedded for the searcher's and the table's question, want one each", n)
	}
	same("emotions", "silk scarf birthday mother", Filter{Kind: KindEmotion})
	same("speaker and time", "medicine", Filter{Speaker: "David", Since: t0.Add(30 * time.Minute)})

	// A memory embedded since is found at the next question.
	cake := addConversation(t, conn, "angela", "the birthday cake had a silk ribbon", t0.Add(3*time.Hour))
	embedInto(t, conn, c, m, Item{cake, "the birthday cake had a silk ribbon"})
	if got := same("after a new vector", "silk ribbon birthday cake", Filter{}); got[0].Ref != cake {
		t.Errorf("the new memory is not first: %v", got)
	}
	// A forgotten one stays held, never read again by a question, until
	// the worker's next Refresh.
	if _, err := conn.Exec(ctx, `delete from conversations where conversation_id = $1`, scarf.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Nearest(ctx, conn, "silk scarf birthday mother", 10, Filter{}); err != nil || len(got) != 4 || s.held() != 4 {
		t.Errorf("after a deletion, before a Refresh: %v, %v; %d held", got, err, s.held())
	}
	if err := s.Refresh(ctx, conn, m); err != nil {
		t.Fatal(err)
	}
	if got := same("after a deletion", "silk scarf birthday mother", Filter{}); len(got) != 3 || s.held() != 3 {
		t.Errorf("after a deletion and a Refresh: %v; %d held", got, s.held())
	}

	if err := s.Refresh(ctx, conn, Model{"another-model", 64}); err == nil {
		t.Error("Refresh of another model than the searcher's succeeded")
	}
	if _, err := s.Nearest(ctx, conn, "  ", 10, Filter{}); err == nil {
		t.Error("an empty question was answered")
	}
}

func TestSearcherWithoutAServer(t *testing.T) {
	t.Parallel()
	s, err := NewSearcher(config.Embedding{}, nil)
	if s != nil || err != nil {
		t.Fatalf("NewSearcher without a URL = %v, %v; want nil, nil", s, err)
	}
	if _, err := s.Nearest(testContext(t), nil, "anything", 10, Filter{}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("a nil searcher answered %v, want ErrNotConfigured", err)
	}
	s.Close()
	if _, err := NewSearcher(config.Embedding{URL: "http://h", Protocol: "ollama"}, nil); err == nil {
		t.Error("a configuration without a model made a searcher")
	}
}

// TestWorkerKeepsTheSearcherCurrent: the worker brings the daemon's
// in-memory vectors up to date after it stores some, before any question.
func TestWorkerKeepsTheSearcherCurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	s, err := NewSearcher(h.srv.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	h.searcher = s
	addConversation(t, h.conn, "david", "one", t0)
	addConversation(t, h.conn, "david", "two", t0.Add(time.Hour))
	h.start(h.srv.config(), 3, 4)
	w := h.clock.next(t)
	if w.d != pollEvery || s.held() != 2 {
		t.Fatalf("idle after embedding (wait %s): the searcher holds %d vectors, want 2", w.d, s.held())
	}
	addConversation(t, h.conn, "angela", "three", t0.Add(2*time.Hour))
	h.clock.pass(w)
	if w := h.clock.next(t); w.d != pollEvery || s.held() != 3 {
		t.Errorf("after the next look (wait %s): the searcher holds %d vectors, want 3", w.d, s.held())
	}
}

package access

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/socket"
)

// meaningVector is the contract server's deterministic embedding: texts
// about medicine, in either language, point one way, everything else
// another.
func meaningVector(s string) []float64 {
	for _, w := range []string{"antibiotic", "ยา"} {
		if strings.Contains(strings.ToLower(s), w) {
			return []float64{1, 0, 0, 0}
		}
	}
	return []float64{0, 1, 0, 0}
}

// ollamaContract serves POST /api/embed as Ollama does, with meaningVector;
// down makes it answer 503.
func ollamaContract(t *testing.T, down *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, `{"error":"model is loading"}`, http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if r.URL.Path != "/api/embed" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		out := struct {
			Model      string      `json:"model"`
			Embeddings [][]float64 `json:"embeddings"`
		}{Model: req.Model}
		for _, s := range req.Input {
			out.Embeddings = append(out.Embeddings, meaningVector(s))
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestContractSemanticRankingFindsACrossLanguageAnswer: a Thai question
// about an English memory shares no word with it, so only the embedding
// model's ranking (a contract server speaking Ollama's protocol) finds it,
// through Search, Retrieve and Recall with a question; with the server down
// the question is ranked by its words alone, without an error.
func TestContractSemanticRankingFindsACrossLanguageAnswer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.DB(t)
	var down atomic.Bool
	srv := ollamaContract(t, &down)
	emb := config.Embedding{URL: srv.URL, Model: "contract-model", Protocol: config.ProtocolOllama, Timeout: 5 * time.Second, BatchSize: 8}

	answer := storeMeaningFixture(t, url)

	const question = "หมอให้ส้มโอกินยาอะไร"
	lexical, _ := client(t, url, Options{})
	if hits, err := lexical.Search(ctx, memory.SearchOptions{Text: question, Limit: 5}); err != nil || slices.ContainsFunc(hits, func(h memory.Hit) bool { return h.ID == answer }) {
		t.Fatalf("without a model the answer is found (%v): the question is not one for meaning alone", err)
	}

	c, _ := client(t, url, Options{})
	c.cfg.Embedding = emb
	hits, err := c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5})
	if err != nil || len(hits) == 0 || hits[0].ID != answer || !slices.Contains(hits[0].Evidence, memory.EvidenceSemantic) {
		t.Fatalf("Search with a model: %+v %v", hits, err)
	}
	if hits, err = c.Retrieve(ctx, memory.RetrieveOptions{Text: question, Limit: 5}); err != nil || len(hits) == 0 || hits[0].ID != answer {
		t.Fatalf("Retrieve with a model: %+v %v", hits, err)
	}
	pack, err := c.Recall(ctx, memory.RecallOptions{MaxChars: 2000, Query: question, Peek: true})
	if err != nil || len(pack.Relevant) == 0 || pack.Relevant[0].ID != answer {
		t.Fatalf("Recall with a model: %+v %v", pack.Relevant, err)
	}

	down.Store(true)
	if hits, err = c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5}); err != nil || slices.ContainsFunc(hits, func(h memory.Hit) bool { return h.ID == answer }) {
		t.Fatalf("with the model down, Search: %+v %v; want the lexical ranking and no error", hits, err)
	}
}

// storeMeaningFixture stores an English answer to a Thai question about
// medicine and another message, with their contract-model vectors, and
// returns the answer's id.
func storeMeaningFixture(t *testing.T, url string) uuid.UUID {
	t.Helper()
	ctx := t.Context()
	conn := pgtest.Conn(t, url)
	answer, other := uuid.New(), uuid.New()
	at := time.Date(2025, 10, 2, 10, 0, 0, 0, time.UTC)
	if _, err := conversation.SaveNew(ctx, conn, []conversation.Conversation{
		{ID: answer, SessionID: "s1", Speaker: "david", MessageText: "The vet gave Som-O antibiotics twice a day", CreatedAt: at},
		{ID: other, SessionID: "s1", Speaker: "david", MessageText: "The ocean was calm at sunset", CreatedAt: at.Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	var vs []embedding.Vector
	for id, text := range map[uuid.UUID]string{answer: "The vet gave Som-O antibiotics twice a day", other: "The ocean was calm at sunset"} {
		v := meaningVector(text)
		vs = append(vs, embedding.Vector{Item: embedding.Item{Ref: embedding.Ref{Kind: embedding.KindConversation, ID: id}, Text: text},
			Vec: []float32{float32(v[0]), float32(v[1]), float32(v[2]), float32(v[3])}})
	}
	if _, err := embedding.Store(ctx, conn, embedding.Model{Name: "contract-model", Dims: 4}, vs, time.Now()); err != nil {
		t.Fatal(err)
	}
	return answer
}

// TestContractTheDaemonAnswersQuestionsByMeaningFromMemory: with a daemon
// that holds the vectors (its socket serving OpNearest), a question's
// ranking by meaning comes from it rather than from a read of every vector;
// a model server that fails there is not asked again directly; and a daemon
// that does not serve it (no embedding server configured there, or an
// older daemon) leaves the client to read the vectors itself.
func TestContractTheDaemonAnswersQuestionsByMeaningFromMemory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newDaemonMeaning(t)
	url, down, emb, answer, pool, searcher := f.url, f.down, f.emb, f.answer, f.pool, f.searcher

	serve := func(s *embedding.Searcher) (*Client, func() string) { return serveDaemon(t, url, pool, emb, s) }
	const question = "หมอให้ส้มโอกินยาอะไร"

	c, debug := serve(searcher)
	hits, err := c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5})
	if err != nil || len(hits) == 0 || hits[0].ID != answer || !slices.Contains(hits[0].Evidence, memory.EvidenceSemantic) {
		t.Fatalf("Search with the daemon's vectors: %+v %v", hits, err)
	}
	if d := debug(); !strings.Contains(d, "ranked by meaning by the daemon") || strings.Contains(d, "directly") {
		t.Errorf("--debug said %q, want the daemon's ranking by meaning", d)
	}
	if hits, err := c.Retrieve(ctx, memory.RetrieveOptions{Text: question, Limit: 5}); err != nil || len(hits) == 0 || hits[0].ID != answer ||
		!slices.Contains(hits[0].Evidence, memory.EvidenceSemantic) {
		t.Fatalf("Retrieve with the daemon's vectors: %+v %v", hits, err)
	}
	// The whole retrieval is the daemon's: words and meaning on its
	// connections and vectors.
	if d := debug(); !strings.Contains(d, "served by the daemon") || strings.Contains(d, "ranked by meaning") {
		t.Errorf("Retrieve: --debug said %q, want the daemon to serve the whole retrieval", d)
	}

	down.Store(true)
	hits, err = c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5})
	if err != nil || slices.ContainsFunc(hits, func(h memory.Hit) bool { return h.ID == answer }) {
		t.Fatalf("with the model down, Search: %+v %v; want the lexical ranking and no error", hits, err)
	}
	if d := debug(); strings.Contains(d, "directly") {
		t.Errorf("the model failed at the daemon and was asked again directly: %q", d)
	}
	down.Store(false)

	// A memory forgotten since the daemon read the vectors is held there
	// until its worker reads them again, and never shown.
	if err := searcher.Refresh(ctx, pool, embedding.Model{Name: "contract-model", Dims: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `delete from conversations where conversation_id = $1`, answer); err != nil {
		t.Fatal(err)
	}
	if hits, err := c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5}); err != nil || slices.ContainsFunc(hits, func(h memory.Hit) bool { return h.ID == answer }) {
		t.Fatalf("a forgotten memory is found: %+v %v", hits, err)
	}
	answer = storeMeaningFixture(t, url)

	without, debug := serve(nil)
	if hits, err := without.Search(ctx, memory.SearchOptions{Text: question, Limit: 5}); err != nil || len(hits) == 0 || hits[0].ID != answer {
		t.Fatalf("Search through a daemon without vectors: %+v %v", hits, err)
	}
	if d := debug(); !strings.Contains(d, "ranked by meaning directly") {
		t.Errorf("--debug said %q, want the ranking by meaning read directly", d)
	}
	if hits, err := without.Retrieve(ctx, memory.RetrieveOptions{Text: question, Limit: 5}); err != nil || len(hits) == 0 || hits[0].ID != answer {
		t.Fatalf("Retrieve through a daemon without vectors: %+v %v", hits, err)
	}
	if d := debug(); !strings.Contains(d, "ranks by words alone") || !strings.Contains(d, "ranked by meaning directly") {
		t.Errorf("Retrieve through a daemon without vectors: --debug said %q, want it ranked here", d)
	}
}

// daemonMeaning is what a test of ranking by meaning through a daemon
// starts from: a database holding storeMeaningFixture's memories, a contract
// model server (down while down is set), a pool and a Searcher of that model
// for the daemon.
type daemonMeaning struct {
	url      string
	down     *atomic.Bool
	emb      config.Embedding
	answer   uuid.UUID
	pool     *pgxpool.Pool
	searcher *embedding.Searcher
}

func newDaemonMeaning(t *testing.T) daemonMeaning {
	t.Helper()
	f := daemonMeaning{url: pgtest.DB(t), down: new(atomic.Bool)}
	srv := ollamaContract(t, f.down)
	f.emb = config.Embedding{URL: srv.URL, Model: "contract-model", Protocol: config.ProtocolOllama, Timeout: 5 * time.Second, BatchSize: 8}
	f.answer = storeMeaningFixture(t, f.url)
	var err error
	if f.pool, err = postgres.NewPool(t.Context(), f.url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 2, ConnectTimeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.pool.Close)
	if f.searcher, err = embedding.NewSearcher(f.emb, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.searcher.Close)
	return f
}

// serveDaemon runs a daemon's socket on pool, answering by meaning with s
// (nil: by words alone), in a new state directory (short, for the socket's
// path), and returns a Client of it configured with emb, and the lines its
// --debug would have printed since the last call.
func serveDaemon(t *testing.T, url string, pool postgres.DB, emb config.Embedding, s *embedding.Searcher) (*Client, func() string) {
	t.Helper()
	c, debug, _ := serveDaemonVia(t, url, pool, emb, s, nil)
	return c, debug
}

// serveDaemonVia is serveDaemon that returns the daemon's server too. With
// relay, the daemon listens elsewhere in the state directory and relay runs
// the client's socket, forwarding each connection to the daemon's (see
// relayNewer).
func serveDaemonVia(t *testing.T, url string, pool postgres.DB, emb config.Embedding, s *embedding.Searcher,
	relay func(t *testing.T, from, to string)) (*Client, func() string, *socket.Server) {
	t.Helper()
	dir, err := os.MkdirTemp("", "angela")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := socket.Path(dir)
	if relay != nil {
		path = filepath.Join(dir, "daemon", "angelad.sock")
		relay(t, socket.Path(dir), path)
	}
	server := socket.NewServer(path, socket.Identity(url, pgtest.TimeZone), zap.NewNop(), socket.Handlers(pool, nil, s))
	l, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(sctx, l) }()
	t.Cleanup(func() { stop(); <-served })
	env := map[string]string{"ANGELA_DATABASE_URL": url, "ANGELA_TIMEZONE": pgtest.TimeZone, "ANGELA_STATE_DIR": dir}
	cfg, err := config.Load(config.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: new(bool), Home: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Embedding = emb
	var mu sync.Mutex
	var lines []string
	c := New(cfg, Options{NoSpool: true, Debug: func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }})
	t.Cleanup(c.Close)
	return c, func() string { mu.Lock(); defer mu.Unlock(); out := strings.Join(lines, "\n"); lines = nil; return out }, server
}

package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
)

// Hybrid evaluation: the evaluation sets asked with the ranking by meaning
// of a real embedding model fused in, built as the daemon builds it. The
// benchmark runs it against the server ANGELA_TEST_EMBED_URL names; the
// contract tests below run the very same path against a local server with
// deterministic vectors, so that it cannot rot while no model is at hand.

// evalEmbedding returns the [embedding] section the hybrid evaluation uses,
// read from getenv as the embedding package's real-server test reads it:
// ANGELA_TEST_EMBED_URL (ok is false when it is empty),
// ANGELA_TEST_EMBED_MODEL (bge-m3 by default), ANGELA_TEST_EMBED_PROTOCOL
// and ANGELA_TEST_EMBED_API_KEY. The values go through the configuration's
// own loader, so that the other keys (the batch size, the timeout) are the
// daemon's defaults and a bad value gets the configuration's message.
func evalEmbedding(getenv func(string) string) (cfg config.Embedding, ok bool, err error) {
	if getenv("ANGELA_TEST_EMBED_URL") == "" {
		return config.Embedding{}, false, nil
	}
	env := map[string]string{config.EnvName("embedding.model"): "bge-m3"}
	for _, k := range []string{"url", "model", "protocol", "api_key"} {
		if v := getenv("ANGELA_TEST_EMBED_" + strings.ToUpper(k)); v != "" {
			env[config.EnvName("embedding."+k)] = v
		}
	}
	root := false
	home, err := os.MkdirTemp("", "angela-eval-")
	if err != nil {
		return cfg, true, err
	}
	defer os.RemoveAll(home)
	c, err := config.Load(config.Options{File: "", Root: &root, Home: home,
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		// The configuration names the variable it read, which is ours.
		return cfg, true, errors.New(strings.ReplaceAll(err.Error(), "ANGELA_EMBEDDING_", "ANGELA_TEST_EMBED_"))
	}
	return c.Embedding, true, nil
}

// checkEmbedServer asks cfg's server for one vector, once, so that a server
// that is away or lacks the model fails the evaluation at once with the
// client's one-line error, before any set is loaded.
func checkEmbedServer(ctx context.Context, cfg config.Embedding) error {
	c, err := embedding.NewClient(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Embed(ctx, []string{"hello"}); err != nil {
		return fmt.Errorf("the embedding model %s does not answer: %w", cfg.Model, err)
	}
	return nil
}

// evalMeaning is the ranking by meaning a hybrid evaluation fuses: the
// daemon's Searcher of the model, holding the vectors the embedding worker
// stored for the set.
type evalMeaning struct {
	searcher *embedding.Searcher
	model    embedding.Model
}

// rank returns the ranking by meaning of the question o asks, built as the
// daemon builds it for a question over its socket (Searcher.Semantic: the
// nearest memories at DepthFor(o.Limit) that FilterFor o's kind, speaker and
// time keeps), but failing where the daemon logs the failure and ranks by
// words alone: an evaluation that fell back quietly would report lexical
// figures as hybrid ones.
func (m *evalMeaning) rank(ctx context.Context, db postgres.DB, o memory.RetrieveOptions) ([]memory.SemanticHit, error) {
	ms, err := m.searcher.Nearest(ctx, db, o.Text, embedding.DepthFor(o.Limit), embedding.FilterFor(o.Kind, o.Speaker, o.Since))
	if err != nil {
		return nil, fmt.Errorf("the ranking by meaning: %w", err)
	}
	return embedding.SemanticHits(ms), nil
}

// embedEvalSet gives every turn of db a vector of cfg's model as the daemon
// does: the embedding worker (embedding.WorkerFactory, with the daemon's
// Searcher, which it refreshes after each step) runs on db's pool until it
// has nothing left to embed. The worker waits on an injected clock that
// hands every wait to this function and lets no time pass: a wait with
// nothing pending is the worker gone idle, done; a wait after a failure (the
// server away, a model it lacks) ends the evaluation with the worker's own
// one-line error, where the daemon would retry.
func embedEvalSet(tb testing.TB, db *evalDB, cfg config.Embedding) (*evalMeaning, error) {
	tb.Helper()
	s, err := embedding.NewSearcher(cfg, nil)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(s.Close)
	clock := &evalClock{now: time.Now(), waits: make(chan evalWait, 1)}
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w, err := embedding.WorkerFactory(cfg, s)(daemon.Deps{Pool: db.pool, Log: zap.NewNop(),
		Clock: daemon.Clock{Now: clock.Now, After: clock.After}, Status: sup.Reporter("embedding")})
	if err != nil {
		return nil, err
	}
	sup.Add("embedding", w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// The worker's detail in status.json, as far as this reads it.
	var st struct {
		Model      string `json:"model"`
		Dimensions int    `json:"dimensions"`
		Memories   int64  `json:"memories"`
		Pending    int64  `json:"pending"`
		Backfill   string `json:"backfill"`
		Failures   int    `json:"failures"`
		LastError  string `json:"last_error"`
	}
	for idle := 0; ; {
		select {
		case err := <-done:
			return nil, fmt.Errorf("the embedding worker stopped before it was done: %v", err)
		case wait := <-clock.waits:
			if err := json.Unmarshal(sup.Status()[0].Detail, &st); err != nil {
				return nil, fmt.Errorf("the embedding worker's status: %w", err)
			}
			switch {
			case st.Failures > 0:
				return nil, fmt.Errorf("embed the %s set with %s: %s", db.set.Name, cfg.Model, st.LastError)
			case st.Pending == 0 && st.Backfill == "done" && st.Memories > 0:
				return &evalMeaning{searcher: s, model: embedding.Model{Name: st.Model, Dims: st.Dimensions}}, nil
			}
			if idle++; idle > 100 {
				return nil, fmt.Errorf("embed the %s set with %s: the worker is idle with %d of %d memories without a vector",
					db.set.Name, cfg.Model, st.Pending, st.Memories)
			}
			clock.pass(wait)
		}
	}
}

// evalClock is the embedding worker's clock in an evaluation: every wait it
// asks for is handed over on waits, and fired by pass without sleeping.
type evalClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan evalWait
}

type evalWait struct {
	d    time.Duration
	fire chan time.Time
}

func (c *evalClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *evalClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- evalWait{d, ch}
	return ch
}

func (c *evalClock) pass(w evalWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.fire <- now
}

// contractEmbedServer is a local embedding server speaking Ollama's
// /api/embed with deterministic vectors: a text's words counted in
// dimensions chosen by their hash (plus a constant, so that none is zero),
// so texts that share words are close. It counts the texts it embedded.
type contractEmbedServer struct {
	*httptest.Server
	mu    sync.Mutex
	texts int
}

func newContractEmbedServer(t *testing.T) *contractEmbedServer {
	const dims = 64
	s := &contractEmbedServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/api/embed" {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" || len(req.Input) == 0 {
			http.Error(w, `{"error":"want a model and an input array"}`, http.StatusBadRequest)
			return
		}
		vecs := make([][]float64, len(req.Input))
		for i, in := range req.Input {
			v := make([]float64, dims)
			v[0] = 0.01
			for _, word := range strings.Fields(strings.ToLower(in)) {
				h := fnv.New32a()
				h.Write([]byte(strings.Trim(word, ".,?!\"'")))
				v[h.Sum32()%dims] += 3
			}
			vecs[i] = v
		}
		s.mu.Lock()
		s.texts += len(req.Input)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": vecs})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *contractEmbedServer) embedded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.texts
}

// contractEnv is the environment of a hybrid evaluation against url.
func contractEnv(url string) func(string) string {
	env := map[string]string{"ANGELA_TEST_EMBED_URL": url, "ANGELA_TEST_EMBED_MODEL": "contract-embed"}
	return func(k string) string { return env[k] }
}

// evalSubset is the first n sessions of set and the questions they answer.
func evalSubset(set memory.EvalSet, n int) memory.EvalSet {
	sub := memory.EvalSet{Name: set.Name, Sessions: set.Sessions[:min(n, len(set.Sessions))]}
	turns := map[string]bool{}
	for _, s := range sub.Sessions {
		for _, t := range s.Turns {
			turns[t.ID] = true
		}
	}
	for _, q := range set.Questions {
		if !slices.ContainsFunc(q.Answers, func(a string) bool { return !turns[a] }) {
			sub.Questions = append(sub.Questions, q)
		}
	}
	return sub
}

// TestContractHybridEvaluationRuns runs the hybrid evaluation of make
// benchrecall, from the environment it reads to the tables it prints,
// against a local server with deterministic vectors, on the first sessions
// of an evaluation set: the embedding worker stores every turn's vector,
// every question is ranked by meaning and fused, some hits carry the
// semantic evidence, and every question is scored in each table.
func TestContractHybridEvaluationRuns(t *testing.T) {
	t.Parallel()
	srv := newContractEmbedServer(t)
	cfg, ok, err := evalEmbedding(contractEnv(srv.URL))
	if err != nil || !ok {
		t.Fatalf("evalEmbedding = %v, %v", ok, err)
	}
	ctx := context.Background()
	if err := checkEmbedServer(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	set := evalSubset(memory.EvalSets(t)[0], 4)
	if len(set.Questions) < 3 {
		t.Fatalf("the first sessions of %s answer %d questions; want a few", set.Name, len(set.Questions))
	}
	db := loadEvalSet(t, set)
	meaning, err := embedEvalSet(t, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if meaning.model != (embedding.Model{Name: "contract-embed", Dims: 64}) {
		t.Errorf("model %+v, want contract-embed at 64 dimensions", meaning.model)
	}
	var vectors int
	if err := db.pool.QueryRow(ctx, `select count(*) from memory_embeddings where kind = 'conversation' and model = $1 and length(vec) > 0`,
		cfg.Model).Scan(&vectors); err != nil {
		t.Fatal(err)
	}
	if vectors != len(db.turns) || srv.embedded() < len(db.turns) {
		t.Errorf("%d vectors stored, %d texts embedded; want one for each of the %d turns", vectors, srv.embedded(), len(db.turns))
	}

	model := memory.NewModel(defaultMemory(t))
	lexical := db.ask(t, model, nil, nil, nil)
	hybrid := db.ask(t, model, nil, meaning, nil)
	n := len(set.Questions)
	if hybrid.semanticHits == 0 {
		t.Error("no hit carries the semantic evidence: the ranking by meaning was not fused")
	}
	if lexical.semanticHits != 0 || lexical.meaning.Groups != nil {
		t.Errorf("lexical retrieval has %d semantic hits, a ranking by meaning %v", lexical.semanticHits, lexical.meaning.Groups)
	}
	for name, g := range map[string]*memory.EvalScore{"hybrid": hybrid.report.Groups["all"], "by meaning alone": hybrid.meaning.Groups["all"]} {
		if g == nil || g.N != n {
			t.Errorf("%s scored %+v, want all %d questions", name, g, n)
		}
	}
	if g := hybrid.cover.Groups["all"]; g == nil || g.N != n || hybrid.cover.Questions != n {
		t.Errorf("covered@k of %+v, want all %d questions", hybrid.cover, n)
	}
	var out strings.Builder
	db.printHybrid(&out, hybrid, lexical, meaning.model)
	for _, want := range []string{set.Name + ", hybrid (lexical and contract-embed at 64 dimensions fused", set.Name + ", hybrid, covered@k",
		"contract-embed alone", "hybrid minus lexical alone", "\nhybrid is "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
}

// TestContractHybridEvaluationFailsClearlyWithoutItsServer points the hybrid
// evaluation at a server that is away: the check before the sets and the
// embedding worker each fail at once with one line naming the server, rather
// than waiting or retrying.
func TestContractHybridEvaluationFailsClearlyWithoutItsServer(t *testing.T) {
	t.Parallel()
	away := httptest.NewServer(http.NotFoundHandler())
	away.Close()
	cfg, _, err := evalEmbedding(contractEnv(away.URL))
	if err != nil {
		t.Fatal(err)
	}
	db := loadEvalSet(t, evalSubset(memory.EvalSets(t)[0], 1))
	checked := checkEmbedServer(context.Background(), cfg)
	_, embedded := embedEvalSet(t, db, cfg)
	for name, err := range map[string]error{"checkEmbedServer": checked, "embedEvalSet": embedded} {
		if err == nil || !strings.Contains(err.Error(), away.URL) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s = %v, want one line naming %s", name, err, away.URL)
		}
	}
	if _, _, err := evalEmbedding(contractEnv("not a url")); err == nil || !strings.HasPrefix(err.Error(), "invalid ANGELA_TEST_EMBED_URL: ") {
		t.Errorf("evalEmbedding of a bad URL = %v, want the configuration's error naming ANGELA_TEST_EMBED_URL", err)
	}
}

// simulatedModelServer is an embedding server (Ollama's /api/embed) that
// plays a model of a chosen quality on one evaluation set: every text gets
// a random unit vector of its own, except a question's, which is the sum of
// its answer turns' vectors (a perfect model) or, with chance set, a random
// vector too (a model no better than chance).
func simulatedModelServer(t *testing.T, set memory.EvalSet, chance bool) *httptest.Server {
	const dims = 64
	vector := func(text string) []float64 {
		h := fnv.New64a()
		h.Write([]byte(text))
		r := rand.New(rand.NewPCG(h.Sum64(), 1))
		v := make([]float64, dims)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return v
	}
	texts := map[string]string{}
	for _, s := range set.Sessions {
		for _, tu := range s.Turns {
			texts[tu.ID] = tu.Text
		}
	}
	answers := map[string][]string{}
	for _, q := range set.Questions {
		for _, a := range q.Answers {
			answers[q.Text] = append(answers[q.Text], texts[a])
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		out := make([][]float64, len(req.Input))
		for i, in := range req.Input {
			as, question := answers[in]
			if !question || chance {
				out[i] = vector(in)
				continue
			}
			v := make([]float64, dims)
			for _, a := range as {
				for j, x := range vector(a) {
					v[j] += x
				}
			}
			out[i] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": out})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestHybridWithSimulatedModels measures hybrid retrieval on the eval set
// with two simulated models: a perfect one must lift it to every answer,
// the cross-language ones too, which the words cannot find; one no better
// than chance may cost it little. Fused in one step with the words' whole
// ranking, the perfect model found 0.417 of the cross-language answers in
// the first ten and the chance one took recall@10 from 0.682 to 0.324.
func TestHybridWithSimulatedModels(t *testing.T) {
	t.Parallel()
	var set memory.EvalSet
	for _, s := range memory.EvalSets(t) {
		if s.Name == "eval" {
			set = s
		}
	}
	if set.Name == "" {
		t.Skip("no eval set")
	}
	model := memory.NewModel(defaultMemory(t))
	for _, c := range []struct {
		name   string
		chance bool
	}{{"perfect", false}, {"chance", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := simulatedModelServer(t, set, c.chance)
			cfg, _, err := evalEmbedding(contractEnv(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			db := loadEvalSet(t, set)
			meaning, err := embedEvalSet(t, db, cfg)
			if err != nil {
				t.Fatal(err)
			}
			lexical := db.ask(t, model, nil, nil, nil)
			hybrid := db.ask(t, model, nil, meaning, nil)
			_, _, lex10, _ := lexical.report.Groups["all"].Mean()
			_, _, hyb10, _ := hybrid.report.Groups["all"].Mean()
			_, cross5, _, _ := hybrid.report.Groups["crosslang"].Mean()
			t.Logf("%s model: recall@10 %.3f with words alone, %.3f hybrid; cross-language recall@5 %.3f", c.name, lex10, hyb10, cross5)
			if c.chance {
				if hyb10 < lex10-0.08 {
					t.Errorf("a model no better than chance took recall@10 from %.3f to %.3f", lex10, hyb10)
				}
				return
			}
			if hyb10 < 0.95 || cross5 < 0.9 {
				t.Errorf("a perfect model: recall@10 %.3f (words alone %.3f), cross-language recall@5 %.3f; want at least 0.95 and 0.9", hyb10, lex10, cross5)
			}
		})
	}
}

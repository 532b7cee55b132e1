package access

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
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
func ollamaContract(t *testing.T, down *bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *down {
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
	down := false
	srv := ollamaContract(t, &down)
	emb := config.Embedding{URL: srv.URL, Model: "contract-model", Protocol: config.ProtocolOllama, Timeout: 5 * time.Second, BatchSize: 8}

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

	down = true
	if hits, err = c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5}); err != nil || slices.ContainsFunc(hits, func(h memory.Hit) bool { return h.ID == answer }) {
		t.Fatalf("with the model down, Search: %+v %v; want the lexical ranking and no error", hits, err)
	}
}

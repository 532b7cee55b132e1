package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/embedding"
)

// medicineVector is the contract server's deterministic embedding: texts
// about medicine, in either language, point one way, the rest another.
func medicineVector(s string) []float32 {
	if strings.Contains(strings.ToLower(s), "antibiotic") || strings.Contains(s, "ยา") {
		return []float32{1, 0, 0, 0}
	}
	return []float32{0, 1, 0, 0}
}

// TestContractSearchRanksAQuestionByMeaning: with the daemon's vectors
// (a contract server speaking Ollama's protocol), the viewer's search finds
// an English answer to a Thai question it shares no word with, as the
// CLI's does; without them it does not.
func TestContractSearchRanksAQuestionByMeaning(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
			Embeddings [][]float32 `json:"embeddings"`
		}{Model: req.Model}
		for _, s := range req.Input {
			out.Embeddings = append(out.Embeddings, medicineVector(s))
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	emb := config.Embedding{URL: srv.URL, Model: "contract-model", Protocol: config.ProtocolOllama, Timeout: 5 * time.Second, BatchSize: 8}
	searcher, err := embedding.NewSearcher(emb, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(searcher.Close)

	with := setup(t, func(o *Options) { o.Searcher = searcher })
	without := setup(t)
	const answer, other = "The vet gave Som-O antibiotics twice a day", "The ocean was calm at sunset"
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, with.loc)
	for _, f := range []*fixture{with, without} {
		var vs []embedding.Vector
		for i, msg := range []string{answer, other} {
			id := f.say(t, "s", "david", msg, at.Add(time.Duration(i)*time.Minute))
			vs = append(vs, embedding.Vector{Item: embedding.Item{Ref: embedding.Ref{Kind: embedding.KindConversation, ID: id}, Text: msg}, Vec: medicineVector(msg)})
		}
		if _, err := embedding.Store(t.Context(), f.pool, embedding.Model{Name: "contract-model", Dims: 4}, vs, at); err != nil {
			t.Fatal(err)
		}
	}
	q := "/search?q=" + url.QueryEscape("หมอให้ส้มโอกินยาอะไร")
	if _, body, _ := with.get(t, with.login(t), q); !strings.Contains(body, answer) ||
		strings.Contains(body, other) && strings.Index(body, other) < strings.Index(body, answer) {
		t.Errorf("with the daemon's vectors, the search page does not rank the answer first:\n%s", body)
	} else if !strings.Contains(body, `<span class="text">`+answer) || !strings.Contains(body, `<span lang="th">หมอ`) {
		t.Errorf("English text marked as Thai, or Thai not marked (a Thai font, Thai line breaks):\n%s", body)
	}
	if _, body, _ := without.get(t, without.login(t), q); strings.Contains(body, answer) {
		t.Errorf("without vectors the answer is found: the question is not one for meaning alone:\n%s", body)
	}
}

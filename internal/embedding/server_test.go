package embedding

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeServer is a local embedding server that speaks one protocol the way
// Ollama or OpenAI do, with deterministic vectors: a text's vector counts its
// words, each in a dimension chosen by the word's hash, so texts that share
// words are close and others are not. It checks every request's shape and
// records the texts it embedded.
type fakeServer struct {
	t        *testing.T
	srv      *httptest.Server
	protocol string
	dims     int // the model's own dimension
	model    string
	apiKey   string

	mu       sync.Mutex
	requests int
	texts    []string // every text embedded, in order
	// fail, when set, may answer a request instead: a status and a body.
	fail func(n int, input []string) (int, string)
	// raw, when set, replaces the answer's JSON.
	raw func(input []string) string
	// hold, when set, keeps requests unanswered until the client gives up.
	hold bool
	seen []map[string]any // every request body
}

func newFakeServer(t *testing.T, protocol string, dims int) *fakeServer {
	f := &fakeServer{t: t, protocol: protocol, dims: dims, model: "fake-embed"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// config returns the [embedding] section that points at the server.
func (f *fakeServer) config() config.Embedding {
	return config.Embedding{URL: f.srv.URL, Model: f.model, Protocol: f.protocol, BatchSize: 4, Timeout: 5 * time.Second, APIKey: f.apiKey}
}

func (f *fakeServer) client(t *testing.T, change func(*config.Embedding)) *Client {
	t.Helper()
	cfg := f.config()
	if change != nil {
		change(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func (f *fakeServer) embedded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.texts...)
}

func (f *fakeServer) set(change func(f *fakeServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	path := map[string]string{config.ProtocolOllama: "/api/embed", config.ProtocolOpenAI: "/v1/embeddings"}[f.protocol]
	if r.Method != http.MethodPost || r.URL.Path != path {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type %q", ct)
	}
	if want := "Bearer " + f.apiKey; f.apiKey != "" && r.Header.Get("Authorization") != want {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error"}}`, r.Header.Get("Authorization"))
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("request body: %v", err)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	var req struct {
		Model      string   `json:"model"`
		Input      []string `json:"input"`
		Dimensions *int     `json:"dimensions"`
	}
	data, _ := json.Marshal(body)
	if err := json.Unmarshal(data, &req); err != nil || req.Model == "" || len(req.Input) == 0 {
		f.t.Errorf("request %s: want a model and an input array", data)
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.seen = append(f.seen, body)
	fail, raw, hold := f.fail, f.raw, f.hold
	f.mu.Unlock()
	if hold {
		<-r.Context().Done()
		return
	}
	if fail != nil {
		if status, msg := fail(n, req.Input); status != 0 {
			w.WriteHeader(status)
			fmt.Fprint(w, msg)
			return
		}
	}
	dims := f.dims
	if req.Dimensions != nil {
		dims = *req.Dimensions
	}
	f.mu.Lock()
	f.texts = append(f.texts, req.Input...)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if raw != nil {
		fmt.Fprint(w, raw(req.Input))
		return
	}
	vecs := make([][]float64, len(req.Input))
	for i, in := range req.Input {
		vecs[i] = fakeVector(in, dims)
	}
	if f.protocol == config.ProtocolOllama {
		json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": vecs, "total_duration": 1000})
		return
	}
	// OpenAI's answer, its items in reverse so that the index must be read.
	items := make([]map[string]any, 0, len(vecs))
	for i := len(vecs) - 1; i >= 0; i-- {
		items = append(items, map[string]any{"object": "embedding", "index": i, "embedding": vecs[i]})
	}
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": items, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
}

// fakeVector is a text's deterministic vector: its words counted by hash,
// not normalised (the client normalises), plus a small constant so that no
// text has a zero vector.
func fakeVector(s string, dims int) []float64 {
	v := make([]float64, dims)
	v[0] = 0.01
	for _, w := range strings.Fields(strings.ToLower(s)) {
		h := fnv.New32a()
		h.Write([]byte(strings.Trim(w, ".,?!")))
		v[int(h.Sum32()%uint32(dims))] += 3
	}
	return v
}

// unit normalises v as the client does, for comparing.
func unit(v []float64) []float32 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x / math.Sqrt(s))
	}
	return out
}

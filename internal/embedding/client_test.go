package embedding

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/angela-ai/angelad/internal/config"
)

func TestContractOllamaRequestAndAnswer(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, config.ProtocolOllama, 16)
	c := f.client(t, nil)
	texts := []string{"David gave his mother a scarf", "หมอให้ส้มโอกินยา"}
	got, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if want := unit(fakeVector(texts[i], 16)); !close(v, want) {
			t.Errorf("vector %d = %v, want %v", i, v, want)
		}
	}
	body := f.seen[0]
	if body["model"] != "fake-embed" || fmt.Sprint(body["input"]) != fmt.Sprint([]any{texts[0], texts[1]}) {
		t.Errorf("request %v", body)
	}
	if _, ok := body["dimensions"]; ok {
		t.Errorf("dimensions sent though not configured: %v", body)
	}
	if c.Endpoint() != f.srv.URL+"/api/embed" {
		t.Errorf("endpoint %s", c.Endpoint())
	}
}

func TestContractOpenAIRequestAndAnswer(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, config.ProtocolOpenAI, 32)
	f.apiKey = "sk-SeCrEt"
	// A base URL written with its /v1, as OpenAI's often is.
	c := f.client(t, func(e *config.Embedding) { e.URL += "/v1"; e.Dimensions = 8 })
	texts := []string{"one", "two words", "three little words"}
	got, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		// The server answers in reverse; the index puts each back.
		if want := unit(fakeVector(texts[i], 8)); !close(v, want) {
			t.Errorf("vector %d = %v, want %v", i, v, want)
		}
	}
	body := f.seen[0]
	if body["dimensions"] != 8.0 || body["encoding_format"] != "float" || body["model"] != "fake-embed" {
		t.Errorf("request %v", body)
	}
	if c.Endpoint() != f.srv.URL+"/v1/embeddings" {
		t.Errorf("endpoint %s", c.Endpoint())
	}
}

func close(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-6 || d < -1e-6 {
			return false
		}
	}
	return true
}

// TestContractBadAnswersAreRefusedWhole checks that an answer that is not
// exactly the vectors asked for is an error of kind BadAnswer, one line, and
// that nothing of it is returned.
func TestContractBadAnswersAreRefusedWhole(t *testing.T) {
	t.Parallel()
	vec := func(n int, x string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(x+",", n), ",") + "]"
	}
	tests := []struct {
		name     string
		protocol string
		dims     int // configured
		raw      string
		want     string
	}{
		{"ollama one vector for two texts", "ollama", 0, `{"embeddings":[` + vec(4, "1") + `]}`, "answered 1 vectors for 2 texts"},
		{"ollama three for two", "ollama", 0, `{"embeddings":[` + vec(4, "1") + "," + vec(4, "1") + "," + vec(4, "1") + `]}`, "answered 3 vectors for 2 texts"},
		{"ollama wrong dimension", "ollama", 8, `{"embeddings":[` + vec(4, "1") + "," + vec(4, "1") + `]}`, "vectors of 4 dimensions, embedding.dimensions is 8"},
		{"ollama mixed dimensions", "ollama", 0, `{"embeddings":[` + vec(4, "1") + "," + vec(5, "1") + `]}`, "vectors of 4 and 5 dimensions in one answer"},
		{"ollama NaN", "ollama", 0, `{"embeddings":[[1,NaN,1,1],[1,1,1,1]]}`, "bad answer: the answer is not ollama JSON"},
		{"ollama null in a vector", "ollama", 0, `{"embeddings":[[1,null,1,1],[1,1,1,1]]}`, "a vector holds null, not a number"},
		{"ollama beyond float32", "ollama", 0, `{"embeddings":[[1,1e39,1,1],[1,1,1,1]]}`, "value 2 of the vector is 1e+39, not a finite float32"},
		{"ollama zero vector", "ollama", 0, `{"embeddings":[[0,0,0,0],[1,1,1,1]]}`, "text 1: the vector has no length"},
		{"ollama empty vector", "ollama", 0, `{"embeddings":[[],[1,1,1,1]]}`, "an empty vector for text 1"},
		{"ollama no embeddings", "ollama", 0, `{"embedding":[1,2]}`, "it has no such field"},
		{"ollama not JSON", "ollama", 0, `<html>proxy</html>`, "the answer is not ollama JSON"},
		{"openai one for two", "openai", 0, `{"data":[{"index":0,"embedding":` + vec(4, "1") + `}]}`, "answered 1 vectors for 2 texts"},
		{"openai repeated index", "openai", 0, `{"data":[{"index":0,"embedding":` + vec(4, "1") + `},{"index":0,"embedding":` + vec(4, "1") + `}]}`, "index 0 twice or out of range"},
		{"openai index out of range", "openai", 0, `{"data":[{"index":0,"embedding":` + vec(4, "1") + `},{"index":2,"embedding":` + vec(4, "1") + `}]}`, "index 2 twice or out of range"},
		{"openai wrong dimension", "openai", 8, `{"data":[{"index":0,"embedding":` + vec(4, "1") + `},{"index":1,"embedding":` + vec(4, "1") + `}]}`, "vectors of 4 dimensions, embedding.dimensions is 8"},
		{"openai base64", "openai", 0, `{"data":[{"index":0,"embedding":"AAAA"},{"index":1,"embedding":"AAAA"}]}`, "the answer is not openai JSON"},
		{"openai no data", "openai", 0, `{"object":"list"}`, "it has no such field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, tt.protocol, 4)
			f.raw = func([]string) string { return tt.raw }
			c := f.client(t, func(e *config.Embedding) { e.Dimensions = tt.dims })
			got, err := c.Embed(context.Background(), []string{"a", "b"})
			var ee *Error
			if got != nil || !errors.As(err, &ee) || ee.Kind != BadAnswer || !strings.Contains(err.Error(), tt.want) ||
				strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), f.srv.URL) {
				t.Fatalf("got %v, %v; want a one-line BadAnswer error naming the server, containing %q", got, err, tt.want)
			}
		})
	}
}

// TestContractHTTPErrors checks that an error answer becomes an error that
// quotes the server's message, cut short, without the API key, of the kind
// that decides what the worker does.
func TestContractHTTPErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ยาว", 300)
	tests := []struct {
		name     string
		protocol string
		status   int
		body     string
		kind     ErrorKind
		want     string
	}{
		{"ollama 500", "ollama", 500, `{"error":"` + long + `"}`, Unavailable, "HTTP 500 Internal Server Error: ยาวยาว"},
		{"ollama model not pulled", "ollama", 404, `{"error":"model \"fake-embed\" not found, try pulling it first"}`, Misconfigured, `HTTP 404 Not Found: model "fake-embed" not found, try pulling it first`},
		{"ollama input too long", "ollama", 400, `{"error":"input length exceeds the context length"}`, Refused, "HTTP 400 Bad Request: input length exceeds"},
		{"openai rate limit", "openai", 429, `{"error":{"message":"Rate limit reached","type":"requests"}}`, Unavailable, "HTTP 429 Too Many Requests: Rate limit reached"},
		{"openai bad request", "openai", 400, `{"error":{"message":"'$.input' is invalid.","type":"invalid_request_error"}}`, Refused, `HTTP 400 Bad Request: '$.input' is invalid.`},
		{"a proxy's page", "openai", 502, "<html>\n<body>Bad Gateway</body>\n</html>", Unavailable, "HTTP 502 Bad Gateway: <html> <body>Bad Gateway</body> </html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, tt.protocol, 4)
			f.fail = func(int, []string) (int, string) { return tt.status, tt.body }
			c := f.client(t, nil)
			_, err := c.Embed(context.Background(), []string{"a"})
			var ee *Error
			if !errors.As(err, &ee) || ee.Kind != tt.kind || ee.Status != tt.status || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v (kind %v), want kind %v containing %q", err, KindOf(err), tt.kind, tt.want)
			}
			if n := utf8.RuneCountInString(err.Error()); n > 300 {
				t.Errorf("the message is not cut short: %d characters", n)
			}
		})
	}

	// A server that echoes the key it refuses: the key never shows.
	f := newFakeServer(t, config.ProtocolOpenAI, 4)
	f.apiKey = "sk-right"
	c := f.client(t, func(e *config.Embedding) { e.APIKey = "sk-WrOnGSeCrEt" })
	_, err := c.Embed(context.Background(), []string{"a"})
	if KindOf(err) != Misconfigured || strings.Contains(err.Error(), "WrOnGSeCrEt") || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("a refused key: %v", err)
	}
}

func TestContractSlowServerTimesOut(t *testing.T) {
	t.Parallel()
	for _, protocol := range []string{config.ProtocolOllama, config.ProtocolOpenAI} {
		f := newFakeServer(t, protocol, 4)
		f.hold = true
		c := f.client(t, func(e *config.Embedding) { e.Timeout = 100 * time.Millisecond })
		got, err := c.Embed(context.Background(), []string{"a"})
		if got != nil || KindOf(err) != Unavailable || !errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(err.Error(), "no answer within 100ms (embedding.timeout") {
			t.Errorf("%s: got %v, %v; want a timeout", protocol, got, err)
		}
	}
}

func TestContractServerAway(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, config.ProtocolOllama, 4)
	c := f.client(t, nil)
	f.srv.Close()
	_, err := c.Embed(context.Background(), []string{"a"})
	if KindOf(err) != Unavailable || !strings.Contains(err.Error(), "cannot reach it") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v", err)
	}
}

// TestContractLongTextsAreCut checks that a text longer than MaxTextChars is
// sent cut on a character boundary, so that no model's context overflows.
func TestContractLongTextsAreCut(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, config.ProtocolOllama, 4)
	c := f.client(t, nil)
	long := strings.Repeat("น้ำ", 1000) // 3 runes a character, 3000 runes
	if _, err := c.Embed(context.Background(), []string{long, "short\xff"}); err != nil {
		t.Fatal(err)
	}
	sent := f.embedded()
	if n := utf8.RuneCountInString(sent[0]); n > MaxTextChars || n < MaxTextChars-3 || !strings.HasSuffix(sent[0], "น้ำ") {
		t.Errorf("sent %d runes ending %q", n, sent[0][len(sent[0])-9:])
	}
	if sent[1] != "short\uFFFD" {
		t.Errorf("invalid UTF-8 sent as %q", sent[1])
	}
}

func TestNewClientOff(t *testing.T) {
	if _, err := NewClient(config.Embedding{}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("got %v", err)
	}
	if _, err := NewClient(config.Embedding{URL: "http://h", Protocol: "ollama"}); err == nil || !strings.Contains(err.Error(), "embedding.model") {
		t.Errorf("got %v", err)
	}
}

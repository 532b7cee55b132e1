package embedding

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/text"
)

// ErrNotConfigured is returned when no embedding server is configured
// (embedding.url is empty): the caller ranks without meaning.
var ErrNotConfigured = errors.New("no embedding server is configured (embedding.url is empty)")

// ErrorKind says what kind of trouble an embedding request met, which decides
// what the worker does about it.
type ErrorKind int

const (
	// Unavailable: the server could not be reached, did not answer in time,
	// was overloaded (429) or failed (5xx). Try again later.
	Unavailable ErrorKind = iota
	// Misconfigured: the server refused the request for what every request
	// carries, the key (401, 403) or the model or path (404). Try again
	// later: the user fixes the server or the configuration.
	Misconfigured
	// Refused: the server refused this request (another 4xx): perhaps one of
	// its texts, perhaps its shape.
	Refused
	// BadAnswer: the server answered 200 with something that is not the
	// vectors asked for: not the protocol's JSON, the wrong number of
	// vectors, the wrong dimension, a value that is not a finite float32, a
	// zero vector.
	BadAnswer
)

// Error is a failed embedding request. Its message is one line, names the
// server, and never holds the API key.
type Error struct {
	Kind ErrorKind
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	msg    string
	err    error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the underlying error (context.DeadlineExceeded, a network
// error), if any.
func (e *Error) Unwrap() error { return e.err }

// KindOf returns the kind of an embedding error, Unavailable for any other.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unavailable
}

// MaxTextChars is how much of a memory is embedded: the first 2,000
// characters. It keeps every text within the context of common embedding
// models (8,192 tokens for bge-m3 and OpenAI's, where a Thai character may
// take up to three), and the start of a long message says what it is about.
const MaxTextChars = 2000

// maxMessageChars is how much of a server's error message an error shows.
const maxMessageChars = 200

// maxDimensions bounds the vectors accepted, as embedding.dimensions does.
const maxDimensions = 16384

// Client asks an embedding server for vectors. It is safe for concurrent use.
type Client struct {
	endpoint string
	model    string
	protocol string
	dims     int
	timeout  time.Duration
	apiKey   string
	http     *http.Client
}

// NewClient returns a client of the configured server, or ErrNotConfigured
// when none is. cfg must have passed config's checks.
func NewClient(cfg config.Embedding) (*Client, error) {
	if !cfg.Enabled() {
		return nil, ErrNotConfigured
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.URL, "/")
	var endpoint string
	switch cfg.Protocol {
	case config.ProtocolOllama:
		endpoint = base + "/api/embed"
	case config.ProtocolOpenAI:
		// The base URL of an OpenAI-compatible server is often written
		// with its /v1: accept both.
		endpoint = strings.TrimSuffix(base, "/v1") + "/v1/embeddings"
	default:
		return nil, fmt.Errorf("invalid embedding.protocol: must be one of ollama, openai, got %q", cfg.Protocol)
	}
	return &Client{
		endpoint: endpoint, model: cfg.Model, protocol: cfg.Protocol, dims: cfg.Dimensions,
		timeout: cfg.Timeout, apiKey: cfg.APIKey,
		// The timeout is the context's, per request; the transport's
		// defaults keep connections to a local server alive between batches.
		http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}, nil
}

// Model is the configured model's name, which vectors are stored under.
func (c *Client) Model() string { return c.model }

// Dimensions is the configured dimension, 0 when the model's own is taken.
func (c *Client) Dimensions() int { return c.dims }

// Endpoint is the URL requests are posted to.
func (c *Client) Endpoint() string { return c.endpoint }

// Close releases the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Embed returns the unit-length vectors of texts, in their order, all of one
// dimension, from one request bounded by embedding.timeout. Either every
// vector is returned or an *Error: no answer is used in part. Each text is
// cut to MaxTextChars characters first.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	input := make([]string, len(texts))
	for i, t := range texts {
		input[i], _ = text.Cut(strings.ToValidUTF8(t, "\uFFFD"), MaxTextChars)
	}
	req := map[string]any{"model": c.model, "input": input}
	if c.dims > 0 {
		req["dimensions"] = c.dims
	}
	if c.protocol == config.ProtocolOpenAI {
		req["encoding_format"] = "float"
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err) // strings always marshal
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: Misconfigured, msg: fmt.Sprintf("embedding server %s: %v", c.endpoint, err), err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	// A bound on what is read: a vector of the largest dimension in JSON is
	// well under 32 bytes a value.
	limit := int64(1<<20 + len(texts)*maxDimensions*32)
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(resp.StatusCode, data)
	}
	if int64(len(data)) > limit {
		return nil, c.badAnswer("the answer is larger than %d bytes", limit)
	}
	var raw [][]component
	switch c.protocol {
	case config.ProtocolOllama:
		var r struct {
			Embeddings *[][]component `json:"embeddings"`
		}
		if err := json.Unmarshal(data, &r); err != nil || r.Embeddings == nil {
			return nil, c.notJSON(err, `{"embeddings": [[...], ...]}`)
		}
		raw = *r.Embeddings
	default:
		var r struct {
			Data *[]struct {
				Index     *int        `json:"index"`
				Embedding []component `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal(data, &r); err != nil || r.Data == nil {
			return nil, c.notJSON(err, `{"data": [{"index": 0, "embedding": [...]}, ...]}`)
		}
		if len(*r.Data) != len(texts) {
			return nil, c.badAnswer("the server answered %d vectors for %d texts", len(*r.Data), len(texts))
		}
		raw = make([][]component, len(texts))
		for i, d := range *r.Data {
			at := i // a server that leaves the index out keeps the order
			if d.Index != nil {
				at = *d.Index
			}
			if at < 0 || at >= len(texts) || raw[at] != nil {
				return nil, c.badAnswer("the server answered index %d twice or out of range for %d texts", at, len(texts))
			}
			if d.Embedding == nil {
				d.Embedding = []component{}
			}
			raw[at] = d.Embedding
		}
	}
	if len(raw) != len(texts) {
		return nil, c.badAnswer("the server answered %d vectors for %d texts", len(raw), len(texts))
	}
	want := c.dims // 0: the first vector's
	out := make([][]float32, len(raw))
	for i, v := range raw {
		switch {
		case len(v) == 0:
			return nil, c.badAnswer("the server answered an empty vector for text %d", i+1)
		case len(v) > maxDimensions:
			return nil, c.badAnswer("the server answered vectors of %d dimensions, more than %d", len(v), maxDimensions)
		case want == 0:
			want = len(v)
		}
		if len(v) != want {
			if c.dims > 0 {
				return nil, c.badAnswer("the server answered vectors of %d dimensions, embedding.dimensions is %d", len(v), c.dims)
			}
			return nil, c.badAnswer("the server answered vectors of %d and %d dimensions in one answer", want, len(v))
		}
		u, err := normalize(v)
		if err != nil {
			return nil, c.badAnswer("text %d: %v", i+1, err)
		}
		out[i] = u
	}
	return out, nil
}

// component is one value of a vector in an answer: a JSON number, never null
// (which encoding/json would read as 0).
type component float64

// UnmarshalJSON reads a number, and refuses null and everything else.
func (c *component) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("a vector holds %s, not a number", text.Preview(string(b), 20))
	}
	*c = component(f)
	return nil
}

// normalize returns v as float32 of unit length, or an error when a value is
// not a finite float32 or the vector is zero.
func normalize(v []component) ([]float32, error) {
	var sum float64
	for j, c := range v {
		x := float64(c)
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > math.MaxFloat32 {
			return nil, fmt.Errorf("value %d of the vector is %g, not a finite float32", j+1, x)
		}
		sum += x * x
	}
	if sum == 0 || math.IsInf(sum, 0) {
		return nil, fmt.Errorf("the vector has no length that can be normalised")
	}
	norm := math.Sqrt(sum)
	out := make([]float32, len(v))
	for j, x := range v {
		out[j] = float32(float64(x) / norm)
	}
	return out, nil
}

func (c *Client) badAnswer(format string, args ...any) error {
	return &Error{Kind: BadAnswer, Status: http.StatusOK,
		msg: fmt.Sprintf("embedding server %s: bad answer: %s", c.endpoint, fmt.Sprintf(format, args...))}
}

func (c *Client) notJSON(err error, shape string) error {
	why := "it has no such field"
	if err != nil {
		why = c.hide(text.OneLine(err.Error()))
		if cut, more := text.Cut(why, maxMessageChars); more {
			why = cut + "..."
		}
	}
	return c.badAnswer("the answer is not %s JSON like %s: %s", c.protocol, shape, why)
}

// transportError says why no answer came: the context's deadline (the
// timeout, or the caller's), its cancellation, or the network.
func (c *Client) transportError(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: Unavailable, msg: fmt.Sprintf("embedding server %s: no answer within %s (embedding.timeout, or the caller's bound)", c.endpoint, c.timeout), err: context.DeadlineExceeded}
	case ctx.Err() != nil:
		return &Error{Kind: Unavailable, msg: fmt.Sprintf("embedding server %s: %v", c.endpoint, ctx.Err()), err: ctx.Err()}
	}
	msg := text.OneLine(err.Error())
	return &Error{Kind: Unavailable, msg: fmt.Sprintf("embedding server %s: cannot reach it: %s", c.endpoint, c.hide(msg)), err: err}
}

// statusError turns an HTTP error answer into an *Error holding the server's
// own message, cut short: Ollama's {"error": "..."}, OpenAI's {"error":
// {"message": "..."}}, or the start of the body.
func (c *Client) statusError(status int, body []byte) error {
	var msg string
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &r) == nil && len(r.Error) > 0 {
		var s string
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(r.Error, &s) == nil {
			msg = s
		} else if json.Unmarshal(r.Error, &o) == nil {
			msg = o.Message
		}
	}
	if msg == "" {
		msg = string(body)
	}
	msg = c.hide(text.OneLine(strings.ToValidUTF8(msg, "\uFFFD")))
	if cut, more := text.Cut(msg, maxMessageChars); more {
		msg = cut + "..."
	}
	kind := Refused
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		kind = Unavailable
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		kind = Misconfigured
	}
	line := fmt.Sprintf("embedding server %s: HTTP %d %s", c.endpoint, status, http.StatusText(status))
	if msg != "" {
		line += ": " + msg
	}
	return &Error{Kind: kind, Status: status, msg: line}
}

// hide removes the API key from a message the server or the network wrote:
// some servers echo the key they refuse.
func (c *Client) hide(s string) string {
	if c.apiKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.apiKey, "xxxxx")
}

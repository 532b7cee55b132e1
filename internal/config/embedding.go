package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Embedding configures the optional embedding server that gives every memory a
// vector, so that a question finds the memories that mean the same thing in
// other words or another language. With URL empty nothing is embedded and
// retrieval is lexical only.
type Embedding struct {
	// URL is the server's base URL, such as http://127.0.0.1:11434; empty
	// turns embedding off.
	URL string
	// Model is the model the server embeds with; vectors are stored under
	// its name, so a change of model embeds every memory again.
	Model string
	// Protocol is ProtocolOllama (POST {url}/api/embed) or ProtocolOpenAI
	// (POST {url}/v1/embeddings).
	Protocol string
	// Dimensions, when positive, is the vector size asked of the server and
	// required of its answers; 0 takes the model's own size.
	Dimensions int
	// BatchSize is how many texts one request embeds.
	BatchSize int
	// Timeout bounds one request, a batch or a question.
	Timeout time.Duration
	// APIKey, when set, is sent as a bearer token. It is a secret: never
	// shown in config output, logs or errors.
	APIKey string
}

// The embedding protocols.
const (
	ProtocolOllama = "ollama"
	ProtocolOpenAI = "openai"
)

// Enabled reports whether an embedding server is configured.
func (e Embedding) Enabled() bool { return e.URL != "" }

// Check reports a combination of embedding keys that cannot work together, as
// an *Error naming the key: each key alone is checked when it is read.
func (e Embedding) Check() error {
	if e.Enabled() && strings.TrimSpace(e.Model) == "" {
		return errorf("invalid embedding.model: must name the model when embedding.url is set (%s), such as \"bge-m3\"", e.URL)
	}
	return nil
}

// hideKey shows whether a secret that is not a connection string is set,
// never any part of it.
func hideKey(v string) string {
	if v == "" {
		return ""
	}
	return "xxxxx"
}

// parseEmbeddingURL accepts an http or https base URL without credentials,
// query or fragment, and returns it without a trailing slash.
func parseEmbeddingURL(v string) (string, error) {
	const allowed = `must be empty (off) or an http:// or https:// base URL such as "http://127.0.0.1:11434"`
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%s, got %q", allowed, v)
	}
	if u.User != nil {
		// Said without the URL: it holds a password.
		return "", fmt.Errorf("must not hold a user or password (set embedding.api_key instead)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%s without a query or fragment, got %q", allowed, v)
	}
	return strings.TrimRight(v, "/"), nil
}

func embeddingKeys() []key {
	urlKey := key{name: "embedding.url", help: "base URL of the embedding server (Ollama or OpenAI-compatible); empty: no embeddings, lexical retrieval only",
		get: func(c *Config) string { return c.Embedding.URL },
		set: func(c *Config, v string) error {
			u, err := parseEmbeddingURL(v)
			if err != nil {
				return err
			}
			c.Embedding.URL = u
			return nil
		}}
	apiKey := key{name: "embedding.api_key", help: "bearer token sent to the embedding server; empty: none", secret: true, hide: hideKey,
		get: func(c *Config) string { return c.Embedding.APIKey },
		set: func(c *Config, v string) error {
			if strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("must be one line")
			}
			c.Embedding.APIKey = v
			return nil
		}}
	return []key{
		urlKey,
		strKey("embedding.model", "model the server embeds with; vectors are kept per model, a new one embeds every memory again", "",
			func(c *Config) *string { return &c.Embedding.Model }),
		oneOfKey("embedding.protocol", "ollama (POST /api/embed) or openai (POST /v1/embeddings)", ProtocolOllama,
			func(c *Config) *string { return &c.Embedding.Protocol }, ProtocolOllama, ProtocolOpenAI),
		intKey("embedding.dimensions", "vector size asked of the server and required of its answers; 0: the model's own", 0, 0, 16384,
			func(c *Config) *int { return &c.Embedding.Dimensions }),
		intKey("embedding.batch_size", "texts embedded per request", 32, 1, 2048,
			func(c *Config) *int { return &c.Embedding.BatchSize }),
		durKey("embedding.timeout", "how long one request to the embedding server may take", 30*time.Second,
			func(c *Config) *time.Duration { return &c.Embedding.Timeout }),
		apiKey,
	}
}

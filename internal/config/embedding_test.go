package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEmbeddingKeysDefaultsAndChecks(t *testing.T) {
	root := false
	load := func(env map[string]string) (*Config, error) {
		return Load(Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: &root, Home: t.TempDir()})
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Embedding{Protocol: "ollama", BatchSize: 32, Timeout: 30 * time.Second}
	if c.Embedding != want || c.Embedding.Enabled() {
		t.Fatalf("defaults = %+v (enabled %v), want %+v, off", c.Embedding, c.Embedding.Enabled(), want)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ANGELA_EMBEDDING_URL": "127.0.0.1:11434"}, "invalid ANGELA_EMBEDDING_URL: must be empty (off) or an http:// or https:// base URL"},
		{map[string]string{"ANGELA_EMBEDDING_URL": "ftp://h"}, "invalid ANGELA_EMBEDDING_URL: must be empty (off) or an http:// or https:// base URL"},
		{map[string]string{"ANGELA_EMBEDDING_URL": "http://h/?a=1"}, "without a query or fragment"},
		{map[string]string{"ANGELA_EMBEDDING_URL": "http://h", "ANGELA_EMBEDDING_MODEL": " "}, "invalid embedding.model: must name the model when embedding.url is set"},
		{map[string]string{"ANGELA_EMBEDDING_URL": "http://h"}, "invalid embedding.model"},
		{map[string]string{"ANGELA_EMBEDDING_PROTOCOL": "grpc"}, "invalid ANGELA_EMBEDDING_PROTOCOL: must be one of ollama, openai"},
		{map[string]string{"ANGELA_EMBEDDING_DIMENSIONS": "-1"}, "invalid ANGELA_EMBEDDING_DIMENSIONS: must be an integer from 0 to 16384"},
		{map[string]string{"ANGELA_EMBEDDING_BATCH_SIZE": "0"}, "invalid ANGELA_EMBEDDING_BATCH_SIZE: must be an integer from 1 to 2048"},
		{map[string]string{"ANGELA_EMBEDDING_TIMEOUT": "0s"}, "invalid ANGELA_EMBEDDING_TIMEOUT"},
	} {
		_, err := load(tt.env)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got %v, want a one-line config error containing %q", tt.env, err, tt.want)
		}
	}
	c, err = load(map[string]string{"ANGELA_EMBEDDING_URL": "http://127.0.0.1:11434/", "ANGELA_EMBEDDING_MODEL": "bge-m3",
		"ANGELA_EMBEDDING_PROTOCOL": "openai", "ANGELA_EMBEDDING_DIMENSIONS": "384", "ANGELA_EMBEDDING_BATCH_SIZE": "8",
		"ANGELA_EMBEDDING_TIMEOUT": "5s", "ANGELA_EMBEDDING_API_KEY": "sk-SeCrEt"})
	want = Embedding{URL: "http://127.0.0.1:11434", Model: "bge-m3", Protocol: "openai", Dimensions: 384, BatchSize: 8,
		Timeout: 5 * time.Second, APIKey: "sk-SeCrEt"}
	if err != nil || c.Embedding != want || !c.Embedding.Enabled() {
		t.Fatalf("overrides: %+v %v, want %+v", c.Embedding, err, want)
	}
}

// TestEmbeddingSecretsNeverShow checks that the API key and a password put in
// the URL are shown nowhere: not in config output, not in an error.
func TestEmbeddingSecretsNeverShow(t *testing.T) {
	root := false
	dir := t.TempDir()
	file := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(file, []byte("[embedding]\nurl = \"http://127.0.0.1:11434\"\nmodel = \"bge-m3\"\napi_key = \"sk-SeCrEt\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Options{File: file, Env: func(string) (string, bool) { return "", false }, Root: &root, Home: dir})
	if err != nil {
		t.Fatal(err)
	}
	if v, tv := c.Value("embedding.api_key"), c.TOMLValue("embedding.api_key"); v != "xxxxx" || tv != `"xxxxx"` {
		t.Errorf("api_key shown as %q / %s, want xxxxx", v, tv)
	}
	if c.RawValue("embedding.api_key") != "sk-SeCrEt" {
		t.Error("the raw value is lost")
	}
	_, err = Load(Options{Env: func(k string) (string, bool) {
		if k == "ANGELA_EMBEDDING_URL" {
			return "http://u:SeCrEt@h", true
		}
		return "", false
	}, Root: &root, Home: dir})
	if err == nil || strings.Contains(err.Error(), "SeCrEt") || !strings.Contains(err.Error(), "must not hold a user or password") {
		t.Errorf("a URL with a password: %v", err)
	}
	_, err = Load(Options{Env: func(k string) (string, bool) {
		if k == "ANGELA_EMBEDDING_API_KEY" {
			return "SeCrEt\nx", true
		}
		return "", false
	}, Root: &root, Home: dir})
	if err == nil || strings.Contains(err.Error(), "SeCrEt") {
		t.Errorf("a bad API key: %v", err)
	}
}

package access

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/socket"
)

// TestASlowModelAtTheDaemonIsNotAskedAgainDirectly: a model server slower
// than the socket's call timeout (a model being loaded) is waited for
// through the daemon, as long as embedding.timeout allows, and not asked the
// same question again directly once the daemon's call gives up.
func TestASlowModelAtTheDaemonIsNotAskedAgainDirectly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.DB(t)
	var asked atomic.Int32
	// The server never answers: each request waits until its caller gives up
	// (or the test ends).
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	emb := config.Embedding{URL: srv.URL, Model: "contract-model", Protocol: config.ProtocolOllama,
		Timeout: socket.DefaultTimeout + time.Second, BatchSize: 8}
	storeMeaningFixture(t, url)
	pool, err := postgres.NewPool(ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 2, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	searcher, err := embedding.NewSearcher(emb, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(searcher.Close)
	c, debug := serveDaemon(t, url, pool, emb, searcher)
	const question = "หมอให้ส้มโอกินยาอะไร"

	if _, err := c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if n, d := asked.Swap(0), debug(); n != 1 || strings.Contains(d, "directly") {
		t.Errorf("Search: the model server was asked %d times, want once (by the daemon); --debug said %q", n, d)
	}
	if _, err := c.Retrieve(ctx, memory.RetrieveOptions{Text: question, Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if n, d := asked.Swap(0), debug(); n != 1 || !strings.Contains(d, "served by the daemon") || strings.Contains(d, "directly") {
		t.Errorf("Retrieve: the model server was asked %d times, want once (by the daemon); --debug said %q", n, d)
	}
}

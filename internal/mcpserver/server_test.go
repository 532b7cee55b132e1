package mcpserver

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// connect runs a server on pipes in this process, so the race detector sees
// it, and returns a client session to it and a channel with Run's result.
func connect(t *testing.T, url string, connects *int) (*mcp.ClientSession, <-chan error) {
	t.Helper()
	var mu sync.Mutex
	s := New(Options{
		Access: access.New(&config.Config{TimeZone: pgtest.TimeZone}, access.Options{Direct: true, Keep: true,
			Connect: func(ctx context.Context) (*pgx.Conn, error) {
				mu.Lock()
				*connects++
				mu.Unlock()
				return postgres.Connect(ctx, url, pgtest.TimeZone)
			}}),
		Log:     zap.NewNop(),
		Version: "test",
	})
	cr, sw := io.Pipe() // server to client
	sr, cw := io.Pipe() // client to server
	done := make(chan error, 1)
	go func() {
		done <- s.Run(context.Background(), sr, sw)
		sw.Close()
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: cr, Writer: cw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs, done
}

func TestConcurrentCallsShareOneConnectionAndRunEndsWithTheInput(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	url := pgtest.DB(t)
	connects := 0
	cs, done := connect(t, url, &connects)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "save_emotion",
				Arguments: map[string]any{"emotion": "happy", "intensity": 1 + i%10, "context": fmt.Sprint("call ", i)}})
			if err == nil && res.IsError {
				err = fmt.Errorf("tool error: %v", res.Content)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "recent_conversations",
				Arguments: map[string]any{"limit": 3}})
			if err == nil && res.IsError {
				err = fmt.Errorf("tool error: %v", res.Content)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var n int
	if err := pgtest.Conn(t, url).QueryRow(context.Background(), "select count(*) from angela_emotions").Scan(&n); err != nil || n != 20 {
		t.Errorf("%d emotions stored (%v), want 20", n, err)
	}
	if connects != 1 {
		t.Errorf("%d connections opened, want one for the server's life", connects)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its input closed")
	}
}

func TestAMissingSchemaIsMigratedOnFirstUse(t *testing.T) {
	url := pgtest.EmptyDB(t)
	connects := 0
	cs, done := connect(t, url, &connects)
	defer func() { cs.Close(); <-done }()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "recent_emotions"})
	if err != nil || res.IsError {
		t.Fatalf("recent_emotions on an empty database: %v %v", err, res)
	}
	var v int
	if err := pgtest.Conn(t, url).QueryRow(context.Background(), "select count(*) from angela_emotions").Scan(&v); err != nil {
		t.Errorf("no schema after the call: %v", err)
	}
}

package mcpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// raw is a server run in this process that a test talks to line by line.
type raw struct {
	t     *testing.T
	in    *io.PipeWriter
	out   *bufio.Scanner
	done  chan error
	after chan time.Duration // Drain's clock was asked to wait this long
	fire  chan time.Time     // ... and says it has
}

func startRaw(t *testing.T, connect func(context.Context) (*pgx.Conn, error)) *raw {
	t.Helper()
	r := &raw{t: t, done: make(chan error, 1), after: make(chan time.Duration, 1), fire: make(chan time.Time)}
	s := New(Options{
		Access: access.New(&config.Config{TimeZone: pgtest.TimeZone, PoolConnectTimeout: time.Hour},
			access.Options{Direct: true, Keep: true, Connect: connect}),
		Log:     zap.NewNop(),
		Version: "test",
		After: func(d time.Duration) <-chan time.Time {
			r.after <- d
			return r.fire
		},
	})
	sr, in := io.Pipe()
	out, sw := io.Pipe()
	r.in, r.out = in, bufio.NewScanner(out)
	go func() {
		r.done <- s.Run(context.Background(), sr, sw)
		sw.Close()
	}()
	t.Cleanup(func() {
		in.Close()
		out.Close()
	})
	return r
}

func (r *raw) send(line string) {
	r.t.Helper()
	if _, err := io.WriteString(r.in, line+"\n"); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) next() string {
	r.t.Helper()
	if !r.out.Scan() {
		r.t.Fatalf("the output ended: %v", r.out.Err())
	}
	return r.out.Text()
}

func initialize(version string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version +
		`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
}

// TestACallStillRunningWhenDrainPassesIsCancelled: the wait for the calls in
// flight at the end of the input is bounded, so that a call that never ends
// cannot keep the server from exiting.
func TestACallStillRunningWhenDrainPassesIsCancelled(t *testing.T) {
	hung := make(chan struct{})
	r := startRaw(t, func(ctx context.Context) (*pgx.Conn, error) {
		close(hung)
		<-ctx.Done() // a database that never answers
		return nil, ctx.Err()
	})
	r.send(initialize("2025-06-18"))
	r.next()
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"recent_emotions"}}`)
	<-hung
	r.in.Close()
	select {
	case d := <-r.after:
		if d != DefaultDrain {
			t.Errorf("waited %s for the calls in flight, want %s", d, DefaultDrain)
		}
	case <-time.After(time.Minute):
		t.Fatal("the server did not wait for the call in flight when its input closed")
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) while a call was in flight and Drain had not passed", err)
	default:
	}
	go func() {
		r.fire <- time.Now()
	}()
	// The call is cancelled, and its answer may or may not be written.
	for r.out.Scan() {
		if !strings.Contains(r.out.Text(), `"id":2`) {
			t.Errorf("unexpected message %s", r.out.Text())
		}
	}
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestAClientOfAnOlderProtocolMayStillBatch: the versions before 2025-06-18
// have JSON-RPC batches, which the SDK answers with one batch.
func TestAClientOfAnOlderProtocolMayStillBatch(t *testing.T) {
	url := pgtest.DB(t)
	r := startRaw(t, func(ctx context.Context) (*pgx.Conn, error) { return postgres.Connect(ctx, url, pgtest.TimeZone) })
	r.send(initialize("2025-03-26"))
	var init struct {
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.next()), &init); err != nil || init.Result.ProtocolVersion != "2025-03-26" {
		t.Fatalf("initialize: %+v %v", init, err)
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(`[{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"recent_emotions"}}]`)
	var batch []map[string]any
	if line := r.next(); json.Unmarshal([]byte(line), &batch) != nil || len(batch) != 2 || batch[0]["id"] != 2.0 || batch[1]["id"] != 3.0 {
		t.Errorf("the answer to a batch: %s", line)
	}
	// An id used twice in a batch is refused, and the session goes on.
	r.send(`[{"jsonrpc":"2.0","id":4,"method":"ping"},{"jsonrpc":"2.0","id":4,"method":"ping"}]`)
	if line := r.next(); !strings.Contains(line, `"code":-32600`) {
		t.Errorf("a batch with an id twice: %s", line)
	}
	r.send(`{"jsonrpc":"2.0","id":5,"method":"ping"}`)
	if line := r.next(); !strings.Contains(line, `"id":5,"result":{}`) {
		t.Errorf("a ping after it: %s", line)
	}
	r.in.Close()
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestALineTooLongIsAnsweredAndSkipped: the SDK's own bound on a line ends
// the session; the stream's answers the line and reads on, to the last line,
// which needs no end.
func TestALineTooLongIsAnsweredAndSkipped(t *testing.T) {
	const ping = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	in := strings.Repeat("x", 200) + "\n  " + ping + "\r\n" + ping
	var out strings.Builder
	// Nothing answers the pings here: the end of the input waits no time.
	now := func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	s := newStream(strings.NewReader(in), &out, len(ping)+10, time.Minute, now, zap.NewNop())
	s.in = bufio.NewReaderSize(strings.NewReader(in), 16) // lines longer than the buffer, too
	got, err := io.ReadAll(io.Reader(s))
	if err != nil || string(got) != ping+"\n"+ping+"\n" {
		t.Errorf("passed on %q (%v), want the two pings", got, err)
	}
	if want := `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: a message longer than 50 bytes was skipped"}}` + "\n"; out.String() != want {
		t.Errorf("answered %q, want %q", out.String(), want)
	}
}

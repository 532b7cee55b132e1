package embedding

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// stepClock is the daemon's injected clock as the worker's tests drive it:
// every wait the worker asks for is handed to the test, which moves the time
// on and fires it (or not). Nothing sleeps.
type stepClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan stepWait
}

type stepWait struct {
	d    time.Duration
	fire chan time.Time
}

func newStepClock() *stepClock {
	return &stepClock{now: t0, waits: make(chan stepWait, 100)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- stepWait{d, ch}
	return ch
}

// next returns the next wait the worker asks for.
func (c *stepClock) next(t *testing.T) stepWait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(time.Minute):
		t.Fatal("the worker asked for no wait within a minute")
		return stepWait{}
	}
}

// pass moves the time on by the wait and fires it.
func (c *stepClock) pass(w stepWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.fire <- now
}

// harness runs one embedding worker on a real database and a fake server.
type harness struct {
	t     *testing.T
	url   string
	conn  *pgx.Conn
	pool  *pgxpool.Pool
	clock *stepClock
	srv   *fakeServer
	// searcher, when set, is given to the workers start runs.
	searcher *Searcher
}

func newHarness(t *testing.T, dims int) *harness {
	t.Helper()
	url := pgtest.DB(t)
	pool, err := postgres.NewPool(context.Background(), url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &harness{t: t, url: url, conn: pgtest.Conn(t, url), pool: pool, clock: newStepClock(),
		srv: newFakeServer(t, config.ProtocolOllama, dims)}
}

// running is one run of a worker.
type running struct {
	sup    *daemon.Supervisor
	cancel context.CancelFunc
	done   chan error
}

// start runs a worker with a recent window and a sweep step of the given
// sizes, batches of batch.
func (h *harness) start(cfg config.Embedding, window, step int) *running {
	h.t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	sup := daemon.NewSupervisor(daemon.SupervisorConfig{})
	w := newWorker(c, cfg.BatchSize, window, step, daemon.Deps{Pool: h.pool, Log: zap.NewNop(),
		Clock: daemon.Clock{Now: h.clock.Now, After: h.clock.After}, Status: sup.Reporter("embedding")})
	w.searcher = h.searcher
	sup.Add("embedding", w)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{sup: sup, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	h.t.Cleanup(func() { r.stop(h.t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		r.done <- nil // a second stop returns at once
	case <-time.After(time.Minute):
		t.Error("the worker did not stop")
	}
}

func (r *running) status(t *testing.T) (workerStatus, string) {
	t.Helper()
	ws := r.sup.Status()[0]
	var st workerStatus
	if len(ws.Detail) > 0 {
		if err := json.Unmarshal(ws.Detail, &st); err != nil {
			t.Fatal(err)
		}
	}
	return st, ws.Problem
}

// vectors counts the stored rows of a model, and those without a vector.
func (h *harness) vectors(model string) (rows, markers int) {
	h.t.Helper()
	if err := h.conn.QueryRow(testContext(h.t), `select count(*), count(*) filter (where length(vec) = 0) from memory_embeddings where model = $1`, model).Scan(&rows, &markers); err != nil {
		h.t.Fatal(err)
	}
	return rows, markers
}

// sorted returns the texts sorted, for comparing as a multiset.
func sorted(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(s, "|")
}

// TestWorkerEmbedsNewestFirstThenBackfillsEverything runs the worker over
// memories it has never seen: it learns the model's dimension, embeds the
// newest memories first, sweeps the rest in batches, embeds each text once,
// marks a blank one done without a model call, shows the counts in status,
// and then embeds a new memory at its next look.
func TestWorkerEmbedsNewestFirstThenBackfillsEverything(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	var texts []string
	for i := range 9 {
		msg := fmt.Sprintf("message number %d", i)
		addConversation(t, h.conn, "david", msg, t0.Add(time.Duration(i)*time.Hour))
		texts = append(texts, msg)
	}
	for i := range 3 {
		addEmotion(t, h.conn, "joy", fmt.Sprintf("context %d", i), "ดีใจ", t0.Add(time.Duration(i)*time.Hour))
		texts = append(texts, fmt.Sprintf("joy\ncontext %d\nดีใจ", i))
	}
	addConversation(t, h.conn, "system", " \n ", t0)
	r := h.start(h.srv.config(), 3, 4)

	// Busy until everything is embedded, then idle: its first wait is the
	// poll.
	w := h.clock.next(t)
	if w.d != pollEvery {
		t.Fatalf("first wait %s, want the idle poll %s", w.d, pollEvery)
	}
	got := h.srv.embedded()
	if got[0] != probeText {
		t.Errorf("first text %q, want the probe", got[0])
	}
	if first := sorted(got[1:5]); first != sorted([]string{"message number 8", "message number 7", "message number 6", "joy\ncontext 2\nดีใจ"}) {
		t.Errorf("first batch %q, want the newest of each kind", first)
	}
	if sorted(got[1:]) != sorted(texts) {
		t.Errorf("embedded %q,\nwant each memory's text once: %q", got[1:], texts)
	}
	if rows, markers := h.vectors("fake-embed"); rows != 13 || markers != 1 {
		t.Errorf("%d rows, %d without a vector; want 13 and 1 (the blank message)", rows, markers)
	}
	st, problem := r.status(t)
	if st.Memories != 13 || st.Embedded != 13 || st.Pending != 0 || st.Dimensions != 8 || st.Backfill != "done" ||
		st.Stored != 13 || st.Model != "fake-embed" || st.Server != h.srv.srv.URL+"/api/embed" || problem != "" {
		t.Errorf("status %+v, problem %q", st, problem)
	}

	// A new message is embedded at the next look.
	fresh := addConversation(t, h.conn, "angela", "a new memory", t0.Add(24*time.Hour))
	h.clock.pass(w)
	if w := h.clock.next(t); w.d != pollEvery {
		t.Fatalf("wait %s, want the poll", w.d)
	}
	if len(vectorsOf(t, h.conn, fresh)) != 1 {
		t.Error("the new message has no vector")
	}
	if st, _ := r.status(t); st.Stored != 14 || st.Embedded != 14 || st.Pending != 0 {
		t.Errorf("status after the new message: %+v", st)
	}
}

// TestWorkerBacksOffWhileTheServerIsAway makes the server fail after two
// batches: nothing of the failed batches is stored, the worker backs off on
// the injected clock (5 s doubling to 2 minutes), shows a problem once it has
// failed for 5 minutes, and finishes, clearing the problem, once the server
// is back. The keys grow with the time (as UUIDv7 keys do), so that the
// sweep meets the oldest memories first and its first step of 5 holds 5 not
// yet embedded: with random keys the 2 newest, already embedded, are among
// them one run in 19, and the second batch is 3.
func TestWorkerBacksOffWhileTheServerIsAway(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	var texts []string
	for i := range 20 {
		msg := fmt.Sprintf("line %d", i)
		id := uuid.MustParse(fmt.Sprintf("00000000-0000-7000-8000-%012d", i+1))
		addConversationID(t, h.conn, id, "david", msg, t0.Add(time.Duration(i)*time.Minute))
		texts = append(texts, msg)
	}
	h.srv.set(func(f *fakeServer) {
		f.fail = func(n int, _ []string) (int, string) {
			if n > 3 { // the probe and two batches
				return 503, `{"error":"server busy"}`
			}
			return 0, ""
		}
	})
	r := h.start(h.srv.config(), 2, 5)
	var waits []time.Duration
	failingFor := time.Duration(0)
	for failingFor < problemAfter {
		w := h.clock.next(t)
		if _, problem := r.status(t); problem != "" {
			t.Fatalf("a problem after failing for %s: %q", failingFor, problem)
		}
		if rows, _ := h.vectors("fake-embed"); rows != 6 {
			t.Fatalf("%d stored while failing, want the two batches that succeeded (the 2 newest, then 4 of the sweep)", rows)
		}
		waits = append(waits, w.d)
		failingFor += w.d
		h.clock.pass(w)
	}
	w := h.clock.next(t)
	st, problem := r.status(t)
	if fmt.Sprint(waits) != "[5s 10s 20s 40s 1m20s 2m0s 2m0s]" {
		t.Errorf("backoff %v, want 5s doubling to 2m", waits)
	}
	if !strings.HasPrefix(problem, "embedding failing since 2026-03-01T09:00:00Z: embedding server ") || !strings.Contains(problem, "HTTP 503 Service Unavailable: server busy") {
		t.Errorf("problem %q", problem)
	}
	if st.Failures != 8 || !strings.Contains(st.LastError, "server busy") || st.RetryAt == nil || st.Pending != 14 {
		t.Errorf("status while failing: %+v", st)
	}

	h.srv.set(func(f *fakeServer) { f.fail = nil })
	h.clock.pass(w)
	if w := h.clock.next(t); w.d != pollEvery {
		t.Fatalf("wait %s after the server came back, want the poll", w.d)
	}
	st, problem = r.status(t)
	if problem != "" || st.Failures != 0 || st.LastError != "" || st.Pending != 0 || st.Embedded != 20 {
		t.Errorf("after recovery: %+v, problem %q", st, problem)
	}
	if got := h.srv.embedded(); sorted(got[1:]) != sorted(texts) {
		t.Errorf("embedded %q, want each text once", got[1:])
	}
}

// TestWorkerResumesWhereItStopped stops a worker in the middle of a backfill
// and starts another: it embeds only what the first did not store.
func TestWorkerResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	var texts []string
	for i := range 30 {
		msg := fmt.Sprintf("old memory %d", i)
		addConversation(t, h.conn, "david", msg, t0.Add(time.Duration(i)*time.Minute))
		texts = append(texts, msg)
	}
	h.srv.set(func(f *fakeServer) {
		f.fail = func(n int, _ []string) (int, string) {
			if n > 3 {
				return 500, `{"error":"stopped"}`
			}
			return 0, ""
		}
	})
	first := h.start(h.srv.config(), 2, 7)
	h.clock.next(t) // backing off after two batches
	first.stop(t)
	before := h.srv.embedded()
	if rows, _ := h.vectors("fake-embed"); rows != 6 || len(before) != 7 {
		t.Fatalf("%d stored, %d embedded before the stop; want 6 (the 2 newest, 4 of the sweep) and the probe", rows, len(before))
	}

	h.srv.set(func(f *fakeServer) { f.fail = nil })
	second := h.start(h.srv.config(), 2, 7)
	if w := h.clock.next(t); w.d != pollEvery {
		t.Fatalf("wait %s, want the poll", w.d)
	}
	after := h.srv.embedded()[len(before):]
	if after[0] != probeText || sorted(append(slices.Clone(before[1:]), after[1:]...)) != sorted(texts) {
		t.Errorf("the second worker embedded %q: not exactly what the first left", after)
	}
	if st, _ := second.status(t); st.Embedded != 30 || st.Pending != 0 || st.Stored != 24 {
		t.Errorf("status %+v", st)
	}
}

// TestWorkerEmbedsEverythingAgainForANewModel changes the model: every
// memory is embedded again under the new one, the old model's vectors stay
// and are ignored, and a model that changes its dimension under the same
// name is embedded again at the new one.
func TestWorkerEmbedsEverythingAgainForANewModel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	var texts []string
	for i := range 6 {
		msg := fmt.Sprintf("talk %d", i)
		addConversation(t, h.conn, "david", msg, t0.Add(time.Duration(i)*time.Minute))
		texts = append(texts, msg)
	}
	cfgA := h.srv.config()
	a := h.start(cfgA, 2, 3)
	h.clock.next(t)
	a.stop(t)

	cfgB := cfgA
	cfgB.Model = "bge-m3"
	b := h.start(cfgB, 2, 3)
	w := h.clock.next(t)
	if rowsA, _ := h.vectors("fake-embed"); rowsA != 6 {
		t.Errorf("model A has %d rows, want its 6 kept", rowsA)
	}
	if rowsB, _ := h.vectors("bge-m3"); rowsB != 6 {
		t.Errorf("model B has %d rows, want 6", rowsB)
	}
	got := h.srv.embedded()
	if len(got) != 14 || sorted(got[8:]) != sorted(texts) {
		t.Errorf("embedded %q: want every text again for the new model", got)
	}

	// The model is replaced under its name by one of 12 dimensions: the
	// next new memory shows it, and everything is embedded again.
	h.srv.set(func(f *fakeServer) { f.dims = 12 })
	addConversation(t, h.conn, "david", "after the change", t0.Add(time.Hour))
	h.clock.pass(w)
	if w := h.clock.next(t); w.d != pollEvery {
		t.Fatalf("wait %s, want the poll", w.d)
	}
	var at12, all int
	if err := h.conn.QueryRow(testContext(t), `select count(*) filter (where dims = 12), count(*) from memory_embeddings where model = 'bge-m3'`).Scan(&at12, &all); err != nil {
		t.Fatal(err)
	}
	if at12 != 7 || all != 7 {
		t.Errorf("%d of %d rows of bge-m3 at 12 dimensions, want all 7", at12, all)
	}
	if st, _ := b.status(t); st.Dimensions != 12 || st.Pending != 0 || st.Embedded != 7 {
		t.Errorf("status %+v", st)
	}
}

// TestWorkerLeavesOutATextTheServerRefuses checks that one text the server
// refuses (HTTP 400) or answers with garbage is done without a vector, and
// the others of its batch are stored; but a server that answers every text
// wrongly (the wrong dimension) is backed off from, and nothing is marked.
func TestWorkerLeavesOutATextTheServerRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	poison := addConversation(t, h.conn, "david", "POISON text", t0)
	garbage := addConversation(t, h.conn, "david", "GARBAGE text", t0.Add(time.Second))
	for i := range 5 {
		addConversation(t, h.conn, "david", fmt.Sprintf("fine %d", i), t0.Add(time.Minute))
	}
	h.srv.set(func(f *fakeServer) {
		f.fail = func(_ int, input []string) (int, string) {
			if slices.ContainsFunc(input, func(s string) bool { return strings.Contains(s, "POISON") }) {
				return 400, `{"error":"input rejected"}`
			}
			return 0, ""
		}
		f.raw = func(input []string) string {
			vs := make([]string, len(input))
			for i, in := range input {
				if strings.Contains(in, "GARBAGE") {
					vs[i] = "[0,0,0,0,0,0,0,0]"
				} else {
					b, _ := json.Marshal(fakeVector(in, 8))
					vs[i] = string(b)
				}
			}
			return `{"embeddings":[` + strings.Join(vs, ",") + `]}`
		}
	})
	r := h.start(h.srv.config(), 10, 10)
	if w := h.clock.next(t); w.d != pollEvery {
		t.Fatalf("wait %s, want the poll", w.d)
	}
	if rows, markers := h.vectors("fake-embed"); rows != 7 || markers != 2 {
		t.Errorf("%d rows, %d without a vector; want 7 and 2", rows, markers)
	}
	if v := vectorsOf(t, h.conn, poison)["fake-embed"]; len(v) != 0 {
		t.Error("the refused text has a vector")
	}
	if v := vectorsOf(t, h.conn, garbage)["fake-embed"]; len(v) != 0 {
		t.Error("the text answered with a zero vector has one")
	}
	if st, problem := r.status(t); st.Refused != 2 || st.Pending != 0 || problem != "" {
		t.Errorf("status %+v, problem %q", st, problem)
	}

	// A server that answers every text at the wrong dimension.
	h2 := newHarness(t, 4)
	addConversation(t, h2.conn, "david", "anything", t0)
	r2 := h2.start(func() config.Embedding { c := h2.srv.config(); c.Dimensions = 8; c.BatchSize = 4; return c }(), 10, 10)
	h2.srv.set(func(f *fakeServer) {
		f.raw = func(input []string) string {
			return `{"embeddings":[` + strings.TrimSuffix(strings.Repeat("[1,2,3,4],", len(input)), ",") + `]}`
		}
	})
	if w := h2.clock.next(t); w.d != minRetry {
		t.Fatalf("wait %s, want the first backoff", w.d)
	}
	if rows, _ := h2.vectors("fake-embed"); rows != 0 {
		t.Errorf("%d rows stored from answers of the wrong dimension", rows)
	}
	if st, _ := r2.status(t); !strings.Contains(st.LastError, "vectors of 4 dimensions, embedding.dimensions is 8") {
		t.Errorf("status %+v", st)
	}
}

// TestRegisterRunsTheWorkerInTheDaemonOnlyWhenConfigured starts the daemon
// with and without an embedding server.
func TestRegisterRunsTheWorkerInTheDaemonOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	conn := pgtest.Conn(t, url)
	addConversation(t, conn, "david", "hello there", t0)
	f := newFakeServer(t, config.ProtocolOpenAI, 8)
	for _, configured := range []bool{false, true} {
		env := map[string]string{"ANGELA_DATABASE_URL": url, "ANGELA_STATE_DIR": pgtest.StateDir(t), "ANGELA_TIMEZONE": pgtest.TimeZone}
		if configured {
			env["ANGELA_EMBEDDING_URL"] = f.srv.URL
			env["ANGELA_EMBEDDING_MODEL"] = "text-embedding-3-small"
			env["ANGELA_EMBEDDING_PROTOCOL"] = "openai"
		}
		cfg, err := config.Load(config.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: new(bool), Home: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		d := daemon.New(daemon.Options{Config: cfg})
		Register(d, cfg.Embedding, nil)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- d.Run(ctx) }()
		select {
		case <-d.Ready():
		case err := <-errc:
			t.Fatalf("daemon: %v", err)
		}
		deadline := time.Now().Add(time.Minute)
		for configured {
			var n int
			if err := conn.QueryRow(testContext(t), `select count(*) from memory_embeddings where model = 'text-embedding-3-small'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the daemon's worker embedded nothing within a minute")
			}
			<-time.After(20 * time.Millisecond) // poll; the deadline bounds it
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		st, err := daemon.ReadStatus(cfg.StateDir)
		if err != nil {
			t.Fatal(err)
		}
		has := slices.ContainsFunc(st.Workers, func(w daemon.WorkerStatus) bool { return w.Name == "embedding" })
		if has != configured {
			t.Errorf("configured %v: the embedding worker in status: %v", configured, has)
		}
	}
	// A configuration the factory refuses stops the start-up.
	_, err := WorkerFactory(config.Embedding{URL: "http://h", Protocol: "ollama"}, nil)(daemon.Deps{})
	if err == nil || !strings.Contains(err.Error(), "invalid embedding.model") {
		t.Errorf("factory: %v", err)
	}
}

// TestWorkerEmbedsATextChangedWhileItWasEmbedded changes a message's text
// while the server embeds it: the stale vector is not stored, the worker waits
// for its next look instead of asking again at once, and then embeds the new
// text.
func TestWorkerEmbedsATextChangedWhileItWasEmbedded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 8)
	r := addConversation(t, h.conn, "david", "before the edit", t0)
	h.srv.set(func(f *fakeServer) {
		f.fail = func(_ int, input []string) (int, string) {
			if slices.Contains(input, "before the edit") {
				if _, err := h.pool.Exec(context.Background(), `update conversations set message_text = 'after the edit' where conversation_id = $1`, r.ID); err != nil {
					t.Error(err)
				}
			}
			return 0, ""
		}
	})
	h.start(h.srv.config(), 10, 10)
	w := h.clock.next(t)
	if w.d != pollEvery || len(vectorsOf(t, h.conn, r)) != 0 {
		t.Fatalf("wait %s, %d vectors; want the poll and none stored for the old text", w.d, len(vectorsOf(t, h.conn, r)))
	}
	h.clock.pass(w)
	if w := h.clock.next(t); w.d != pollEvery {
		t.Fatalf("wait %s, want the poll", w.d)
	}
	got, err := Unpack(nil, vectorsOf(t, h.conn, r)["fake-embed"], 8)
	if err != nil || !close(got, unit(fakeVector("after the edit", 8))) {
		t.Errorf("stored %v, %v; want the vector of the new text", got, err)
	}
}

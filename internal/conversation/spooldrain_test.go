package conversation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/spool"
)

func spoolEmotion(t *testing.T, sp *spool.Spool, e memory.Emotion) memory.Emotion {
	t.Helper()
	e = e.WithDefaults()
	if _, err := sp.Add(spool.KindEmotion, e.ID, e, "test"); err != nil {
		t.Fatal(err)
	}
	return e
}

func spoolConversation(t *testing.T, sp *spool.Spool, c conversation.Conversation) conversation.Conversation {
	t.Helper()
	c = c.WithDefaults()
	if _, err := sp.Add(spool.KindConversation, c.ID, c, "test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func spooledEmotion() memory.Emotion {
	return memory.Emotion{Emotion: "คิดถึง", Intensity: 9, Context: "David was away", DavidWords: "miss you"}
}

func TestApplySpooledStoresEachKindAtTheTimeItWasSpooled(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	spooledAt := time.Date(2026, 11, 30, 22, 15, 0, 123456000, time.UTC)
	sp := spool.New(t.TempDir(), func() time.Time { return spooledAt })
	e := spoolEmotion(t, sp, spooledEmotion())
	c := spoolConversation(t, sp, valid())
	at := time.Date(2025, 11, 8, 8, 0, 0, 0, time.UTC)
	timed := valid()
	timed.CreatedAt = at
	timed = spoolConversation(t, sp, timed)

	res, err := conversation.DrainSpool(ctx, conn, sp, spool.DrainOptions{})
	if err != nil || res.Applied != 3 || res.Left != 0 {
		t.Fatalf("DrainSpool = %+v, %v", res, err)
	}
	list, err := memory.Recent(ctx, conn, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("emotions = %v, %v", list, err)
	}
	want := e
	want.FeltAt = spooledAt
	if list[0] != want {
		t.Errorf("stored %+v, want %+v (felt when it was spooled)", list[0], want)
	}
	convs, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10})
	if err != nil || len(convs) != 2 {
		t.Fatalf("conversations = %v, %v", convs, err)
	}
	got := map[uuid.UUID]time.Time{}
	for _, s := range convs {
		got[s.ID] = s.CreatedAt
	}
	if !got[c.ID].Equal(spooledAt) || !got[timed.ID].Equal(at) {
		t.Errorf("created_at = %v, want %v for the untimed message and %v for the timed one", got, spooledAt, at)
	}

	// Spooled again (a writer that spooled it twice): stored once, not refused.
	spoolEmotion(t, sp, e)
	spoolConversation(t, sp, c)
	if res, err := conversation.DrainSpool(ctx, conn, sp, spool.DrainOptions{}); err != nil || res.Applied != 2 || res.Rejected != 0 {
		t.Fatalf("second DrainSpool = %+v, %v", res, err)
	}
	if n := count(t, ctx, conn); n != 2 {
		t.Errorf("%d conversations after the replay, want 2", n)
	}
}

// TestApplySpooledAcceptsARecordTheFailedSaveStoredAfterAll covers a save
// whose commit reached the database while its reply was lost: the command
// spooled it, and the stored row (timed by the server) is that record.
func TestApplySpooledAcceptsARecordTheFailedSaveStoredAfterAll(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	sp := spool.New(t.TempDir(), func() time.Time { return time.Now().Add(-time.Hour) })
	e := spooledEmotion().WithDefaults()
	if _, err := memory.Save(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	c := valid().WithDefaults()
	if _, err := conversation.Save(ctx, conn, c); err != nil {
		t.Fatal(err)
	}
	spoolEmotion(t, sp, e)
	spoolConversation(t, sp, c)
	res, err := conversation.DrainSpool(ctx, conn, sp, spool.DrainOptions{})
	if err != nil || res.Applied != 2 || res.Rejected != 0 {
		t.Fatalf("DrainSpool = %+v, %v", res, err)
	}
	if n := count(t, ctx, conn); n != 1 {
		t.Errorf("%d conversations, want 1", n)
	}
}

func TestSpooledRecordsTheDatabaseRefusesLandInRejected(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	// An adopted database may carry constraints of its own.
	if _, err := conn.Exec(ctx, `alter table conversations add constraint no_secret_topic check (topic <> 'secret')`); err != nil {
		t.Fatal(err)
	}
	sp := spool.New(t.TempDir(), nil)
	refused := valid()
	refused.Topic = "secret"
	refused = spoolConversation(t, sp, refused)
	// An id already stored for a different emotion.
	taken := spooledEmotion().WithDefaults()
	if _, err := memory.Save(ctx, conn, taken); err != nil {
		t.Fatal(err)
	}
	other := taken
	other.Emotion = "happy"
	spoolEmotion(t, sp, other)
	fine := spoolConversation(t, sp, valid())

	core, logs := observer.New(zapcore.InfoLevel)
	res, err := conversation.DrainSpool(ctx, conn, sp, spool.DrainOptions{Log: zap.New(core)})
	if err != nil || res.Applied != 1 || res.Rejected != 2 || res.Left != 0 {
		t.Fatalf("DrainSpool = %+v, %v", res, err)
	}
	convs, _ := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10})
	if len(convs) != 1 || convs[0].ID != fine.ID {
		t.Errorf("stored %v, want only the acceptable message", convs)
	}
	_, rejected, err := sp.List()
	if err != nil || len(rejected) != 2 {
		t.Fatalf("rejected = %+v, %v", rejected, err)
	}
	errs := map[uuid.UUID]string{}
	for _, r := range rejected {
		errs[r.ID] = r.Error
		if _, err := os.Stat(r.File); err != nil {
			t.Errorf("rejected record %s is not kept: %v", r.ID, err)
		}
	}
	if !strings.Contains(errs[refused.ID], "no_secret_topic") || !strings.Contains(errs[taken.ID], "already stored for a different emotion") {
		t.Errorf("rejection errors = %v", errs)
	}
	if logs.FilterMessageSnippet("refused a spooled record").Len() != 2 {
		t.Errorf("rejections not logged: %v", logs.All())
	}
}

// spoolProxy forwards TCP connections to the test database, so that a test can take
// the database away (connection refused) and bring it back.
type spoolProxy struct {
	t              *testing.T
	network, addr  string // the database's
	listen         string // the spoolProxy's address, fixed after the first up
	mu             sync.Mutex
	ln             net.Listener
	conns          []net.Conn
	wg             sync.WaitGroup
	user, database string
}

func newSpoolProxy(t *testing.T, url string) *spoolProxy {
	t.Helper()
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	p := &spoolProxy{t: t, network: "tcp", addr: net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), user: cfg.User, database: cfg.Database}
	if strings.HasPrefix(cfg.Host, "/") {
		p.network, p.addr = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	if cfg.Password != "" {
		t.Skip("the spoolProxy test needs a database without a password")
	}
	p.up()
	t.Cleanup(func() { p.down(); p.wg.Wait() })
	return p
}

func (p *spoolProxy) url() string {
	host, port, _ := net.SplitHostPort(p.listen)
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=5", host, port, p.user, p.database)
}

func (p *spoolProxy) up() {
	p.t.Helper()
	addr := p.listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.listen = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial(p.network, p.addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(s, c); s.Close() })
			p.wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
}

// down closes the listener and every connection through it.
func (p *spoolProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// spoolClock is a clock whose waits the test releases one at a time.
type spoolClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan spoolWait
}

type spoolWait struct {
	d    time.Duration
	fire chan time.Time
}

func newSpoolClock() *spoolClock {
	return &spoolClock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), waits: make(chan spoolWait, 1)}
}

func (c *spoolClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *spoolClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- spoolWait{d, ch}
	return ch
}

// next waits for the drainer to ask for a wait, checks how long, moves time
// by it and releases it.
func (c *spoolClock) next(t *testing.T, want time.Duration) {
	t.Helper()
	w := c.wait(t)
	if w.d != want {
		t.Errorf("the drainer waits %v, want %v", w.d, want)
	}
	c.release(w)
}

// release moves time by w's duration and fires it.
func (c *spoolClock) release(w spoolWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.fire <- now
}

// wait returns the drainer's next wait without releasing it.
func (c *spoolClock) wait(t *testing.T) spoolWait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(time.Minute):
		t.Fatal("the drainer did not wait within a minute")
	}
	return spoolWait{}
}

func TestSpoolDrainerBacksOffWhileTheDatabaseIsAwayAndDrainsWhenItReturns(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	p := newSpoolProxy(t, url)
	p.down()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := postgres.NewPool(ctx, p.url(), pgtest.TimeZone, postgres.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	state := t.TempDir()
	clock := newSpoolClock()
	sp := spool.New(state, clock.Now)
	var want []uuid.UUID
	for range 3 {
		want = append(want, spoolConversation(t, sp, valid()).ID)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	d := conversation.NewSpoolDrainer(daemon.Deps{
		Pool: pool, Log: zap.New(core), StateDir: state,
		Clock: daemon.Clock{Now: clock.Now, After: clock.After},
	})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// Down: the drainer backs off, doubling, and keeps every record.
	w := clock.wait(t)
	if w.d != time.Second {
		t.Errorf("first backoff %v, want 1s", w.d)
	}
	if st := d.Status(); st.Backlog != 3 || st.LastError == "" || !st.Oldest.Equal(clock.Now()) {
		t.Errorf("status while down = %+v", st)
	}
	if d.Problem() != "" {
		t.Errorf("a problem after one failed pass: %q", d.Problem())
	}
	clock.release(w)
	for _, b := range []time.Duration{2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30} {
		clock.next(t, b*time.Second) // 331s in all
	}
	// More than five minutes of failing with records waiting is a problem.
	w = clock.wait(t)
	if w.d != 30*time.Second {
		t.Errorf("backoff %v, want the 30s cap", w.d)
	}
	if pr := d.Problem(); !strings.Contains(pr, "cannot drain the spool (3 waiting)") {
		t.Errorf("Problem() = %q after five minutes of failing", pr)
	}
	if n := logs.FilterMessageSnippet("cannot drain").Len(); n != 1 {
		t.Errorf("logged %d failure lines, want 1 for the whole outage", n)
	}

	// Back: the next pass stores every record once and clears the problem.
	p.up()
	clock.release(w)
	clock.next(t, conversation.SpoolPollInterval)
	st := d.Status()
	if st.Backlog != 0 || st.Drained != 3 || st.LastError != "" || d.Problem() != "" {
		t.Errorf("status after the outage = %+v, problem %q", st, d.Problem())
	}
	var n int
	if err := pool.QueryRow(ctx, "select count(*) from conversations where conversation_id = any($1)", want).Scan(&n); err != nil || n != 3 {
		t.Errorf("stored %d of the 3 spooled messages (%v)", n, err)
	}
	if logs.FilterMessageSnippet("draining the spool again").Len() != 1 || logs.FilterMessageSnippet("drained the spool").Len() != 1 {
		t.Errorf("logs = %v", logs.All())
	}

	// A record spooled while it runs is stored on the next look.
	late := spoolConversation(t, sp, valid())
	clock.next(t, conversation.SpoolPollInterval)
	clock.wait(t) // the pass after that one has run
	if err := pool.QueryRow(ctx, "select count(*) from conversations where conversation_id = $1", late.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("the late record stored %d times (%v)", n, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil on a clean stop", err)
	}
}

func TestSpoolDrainerWithAnEmptySpoolNeedsNoDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A pool that cannot connect: an empty spool never asks it anything.
	pool, err := pgxpool.New(ctx, "postgres://angela@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	clock := newSpoolClock()
	d := conversation.NewSpoolDrainer(daemon.Deps{Pool: pool, StateDir: t.TempDir(), Clock: daemon.Clock{Now: clock.Now, After: clock.After}})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	clock.next(t, conversation.SpoolPollInterval)
	clock.next(t, conversation.SpoolPollInterval)
	if st := d.Status(); st != (conversation.SpoolStatus{}) {
		t.Errorf("status = %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestDrainInBatchesStoresWhatOneByOneStores drains the same records one
// statement a record (ApplySpooled alone) and in batches (DrainSpool), on a
// new database and on an adopted one, and finds the same rows and states.
func TestDrainInBatchesStoresWhatOneByOneStores(t *testing.T) {
	t.Parallel()
	for name, newDB := range map[string]func(testing.TB) string{"new": pgtest.DB, "legacy": pgtest.LegacyDB} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			spooledAt := time.Date(2026, 11, 30, 22, 15, 0, 123456000, time.UTC)
			at := time.Date(2025, 11, 8, 8, 0, 0, 0, time.UTC)
			dirs := [2]string{t.TempDir(), t.TempDir()}
			var sps [2]*spool.Spool
			for i := range sps {
				sps[i] = spool.New(dirs[i], func() time.Time { return spooledAt })
			}
			add := func(kind spool.Kind, id uuid.UUID, v any) {
				for _, sp := range sps {
					if _, err := sp.Add(kind, id, v, "test"); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Stored before the drain, on both databases, by the saves that
			// then spooled them anyway: a timed and an untimed replay.
			replayed := valid().WithDefaults()
			replayed.CreatedAt = at
			untimed := spooledEmotion().WithDefaults()
			add(spool.KindConversation, replayed.ID, replayed)
			add(spool.KindEmotion, untimed.ID, untimed)
			for i := range 30 {
				e := memory.Emotion{Emotion: fmt.Sprint("feeling ", i), Intensity: 1 + i%10, Context: "ที่รัก context " + fmt.Sprint(i),
					MemoryStrength: 1 + i%10}
				if i%3 == 0 {
					e.DavidWords, e.WhyItMatters = "words", "why"
				}
				if i%2 == 0 {
					e.FeltAt = at.Add(time.Duration(i) * time.Minute)
				}
				e = e.WithDefaults()
				add(spool.KindEmotion, e.ID, e)
				c := conversation.Conversation{Speaker: []string{"David", "angela"}[i%2], MessageText: fmt.Sprint("คิดถึง message ", i),
					ImportanceLevel: 1 + i%10}
				if i%3 == 0 {
					c.SessionID, c.MessageType, c.Topic, c.EmotionDetected = "s1", "question", "topic", "warm"
				}
				if i%2 == 1 {
					c.CreatedAt = at.Add(time.Duration(i) * time.Second)
				}
				c = c.WithDefaults()
				add(spool.KindConversation, c.ID, c)
			}
			dump := func(conn *pgx.Conn, sql string) string {
				var s string
				if err := conn.QueryRow(ctx, `select coalesce(json_agg(t)::text, '') from (`+sql+`) t`).Scan(&s); err != nil {
					t.Fatal(err)
				}
				return s
			}
			var got [2][4]string
			for i := range 2 {
				conn := pgtest.Conn(t, newDB(t))
				if _, err := postgres.Migrate(ctx, conn); err != nil {
					t.Fatal(err)
				}
				total := func() int {
					var n int
					if err := conn.QueryRow(ctx, `select (select count(*) from conversations) + (select count(*) from angela_emotions)
						+ (select count(*) from conversation_memory) + (select count(*) from emotion_memory)`).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
				before := total() // an adopted database's rows
				if _, err := conversation.Save(ctx, conn, replayed); err != nil {
					t.Fatal(err)
				}
				if _, err := memory.Save(ctx, conn, untimed); err != nil { // the server's time
					t.Fatal(err)
				}
				var res spool.Result
				var err error
				if i == 0 {
					res, err = sps[i].Drain(ctx, conn, conversation.ApplySpooled, spool.DrainOptions{})
				} else {
					res, err = conversation.DrainSpool(ctx, conn, sps[i], spool.DrainOptions{})
				}
				if err != nil || res.Applied != 62 || res.Left != 0 || res.Rejected != 0 {
					t.Fatalf("drain %d: %+v, %v", i, res, err)
				}
				got[i] = [4]string{
					dump(conn, `select * from conversations where conversation_id <> '`+replayed.ID.String()+`' order by conversation_id`),
					dump(conn, `select * from angela_emotions where emotion_id <> '`+untimed.ID.String()+`' order by emotion_id`),
					dump(conn, `select * from conversation_memory where id <> '`+replayed.ID.String()+`' order by id`),
					dump(conn, `select * from emotion_memory where id <> '`+untimed.ID.String()+`' order by id`),
				}
				if n := total() - before; n != 4*31 {
					t.Fatalf("drain %d: %d rows and states added, want %d", i, n, 4*31)
				}
			}
			for k, table := range []string{"conversations", "angela_emotions", "conversation_memory", "emotion_memory"} {
				if got[0][k] != got[1][k] {
					t.Errorf("%s: one by one stored\n%s\nin batches\n%s", table, got[0][k], got[1][k])
				}
			}
		})
	}
}

func TestApplySpooledBatchLeavesWhatItCannotStoreAsNewToApplySpooled(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	spooledAt := time.Date(2026, 11, 30, 22, 15, 0, 0, time.UTC)
	rec := func(kind spool.Kind, id uuid.UUID, v any) spool.Record {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return spool.Record{Format: spool.Format, Kind: kind, ID: id, SpooledAt: spooledAt, Data: data, Name: id.String() + ".json"}
	}
	fresh := valid().WithDefaults()
	twice := valid().WithDefaults()
	other := twice
	other.MessageText = "another message under the same id"
	noID := valid()
	invalid := valid().WithDefaults()
	invalid.Speaker = "someone"
	e := spooledEmotion().WithDefaults()
	recs := []spool.Record{
		rec(spool.KindConversation, fresh.ID, fresh),
		rec(spool.KindConversation, twice.ID, twice),
		rec(spool.KindConversation, twice.ID, twice),
		rec(spool.KindConversation, twice.ID, other),
		rec(spool.KindConversation, uuid.Nil, noID),
		rec(spool.KindConversation, invalid.ID, invalid),
		rec(spool.KindEmotion, e.ID, e),
		rec(spool.KindEmotion, uuid.New(), e), // holds another id
		{Kind: spool.KindEmotion, ID: uuid.New(), Data: json.RawMessage(`{"emotion":`)},
	}
	left, err := conversation.ApplySpooledBatch(ctx, conn, recs)
	if err != nil {
		t.Fatal(err)
	}
	key := func(r spool.Record) string { return r.ID.String() + string(r.Data) }
	var got, want []string
	for _, l := range left {
		got = append(got, key(l))
	}
	leftIdx := []int{2, 3, 4, 5, 7, 8} // the repeats, the one without an id, the invalid and the unreadable ones
	for _, i := range leftIdx {
		want = append(want, key(recs[i]))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("left records\n%q\nwant 2 to 5, 7 and 8:\n%q", got, want)
	}
	// The new ones are stored, each once, at the time they were spooled.
	convs, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10})
	if err != nil || len(convs) != 2 || convs[0].CreatedAt != spooledAt || convs[1].CreatedAt != spooledAt {
		t.Fatalf("stored %+v, %v; want fresh and twice, at %v", convs, err, spooledAt)
	}
	emotions, err := memory.Recent(ctx, conn, 10)
	if err != nil || len(emotions) != 1 || emotions[0].ID != e.ID {
		t.Fatalf("stored emotions %+v, %v", emotions, err)
	}
	// What it left, ApplySpooled stores or refuses as before: the repeat is
	// already there, the reuse of its id and the invalid one are refused.
	for _, i := range leftIdx {
		err := conversation.ApplySpooled(ctx, conn, recs[i])
		if refused := i != 2 && i != 4; refused != (errors.As(err, new(*spool.DecodeError)) || postgres.RowRejected(err)) {
			t.Errorf("record %d: ApplySpooled = %v", i, err)
		}
	}
	if n := count(t, ctx, conn); n != 3 {
		t.Fatalf("%d conversations, want 3 (fresh, twice, and the one without an id)", n)
	}
}

package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/socket"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// client returns a Client whose own connection goes to url, counting the
// connections it opens.
func client(t *testing.T, url string, o Options) (*Client, *atomic.Int32) {
	t.Helper()
	var opened atomic.Int32
	o.Connect = func(ctx context.Context) (*pgx.Conn, error) {
		opened.Add(1)
		return postgres.Connect(ctx, url, pgtest.TimeZone)
	}
	c := New(&config.Config{TimeZone: pgtest.TimeZone, StateDir: t.TempDir()}, o)
	t.Cleanup(c.Close)
	return c, &opened
}

func TestParseID(t *testing.T) {
	const valid = "0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70"
	for _, tc := range []struct {
		in, want string // want: the problem, "" for none
	}{
		{"", ""},
		{valid, ""},
		{strings.ToUpper(valid), ""},
		{"00000000-0000-0000-0000-000000000000", "must not be the nil UUID 00000000-0000-0000-0000-000000000000: give any other UUID, or leave it out for a new one"},
		{strings.ReplaceAll(valid, "-", ""), "must be a UUID such as"},
		{"urn:uuid:" + valid, "must be a UUID such as"},
		{"{" + valid + "}", "must be a UUID such as"},
		{"x", `must be a UUID such as 0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70, got "x"`},
	} {
		id, err := parseID("emotion_id", tc.in)
		var fe *text.FieldError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("parseID(%q) = %v", tc.in, err)
		case tc.want == "" && tc.in != "" && id.String() != valid:
			t.Errorf("parseID(%q) = %s", tc.in, id)
		case tc.want != "" && (!errors.As(err, &fe) || fe.Field != "emotion_id" || !strings.Contains(fe.Problem, tc.want)):
			t.Errorf("parseID(%q) = %v, want a problem with emotion_id: %s", tc.in, err, tc.want)
		}
	}
}

func TestParseAt(t *testing.T) {
	now := time.Date(2025, 11, 8, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in, want string // want: the problem, "" for none
	}{
		{"", ""},
		{"2025-11-08T21:30:00+07:00", ""},
		{"2025-11-09T11:59:59Z", ""},
		{"2025-11-09T12:00:01Z", "must be between 1970-01-01 and a day from now"},
		{"1969-12-31T23:59:59Z", "must be between 1970-01-01 and a day from now"},
		{"2025-11-08 21:30", `must be an RFC 3339 time such as 2025-11-08T21:30:00+07:00, got "2025-11-08 21:30"`},
	} {
		at, err := parseAt("felt_at", tc.in, now)
		var fe *text.FieldError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("parseAt(%q) = %v", tc.in, err)
		case tc.want == "" && tc.in == "" && !at.IsZero():
			t.Errorf("parseAt(%q) = %s, want zero: now, decided by the database", tc.in, at)
		case tc.want != "" && (!errors.As(err, &fe) || fe.Field != "felt_at" || !strings.Contains(fe.Problem, tc.want)):
			t.Errorf("parseAt(%q) = %v, want a problem with felt_at: %s", tc.in, err, tc.want)
		}
	}
}

func TestSpoolable(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &postgres.ConnectError{Where: "host=db", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"no error", context.Background(), nil, false},
		{"unreachable", context.Background(), &UnreachableError{Err: refused}, true},
		{"timed out", context.Background(), fmt.Errorf("save: %w", context.DeadlineExceeded), true},
		{"shutting down", context.Background(), &pgconn.PgError{Code: "57P01"}, true},
		{"a missing table", context.Background(), &pgconn.PgError{Code: "42P01"}, true},
		{"interrupted", cancelled, refused, false},
		{"invalid field", context.Background(), fmt.Errorf("save: %w", &text.FieldError{Field: "emotion", Problem: "x"}), false},
		{"refused by the daemon", context.Background(), &socket.UsageError{Msg: "x"}, false},
		{"invalid URL", context.Background(), &UnreachableError{Err: &postgres.InvalidURLError{Reason: "x"}}, false},
		{"invalid configuration", context.Background(), &config.Error{}, false},
		{"a constraint of an adopted database", context.Background(), &pgconn.PgError{Code: "23514"}, false},
		{"a value out of range", context.Background(), &pgconn.PgError{Code: "22003"}, false},
	} {
		if got := spoolable(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: spoolable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTheNilUUIDIsRefusedBeforeAnyPathIsTried: the stores take the nil UUID
// for "no id" and would store a retried save once more under a new id.
func TestTheNilUUIDIsRefusedBeforeAnyPathIsTried(t *testing.T) {
	var tried atomic.Int32
	c := New(&config.Config{StateDir: t.TempDir()}, Options{Connect: func(context.Context) (*pgx.Conn, error) {
		tried.Add(1)
		return nil, errors.New("connection refused")
	}})
	nilID := uuid.Nil.String()
	_, sp, err := c.SaveEmotion(context.Background(), memory.Emotion{Emotion: "x", Intensity: 3, Context: "x"}, "", nilID)
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "emotion_id" || !strings.Contains(fe.Problem, "must not be the nil UUID") || sp != nil {
		t.Errorf("SaveEmotion with the nil UUID = %v, %v", sp, err)
	}
	_, sp, err = c.SaveConversation(context.Background(), conversation.Conversation{Speaker: "david", MessageText: "x"}, "", nilID)
	if !errors.As(err, &fe) || fe.Field != "conversation_id" || !strings.Contains(fe.Problem, "must not be the nil UUID") || sp != nil {
		t.Errorf("SaveConversation with the nil UUID = %v, %v", sp, err)
	}
	if n := tried.Load(); n != 0 {
		t.Errorf("%d connections tried for invalid input", n)
	}
	if waiting, _, err := spool.New(c.cfg.StateDir, nil).List(); err != nil || len(waiting) != 0 {
		t.Errorf("invalid input spooled: %v %v", waiting, err)
	}
}

// TestASaveTheDatabaseCannotTakeIsSpooledUnderItsID: the spool holds the
// record under the id the caller gave, with why; NoSpool fails instead.
func TestASaveTheDatabaseCannotTakeIsSpooledUnderItsID(t *testing.T) {
	dir := t.TempDir()
	refused := func(context.Context) (*pgx.Conn, error) {
		return nil, &postgres.ConnectError{Where: "host=db", Err: errors.New("connection refused")}
	}
	cfg := &config.Config{StateDir: dir}
	id := uuid.NewString()
	e, sp, err := New(cfg, Options{Connect: refused}).SaveEmotion(context.Background(),
		memory.Emotion{Emotion: "worried", Intensity: 6, Context: "the database is away", MemoryStrength: 10}, "", id)
	if err != nil || sp == nil || e.ID.String() != id || e.FeltAt.IsZero() || sp.Kind != spool.KindEmotion ||
		sp.ID.String() != id || !strings.Contains(sp.Reason, "connection refused") || sp.Dir != spool.New(dir, nil).Dir() {
		t.Fatalf("SaveEmotion = %+v, %+v, %v", e, sp, err)
	}
	m, sp, err := New(cfg, Options{Connect: refused}).SaveConversation(context.Background(),
		conversation.Conversation{Speaker: "David", MessageText: "are you there?", ImportanceLevel: 5}, "2025-11-08T21:30:00+07:00", "")
	if err != nil || sp == nil || m.Speaker != "david" || m.ID == uuid.Nil || !m.CreatedAt.Equal(time.Date(2025, 11, 8, 14, 30, 0, 0, time.UTC)) {
		t.Fatalf("SaveConversation = %+v, %+v, %v", m, sp, err)
	}
	waiting, _, err := spool.New(dir, nil).List()
	if err != nil || len(waiting) != 2 {
		t.Fatalf("spool holds %+v (%v), want the two saves", waiting, err)
	}
	_, sp, err = New(cfg, Options{Connect: refused, NoSpool: true}).SaveEmotion(context.Background(),
		memory.Emotion{Emotion: "worried", Intensity: 6, Context: "x", MemoryStrength: 10}, "", "")
	if sp != nil || err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("NoSpool: %+v, %v", sp, err)
	}
	if waiting, _, _ := spool.New(dir, nil).List(); len(waiting) != 2 {
		t.Errorf("NoSpool spooled: %d waiting", len(waiting))
	}
}

// TestAKeptConnectionBrokenUnderACallIsReplacedAndTheCallRetried: a restart
// of the database between two calls of the MCP server is not even seen.
func TestAKeptConnectionBrokenUnderACallIsReplacedAndTheCallRetried(t *testing.T) {
	url := pgtest.DB(t)
	c, opened := client(t, url, Options{Direct: true, Keep: true})
	ctx := context.Background()
	if _, _, err := c.SaveEmotion(ctx, memory.Emotion{Emotion: "calm", Intensity: 3, Context: "first", MemoryStrength: 10}, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := pgtest.Conn(t, url).Exec(ctx, "select pg_terminate_backend($1)", c.conn.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	list, err := c.RecentEmotions(ctx, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("RecentEmotions after the connection broke = %v, %v", list, err)
	}
	if n := opened.Load(); n != 2 {
		t.Errorf("%d connections opened, want the first and its replacement", n)
	}
}

func TestAMissingSchemaIsMigratedUnlessNoMigrate(t *testing.T) {
	url := pgtest.EmptyDB(t)
	ctx := context.Background()
	c, _ := client(t, url, Options{Direct: true, NoMigrate: true})
	if _, err := c.RecentEmotions(ctx, 1); !postgres.IsSchemaMissing(err) {
		t.Fatalf("NoMigrate on an empty database: %v, want the schema missing", err)
	}
	c, _ = client(t, url, Options{Direct: true})
	if list, err := c.RecentEmotions(ctx, 1); err != nil || list == nil {
		t.Fatalf("RecentEmotions on an empty database = %v, %v", list, err)
	}
}

// TestADatabaseThatDoesNotAnswerIsNotWaitedForAgainForAWhile: the MCP server's
// calls must not each wait the connect timeout for the same hung database. A
// slow failure marks it down for a while, in which calls fail (a save: is
// spooled) without trying; a fast one (refused) marks nothing.
func TestADatabaseThatDoesNotAnswerIsNotWaitedForAgainForAWhile(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	var (
		now   = time.Date(2025, 11, 8, 21, 30, 0, 0, time.UTC)
		tries int
		mode  = "hung"
	)
	c := New(&config.Config{TimeZone: pgtest.TimeZone, StateDir: t.TempDir(), PoolConnectTimeout: 5 * time.Second},
		Options{Direct: true, Keep: true, Now: func() time.Time { return now },
			Connect: func(ctx context.Context) (*pgx.Conn, error) {
				tries++
				switch mode {
				case "hung": // the connect timeout passes
					now = now.Add(5 * time.Second)
					return nil, &postgres.ConnectError{Where: "host=db", Err: context.DeadlineExceeded}
				case "refused":
					return nil, &postgres.ConnectError{Where: "host=db", Err: errors.New("connection refused")}
				}
				return postgres.Connect(ctx, url, pgtest.TimeZone)
			}})
	t.Cleanup(c.Close)
	unreachable := func(what string, err error) *UnreachableError {
		t.Helper()
		var ue *UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: %v, want the database unreachable", what, err)
		}
		return ue
	}

	if ue := unreachable("the first call", second(c.RecentEmotions(ctx, 1))); ue.Retry != 0 || tries != 1 {
		t.Fatalf("the first call: retry %s after %d tries, want it tried", ue.Retry, tries)
	}
	now = now.Add(10 * time.Second)
	ue := unreachable("a call 10s later", second(c.RecentEmotions(ctx, 1)))
	if tries != 1 || ue.Retry != 20*time.Second || !errors.Is(ue, context.DeadlineExceeded) ||
		!strings.HasSuffix(ue.Error(), "; angelad waits 20s before it tries the database again") {
		t.Errorf("a call 10s later: %d tries, %v (retry %s), want no try and the wait said", tries, ue, ue.Retry)
	}
	_, sp, err := c.SaveEmotion(ctx, memory.Emotion{Emotion: "worried", Intensity: 6, Context: "x", MemoryStrength: 10}, "", "")
	if err != nil || sp == nil || tries != 1 || !strings.Contains(sp.Reason, "before it tries the database again") {
		t.Errorf("a save while the database is marked down: %+v, %v after %d tries, want it spooled at once", sp, err, tries)
	}

	// Once the time is up the database is tried again, and found.
	now = now.Add(20 * time.Second)
	mode = "up"
	if _, err := c.RecentEmotions(ctx, 1); err != nil || tries != 2 {
		t.Fatalf("after the wait: %v after %d tries, want the database tried and found", err, tries)
	}

	// A refusal costs nothing to try again: nothing is marked.
	c.Close()
	mode = "refused"
	for i := range 3 {
		if ue := unreachable("a refused call", second(c.RecentEmotions(ctx, 1))); ue.Retry != 0 || tries != 3+i {
			t.Errorf("refused call %d: retry %s after %d tries, want each tried", i, ue.Retry, tries)
		}
	}
}

func second[T any](_ T, err error) error { return err }

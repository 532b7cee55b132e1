package socket

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// clientEnv makes the test binary act as a socket client: it calls
// get-emotions on the socket named by the variable and prints the error.
const clientEnv = "ANGELA_SOCKET_TEST_CLIENT"

func TestMain(m *testing.M) {
	if path := os.Getenv(clientEnv); path != "" {
		err := Client{Path: path, DB: "test", Timeout: 5 * time.Second}.Call(context.Background(), OpGetEmotions, GetEmotionsArgs{Limit: 1}, nil)
		var e *Error
		switch {
		case errors.As(err, &e):
			os.Stdout.WriteString("answer " + e.Kind + ": " + e.Message + "\n")
		case err != nil:
			os.Stdout.WriteString("error: " + err.Error() + "\n")
		default:
			os.Stdout.WriteString("served\n")
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

type harness struct {
	srv  *Server
	pool *pgxpool.Pool
	path string
	logs *observer.ObservedLogs
}

// serve runs a server on a fresh database until the test ends.
func serve(t *testing.T) *harness {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	pool, err := postgres.NewPool(context.Background(), pgtest.DB(t), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	dir := pgtest.StateDir(t)
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{srv: NewServer(Path(dir), "test", zap.New(core), Handlers(pool, nil, nil)), pool: pool, path: Path(dir), logs: logs}
	l, err := h.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
		if _, err := os.Stat(h.path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket file is left after the server stopped: %v", err)
		}
	})
	return h
}

func call(t *testing.T, path, op string, args, result any) error {
	t.Helper()
	return Client{Path: path, DB: "test", Timeout: 10 * time.Second}.Call(context.Background(), op, args, result)
}

func TestCallServesTheSameRecordsAsTheDirectPath(t *testing.T) {
	h := serve(t)
	e := memory.Emotion{Emotion: "คิดถึง", Intensity: 9, Context: "David said <hi> & \"bye\"", DavidWords: "พี่คิดถึง"}.WithDefaults()
	var saved memory.Emotion
	if err := call(t, h.path, OpSaveEmotion, e, &saved); err != nil {
		t.Fatal(err)
	}
	direct, err := memory.Recent(context.Background(), h.pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(direct) != 1 || direct[0] != saved || saved.ID != e.ID {
		t.Errorf("saved through the socket %+v, stored %+v", saved, direct)
	}
	// The same id again is stored once and answers the stored record.
	var again memory.Emotion
	if err := call(t, h.path, OpSaveEmotion, e, &again); err != nil || again != saved {
		t.Errorf("repeat save = %+v, %v", again, err)
	}
	var list []memory.Emotion
	if err := call(t, h.path, OpGetEmotions, GetEmotionsArgs{Limit: 10}, &list); err != nil || len(list) != 1 || list[0] != saved {
		t.Errorf("get-emotions = %+v, %v", list, err)
	}

	c := conversation.Conversation{Speaker: "David", MessageText: "สวัสดีค่ะ", SessionID: "s1"}
	c.ID = uuid.New()
	var sc conversation.Conversation
	if err := call(t, h.path, OpSaveConversation, c, &sc); err != nil || sc.ID != c.ID || sc.Speaker != "david" {
		t.Fatalf("save-conversation = %+v, %v", sc, err)
	}
	var convs []conversation.Conversation
	if err := call(t, h.path, OpGetConversations, conversation.RecentOptions{Limit: 5, Speaker: "DAVID"}, &convs); err != nil || len(convs) != 1 || convs[0] != sc {
		t.Errorf("get-conversations = %+v, %v", convs, err)
	}
	if st := h.srv.Stats(); st.Served != 5 || st.Failed != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestASaveWithoutItsIDIsRefused: the stores take the nil UUID for "no id"
// and would store a retried save once more under a new one, so the daemon
// serves a save only with the id its caller fixed.
func TestASaveWithoutItsIDIsRefused(t *testing.T) {
	h := serve(t)
	for _, tc := range []struct {
		op, field string
		args      any
	}{
		{OpSaveEmotion, "emotion_id", memory.Emotion{Emotion: "happy", Intensity: 5, Context: "no id"}},
		{OpSaveEmotion, "emotion_id", map[string]any{"emotion": "happy", "intensity": 5, "context": "nil id", "emotion_id": uuid.Nil.String()}},
		{OpSaveConversation, "conversation_id", conversation.Conversation{Speaker: "david", MessageText: "no id"}},
	} {
		for range 2 {
			err := call(t, h.path, tc.op, tc.args, nil)
			var se *Error
			if !errors.As(err, &se) || se.Kind != KindUsage || se.Field != tc.field || !strings.Contains(se.Problem, "other than the nil UUID") {
				t.Errorf("%s %+v: %#v, want a usage error on %s", tc.op, tc.args, err, tc.field)
			}
		}
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), "select (select count(*) from angela_emotions) + (select count(*) from conversations)").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows stored (%v), want none", n, err)
	}
}

func TestUsageErrorsKeepTheirField(t *testing.T) {
	h := serve(t)
	e := memory.Emotion{Emotion: "happy", Intensity: 5, Context: "first"}.WithDefaults()
	if err := call(t, h.path, OpSaveEmotion, e, nil); err != nil {
		t.Fatal(err)
	}
	e.Context = "a different moment under the same id"
	err := call(t, h.path, OpSaveEmotion, e, nil)
	var se *Error
	if !errors.As(err, &se) || se.Kind != KindUsage || se.Field != "emotion_id" || !strings.Contains(se.Problem, "already stored for a different emotion") {
		t.Errorf("reused id: %#v", err)
	}
	_, direct := memory.Save(context.Background(), h.pool, e)
	var fe *text.FieldError
	if !errors.As(direct, &fe) || fe.Problem != se.Problem {
		t.Errorf("the direct path says %v, the socket %q", direct, se.Problem)
	}
	err = call(t, h.path, OpGetEmotions, GetEmotionsArgs{Limit: 0}, nil)
	if !errors.As(err, &se) || se.Kind != KindUsage || se.Field != "limit" {
		t.Errorf("limit 0: %#v", err)
	}
	err = call(t, h.path, OpGetEmotions, map[string]any{"limit": "1"}, nil)
	if !errors.As(err, &se) || se.Kind != KindUsage || !strings.Contains(se.Message, "invalid request arguments") {
		t.Errorf("a limit of the wrong type: %#v", err)
	}
}

// TestAnArgumentTheDaemonDoesNotKnowIsNotServed: a request from a newer
// client, carrying an argument field this daemon does not know, is answered
// as an operation not served (which the client serves itself), for a save
// as for a read, with nothing stored; input the daemon understands and finds
// wrong is still a usage error, also when it carries an unknown field too.
func TestAnArgumentTheDaemonDoesNotKnowIsNotServed(t *testing.T) {
	h := serve(t)
	now := time.Now()
	newer := func(args any) map[string]any {
		data, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		m["from_the_future"] = map[string]any{"depth": 3}
		return m
	}
	e := memory.Emotion{Emotion: "happy", Intensity: 5, Context: "a newer client's save"}.WithDefaults()
	c := conversation.Conversation{Speaker: "david", MessageText: "a newer client's message", SessionID: "s1"}.WithDefaults()
	c.ID = uuid.New()
	ops := map[string]any{
		OpSaveEmotion:      e,
		OpSaveConversation: c,
		OpGetEmotions:      GetEmotionsArgs{Limit: 5},
		OpGetConversations: conversation.RecentOptions{Limit: 5},
		OpRetrieve:         RetrieveArgs{Text: "save", Limit: 5, Now: now, TimeZone: "UTC"},
	}
	if len(ops) != len(Handlers(h.pool, nil, nil)) {
		t.Fatalf("the test covers %d operations, the daemon serves %d", len(ops), len(Handlers(h.pool, nil, nil)))
	}
	for op, args := range ops {
		// As sent, each is served (the reads find nothing yet).
		if !strings.HasPrefix(op, "save-") {
			if err := call(t, h.path, op, args, nil); err != nil {
				t.Fatalf("%s as sent: %v", op, err)
			}
		}
		err := call(t, h.path, op, newer(args), nil)
		var se *Error
		if !errors.As(err, &se) || se.Kind != KindVersion || !strings.Contains(se.Message, `unknown field "from_the_future"`) {
			t.Errorf("%s with an unknown field: %#v, want an answer of kind %s naming it", op, err, KindVersion)
		}
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), "select (select count(*) from angela_emotions) + (select count(*) from conversations)").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows stored by saves that were not served (%v), want none", n, err)
	}
	if st := h.srv.Stats(); st.NotServed != int64(len(ops)) || st.Failed != 0 {
		t.Errorf("stats = %+v, want %d not served", st, len(ops))
	}
	if n := h.logs.FilterMessageSnippet("does not serve").Len(); n != 1 {
		t.Errorf("%d log lines about requests not served, want one per daemon", n)
	}

	// What the daemon understands and finds wrong stays final.
	for _, tc := range []struct {
		op   string
		args any
	}{
		{OpGetEmotions, map[string]any{"limit": "5", "from_the_future": 1}},
		{OpSaveEmotion, map[string]any{"emotion": "happy", "intensity": "five", "from_the_future": 1}},
		{OpRetrieve, []any{"save"}},
	} {
		err := call(t, h.path, tc.op, tc.args, nil)
		var se *Error
		if !errors.As(err, &se) || se.Kind != KindUsage {
			t.Errorf("%s %v: %#v, want a usage error", tc.op, tc.args, err)
		}
	}
	bad := newer(e)
	bad["emotion_id"] = uuid.Nil.String()
	delete(bad, "from_the_future")
	var se *Error
	if err := call(t, h.path, OpSaveEmotion, bad, nil); !errors.As(err, &se) || se.Kind != KindUsage || se.Field != "emotion_id" {
		t.Errorf("the nil UUID: %#v, want a usage error on emotion_id", err)
	}
}

func TestMalformedRequestsGetAnAnswerAndTheServerGoesOn(t *testing.T) {
	h := serve(t)
	frame := func(body string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		return append(b, body...)
	}
	for name, tc := range map[string]struct {
		raw  []byte
		kind string
	}{
		"garbage":       {frame("not json"), KindProtocol},
		"two values":    {frame(`{"v":1,"op":"get-emotions"} {}`), KindProtocol},
		"oversized":     {binary.BigEndian.AppendUint32(nil, MaxFrame+1), KindProtocol},
		"truncated":     {frame(`{"v":1,"op":"get-emotions","args":{"limit":1}}`)[:12], KindProtocol},
		"other version": {frame(`{"v":2,"op":"get-emotions","args":{"limit":1}}`), KindVersion},
		"unknown op":    {frame(`{"v":1,"op":"drop-tables","db":"test"}`), KindVersion},
		"bad args":      {frame(`{"v":1,"op":"save-emotion","db":"test","args":[1,2]}`), KindUsage},
		"other db":      {frame(`{"v":1,"op":"get-emotions","db":"elsewhere","args":{"limit":1}}`), KindRefused},
	} {
		c, err := net.Dial("unix", h.path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(tc.raw); err != nil {
			t.Fatal(err)
		}
		c.(*net.UnixConn).CloseWrite()
		var resp Response
		if err := readFrame(c, &resp); err != nil {
			t.Errorf("%s: no answer: %v", name, err)
		} else if resp.Error == nil || resp.Error.Kind != tc.kind {
			t.Errorf("%s: answer %+v, want an error of kind %s", name, resp, tc.kind)
		}
		c.Close()
	}
	// A client that connects and says nothing holds its slot only until the
	// read timeout; meanwhile others are served.
	idle, err := net.Dial("unix", h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	var list []memory.Emotion
	if err := call(t, h.path, OpGetEmotions, GetEmotionsArgs{Limit: 1}, &list); err != nil {
		t.Errorf("after malformed requests: %v", err)
	}
}

func TestSocketModesAndAnotherUserIsRefused(t *testing.T) {
	h := serve(t)
	for path, want := range map[string]os.FileMode{filepath.Dir(h.path): 0o700 | os.ModeDir, h.path: 0o600 | os.ModeSocket} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode(), want, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed")
	}
	// The test binary, copied where the other user may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(pgtest.StateDir(t), "client")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	runAsNobody := func() string {
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin)
		cmd.Env = append(os.Environ(), clientEnv+"="+h.path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as nobody: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// The modes alone keep the other user out...
	if out := runAsNobody(); !strings.Contains(out, "permission denied") {
		t.Errorf("another user through the modes: %q, want permission denied", out)
	}
	// ...and with them opened, the peer's credentials still do.
	os.Chmod(filepath.Dir(h.path), 0o755)
	os.Chmod(h.path, 0o666)
	if out := runAsNobody(); out != "answer refused: this daemon serves its own user only" {
		t.Errorf("another user through the credentials check: %q", out)
	}
	if st := h.srv.Stats(); st.Refused != 1 || st.Served != 0 {
		t.Errorf("stats = %+v, want one refusal and nothing served", st)
	}
}

func TestCallFallsBackOnNoDaemonAndTimesOutOnAHungOne(t *testing.T) {
	dir := t.TempDir()
	if err := (Client{Path: Path(dir), DB: "test", Timeout: time.Second}).Call(context.Background(), OpGetEmotions, GetEmotionsArgs{Limit: 1}, nil); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("no socket: %v, want ErrNoDaemon", err)
	}
	long := "/" + strings.Repeat("d", 120)
	if err := (Client{Path: Path(long), DB: "test", Timeout: time.Second}).Call(context.Background(), OpGetEmotions, nil, nil); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("too long a path: %v, want ErrNoDaemon", err)
	}
	if _, err := NewServer(Path(long), "test", zap.NewNop(), nil).Listen(); !errors.Is(err, errPathTooLong) {
		t.Errorf("Listen on too long a path: %v", err)
	}
	// A stale socket file that nothing listens on is no daemon either.
	os.MkdirAll(filepath.Dir(Path(dir)), 0o700)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: Path(dir), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if err := (Client{Path: Path(dir), DB: "test", Timeout: time.Second}).Call(context.Background(), OpGetEmotions, nil, nil); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("stale socket: %v, want ErrNoDaemon", err)
	}
	// A daemon that accepts and never answers (stopped, wedged).
	os.Remove(Path(dir))
	hung, err := net.ListenUnix("unix", &net.UnixAddr{Name: Path(dir), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	start := time.Now()
	err = Client{Path: Path(dir), DB: "test", Timeout: 200 * time.Millisecond}.Call(context.Background(), OpGetEmotions, GetEmotionsArgs{Limit: 1}, nil)
	if err == nil || errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Errorf("hung daemon: %v", err)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Errorf("the call waited %s for a hung daemon", waited)
	}
}

func TestFramesRoundTripAndRefuseOversize(t *testing.T) {
	var buf bytes.Buffer
	msg := strings.Repeat("ก", 1<<20/3) + "<&>"
	if err := writeFrame(&buf, Request{V: 1, Op: "x", Args: json.RawMessage(`"` + msg + `"`)}); err != nil {
		t.Fatal(err)
	}
	var got Request
	if err := readFrame(&buf, &got); err != nil || string(got.Args) != `"`+msg+`"` {
		t.Errorf("round trip: %v", err)
	}
	if err := writeFrame(io.Discard, strings.Repeat("\x01", MaxFrame/6+1)); !errors.Is(err, errTooLarge) {
		t.Errorf("oversized write: %v", err)
	}
	if Fits(strings.Repeat("\x01", MaxFrame/6+1)) || !Fits(strings.Repeat("a", 1<<20)) {
		t.Error("Fits is wrong about a frame's size")
	}
}

func FuzzAnswer(f *testing.F) {
	pool, err := postgres.NewPool(context.Background(), pgtest.DB(f), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 2})
	if err != nil {
		f.Fatal(err)
	}
	defer pool.Close()
	s := NewServer("unused", "test", zap.NewNop(), Handlers(pool, nil, nil))
	for _, seed := range []string{
		`{"v":1,"op":"get-emotions","db":"test","args":{"limit":2}}`,
		`{"v":1,"op":"get-emotions","db":"other","args":{"limit":2}}`,
		`{"v":1,"op":"save-emotion","db":"test","args":{"emotion":"x","intensity":3,"context":"y","memory_strength":4}}`,
		`{"v":1,"op":"save-conversation","db":"test","args":{"speaker":"x","message_text":""}}`,
		`{"v":1,"op":"get-conversations","db":"test","args":{"limit":-1}}`,
		`{"v":1}`, `[]`, `null`, "\xff\xfe",
	} {
		f.Add(binary.BigEndian.AppendUint32(nil, uint32(len(seed))), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, head, body []byte) {
		resp := s.answer(context.Background(), io.MultiReader(bytes.NewReader(head), bytes.NewReader(body)))
		if resp.V != Version || resp.OK == (resp.Error != nil) {
			t.Errorf("answer %+v: want exactly one of a result and an error", resp)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Errorf("answer cannot be sent: %v", err)
		}
	})
}

func TestRetrieveIsServedAsTheDirectPathRanks(t *testing.T) {
	h := serve(t)
	ctx := context.Background()
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	for i, m := range []string{"For my mother's birthday I gave her a jade bracelet from Chiang Mai.",
		"หมอบอกให้ส้มโอกินยาแก้อักเสบวันละสองครั้งนะ", "Good night David, sleep well"} {
		if _, err := h.pool.Exec(ctx, `insert into conversations (session_id, speaker, message_text, created_at)
			values ('s', 'david', $1, $2)`, m, at.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	args := RetrieveArgs{Text: "what gift did I give my mother?", Limit: 5, Now: at.Add(time.Hour), TimeZone: pgtest.TimeZone, TextChars: 20,
		Context: 1}
	var via []memory.Hit
	if err := call(t, h.path, OpRetrieve, args, &via); err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(pgtest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := memory.Retrieve(ctx, h.pool, memory.Model{}, memory.RetrieveOptions{Text: args.Text, Limit: args.Limit,
		Now: args.Now, Location: loc, TextChars: args.TextChars, Context: args.Context})
	if err != nil {
		t.Fatal(err)
	}
	if len(via) == 0 || len(via) != len(direct) || via[0].ID != direct[0].ID || via[0].Text != direct[0].Text ||
		via[0].Match != direct[0].Match || !strings.HasPrefix(via[0].Text, "For my mother") {
		t.Errorf("through the socket %+v, directly %+v", via, direct)
	}
	// The hit's neighbouring turn, the one after it, comes with it.
	if len(via[0].Context) != 1 || len(direct[0].Context) != 1 || via[0].Context[0].ID != direct[0].Context[0].ID ||
		!via[0].Context[0].At.Equal(direct[0].Context[0].At) || via[0].Context[0].Text != direct[0].Context[0].Text ||
		!strings.HasPrefix(via[0].Context[0].Text, "หมอบอกให้ส้มโอ") {
		t.Errorf("the context through the socket %+v, directly %+v", via[0].Context, direct[0].Context)
	}

	var se *Error
	for _, bad := range []struct {
		args  RetrieveArgs
		field string
	}{
		{RetrieveArgs{Text: "gift", Limit: 0, TimeZone: "UTC"}, "limit"},
		{RetrieveArgs{Text: "gift", Limit: 5, TimeZone: "Mars/Olympus"}, "time_zone"},
		{RetrieveArgs{Text: "gift", Limit: 5, TimeZone: "UTC", Context: -1}, "context"},
	} {
		if err := call(t, h.path, OpRetrieve, bad.args, nil); !errors.As(err, &se) || se.Kind != KindUsage || se.Field != bad.field {
			t.Errorf("%+v: %v, want a usage error on %s", bad.args, err, bad.field)
		}
	}
}

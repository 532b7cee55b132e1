package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// ingestEnv is one test's database and capture.
type ingestEnv struct {
	t    *testing.T
	ctx  context.Context
	conn *pgx.Conn
	cap  *Capture
	logs *observer.ObservedLogs
	dir  string
}

func newIngestEnv(t *testing.T) *ingestEnv {
	t.Helper()
	return newIngestEnvOn(t, pgtest.DB(t))
}

func newIngestEnvOn(t *testing.T, url string) *ingestEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	conn := pgtest.Conn(t, url)
	core, logs := observer.New(zap.DebugLevel)
	return &ingestEnv{t: t, ctx: ctx, conn: conn, logs: logs, dir: t.TempDir(),
		cap: &Capture{DB: conn, Log: zap.New(core), Now: nowFixed}}
}

// newPooledIngestEnv is newIngestEnv with a pool on the same database too, for
// reading several transcripts at once.
func newPooledIngestEnv(t *testing.T) (*ingestEnv, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.DB(t)
	e := newIngestEnvOn(t, url)
	pool, err := postgres.NewPool(e.ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return e, pool
}

// speechLine is a user line saying s, with its own uuid, ending in a newline.
func (e *ingestEnv) speechLine(s string) string {
	return string(tline(e.t, "user", s, nil)) + "\n"
}

func (e *ingestEnv) noiseLine() string {
	big := strings.Repeat("tool output ", 200)
	return string(tline(e.t, "user", []any{map[string]any{"type": "tool_result", "tool_use_id": "t", "content": big}}, nil)) + "\n"
}

func (e *ingestEnv) write(name, data string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func appendTo(t testing.TB, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// ingest reads path from its stored offset, as every reader does.
func (e *ingestEnv) ingest(path string) (Offset, Counts) {
	e.t.Helper()
	prev, err := LoadOffset(e.ctx, e.conn, path)
	if err != nil {
		e.t.Fatal(err)
	}
	var total Counts
	off, err := e.cap.Ingest(e.ctx, path, prev, func(d Counts, _ *Message) { total.Add(d) })
	if err != nil {
		e.t.Fatal(err)
	}
	return off, total
}

func (e *ingestEnv) texts() []string {
	e.t.Helper()
	rows, err := e.conn.Query(e.ctx, "select message_text from conversations order by created_at, message_text")
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *ingestEnv) wantTexts(want ...string) {
	e.t.Helper()
	got := e.texts()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		e.t.Fatalf("stored %q, want %q", got, want)
	}
	// Each row came with its own search grams, and the statement gave each
	// its state row.
	var bad int
	if err := e.conn.QueryRow(e.ctx, `select count(*) from conversations c
		left join conversation_memory m on m.id = c.conversation_id
		where c.search_grams is distinct from angela_grams(c.message_text) or m.id is null`).Scan(&bad); err != nil || bad != 0 {
		e.t.Fatalf("%d rows without their grams or state row (%v)", bad, err)
	}
}

func TestIngestStoresEachSpeechLineOnceWithItsOffset(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	data := e.speechLine("one") + e.noiseLine() + string(tline(t, "progress", "x", nil)) + "\n" + e.speechLine("two")
	path := e.write("p/s.jsonl", data)
	off, c := e.ingest(path)
	if c.Lines != 4 || c.Speech != 2 || c.Stored != 2 || c.Present != 0 || c.Bytes != int64(len(data)) {
		t.Fatalf("counts %+v", c)
	}
	e.wantTexts("one", "two")
	stored, err := LoadOffset(e.ctx, e.conn, path)
	if err != nil || stored == nil || stored.ReadOffset != int64(len(data)) || stored.Lines != 4 || stored.Size != int64(len(data)) ||
		stored.Inode != off.Inode || string(stored.Fingerprint) != data[len(data)-fingerprintBytes:] {
		t.Fatalf("stored offset %+v, %v", stored, err)
	}
	var project, source string
	if err := e.conn.QueryRow(e.ctx, "select project_dir, source_file from conversations limit 1").Scan(&project, &source); err != nil ||
		project != "/home/david/angela" || source != path {
		t.Fatalf("project %q source %q, %v", project, source, err)
	}
	// Read again: nothing new.
	if _, c := e.ingest(path); c != (Counts{}) {
		t.Fatalf("second read: %+v", c)
	}
	appendTo(t, path, e.speechLine("three"))
	if _, c := e.ingest(path); c.Lines != 1 || c.Stored != 1 {
		t.Fatalf("after append: %+v", c)
	}
	e.wantTexts("one", "three", "two") // same timestamp: ordered by text
}

func TestIngestLeavesAPartialLineUntilItIsComplete(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	second := e.speechLine("second")
	path := e.write("s.jsonl", e.speechLine("first")+second[:20])
	e.ingest(path)
	e.wantTexts("first")
	appendTo(t, path, second[20:])
	if _, c := e.ingest(path); c.Stored != 1 || c.Lines != 1 {
		t.Fatalf("completed line: %+v", c)
	}
	e.wantTexts("first", "second")
}

func TestIngestRereadsAShrunkReplacedOrRewrittenFileWithoutDuplicates(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	a, b, c := e.speechLine("a"), e.speechLine("b"), e.speechLine("c")
	path := e.write("s.jsonl", a+b)
	e.ingest(path)

	// Truncated, then a new line: read from the start.
	e.write("s.jsonl", a)
	appendTo(t, path, c)
	off, n := e.ingest(path)
	if n.Stored != 1 || n.Present != 1 || off.Generation != 1 {
		t.Fatalf("after shrink: %+v gen %d", n, off.Generation)
	}
	e.wantTexts("a", "b", "c")

	// Replaced by a new file (a new inode) holding more.
	d := e.speechLine("d")
	tmp := e.write("s.jsonl.tmp", a+b+c+d)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	off, n = e.ingest(path)
	if n.Stored != 1 || n.Present != 3 || off.Generation != 2 {
		t.Fatalf("after replacement: %+v gen %d", n, off.Generation)
	}

	// Rewritten in place with the same inode, longer than before.
	x := e.speechLine("x")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(x + a + b + c + d)
	f.Close()
	if _, n = e.ingest(path); n.Stored != 1 || n.Present != 4 {
		t.Fatalf("after rewrite: %+v", n)
	}
	e.wantTexts("a", "b", "c", "d", "x")
}

func TestIngestStoresAMessageInTwoFilesOnce(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	shared := e.speechLine("said once")
	first := e.write("p/old.jsonl", shared+e.speechLine("before resume"))
	second := e.write("p/new.jsonl", shared+e.speechLine("after resume"))
	e.ingest(first)
	if _, c := e.ingest(second); c.Stored != 1 || c.Present != 1 {
		t.Fatalf("second copy: %+v", c)
	}
	e.wantTexts("after resume", "before resume", "said once")
	var grams []int32
	if err := e.conn.QueryRow(e.ctx, `select search_grams from conversations where message_text = 'before resume'`).Scan(&grams); err != nil ||
		!slices.Equal(grams, text.Grams("before resume")) {
		t.Fatalf("grams %v (%v), want %v", grams, err, text.Grams("before resume"))
	}
}

func TestIngestSkipsMalformedLinesOnceWithFileAndLine(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	path := e.write("s.jsonl", e.speechLine("before")+"{\"type\":\"user\",\n"+"not json\n"+e.speechLine("after"))
	if _, c := e.ingest(path); c.Malformed != 2 || c.Stored != 2 || c.Lines != 4 {
		t.Fatalf("counts %+v", c)
	}
	e.wantTexts("after", "before")
	logged := e.logs.FilterMessage("transcript line is not valid JSON: skipped").All()
	if len(logged) != 2 || logged[0].ContextMap()["file"] != path || logged[0].ContextMap()["line"] != int64(2) ||
		logged[1].ContextMap()["line"] != int64(3) {
		t.Fatalf("logged %+v", logged)
	}
	e.ingest(path)
	if n := e.logs.FilterMessage("transcript line is not valid JSON: skipped").Len(); n != 2 {
		t.Fatalf("logged %d times after a second read, want 2", n)
	}
}

// TestIngestSetsAsideAMessageTheDatabaseRefuses: a message the database
// will never take (here a check an adopted database might have) is logged
// with its file and line, counted and set aside; the messages around it are
// stored and the offset moves past it, so that it is not tried again.
func TestIngestSetsAsideAMessageTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	if _, err := e.conn.Exec(e.ctx, `alter table conversations add constraint no_refuse check (message_text <> 'refuse me')`); err != nil {
		t.Fatal(err)
	}
	data := e.speechLine("before") + e.speechLine("refuse me") + e.speechLine("after")
	path := e.write("s.jsonl", data)
	off, c := e.ingest(path)
	if c.Refused != 1 || c.Stored != 2 || c.Present != 0 || c.Speech != 3 || off.ReadOffset != int64(len(data)) {
		t.Fatalf("counts %+v, offset %d of %d", c, off.ReadOffset, len(data))
	}
	e.wantTexts("after", "before")
	logged := e.logs.FilterMessage("transcript message refused by the database: set aside").All()
	if len(logged) != 1 || logged[0].ContextMap()["file"] != path || logged[0].ContextMap()["line"] != int64(2) {
		t.Fatalf("logged %+v", logged)
	}
	if _, c = e.ingest(path); c.Lines != 0 || c.Refused != 0 {
		t.Fatalf("second read: %+v", c)
	}
}

func TestIngestSkipsALineOver16MiB(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	huge := string(tline(t, "user", strings.Repeat("x", MaxLineBytes+10), nil)) + "\n"
	path := e.write("s.jsonl", e.speechLine("before")+huge+e.speechLine("after"))
	if _, c := e.ingest(path); c.TooLarge != 1 || c.Stored != 2 || c.Lines != 3 {
		t.Fatalf("counts %+v", c)
	}
	e.wantTexts("after", "before")
	if e.logs.FilterMessage("transcript line too large: skipped").Len() != 1 {
		t.Fatal("the skipped line was not logged")
	}
}

// failingBeginner fails every transaction from the failAt-th on, as a
// database that went away mid-read would.
type failingBeginner struct {
	postgres.DB
	calls, failAt int
}

func (f *failingBeginner) Begin(ctx context.Context) (pgx.Tx, error) {
	f.calls++
	if f.calls >= f.failAt {
		return nil, errors.New("connection refused")
	}
	return f.DB.Begin(ctx)
}

func TestIngestCommitsRowsWithTheirOffsetSoAnInterruptedReadResumesExactly(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	var data strings.Builder
	for i := range 25 {
		data.WriteString(e.speechLine("m" + uuid.NewString()[:8] + string(rune('a'+i))))
		data.WriteString(e.noiseLine())
	}
	path := e.write("s.jsonl", data.String())
	e.cap.BatchRows = 10
	e.cap.DB = &failingBeginner{DB: e.conn, failAt: 3} // the third batch fails
	if _, err := e.cap.Ingest(e.ctx, path, nil, nil); err == nil {
		t.Fatal("no error from a failing database")
	}
	var rows int
	if err := e.conn.QueryRow(e.ctx, "select count(*) from conversations").Scan(&rows); err != nil || rows != 20 {
		t.Fatalf("%d rows after two batches, want 20 (%v)", rows, err)
	}
	off, err := LoadOffset(e.ctx, e.conn, path)
	if err != nil || off == nil || off.Lines != 39 {
		t.Fatalf("offset after two batches: %+v %v, want 39 lines (the 20th speech line)", off, err)
	}
	e.cap.DB = e.conn
	if _, c := e.ingest(path); c.Stored != 5 || c.Present != 0 {
		t.Fatalf("resumed: %+v, want the 5 remaining rows only", c)
	}
	if n := len(e.texts()); n != 25 {
		t.Fatalf("%d rows, want 25", n)
	}
}

func TestIngestIntoALegacyDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.LegacyDB(t)
	e := newIngestEnvOn(t, url)
	if _, err := postgres.Migrate(e.ctx, e.conn); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("s", 150) // longer than the legacy varchar(100)
	path := e.write("s.jsonl", string(tline(t, "user", "hello", map[string]any{"sessionId": long}))+"\n")
	if _, c := e.ingest(path); c.Stored != 1 {
		t.Fatalf("counts %+v", c)
	}
	var session string
	if err := e.conn.QueryRow(e.ctx, "select session_id from conversations where message_text = 'hello'").Scan(&session); err != nil ||
		session != long[:100] {
		t.Fatalf("session %q, %v", session, err)
	}
}

// meetingBeginner holds the first transactions until want of them are being
// begun at once, so that a test sees transcripts stored side by side without
// timing anything.
type meetingBeginner struct {
	postgres.DB
	want int
	mu   sync.Mutex
	n    int
	met  chan struct{}
}

func (m *meetingBeginner) Begin(ctx context.Context) (pgx.Tx, error) {
	m.mu.Lock()
	m.n++
	if m.n == m.want {
		close(m.met)
	}
	m.mu.Unlock()
	select {
	case <-m.met:
	case <-time.After(30 * time.Second):
		return nil, errors.New("no other transcript was stored at the same time")
	}
	return m.DB.Begin(ctx)
}

func TestIngestFilesStoresTranscriptsSideBySide(t *testing.T) {
	t.Parallel()
	e, pool := newPooledIngestEnv(t)
	e.cap.DB = &meetingBeginner{DB: pool, want: 2, met: make(chan struct{})}
	e.cap.BatchRows = 3
	var want []string
	var jobs []IngestJob
	for f := range 4 {
		var data strings.Builder
		for i := range 7 {
			s := fmt.Sprintf("file %d message %d", f, i)
			want = append(want, s)
			data.WriteString(e.speechLine(s))
			data.WriteString(e.noiseLine())
		}
		jobs = append(jobs, IngestJob{Path: e.write(fmt.Sprintf("p%d/s.jsonl", f), data.String())})
	}
	jobs = slices.Insert(jobs, 2, IngestJob{Path: e.dir}) // a directory: unreadable
	var total Counts
	var unreadable []string
	err := e.cap.IngestFiles(e.ctx, jobs, 2, func(i int, d Counts, _ *Message) { total.Add(d) },
		func(i int, off Offset, err error) error {
			var fe *FileError
			if errors.As(err, &fe) {
				unreadable = append(unreadable, jobs[i].Path)
				return nil
			}
			if err == nil && off.Lines != 14 {
				t.Errorf("%s: offset at line %d, want 14", jobs[i].Path, off.Lines)
			}
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	if total.Stored != 28 || !slices.Equal(unreadable, []string{e.dir}) {
		t.Fatalf("stored %d, unreadable %q; want 28 and the directory", total.Stored, unreadable)
	}
	slices.Sort(want)
	got := e.texts()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	for _, j := range slices.Delete(jobs, 2, 3) {
		if off, err := LoadOffset(e.ctx, e.conn, j.Path); err != nil || off == nil || off.Lines != 14 {
			t.Fatalf("%s: stored offset %+v %v, want 14 lines", j.Path, off, err)
		}
	}
}

// downBeginner fails every transaction, as a database that is away.
type downBeginner struct{ postgres.DB }

func (downBeginner) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("connection refused")
}

func TestIngestFilesStopsAtTheFirstDatabaseError(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	e.cap.DB = downBeginner{}
	var jobs []IngestJob
	for f := range 6 {
		jobs = append(jobs, IngestJob{Path: e.write(fmt.Sprintf("s%d.jsonl", f), e.speechLine("hello"))})
	}
	finished := 0
	err := e.cap.IngestFiles(e.ctx, jobs, 2, func(int, Counts, *Message) {}, func(i int, _ Offset, err error) error {
		finished++
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("IngestFiles: %v, want the database's error", err)
	}
	if finished > 2 {
		t.Fatalf("%d transcripts tried after the database failed, want at most the 2 already started", finished)
	}
}

func TestIngestersLeaveThePoolItsShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct{ conns, want int }{
		{10, min(runtime.NumCPU(), 3)}, // the drainer takes 4
		{4, 1},                         // the drainer takes 2
		{2, 1},
		{1, 1},
	} {
		pool, err := pgxpool.New(ctx, fmt.Sprintf("postgres://angela@127.0.0.1:1/none?pool_max_conns=%d", c.conns))
		if err != nil {
			t.Fatal(err)
		}
		if got := Ingesters(pool); got != c.want {
			t.Errorf("pool of %d: %d ingesters, want %d", c.conns, got, c.want)
		}
		pool.Close()
	}
	if got := Ingesters(nil); got != min(runtime.NumCPU(), maxIngesters) {
		t.Errorf("no pool: %d ingesters", got)
	}
}

func TestIngestFilesOfTheSameMessagesInAnotherOrderDoNotDeadlock(t *testing.T) {
	t.Parallel()
	e, pool := newPooledIngestEnv(t)
	// Two transcripts holding the same messages, one in reverse order, read
	// at once: each batch would take the other's keys in the opposite order.
	const n = 3000
	lines := make([]string, n)
	for i := range lines {
		lines[i] = e.speechLine(fmt.Sprintf("message %d", i))
	}
	a := e.write("a.jsonl", strings.Join(lines, ""))
	slices.Reverse(lines)
	b := e.write("b.jsonl", strings.Join(lines, ""))
	e.cap.DB = &meetingBeginner{DB: pool, want: 2, met: make(chan struct{})}
	var stored int64
	err := e.cap.IngestFiles(e.ctx, []IngestJob{{Path: a}, {Path: b}}, 2,
		func(_ int, d Counts, _ *Message) { stored += d.Stored },
		func(_ int, _ Offset, err error) error { return err })
	if err != nil {
		t.Fatal(err)
	}
	if stored != n || len(e.texts()) != n {
		t.Fatalf("stored %d, %d rows; want %d", stored, len(e.texts()), n)
	}
}

func TestIngestStoresTheFirstOfTwoLinesWithOneUUID(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	var data strings.Builder
	for i := range 40 {
		id := uuid.NewString()
		for _, s := range []string{"first", "second"} {
			data.Write(tline(t, "user", fmt.Sprintf("%s %02d", s, i), map[string]any{"uuid": id}))
			data.WriteByte('\n')
		}
	}
	path := e.write("s.jsonl", data.String())
	if _, c := e.ingest(path); c.Stored != 40 || c.Present != 40 {
		t.Fatalf("%+v, want 40 stored and 40 present", c)
	}
	for _, s := range e.texts() {
		if !strings.HasPrefix(s, "first") {
			t.Fatalf("stored %q: the later line of a uuid won", s)
		}
	}
}

// breakingBeginner fails every transaction from the failAt-th on; it is safe
// for concurrent use.
type breakingBeginner struct {
	postgres.DB
	mu            sync.Mutex
	calls, failAt int
}

func (b *breakingBeginner) Begin(ctx context.Context) (pgx.Tx, error) {
	b.mu.Lock()
	b.calls++
	fail := b.calls >= b.failAt
	b.mu.Unlock()
	if fail {
		return nil, errors.New("the database went away")
	}
	return b.DB.Begin(ctx)
}

func TestIngestFilesInterruptedKeepsEachFileResumableExactly(t *testing.T) {
	t.Parallel()
	e, pool := newPooledIngestEnv(t)
	var jobs []IngestJob
	for f := range 3 {
		var data strings.Builder
		for i := range 60 {
			data.WriteString(e.speechLine(fmt.Sprintf("file %d message %02d", f, i)))
		}
		jobs = append(jobs, IngestJob{Path: e.write(fmt.Sprintf("s%d.jsonl", f), data.String())})
	}
	e.cap.BatchRows = 7
	e.cap.DB = &breakingBeginner{DB: pool, failAt: 6}
	var errs []error
	err := e.cap.IngestFiles(e.ctx, jobs, 2, func(int, Counts, *Message) {}, func(_ int, _ Offset, err error) error {
		errs = append(errs, err)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "the database went away") {
		t.Fatalf("IngestFiles: %v (files ended with %v), want the database's error", err, errs)
	}
	// Each file's rows are exactly the speech lines before its offset.
	for _, j := range jobs {
		off, err := LoadOffset(e.ctx, e.conn, j.Path)
		if err != nil {
			t.Fatal(err)
		}
		var rows int64
		if err := e.conn.QueryRow(e.ctx, "select count(*) from conversations where source_file = $1", j.Path).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		var lines int64 // every line is speech
		if off != nil {
			lines = off.Lines
		}
		if lines != rows {
			t.Errorf("%s: %d rows stored, offset after %d lines", j.Path, rows, lines)
		}
	}
	e.cap.DB = pool
	offs, err := LoadOffsets(e.ctx, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	for i := range jobs {
		jobs[i].Prev = offs[jobs[i].Path]
	}
	if err := e.cap.IngestFiles(e.ctx, jobs, 2, func(int, Counts, *Message) {}, func(_ int, _ Offset, err error) error { return err }); err != nil {
		t.Fatal(err)
	}
	if n := len(e.texts()); n != 180 {
		t.Fatalf("%d rows after resuming, want 180", n)
	}
}

// TestIngestSkipsAndCountsWhatIsNotSpeechAndLogsEachKindOncePerFile: Claude
// Code's API error lines and texts without a visible character are skipped
// and counted; a line at a time out of range is stored with the time it was
// read and counted. Each kind is logged once per file, with its line, however
// many times the file has it or is read.
func TestIngestSkipsAndCountsWhatIsNotSpeechAndLogsEachKindOncePerFile(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	apiError := string(tline(t, "assistant", nil, map[string]any{"isApiErrorMessage": true, "error": "unknown",
		"message": map[string]any{"model": "<synthetic>", "role": "assistant",
			"content": []any{textBlock("API Error: Can't reach the API server")}}})) + "\n"
	invisible := string(tline(t, "user", "\u200b\u200b", nil)) + "\n"
	future := string(tline(t, "assistant", []any{textBlock("from the far future")},
		map[string]any{"timestamp": "9999-12-31T23:59:59Z"})) + "\n"
	past := string(tline(t, "user", "from before 1970", map[string]any{"timestamp": "1900-01-01T00:00:00Z"})) + "\n"
	path := e.write("s.jsonl", e.speechLine("before")+apiError+invisible+future+apiError+invisible+past+e.speechLine("after"))
	_, c := e.ingest(path)
	if c.Lines != 8 || c.Speech != 4 || c.Stored != 4 || c.APIErrors != 2 || c.Invisible != 2 || c.TimesReplaced != 2 ||
		c.Skipped() != 4 || c.Malformed != 0 {
		t.Fatalf("counts %+v", c)
	}
	e.wantTexts("after", "before", "from before 1970", "from the far future")
	var replaced int
	if err := e.conn.QueryRow(e.ctx, `select count(*) from conversations where created_at = $1`, fixedNow).Scan(&replaced); err != nil || replaced != 2 {
		t.Fatalf("%d rows at the time read, want 2 (%v)", replaced, err)
	}
	appendTo(t, path, apiError+invisible+future)
	e.ingest(path)
	for msg, line := range map[string]int64{
		"transcript line is an error Claude Code wrote, not Angela's words: skipped (further ones in this file are counted, not logged)":                                   2,
		"transcript line has no visible character: skipped (further ones in this file are counted, not logged)":                                                            3,
		"transcript line's time is before 1970, more than a day ahead or not a time: stored with the time it was read (further ones in this file are counted, not logged)": 4,
	} {
		logged := e.logs.FilterMessage(msg).All()
		if len(logged) != 1 || logged[0].ContextMap()["file"] != path || logged[0].ContextMap()["line"] != line {
			t.Errorf("%q logged %+v, want once at line %d", msg, logged, line)
		}
	}
	if l := e.logs.FilterMessage("transcript line's time is before 1970, more than a day ahead or not a time: stored with the time it was read (further ones in this file are counted, not logged)").All(); len(l) == 1 &&
		l[0].ContextMap()["timestamp"] != `"9999-12-31T23:59:59Z"` {
		t.Errorf("the time given is not kept in the log: %v", l[0].ContextMap())
	}
}

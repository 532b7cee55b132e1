package spool_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/spool"
)

// helperEnv makes the test binary a writer or drainer process that the
// kill -9 tests start and kill.
const helperEnv = "SPOOL_TEST_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(helper(role))
	}
	pgtest.Main(m)
}

// note is what the test records carry.
type note struct {
	ID   uuid.UUID `json:"id"`
	Body string    `json:"body"`
}

// notesSQL is the table the test records are applied to: an idempotent insert
// by id, and a check constraint that refuses a body of "refuse".
const notesSQL = `create table notes (id uuid primary key, body text not null check (body <> 'refuse'))`

func applyNote(ctx context.Context, q postgres.DB, r spool.Record) error {
	var n note
	if err := json.Unmarshal(r.Data, &n); err != nil {
		return &spool.DecodeError{File: r.Name, Err: err}
	}
	_, err := q.Exec(ctx, `insert into notes (id, body) values ($1, $2) on conflict (id) do nothing`, n.ID, n.Body)
	return err
}

func setupDB(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.DB(t)
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, notesSQL); err != nil {
		t.Fatal(err)
	}
	return url, pool
}

func addNote(t testing.TB, sp *spool.Spool, body string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := sp.Add(spool.KindEmotion, id, note{ID: id, Body: body}, "test"); err != nil {
		t.Fatal(err)
	}
	return id
}

func storedNotes(t testing.TB, pool *pgxpool.Pool) map[uuid.UUID]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "select id, body from notes")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var body string
		if err := rows.Scan(&id, &body); err != nil {
			t.Fatal(err)
		}
		out[id] = body
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestAddWritesOneRecordFilePrivately(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state") // missing: Add creates it
	now := time.Date(2026, 12, 1, 21, 30, 0, 123, time.UTC)
	sp := spool.New(state, func() time.Time { return now })
	id := uuid.New()
	r, err := sp.Add(spool.KindConversation, id, note{ID: id, Body: "สวัสดีค่ะ"}, "cannot connect")
	if err != nil {
		t.Fatal(err)
	}
	if got := mode(t, sp.Dir()); got != 0o700 {
		t.Errorf("spool directory mode %o, want 700", got)
	}
	// A state directory the spool had to create is one the managed cluster,
	// which runs as another user under root, can pass through.
	wantState := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		wantState = 0o711
	}
	if got := mode(t, state); got != wantState {
		t.Errorf("state directory mode %o, want %o", got, wantState)
	}
	path := filepath.Join(sp.Dir(), r.Name)
	if got := mode(t, path); got != 0o600 {
		t.Errorf("record file mode %o, want 600", got)
	}
	want := fmt.Sprintf("%020d-conversation-%s.json", now.UnixNano(), id)
	if r.Name != want {
		t.Errorf("file name %q, want %q", r.Name, want)
	}
	entries, _ := os.ReadDir(sp.Dir())
	if len(entries) != 1 {
		t.Errorf("spool holds %d entries, want only the record (no temporary file left)", len(entries))
	}
	var onDisk map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	if onDisk["kind"] != "conversation" || onDisk["id"] != id.String() || onDisk["reason"] != "cannot connect" ||
		onDisk["spooled_at"] != "2026-12-01T21:30:00.000000123Z" || onDisk["record"].(map[string]any)["body"] != "สวัสดีค่ะ" {
		t.Errorf("record file holds %s", data)
	}
	b, err := sp.Backlog()
	if err != nil || b.Count != 1 || !b.Oldest.Equal(now) || b.Rejected != 0 {
		t.Errorf("Backlog() = %+v, %v; want 1 waiting since %v", b, err, now)
	}
	waiting, rejected, err := sp.List()
	if err != nil || len(waiting) != 1 || len(rejected) != 0 || waiting[0].ID != id || waiting[0].Reason != "cannot connect" || waiting[0].Kind != spool.KindConversation {
		t.Errorf("List() = %+v, %+v, %v", waiting, rejected, err)
	}
}

func TestMissingSpoolIsEmpty(t *testing.T) {
	t.Parallel()
	sp := spool.New(t.TempDir(), nil)
	b, err := sp.Backlog()
	if err != nil || b != (spool.Backlog{}) {
		t.Errorf("Backlog() of a missing spool = %+v, %v", b, err)
	}
	if _, err := os.Stat(sp.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading the backlog created the spool directory: %v", err)
	}
}

func TestDrainStoresOldestFirstAndRemovesFiles(t *testing.T) {
	t.Parallel()
	_, pool := setupDB(t)
	sp := spool.New(t.TempDir(), nil)
	var ids []uuid.UUID
	for i := range spool.BatchSize + 7 { // more than one batch
		ids = append(ids, addNote(t, sp, fmt.Sprint("note ", i)))
	}
	var order []uuid.UUID
	apply := func(ctx context.Context, q postgres.DB, r spool.Record) error {
		order = append(order, r.ID)
		return applyNote(ctx, q, r)
	}
	res, err := sp.Drain(context.Background(), pool, apply, spool.DrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res != (spool.Result{Applied: len(ids)}) {
		t.Errorf("Drain = %+v, want %d applied, none left", res, len(ids))
	}
	if fmt.Sprint(order) != fmt.Sprint(ids) {
		t.Errorf("records applied out of the order they were spooled")
	}
	if got := storedNotes(t, pool); len(got) != len(ids) {
		t.Errorf("stored %d notes, want %d", len(got), len(ids))
	}
	if b, _ := sp.Backlog(); b.Count != 0 {
		t.Errorf("backlog after the drain: %+v", b)
	}
	// A second pass, and a record applied again (as after a crash between the
	// commit and the removal of its file), store nothing twice.
	again := addNote(t, sp, "again")
	if _, err := sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Add(spool.KindEmotion, again, note{ID: again, Body: "again"}, "test"); err != nil {
		t.Fatal(err)
	}
	if res, err := sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{}); err != nil || res.Applied != 1 {
		t.Fatalf("re-drain = %+v, %v", res, err)
	}
	if got := storedNotes(t, pool); len(got) != len(ids)+1 {
		t.Errorf("stored %d notes after a replay, want %d", len(got), len(ids)+1)
	}
}

func TestRefusedRecordMovesToRejectedWithItsError(t *testing.T) {
	t.Parallel()
	_, pool := setupDB(t)
	state := t.TempDir()
	sp := spool.New(state, nil)
	good1 := addNote(t, sp, "one")
	bad := addNote(t, sp, "refuse") // violates the check constraint: SQLSTATE 23514
	good2 := addNote(t, sp, "two")
	// A file that is no record at all is rejected too, not deleted.
	corrupt := fmt.Sprintf("%020d-emotion-%s.json", time.Now().UnixNano(), uuid.New())
	if err := os.WriteFile(filepath.Join(sp.Dir(), corrupt), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	res, err := sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 2 || res.Rejected != 2 || res.Left != 0 {
		t.Errorf("Drain = %+v, want 2 applied, 2 rejected, none left", res)
	}
	got := storedNotes(t, pool)
	if len(got) != 2 || got[good1] != "one" || got[good2] != "two" {
		t.Errorf("stored %v, want the two good notes", got)
	}
	if m := mode(t, sp.RejectedDir()); m != 0o700 {
		t.Errorf("rejected directory mode %o, want 700", m)
	}
	_, rejected, err := sp.List()
	if err != nil || len(rejected) != 2 {
		t.Fatalf("rejected = %+v, %v", rejected, err)
	}
	var badEntry spool.Entry
	for _, e := range rejected {
		if e.ID == bad {
			badEntry = e
		}
		if m := mode(t, e.File); m != 0o600 {
			t.Errorf("rejected file %s mode %o, want 600", e.File, m)
		}
	}
	if !strings.Contains(badEntry.Error, "notes_body_check") || badEntry.RejectedAt.IsZero() {
		t.Errorf("rejected entry %+v does not carry the constraint's error", badEntry)
	}
	errFile := strings.TrimSuffix(badEntry.File, ".json") + ".error.json"
	var rej spool.Rejection
	data, _ := os.ReadFile(errFile)
	if err := json.Unmarshal(data, &rej); err != nil || rej.SQLState != "23514" {
		t.Errorf("error file %s holds %s (%v), want SQLSTATE 23514", errFile, data, err)
	}
	if n := logs.FilterMessageSnippet("rejected").Len(); n != 2 {
		t.Errorf("logged %d rejections, want 2: %v", n, logs.All())
	}
	if b, _ := sp.Backlog(); b.Count != 0 || b.Rejected != 2 {
		t.Errorf("Backlog() = %+v, want none waiting and 2 rejected", b)
	}
	// Once the cause is fixed, a rejected record moved back is stored.
	if _, err := pool.Exec(context.Background(), `alter table notes drop constraint notes_body_check`); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(badEntry.File, filepath.Join(sp.Dir(), filepath.Base(badEntry.File))); err != nil {
		t.Fatal(err)
	}
	if res, err := sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{}); err != nil || res.Applied != 1 {
		t.Errorf("drain of the record moved back = %+v, %v", res, err)
	}
	if got := storedNotes(t, pool); got[bad] != "refuse" {
		t.Errorf("the record moved back is not stored: %v", got)
	}
	if b, _ := sp.Backlog(); b.Count != 0 || b.Rejected != 1 {
		t.Errorf("Backlog() after the retry = %+v, want none waiting and 1 rejected", b)
	}
}

func TestUnreachableDatabaseKeepsEveryRecord(t *testing.T) {
	t.Parallel()
	sp := spool.New(t.TempDir(), nil)
	for range 3 {
		addNote(t, sp, "kept")
	}
	// A port nothing listens on: connection refused.
	pool, err := postgres.NewPool(context.Background(), "postgres://angela@127.0.0.1:1/none?connect_timeout=2", "", postgres.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	res, err := sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{})
	if err == nil || postgres.RowRejected(err) {
		t.Fatalf("Drain on an unreachable database: %v (row rejected %v), want a transient error", err, postgres.RowRejected(err))
	}
	if res.Applied != 0 || res.Rejected != 0 || res.Left != 3 {
		t.Errorf("Drain = %+v, want all 3 left", res)
	}
}

// TestConcurrentWritersAndDrainersApplyEachRecordOnce runs writers and two
// drainers at once: every record is stored, and no record is applied by both
// drainers (each application is counted, not only each stored row).
func TestConcurrentWritersAndDrainersApplyEachRecordOnce(t *testing.T) {
	t.Parallel()
	_, pool := setupDB(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `create table applications (id uuid not null)`); err != nil {
		t.Fatal(err)
	}
	apply := func(ctx context.Context, q postgres.DB, r spool.Record) error {
		if _, err := q.Exec(ctx, `insert into applications values ($1)`, r.ID); err != nil {
			return err
		}
		return applyNote(ctx, q, r)
	}
	sp := spool.New(t.TempDir(), nil)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	ids := make(chan uuid.UUID, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				ids <- addNote(t, sp, "concurrent")
			}
		})
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()
	var drainers sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		drainers.Go(func() {
			for {
				done := false
				select {
				case <-writing:
					done = true
				default:
				}
				res, err := sp.Drain(ctx, pool, apply, spool.DrainOptions{Workers: 3})
				if err != nil {
					errs <- err
					return
				}
				if done && res.Left == 0 && res.Busy == 0 {
					return
				}
			}
		})
	}
	drainers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(ids)
	stored := storedNotes(t, pool)
	for id := range ids {
		if _, ok := stored[id]; !ok {
			t.Errorf("record %s was spooled but not stored", id)
		}
	}
	if len(stored) != writers*each {
		t.Errorf("stored %d, want %d", len(stored), writers*each)
	}
	var twice int
	if err := pool.QueryRow(ctx, `select count(*) from (select id from applications group by id having count(*) > 1) d`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if twice != 0 {
		t.Errorf("%d records were applied by both drainers", twice)
	}
}

func TestStaleTemporaryFilesGoOnlyWhenNoWriterHoldsThem(t *testing.T) {
	t.Parallel()
	sp := spool.New(t.TempDir(), nil)
	addNote(t, sp, "make the directory")
	mk := func(name string, age time.Duration) string {
		p := filepath.Join(sp.Dir(), name)
		if err := os.WriteFile(p, []byte("{half"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		os.Chtimes(p, old, old)
		return p
	}
	dead := mk(".tmp-dead", time.Hour)
	young := mk(".tmp-young", 0)
	held := mk(".tmp-held", time.Hour)
	f, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	// No database is needed: the pass stops at the first record.
	pool, _ := pgxpool.New(context.Background(), "postgres://angela@127.0.0.1:1/none?connect_timeout=1")
	defer pool.Close()
	sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{Log: zap.New(core)})
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dead writer's temporary file is still there")
	}
	for _, p := range []string{young, held} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "unfinished spool file") {
		t.Errorf("logs = %v, want one line about the removed file", logs.All())
	}
}

// helper runs a writer or a drainer process for the kill -9 tests.
func helper(role string) int {
	sp := spool.New(os.Getenv("SPOOL_TEST_STATE"), nil)
	switch role {
	case "writer":
		out := bufio.NewWriter(os.Stdout)
		for {
			id := uuid.New()
			if _, err := sp.Add(spool.KindEmotion, id, note{ID: id, Body: "killed writer"}, "test"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			// Printed only once Add returned, as the CLI prints its id.
			fmt.Fprintln(out, id)
			out.Flush()
		}
	case "drainer":
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, os.Getenv("SPOOL_TEST_DB"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("draining")
		for {
			if _, err := sp.Drain(ctx, pool, applyNote, spool.DrainOptions{Workers: 2}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	}
	return 2
}

func startHelper(t *testing.T, role, state, db string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, "SPOOL_TEST_STATE="+state, "SPOOL_TEST_DB="+db)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", err)
	}
}

// TestKilledWriterLosesNoReportedRecord kills a writer process mid-way through
// a stream of saves: every record it reported saved is drained and stored once,
// and what it left half-written is cleaned up, not taken for a record.
func TestKilledWriterLosesNoReportedRecord(t *testing.T) {
	t.Parallel()
	_, pool := setupDB(t)
	state := t.TempDir()
	cmd, out := startHelper(t, "writer", state, "")
	var reported []uuid.UUID
	for len(reported) < 300 && out.Scan() {
		id, err := uuid.Parse(out.Text())
		if err != nil {
			t.Fatalf("writer printed %q", out.Text())
		}
		reported = append(reported, id)
	}
	kill9(t, cmd)
	for out.Scan() { // what it printed before it died
		if id, err := uuid.Parse(out.Text()); err == nil {
			reported = append(reported, id)
		}
	}
	// A temporary file the killed writer may have left counts as stale only
	// after a while; age every one so this pass removes it.
	tmps, _ := filepath.Glob(filepath.Join(state, spool.DirName, ".tmp-*"))
	for _, p := range tmps {
		old := time.Now().Add(-time.Hour)
		os.Chtimes(p, old, old)
	}
	sp := spool.New(state, nil)
	res, err := sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := storedNotes(t, pool)
	for _, id := range reported {
		if _, ok := stored[id]; !ok {
			t.Errorf("record %s was reported saved but is lost", id)
		}
	}
	// At most the one record it was writing when killed went further than
	// the report (renamed, not printed yet).
	if extra := len(stored) - len(reported); extra < 0 || extra > 1 {
		t.Errorf("stored %d records, %d reported", len(stored), len(reported))
	}
	if res.Left != 0 || res.Rejected != 0 {
		t.Errorf("Drain = %+v, want everything applied", res)
	}
	entries, _ := os.ReadDir(sp.Dir())
	for _, e := range entries {
		t.Errorf("left in the spool: %s", e.Name())
	}
}

// TestKilledDrainerLosesAndDoublesNothing kills a drainer process while it
// drains, then drains again: every record is stored exactly once.
func TestKilledDrainerLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	url, pool := setupDB(t)
	state := t.TempDir()
	sp := spool.New(state, nil)
	const n = 1000
	ids := map[uuid.UUID]bool{}
	for range n {
		ids[addNote(t, sp, "killed drainer")] = true
	}
	cmd, out := startHelper(t, "drainer", state, url)
	if !out.Scan() {
		t.Fatal("the drainer did not start")
	}
	// Kill it once it has committed something and before it is done.
	deadline := time.Now().Add(time.Minute)
	for {
		var stored int
		if err := pool.QueryRow(context.Background(), "select count(*) from notes").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the drainer stored nothing within a minute")
		}
	}
	kill9(t, cmd)
	b, _ := sp.Backlog()
	t.Logf("killed the drainer with %d of %d records left", b.Count, n)
	if b.Count == 0 {
		t.Log("the drainer finished before it was killed; the test proves less this run")
	}
	res, err := sp.Drain(context.Background(), pool, applyNote, spool.DrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := storedNotes(t, pool)
	if len(stored) != n {
		t.Errorf("stored %d records, want %d", len(stored), n)
	}
	for id := range ids {
		if _, ok := stored[id]; !ok {
			t.Errorf("record %s lost", id)
		}
	}
	if res.Left != 0 || res.Rejected != 0 {
		t.Errorf("Drain after the kill = %+v", res)
	}
}

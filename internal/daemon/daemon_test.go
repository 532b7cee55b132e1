package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testConfig loads a configuration as the CLI would, from env alone.
func testConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	root := false
	cfg, err := config.Load(config.Options{
		Env:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Root: &root, Home: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDaemonRunsWorkersOnOnePoolAndStopsCleanly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	stateDir := pgtest.StateDir(t)
	cfg := testConfig(t, map[string]string{
		"ANGELA_DATABASE_URL": pgtest.DB(t), "ANGELA_STATE_DIR": stateDir, "ANGELA_TIMEZONE": pgtest.TimeZone,
	})
	core, logs := observer.New(zap.InfoLevel)
	var (
		mu       sync.Mutex
		notified []string
	)
	watchdog := make(chan struct{}, 1)
	notify := func(s string) {
		if s == "WATCHDOG=1" {
			select {
			case watchdog <- struct{}{}:
			default:
			}
			return
		}
		mu.Lock()
		notified = append(notified, s)
		mu.Unlock()
	}
	d := New(Options{Config: cfg, Log: zap.New(core), Version: "test", Notify: notify, Watchdog: 20 * time.Millisecond})
	pools := make(chan *pgxpool.Pool, 2)
	for _, name := range []string{"alpha", "beta"} {
		d.Register(name, func(deps Deps) (Worker, error) {
			return WorkerFunc(func(ctx context.Context) error {
				pools <- deps.Pool
				if err := deps.Pool.Ping(ctx); err != nil {
					return err
				}
				<-ctx.Done()
				return nil
			}), nil
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-errc:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("not ready within a minute")
	}
	select {
	case <-watchdog:
	case <-time.After(time.Minute):
		t.Error("no WATCHDOG=1 although a watchdog interval is set")
	}
	if p1, p2 := <-pools, <-pools; p1 != p2 {
		t.Error("the workers got different pools, want the one shared pool")
	}
	st, err := ReadStatus(stateDir)
	if err != nil || st.State != StateRunning || st.PID != os.Getpid() || !st.Database.Reachable || st.Database.SchemaVersion == 0 {
		t.Errorf("status while running = %+v, %v", st, err)
	}
	if _, err := AcquireLock(stateDir); !errors.As(err, new(*HeldError)) {
		t.Errorf("a second lock on a running daemon's state dir: %v, want HeldError", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	st, _ = ReadStatus(stateDir)
	if st.State != StateStopped {
		t.Errorf("status after stop = %q, want stopped", st.State)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notified) != 2 || notified[0] != "READY=1" || notified[1] != "STOPPING=1" {
		t.Errorf("notified %v, want READY=1 then STOPPING=1", notified)
	}
	if logs.FilterMessage("ready").Len() != 1 || logs.FilterMessage("closed the database pool").Len() != 1 {
		t.Errorf("log lacks ready/closed lines: %v", logs.All())
	}
	if pid, err := LockHolder(stateDir); pid != 0 || err != nil {
		t.Errorf("LockHolder after stop = %d, %v", pid, err)
	}
}

func TestLockAllowsOneDaemonPerStateDir(t *testing.T) {
	dir := pgtest.StateDir(t)
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(dir)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() {
		t.Fatalf("second AcquireLock = %v, want HeldError naming pid %d", err, os.Getpid())
	}
	if pid, _ := LockHolder(dir); pid != os.Getpid() {
		t.Errorf("LockHolder = %d, want %d", pid, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l, err = AcquireLock(dir)
	if err != nil {
		t.Fatalf("AcquireLock after Release: %v", err)
	}
	l.Release()
}

func TestStatusBoardWritesOnlySignificantChanges(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newStatusBoard(dir, func() time.Time { return now }, Status{State: StateStarting})
	if err := b.update(func(s *Status) { s.State = StateRunning }, false); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(dir)
	if err != nil || st.State != StateRunning {
		t.Fatalf("ReadStatus = %+v, %v", st, err)
	}
	now = now.Add(time.Second)
	b.update(func(s *Status) { s.Database.Latency = time.Millisecond }, false)
	if st, _ := ReadStatus(dir); st.Database.Latency != 0 {
		t.Error("a latency change alone rewrote the file")
	}
	now = now.Add(latencyRefresh)
	b.update(func(s *Status) { s.Database.Latency = 2 * time.Millisecond }, false)
	if st, _ := ReadStatus(dir); st.Database.Latency != 2*time.Millisecond {
		t.Error("the latency was not refreshed after latencyRefresh")
	}
}

func TestDaemonRemovesLeftoverStatusTempFilesAtStart(t *testing.T) {
	stateDir := pgtest.StateDir(t)
	// What a daemon killed between writing and renaming leaves behind.
	leftover := filepath.Join(stateDir, "."+StatusFileName+".123456")
	if err := os.WriteFile(leftover, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, map[string]string{
		"ANGELA_DATABASE_URL": pgtest.DB(t), "ANGELA_STATE_DIR": stateDir, "ANGELA_TIMEZONE": pgtest.TimeZone,
	})
	d := New(Options{Config: cfg, Version: "test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-errc:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("not ready within a minute")
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover %s is still there: %v", leftover, err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

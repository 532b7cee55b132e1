// Package pgtest gives tests a real PostgreSQL database of their own: a fresh
// database per test, cloned from a migrated template, on the server named by
// ANGELA_TEST_DATABASE_URL or, when that is unset, on a throwaway managed cluster
// that Main starts for the test binary and stops when it ends.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
)

// EnvURL names an existing server for the tests; its user needs CREATEDB.
const EnvURL = "ANGELA_TEST_DATABASE_URL"

// TimeZone is the session time zone of every test connection: far from UTC, so
// a test that confuses zones fails.
const TimeZone = "Asia/Bangkok"

var (
	adminURL string // a connection string to the maintenance database
	cluster  *managed.Cluster
	stateDir string

	// makeTemplateOnce makes the migrated template database on first use.
	makeTemplateOnce = sync.OnceValue(makeTemplate)
	seq              atomic.Int64

	// The second throwaway cluster, initialised with the C locale, that
	// CLocaleDB starts on first use and Run stops.
	startCLocaleOnce = sync.OnceValue(startCLocale)
	cCluster         *managed.Cluster
	cDir             string
	cAdmin           string
)

// Main runs m against a real PostgreSQL and exits with its result. Use it from
// TestMain in every package whose tests call DB or EmptyDB.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that has more to clean up: it returns the exit
// code instead of exiting.
func Run(m *testing.M) int {
	defer stopCLocale()
	if url := os.Getenv(EnvURL); url != "" {
		adminURL = url
		return m.Run()
	}
	dir, err := TempStateDir("angelad-pgtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	stateDir = dir
	cluster = managed.New(managed.Options{StateDir: dir, Fast: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	_, err = cluster.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: start throwaway cluster:", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop throwaway cluster:", err)
		}
	}()
	adminURL = cluster.ConnString("postgres")
	return m.Run()
}

// TempStateDir makes a temporary directory that a managed cluster can live in
// even when the tests run as root and the cluster as an unprivileged user: it is
// traversable by others (its contents are not readable by them) and its path is
// short enough for a Unix socket.
func TempStateDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// StateDir returns a fresh state directory for one test, removed after it.
func StateDir(t testing.TB) string {
	t.Helper()
	dir, err := TempStateDir("angelad-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// CLocaleDB creates a fresh, migrated database on a throwaway cluster
// initialised with the C locale (LC_CTYPE C: only ASCII letters are letters),
// started on first use and stopped when the test binary ends, and returns its
// connection string. It is for behaviour that depends on the cluster's
// locale, such as text search in Thai.
func CLocaleDB(t testing.TB) string {
	t.Helper()
	mustStart(t, startCLocaleOnce, "C-locale cluster")
	url := createOn(t, cAdmin, "template0")
	conn := Conn(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		t.Fatalf("pgtest: migrate C-locale database: %v", err)
	}
	return url
}

func startCLocale() error {
	dir, err := TempStateDir("angelad-pgtest-c-")
	if err != nil {
		return err
	}
	cDir = dir
	cCluster = managed.New(managed.Options{StateDir: dir, Fast: true, Locale: "C"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cCluster.Start(ctx); err != nil {
		return err
	}
	cAdmin = cCluster.ConnString("postgres")
	return nil
}

func stopCLocale() {
	if cCluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cCluster.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: stop C-locale cluster:", err)
	}
	os.RemoveAll(cDir)
}

// Cluster returns the throwaway managed cluster Main started, or nil when the
// tests run against ANGELA_TEST_DATABASE_URL.
func Cluster() *managed.Cluster { return cluster }

// ClusterStateDir returns the state directory of the throwaway cluster ("" when
// the tests run against ANGELA_TEST_DATABASE_URL).
func ClusterStateDir() string { return stateDir }

func mustAdmin(t testing.TB) {
	t.Helper()
	if adminURL == "" {
		t.Fatal("pgtest: call pgtest.Main from TestMain")
	}
}

// mustStart fails t unless Main ran and start, which does its work once and
// then returns the same error to every caller, succeeded.
func mustStart(t testing.TB, start func() error, what string) {
	t.Helper()
	mustAdmin(t)
	if err := start(); err != nil {
		t.Fatalf("pgtest: %s: %v", what, err)
	}
}

// DB creates a fresh, migrated database for this test, dropped when the test
// ends, and returns its connection string.
func DB(t testing.TB) string {
	t.Helper()
	mustStart(t, makeTemplateOnce, "template database")
	return create(t, templateName())
}

// EmptyDB creates a fresh database with no schema at all, dropped when the test
// ends, and returns its connection string.
func EmptyDB(t testing.TB) string {
	t.Helper()
	mustAdmin(t)
	return create(t, "template0")
}

// Conn connects to connString for the duration of the test.
func Conn(t testing.TB, connString string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := postgres.Connect(ctx, connString, TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func templateName() string { return fmt.Sprintf("angelad_template_%d", os.Getpid()) }

func makeTemplate() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := postgres.Connect(ctx, adminURL, TimeZone)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	name := templateName()
	if _, err := admin.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()+" template template0 encoding 'UTF8'"); err != nil {
		return err
	}
	conn, err := postgres.Connect(ctx, withDatabase(adminURL, name), TimeZone)
	if err != nil {
		return err
	}
	_, err = postgres.Migrate(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		return err
	}
	// When the tests share a server, drop the template when the binary ends is
	// not possible from here; a later run drops it by name, and names carry the
	// pid so concurrent packages never collide.
	return nil
}

func create(t testing.TB, template string) string {
	t.Helper()
	return createOn(t, adminURL, template)
}

func createOn(t testing.TB, adminURL, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := postgres.Connect(ctx, adminURL, TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("angelad_test_%d_%d", os.Getpid(), seq.Add(1))
	if _, err := admin.Exec(ctx, fmt.Sprintf("create database %s template %s encoding 'UTF8'",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := postgres.Connect(ctx, adminURL, TimeZone)
		if err != nil {
			t.Errorf("pgtest: drop database: %v", err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	return withDatabase(adminURL, name)
}

// withDatabase returns connString with its database replaced by name.
func withDatabase(connString, name string) string {
	// A keyword/value string takes the last value of a repeated keyword, and a
	// URL accepts dbname as a query parameter that overrides its path.
	if isURL(connString) {
		sep := "?"
		if strings.Contains(connString, "?") {
			sep = "&"
		}
		return connString + sep + "dbname=" + name
	}
	return connString + " dbname=" + name
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Settle vacuums and analyses tables on conn as autovacuum would some time
// after the writes that filled them, so that a test or benchmark planning on
// them sees the statistics and the visibility map of tables at rest (an
// index-only scan over pages missing from the map costs as much as a heap
// scan, and the planner rightly prefers the heap). A VACUUM run at once does
// not always get there: the throwaway clusters commit asynchronously, and a
// row whose commit is not flushed yet cannot be hinted committed, so its page
// stays out of the map; and a snapshot taken anywhere in the cluster (a
// backend connecting to another test's database) can hold back for a moment
// which rows count as visible to all. So the log is flushed first, and a
// table is vacuumed again, within a deadline, until the map covers it. The
// tables must not be written meanwhile.
func Settle(t testing.TB, conn *pgx.Conn, tables ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The commit waits for the flush only if its transaction wrote to the
	// log (an xid alone writes nothing before the commit record): the
	// message is such a write, open to every role, and read by nothing.
	if _, err := conn.Exec(ctx, `begin; set local synchronous_commit = on;
		select pg_logical_emit_message(true, 'pgtest', 'settle'); commit`); err != nil {
		t.Fatalf("pgtest: flush the log: %v", err)
	}
	for _, table := range tables {
		for {
			if _, err := conn.Exec(ctx, "vacuum analyze "+pgx.Identifier{table}.Sanitize()); err != nil {
				t.Fatalf("pgtest: vacuum %s: %v", table, err)
			}
			var pages, visible int64
			if err := conn.QueryRow(ctx, `select relpages, relallvisible from pg_class where oid = $1::regclass`,
				pgx.Identifier{table}.Sanitize()).Scan(&pages, &visible); err != nil {
				t.Fatalf("pgtest: vacuum %s: %v", table, err)
			}
			if visible >= pages {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("pgtest: vacuum %s: still %d of its %d pages all-visible at the deadline", table, visible, pages)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// Plan returns the EXPLAIN output of sql with args on conn, one line per plan
// node, so a test can check which index a statement walks.
func Plan(t testing.TB, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, "explain "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n") + "\n"
}

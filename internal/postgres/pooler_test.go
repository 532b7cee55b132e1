package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// hammer runs the same statements, with parameters, on every connection, in
// turns and side by side: through a pooler in transaction mode, statements
// prepared by name meet sessions that already have them, or lack them.
func hammer(ctx context.Context, conns []*pgx.Conn) error {
	errs := make(chan error, len(conns))
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 20 {
				var got int
				if err := conn.QueryRow(ctx, "select $1::int + $2::int", i, n).Scan(&got); err != nil {
					errs <- err
					return
				}
				if got != i+n {
					errs <- fmt.Errorf("got %d, want %d", got, i+n)
					return
				}
				if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "select pg_advisory_xact_lock($1)", n)
					return err
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func connectN(t *testing.T, url string, n int, opts ...postgres.Option) []*pgx.Conn {
	t.Helper()
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		conn, err := postgres.Connect(testContext(t), url, pgtest.TimeZone, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		conns[i] = conn
	}
	return conns
}

// TestConnectTellsAPoolerInTransactionModeApart: through PgBouncer in
// transaction mode, Connect finds the pooler and speaks as poolers need, so
// that statements run side by side on many connections; a direct connection
// keeps prepared statements.
func TestConnectTellsAPoolerInTransactionModeApart(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	direct := pgtest.DB(t)
	pooled := bouncer.URL(t, direct)
	ctx := testContext(t)

	conns := connectN(t, pooled, 4)
	for _, conn := range conns {
		if !postgres.PoolerProtocol(conn) {
			t.Fatal("Connect through PgBouncer did not tell the pooler apart")
		}
	}
	if err := hammer(ctx, conns); err != nil {
		t.Fatalf("statements through PgBouncer: %v", err)
	}
	var tz string
	if err := conns[0].QueryRow(ctx, "select current_setting('TimeZone')").Scan(&tz); err != nil || tz != pgtest.TimeZone {
		t.Errorf("the session time zone through PgBouncer = %q, %v; want %s", tz, err, pgtest.TimeZone)
	}
	if conn := connectN(t, direct, 1)[0]; postgres.PoolerProtocol(conn) {
		t.Error("Connect took a direct connection for a pooler")
	}
	// Said outright, nothing is asked, and the protocol is the pooler's.
	for _, url := range []string{pooled, direct} {
		conn := connectN(t, url, 1, postgres.WithPooler(postgres.PoolerTransaction))[0]
		if !postgres.PoolerProtocol(conn) {
			t.Errorf("WithPooler(transaction) on %s: statements prepared by name", url)
		}
	}
	// A mode chosen in the connection string is left as it is.
	if conn := connectN(t, pooled+" default_query_exec_mode=simple_protocol", 1)[0]; conn.Config().DefaultQueryExecMode != pgx.QueryExecModeSimpleProtocol {
		t.Errorf("default_query_exec_mode=simple_protocol became %v", conn.Config().DefaultQueryExecMode)
	}
}

// TestPoolerNoneThroughPgBouncerFailsForGood shows what database.pooler =
// none meets through PgBouncer in transaction mode: a prepared statement that
// already exists (42P05) or does not exist (26000) in the session the pooler
// picked. Waiting cures neither, so the error is not transient: a save gets
// it as an error, not as a spooled record.
func TestPoolerNoneThroughPgBouncerFailsForGood(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	conns := connectN(t, bouncer.DB(t), 4, postgres.WithPooler(postgres.PoolerNone))
	err := hammer(testContext(t), conns)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || (pgErr.Code != "42P05" && pgErr.Code != "26000") {
		t.Fatalf("prepared statements through PgBouncer in transaction mode: %v; want 42P05 or 26000", err)
	}
	if postgres.Transient(err) {
		t.Errorf("Transient(%v) = true: a save would be spooled for a fault waiting cannot cure", err)
	}
}

// TestPoolThroughPgBouncer: the daemon's pool asks once, before its first
// connection, and every connection it makes speaks as poolers need.
func TestPoolThroughPgBouncer(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	ctx := testContext(t)
	for _, p := range []postgres.Pooler{"", postgres.PoolerTransaction} {
		pool, err := postgres.NewPool(ctx, bouncer.DB(t), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 6, Pooler: p})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 30 {
					var got int
					if err := pool.QueryRow(ctx, "select $1::int * $2::int", i, n).Scan(&got); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Errorf("pool (pooler %q) through PgBouncer: %v", p, err)
		}
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !postgres.PoolerProtocol(conn.Conn()) {
			t.Errorf("pool (pooler %q): a connection prepares statements by name", p)
		}
		conn.Release()
		pool.Close()
	}
	// Direct, the pool keeps prepared statements.
	pool, err := postgres.NewPool(ctx, pgtest.DB(t), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if postgres.PoolerProtocol(conn.Conn()) {
		t.Error("a direct pool took its database for a pooler")
	}
}

// race runs Migrate (or MigrateWith files) on every connection at the same
// moment and returns how many migrations they applied between them.
func race(t *testing.T, conns []*pgx.Conn, files ...postgres.Migration) int {
	t.Helper()
	start := make(chan struct{})
	results := make([]postgres.MigrateResult, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if files == nil {
				results[i], errs[i] = postgres.Migrate(testContext(t), conn)
			} else {
				results[i], errs[i] = postgres.MigrateWith(testContext(t), conn, files...)
			}
		}()
	}
	close(start)
	wg.Wait()
	applied := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
		applied += results[i].Applied()
	}
	return applied
}

// TestMigrateRacingThroughPgBouncer: six processes migrating one database
// through PgBouncer in transaction mode, where a session advisory lock would
// be taken in one server session and released in another, apply each
// migration once between them: fresh, adopted, and with a migration that
// runs outside a transaction.
func TestMigrateRacingThroughPgBouncer(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	for _, url := range []string{pgtest.EmptyDB(t), pgtest.LegacyDB(t)} {
		conns := connectN(t, bouncer.URL(t, url), 6)
		if applied := race(t, conns); applied != int(postgres.LatestVersion()) {
			t.Errorf("the migrators applied %d migrations between them, want each of %d once", applied, postgres.LatestVersion())
		}
		if got := versionRows(t, conns[0]); len(got) != 1 || got[0] != postgres.LatestVersion() {
			t.Errorf("version table rows = %v, want exactly [%d]", got, postgres.LatestVersion())
		}
		for _, table := range memoryTables {
			count(t, conns[0], table)
		}
	}
	files := []postgres.Migration{
		{Name: "001_table.sql", SQL: "create table big (x text); insert into big select g::text from generate_series(1, 1000) g"},
		{Name: "002_index.sql", SQL: "---- tern: disable-tx ----\ncreate index concurrently if not exists big_x on big (x);\nanalyze big;\n"},
		{Name: "003_more.sql", SQL: "insert into big values ('once')"},
	}
	conns := connectN(t, bouncer.URL(t, pgtest.EmptyDB(t)), 6)
	if applied := race(t, conns, files...); applied != len(files) {
		t.Errorf("the migrators applied %d migrations between them, want each of %d once", applied, len(files))
	}
	var valid bool
	var once int
	if err := conns[0].QueryRow(testContext(t), "select indisvalid from pg_index where indexrelid = 'big_x'::regclass").Scan(&valid); err != nil || !valid {
		t.Errorf("the concurrent index: valid = %v, %v", valid, err)
	}
	if err := conns[0].QueryRow(testContext(t), "select count(*) from big where x = 'once'").Scan(&once); err != nil || once != 1 {
		t.Errorf("the row migration 3 inserts is there %d times (%v), want once", once, err)
	}
}

// TestMigrationsSetNothingBeyondTheirTransaction: through a pooler in
// transaction mode a session setting outlives the migration that made it and
// reaches whichever client the pooler hands that server session to next, so a
// migration sets things for its own transaction only (SET LOCAL,
// set_config(..., true)).
func TestMigrationsSetNothingBeyondTheirTransaction(t *testing.T) {
	files, err := postgres.MigrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	for name, sql := range files {
		for _, stmt := range postgres.SplitStatements(sql) {
			words := strings.Fields(strings.ToLower(withoutComments(stmt)))
			if len(words) > 1 && words[0] == "set" && words[1] != "local" || len(words) > 1 && words[0] == "reset" {
				t.Errorf("%s: a session setting: %s", name, stmt)
			}
			if strings.Contains(strings.ToLower(stmt), "set_config(") && !strings.Contains(strings.ToLower(stmt), "true)") {
				t.Errorf("%s: set_config beyond the transaction: %s", name, stmt)
			}
		}
	}
}

func withoutComments(stmt string) string {
	var lines []string
	for _, line := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// TestParametersThroughPgBouncer: through a pooler statements go without
// their description, and pgx types each parameter by its Go type alone; the
// raw uuids and uuid arrays the batch writes pass still go.
func TestParametersThroughPgBouncer(t *testing.T) {
	t.Parallel()
	conn := connectN(t, pgtest.StartPgBouncer(t).DB(t), 1)[0]
	id := uuid.New()
	for _, tc := range []struct {
		sql string
		arg any
	}{
		{"select $1::uuid::text", [16]byte(id)},
		{"select ($1::uuid[])[1]::text", [][16]byte{id}},
		{"select ($1::uuid[])[1]::text", []uuid.UUID{id}},
		{"select $1::uuid::text", id},
	} {
		var got string
		if err := conn.QueryRow(testContext(t), tc.sql, tc.arg).Scan(&got); err != nil || got != id.String() {
			t.Errorf("%s with %T: %q, %v", tc.sql, tc.arg, got, err)
		}
	}
}

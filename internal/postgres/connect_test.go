package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestCancelledContextCancelsTheStatementOnTheServer: a one-shot connection
// whose context ends sends a cancel request, so the server stops the
// statement (SQLSTATE 57014) and the connection stays usable, instead of
// being dropped with the statement still running.
func TestCancelledContextCancelsTheStatementOnTheServer(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	watch := pgtest.Conn(t, url)
	conn, err := postgres.Connect(context.Background(), url, pgtest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var pid uint32
	if err := conn.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() {
		// Cancel once the server runs the statement.
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			var active bool
			if err := watch.QueryRow(context.Background(),
				"select exists (select from pg_stat_activity where pid = $1 and state = 'active')", pid).Scan(&active); err == nil && active {
				break
			}
		}
		close(started)
		cancel()
	}()
	_, err = conn.Exec(ctx, "select pg_sleep(60)")
	<-started
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("Exec after cancel = %v, want the server's 57014 (canceling statement due to user request)", err)
	}
	if conn.IsClosed() {
		t.Fatal("the connection was dropped instead of the statement cancelled")
	}
	var one int
	if err := conn.QueryRow(context.Background(), "select 1").Scan(&one); err != nil {
		t.Errorf("the connection after the cancel: %v", err)
	}
}

// TestParseConfigAcceptsTheManagedClustersConnString: the check that refuses
// ambiguous connection strings must not refuse the managed cluster's, under a
// state directory with spaces (macOS's Application Support), quotes or
// backslashes.
func TestParseConfigAcceptsTheManagedClustersConnString(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"/var/lib/angelad", "/Users/david/Library/Application Support/angelad", `/tmp/it's\here`} {
		s := postgres.NewCluster(postgres.ClusterOptions{StateDir: dir}).ConnString(`we'ird=db`)
		cfg, err := postgres.ParseConfig(s, "UTC")
		if err != nil {
			t.Errorf("ParseConfig(%q): %v", s, err)
			continue
		}
		if cfg.Host != dir+"/run" || cfg.Database != `we'ird=db` {
			t.Errorf("ParseConfig(%q) = host %q database %q", s, cfg.Host, cfg.Database)
		}
	}
}

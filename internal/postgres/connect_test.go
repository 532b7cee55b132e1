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

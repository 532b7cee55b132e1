package postgres_test

import (
	"context"
	"errors"
	"fmt"
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
	cancelMidStatement(t, url, url)
}

// TestCancelledContextThroughPgBouncerLeavesThePoolerUp: the same through
// PgBouncer in transaction mode, which passes the cancel request on; and
// PgBouncer is still there afterwards (1.18 exits when the client of a cancel
// request hangs up before the request is passed on).
func TestCancelledContextThroughPgBouncerLeavesThePoolerUp(t *testing.T) {
	t.Parallel()
	bouncer := pgtest.StartPgBouncer(t)
	url := pgtest.DB(t)
	for range 3 {
		cancelMidStatement(t, bouncer.URL(t, url), url)
	}
	conn, err := postgres.Connect(context.Background(), bouncer.URL(t, url), pgtest.TimeZone)
	if err != nil {
		t.Fatalf("PgBouncer after the cancel requests: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "select 1"); err != nil {
		t.Fatalf("PgBouncer after the cancel requests: %v", err)
	}
}

// cancelMidStatement runs a long statement on a connection to url, cancels
// its context once the server (watched through watchURL) runs it, and checks
// that the server cancelled it and the connection is still usable.
func cancelMidStatement(t *testing.T, url, watchURL string) {
	t.Helper()
	watch := pgtest.Conn(t, watchURL)
	conn, err := postgres.Connect(context.Background(), url, pgtest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	marker := fmt.Sprintf("cancel me %d", time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() {
		// Cancel once the server runs the statement.
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			var active bool
			if err := watch.QueryRow(context.Background(),
				"select exists (select from pg_stat_activity where query like '%' || $1 || '%' and state = 'active' and pid <> pg_backend_pid())",
				marker).Scan(&active); err == nil && active {
				break
			}
		}
		close(started)
		cancel()
	}()
	_, err = conn.Exec(ctx, "select pg_sleep(60) -- "+marker)
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

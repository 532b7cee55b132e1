package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RefuseConnections makes the database of connString refuse new connections
// and ends its sessions, but those of keep, as an outage does to a pool: a
// real server's refusal (SQLSTATE 55000), not a fake. The function returned
// lets connections in again; the test's end does too.
func RefuseConnections(t testing.TB, connString string, keep ...*pgx.Conn) (allow func()) {
	t.Helper()
	mustAdmin(t)
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	name := pgx.Identifier{cfg.Database}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := Conn(t, adminURL)
	if _, err := admin.Exec(ctx, "alter database "+name+" allow_connections false"); err != nil {
		t.Fatal(err)
	}
	allowed := false
	allow = func() {
		t.Helper()
		if allowed {
			return
		}
		allowed = true
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "alter database "+name+" allow_connections true"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(allow)
	pids := []int64{}
	for _, c := range keep {
		pids = append(pids, int64(c.PgConn().PID()))
	}
	if _, err := admin.Exec(ctx, `select pg_terminate_backend(pid) from pg_stat_activity
		where datname = $1 and pid <> all($2::int8[])`, cfg.Database, pids); err != nil {
		t.Fatal(err)
	}
	return allow
}

package postgres_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// TestTransientKeepsOnlyWhatWaitingCures: a save is spooled for what passes by
// waiting, and fails for what waits for a person.
func TestTransientKeepsOnlyWhatWaitingCures(t *testing.T) {
	t.Parallel()
	pg := func(code, msg string) error {
		return fmt.Errorf("save: %w", &pgconn.PgError{Severity: "ERROR", Code: code, Message: msg})
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		// Waiting cures these.
		{refused, true},
		{&postgres.ConnectError{Where: "host=x", Err: refused}, true},
		{&net.DNSError{Err: "no such host", Name: "db.example", IsNotFound: true}, true},
		{io.ErrUnexpectedEOF, true},
		{context.DeadlineExceeded, true},
		{errors.New("start the managed PostgreSQL: pg_ctl: could not start server"), true},
		{pg("08006", "connection failure"), true},
		{pg("08P01", "pgbouncer cannot connect to server"), true},
		{pg("08P01", "no more connections allowed (max_client_conn)"), true},
		{pg("08P01", "query_wait_timeout"), true},
		{pg("08P01", "server login has been failing, try again later (server_login_retry)"), true},
		{pg("57P01", "terminating connection due to administrator command"), true},
		{pg("57P03", "the database system is starting up"), true},
		{pg("57014", "canceling statement due to statement timeout"), true},
		{pg("53300", "sorry, too many clients already"), true},
		{pg("53100", "could not extend file: No space left on device"), true},
		{pg("40001", "could not serialize access"), true},
		{pg("40P01", "deadlock detected"), true},
		{pg("55P03", "canceling statement due to lock timeout"), true},
		{pg("25006", "cannot execute INSERT in a read-only transaction"), true},
		{pg("58030", "could not read block"), true},
		{&postgres.ConnectError{Where: "host=x", Err: &pgconn.PgError{Code: "57P03"}}, true},
		// These wait for a person.
		{pg("42P05", `prepared statement "stmtcache_1" already exists`), false},
		{pg("26000", `prepared statement "stmtcache_1" does not exist`), false},
		{pg("08P01", `"trust" authentication failed`), false},
		{pg("08P01", "password authentication failed"), false},
		{pg("08P01", "no such database: angela"), false},
		{pg("08P01", "no such user: david"), false},
		{pg("08P01", `database "angela" does not exist`), false},
		{pg("08P01", "unsupported startup parameter: search_path"), false},
		{pg("08P01", "SSL required"), false},
		{&postgres.ConnectError{Where: "host=x", Err: &pgconn.PgError{Code: "28P01", Message: "password authentication failed for user \"angela\""}}, false},
		{&postgres.ConnectError{Where: "host=x", Err: &pgconn.PgError{Code: "3D000"}}, false},
		{pg("42501", "permission denied for table conversations"), false},
		{pg("42P01", "relation does not exist"), false},
		{pg("0A000", "feature not supported"), false},
		{pg("57P04", "database dropped"), false},
		{pg("XX000", "internal error"), false},
		{pg("23505", "duplicate key"), false},
		{pg("22001", "value too long"), false},
		{&text.FieldError{Field: "emotion", Problem: "must not be empty"}, false},
		{&postgres.InvalidURLError{Reason: "it cannot be parsed"}, false},
		{fmt.Errorf("connect: %w", x509.UnknownAuthorityError{}), false},
		{nil, false},
	} {
		if got := postgres.Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

package postgres

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Transient reports whether err, from reaching the database or writing to it,
// may pass by waiting: the database is away, starting, shutting down, out of
// connections or busy. A save that fails so is kept (spooled) and stored once
// the database is back. Everything else needs someone to change something
// first (the configuration, the database, angelad), and keeping a record for
// it would only pile records up in a spool that cannot drain: such a save
// fails with its error instead. A row the database refuses for good
// (RowRejected) is never transient.
//
// Transient, because time heals them:
//   - no connection or a lost one, and timeouts: a refused or reset
//     connection, a missing socket, a name that does not resolve (the machine
//     is offline), a context deadline, SQLSTATE class 08 (connection
//     exception), except the configuration faults a pooler reports under
//     08P01 (see poolerFault);
//   - the server starting, shutting down, restarting or cancelling a
//     statement (class 57, except 57P04: the database was dropped);
//   - out of resources: too many connections, disk full, out of memory
//     (class 53); a lock not granted in time or an object in use (55P03,
//     55006); serialization failures and deadlocks (class 40); a read-only
//     server, as while a standby is being promoted (25006); an I/O error
//     (58000, 58030);
//   - any error the server did not answer with an SQLSTATE and that is not
//     named below (the managed cluster failing to start, say), since what
//     cannot be told apart is better kept than lost.
//
// Not transient, because they wait for a person:
//   - every other SQLSTATE: a refused login (28), a database, table or column
//     that does not exist (3D, 42), missing privileges (42501), a statement
//     the server or a pooler cannot take, such as a prepared statement that
//     already exists or does not exist (42P05, 26000: a pooler in transaction
//     mode with database.pooler = none), an internal error (XX), and the rows
//     the database refuses (RowRejected);
//   - an invalid connection string (*InvalidURLError) and a server
//     certificate that does not verify.
func Transient(err error) bool {
	if err == nil || RowRejected(err) {
		return false
	}
	if errors.As(err, new(*InvalidURLError)) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientCode(pgErr)
	}
	if certificateFault(err) {
		return false
	}
	return true
}

// transientCode classifies what the server, or a pooler speaking for it,
// answered.
func transientCode(e *pgconn.PgError) bool {
	code := e.Code
	if len(code) != 5 {
		return false
	}
	switch code {
	case "25006", "55P03", "55006", "58000", "58030":
		return true
	case "57P04":
		return false
	case "08P01":
		return !poolerFault(e.Message)
	}
	switch code[:2] {
	case "08", "40", "53", "57":
		return true
	}
	return false
}

// poolerFaults are what PgBouncer says, under SQLSTATE 08P01 (which it uses
// for nearly everything, "cannot connect to server" included), when the
// fault is in the configuration: a login it refuses, a database or user it
// does not know, a startup parameter it does not pass on, TLS it requires.
var poolerFaults = []string{
	"authentication failed",
	"no such database",
	"no such user",
	"does not exist",
	"unsupported startup parameter",
	"SSL required",
}

func poolerFault(msg string) bool {
	for _, f := range poolerFaults {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}

// certificateFault reports whether err says that the server's certificate
// does not verify (sslmode verify-ca or verify-full).
func certificateFault(err error) bool {
	return errors.As(err, new(*tls.CertificateVerificationError)) || errors.As(err, new(x509.UnknownAuthorityError)) ||
		errors.As(err, new(x509.HostnameError)) || errors.As(err, new(x509.CertificateInvalidError))
}

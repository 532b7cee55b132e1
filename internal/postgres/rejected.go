package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/text"
)

// RowRejected reports whether err, from writing a row, says that the row will
// be refused whatever is done again: its writer sets it aside (the spool's
// rejected/, a transcript line skipped and counted) or reports it, instead of
// keeping it to retry later. Everything else is transient: it is about the
// database, not the row, and the same row may be stored once that passes.
//
// Rejected, because they are about the row:
//   - a *text.FieldError: the row is invalid, or its id is already stored for
//     a different row;
//   - SQLSTATE class 22 (data exception: a value too long for a narrower
//     column of an adopted database, a character its encoding lacks, a number
//     out of range), class 23 (integrity constraint violation: a check, not
//     null, foreign key or unique constraint of an adopted database) and class
//     54 (program limit exceeded: a value too large for an index).
//
// Transient, because they are about the database or its configuration and
// apply to every row alike: no connection or a lost one (whatever the server
// said while a connection was being made), timeouts (class 08, context
// deadlines), the server starting, shutting down or in recovery (57), out of
// resources such as disk or connections (53), serialization failures and
// deadlocks (40), a read-only standby (25), missing privileges, tables or
// columns (42, 28, 3D), system and internal errors (58, XX), and any class not
// named above.
func RowRejected(err error) bool {
	if err == nil || errors.As(err, new(*pgconn.ConnectError)) || errors.As(err, new(*ConnectError)) {
		// Whatever the server said while a connection was being made is about
		// the connection (a bad setting, a refused login), never the row.
		return false
	}
	var fe *text.FieldError
	if errors.As(err, &fe) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}

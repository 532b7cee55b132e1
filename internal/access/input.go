package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/socket"
	"github.com/angela-ai/angelad/internal/text"
)

// given reads the time and id a save was given, at and id, as the fields
// atField and idField. An error quotes what it was given, so what it is
// given is redacted first: a time or a UUID is never changed by that, and a
// secret pasted where one belongs does not reach the error, the log line of
// it, or the terminal.
func (c *Client) given(atField, at, idField, id string) (time.Time, uuid.UUID, error) {
	at, _ = c.o.Redactor.Redact(at)
	id, _ = c.o.Redactor.Redact(id)
	t, err := parseAt(atField, at, c.o.Now())
	if err != nil {
		return time.Time{}, uuid.UUID{}, err
	}
	u, err := parseID(idField, id)
	return t, u, err
}

// parseAt reads the time a save was given (--at, the tools' at) as field;
// empty means now, decided by the database.
func parseAt(field, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &text.FieldError{Field: field, Problem: fmt.Sprintf("must be an RFC 3339 time such as 2025-11-08T21:30:00+07:00, got %q", s)}
	}
	// A memory from before 1970 or from tomorrow is a typo, and one far in the
	// future would head every newest-first list for good: the rule capture
	// applies to transcript times too.
	if !conversation.TimeInRange(t, now) {
		return time.Time{}, &text.FieldError{Field: field, Problem: fmt.Sprintf("must be between 1970-01-01 and a day from now, got %s", s)}
	}
	return t, nil
}

// parseID reads the id a save was given (--id, the tools' id) as field; empty
// means a new one.
func parseID(field, s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.UUID{}, nil
	}
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.UUID{}, &text.FieldError{Field: field, Problem: fmt.Sprintf("must be a UUID such as 0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70, got %q", s)}
	}
	if id == uuid.Nil {
		// The zero id means "none given" to the stores, which would store a
		// new row on every retry of the same save.
		return uuid.UUID{}, &text.FieldError{Field: field, Problem: "must not be the nil UUID 00000000-0000-0000-0000-000000000000: give any other UUID, or leave it out for a new one"}
	}
	return id, nil
}

// IsInput reports whether err, returned by a Client, is the caller's to fix:
// invalid input (a field, or a request the daemon refused) or a configuration
// that names no usable database. Retrying it, now or from the spool, cannot
// help.
func IsInput(err error) bool {
	var fe *text.FieldError
	var ue *socket.UsageError
	var iu *postgres.InvalidURLError
	var ce *config.Error
	return errors.As(err, &fe) || errors.As(err, &ue) || errors.As(err, &iu) || errors.As(err, &ce)
}

// spoolable reports whether a save of a valid record that failed with err
// goes to the spool: when the database could not take it for a reason that
// may pass by waiting (see postgres.Transient: unreachable, refusing
// connections, starting, shutting down, timing out, the managed cluster
// failing to start). Not spooled: invalid input and configuration (see
// IsInput), a refusal of this record that would be rejected again when
// drained (postgres.RowRejected), a fault that waits for a person (a refused
// login, a pooler the protocol does not suit: exit 1), and a cancelled call.
func spoolable(ctx context.Context, err error) bool {
	switch {
	case err == nil, ctx.Err() != nil, IsInput(err), postgres.RowRejected(err):
		return false
	case postgres.IsSchemaMissing(err):
		// A database without angelad's schema that this process may not
		// migrate (NoMigrate): the daemon migrates it, then drains the spool.
		return true
	}
	return postgres.Transient(err)
}

//go:build !unix

package pgtest

import "testing"

// PgBouncer is not started on this platform.
type PgBouncer struct{}

// StartPgBouncer skips the test: the helper runs PgBouncer the Unix way.
func StartPgBouncer(t testing.TB) *PgBouncer {
	t.Skip("pgtest: the tests through PgBouncer run on Unix only")
	return nil
}

// URL is never reached.
func (b *PgBouncer) URL(t testing.TB, connString string) string { return connString }

// DB is never reached.
func (b *PgBouncer) DB(t testing.TB) string { return DB(t) }

package postgres

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable records the schema version angelad's migrations have reached:
// one row, one integer, the number of migrations applied. Earlier angelad
// releases kept it through tern in the same shape, so databases they migrated
// carry on from where they are.
const VersionTable = "public.angelad_schema_version"

// migrateLock is the advisory lock a migration holds: the number the earlier
// tern-based releases used too, so that an old and a new angelad never migrate
// one database at the same moment (their session lock and angelad's
// transaction lock on one number exclude each other).
const migrateLock = int64(9628173550095224)

// noTxDirective on a line of its own makes a migration run outside a
// transaction, one statement at a time, for the statements PostgreSQL refuses
// inside one (CREATE INDEX CONCURRENTLY on a big table that must stay
// writable). It is the line tern used, so such files read the same to both.
var noTxDirective = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^---- tern: disable-tx ----$`) })

// migration is one embedded SQL file: NNN_name.sql, applied as version NNN.
type migration struct {
	version int32
	name    string
	sql     string
	noTx    bool
}

// MigrateResult reports what Migrate did.
type MigrateResult struct {
	// From is the version Migrate found, To the version it left.
	From, To int32
	// applied counts the migrations this call applied, which is less than
	// To - From when another process applied some meanwhile.
	applied int
}

// Applied is the number of migrations this call applied.
func (r MigrateResult) Applied() int { return r.applied }

// LatestVersion is the schema version this binary's migrations lead to.
func LatestVersion() int32 {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		panic(err) // the pattern is a constant
	}
	return int32(len(names))
}

// loadMigrations reads the embedded migrations in order. They are numbered
// from 1 without gaps or repeats; anything else is a build mistake that the
// tests catch.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 32)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration file %s: want NNN_name.sql", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: int32(v), name: name, sql: string(body), noTx: noTxDirective().Match(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i, m := range ms {
		if m.version != int32(i+1) {
			return nil, fmt.Errorf("migration %s: want version %d here: migrations are numbered from 1 without gaps or repeats", m.name, i+1)
		}
	}
	return ms, nil
}

// Migrate brings the schema up to date. Each migration runs in a transaction
// of its own that takes an advisory lock, reads the version, applies the
// migration after it and moves the version on; so a daemon and one-shot
// commands migrating the same database at the same moment apply each migration
// once, also through a connection pooler in transaction mode, which keeps no
// lock beyond a transaction. A schema found up to date costs one read and no
// lock.
func Migrate(ctx context.Context, conn *pgx.Conn) (res MigrateResult, err error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	ms, err := loadMigrations(sub)
	if err != nil {
		return res, fmt.Errorf("migrate: load migrations: %w", err)
	}
	return migrate(ctx, conn, ms)
}

func migrate(ctx context.Context, conn *pgx.Conn, ms []migration) (res MigrateResult, err error) {
	latest := int32(len(ms))
	v, err := SchemaVersion(ctx, conn)
	if err != nil {
		return res, fmt.Errorf("migrate: read schema version: %w", err)
	}
	if err := checkVersion(v, latest); err != nil || v == latest {
		return MigrateResult{From: v, To: v}, err
	}
	if err := createVersionTable(ctx, conn); err != nil {
		return res, err
	}
	for first := true; ; first = false {
		found, applied, err := step(ctx, conn, ms)
		if first {
			res.From = found
		}
		if err != nil {
			return res, err
		}
		if !applied {
			res.To = found
			return res, nil
		}
		res.To = found + 1
		res.applied++
	}
}

// checkVersion refuses a schema version this binary cannot migrate from.
func checkVersion(v, latest int32) error {
	switch {
	case v > latest:
		return fmt.Errorf("migrate: the database schema is at version %d, newer than this angelad knows (%d): upgrade angelad", v, latest)
	case v < 0:
		return fmt.Errorf("migrate: the database schema is at version %d, which is not a version", v)
	}
	return nil
}

// lockWait bounds the wait between two tries for the migration lock.
const lockWait = 200 * time.Millisecond

// begin opens a transaction that holds the migration lock. It tries for the
// lock, and while another transaction holds it, ends its own and tries again
// in a new one, rather than wait inside a statement: a session waiting for a
// lock holds a snapshot, and CREATE INDEX CONCURRENTLY, run on another
// connection for the holder of the lock (see applyOutside), waits for every
// transaction holding a snapshot older than its own, which would wait for it
// in turn. For the same reason the try, and the version read after it, go by
// the simple protocol, which leaves no portal open in the transaction and so
// no snapshot either.
func begin(ctx context.Context, conn *pgx.Conn) (pgx.Tx, error) {
	wait := 5 * time.Millisecond
	for {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: begin: %w", err)
		}
		var locked bool
		err = tx.QueryRow(ctx, "select pg_try_advisory_xact_lock($1)", pgx.QueryExecModeSimpleProtocol, migrateLock).Scan(&locked)
		if err == nil && locked {
			return tx, nil
		}
		tx.Rollback(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("migrate: lock: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, lockWait)
	}
}

// createVersionTable makes the version table, at version 0, unless it
// exists; under the lock, since two sessions creating one table at the same
// moment may both try.
func createVersionTable(ctx context.Context, conn *pgx.Conn) error {
	tx, err := begin(ctx, conn)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `create table if not exists `+VersionTable+`(version int4 not null);
insert into `+VersionTable+`(version) select 0 where not exists (select from `+VersionTable+`)`); err != nil {
		return fmt.Errorf("migrate: prepare version table: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: prepare version table: %w", err)
	}
	return nil
}

// step applies, under the lock, the migration after the version it finds, and
// says which version it found and whether there was one to apply.
func step(ctx context.Context, conn *pgx.Conn, ms []migration) (found int32, applied bool, err error) {
	fail := func(m migration, err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return fmt.Errorf("migrate: migration %s: %s", m.name, pgErr.Message)
		}
		return fmt.Errorf("migrate: migration %s: %w", m.name, err)
	}
	tx, err := begin(ctx, conn)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := tx.QueryRow(ctx, "select version from "+VersionTable, pgx.QueryExecModeSimpleProtocol).Scan(&found); err != nil {
		return 0, false, fmt.Errorf("migrate: read schema version: %w", err)
	}
	latest := int32(len(ms))
	if err := checkVersion(found, latest); err != nil || found == latest {
		return found, false, err
	}
	m := ms[found]
	if m.noTx {
		// PostgreSQL refuses these statements inside a transaction, so they
		// run on a connection of their own while this transaction holds the
		// lock. Each statement on its own: a failure leaves the earlier ones
		// applied, so such a file must be written to be re-run (if not
		// exists), and the version moves only once all of it succeeded.
		if err := applyOutside(ctx, conn.Config(), m); err != nil {
			return found, false, fail(m, err)
		}
	} else if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		// The simple protocol runs the whole file, every statement, in one
		// round trip.
		return found, false, fail(m, err)
	}
	if _, err := tx.Exec(ctx, "update "+VersionTable+" set version = $1", m.version); err != nil {
		return found, false, fail(m, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return found, false, fail(m, err)
	}
	return found, true, nil
}

// applyOutside runs the statements of a migration that must run outside a
// transaction, one by one, on a new connection made as cfg says.
func applyOutside(ctx context.Context, cfg *pgx.ConnConfig, m migration) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeConn(ctx, conn)
	for _, stmt := range splitStatements(m.sql) {
		if _, err := conn.Exec(ctx, stmt, pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
	}
	return nil
}

// splitStatements cuts SQL into statements at the semicolons that end them,
// not those inside quotes, quoted identifiers, dollar-quoted bodies or
// comments. Empty statements are dropped.
func splitStatements(sql string) []string {
	var out []string
	start := 0
	emit := func(end int) {
		if s := strings.TrimSpace(sql[start:end]); s != "" && !onlyComments(s) {
			out = append(out, s)
		}
		start = end + 1
	}
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == ';':
			emit(i)
		case c == '\'' || c == '"':
			// '' and "" inside are escaped quotes: skipping to the next
			// quote and going on handles them as two adjacent strings. An
			// E'...' string may also escape a quote with a backslash.
			escapes := c == '\'' && i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e')
			for i++; i < len(sql) && sql[i] != c; i++ {
				if escapes && sql[i] == '\\' {
					i++
				}
			}
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			depth := 0
			for ; i < len(sql); i++ {
				if strings.HasPrefix(sql[i:], "/*") {
					depth++
					i++
				} else if strings.HasPrefix(sql[i:], "*/") {
					depth--
					i++
					if depth == 0 {
						break
					}
				}
			}
		case c == '$':
			if tag := dollarTag(sql[i:]); tag != "" {
				if j := strings.Index(sql[i+len(tag):], tag); j >= 0 {
					i += len(tag) + j + len(tag) - 1
				} else {
					i = len(sql)
				}
			}
		}
	}
	emit(len(sql))
	return out
}

// dollarTag returns the opening tag ($$ or $name$) at the start of s, or "".
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1]
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9') {
			return ""
		}
	}
	return ""
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "--") {
			return false
		}
	}
	return true
}

// SchemaVersion returns the schema version of the database, 0 when angelad has
// never migrated it (nor has an earlier release left its version table
// empty).
func SchemaVersion(ctx context.Context, q DB) (int32, error) {
	var v int32
	err := q.QueryRow(ctx, "select version from "+VersionTable).Scan(&v)
	if IsSchemaMissing(err) || errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// IsSchemaMissing reports whether err says that a table or column angelad needs
// does not exist, meaning the database has not been migrated (far enough) yet.
func IsSchemaMissing(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "42703")
}

// ZonelessColumns lists angelad's time columns that are TIMESTAMP without time
// zone, as in a database the Python original created ("table.column"). Their
// values are read and written in the session time zone, so that zone must not
// drift: the callers warn when it is only the machine's default.
func ZonelessColumns(ctx context.Context, q DB) ([]string, error) {
	rows, err := q.Query(ctx, `
select table_name || '.' || column_name
from information_schema.columns
where table_schema = current_schema()
  and data_type = 'timestamp without time zone'
  and (table_name, column_name) in (('conversations', 'created_at'), ('angela_emotions', 'felt_at'), ('angela_journal', 'created_at'))
order by 1`)
	if err != nil {
		return nil, fmt.Errorf("zoneless columns: %w", err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("zoneless columns: %w", err)
	}
	return cols, nil
}

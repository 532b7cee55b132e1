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

// migrateLock is the advisory lock held while migrating: the number the
// earlier tern-based releases used too, so that an old and a new angelad
// never migrate one database at the same moment.
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
	From, To int32
}

// Applied is the number of migrations this call applied.
func (r MigrateResult) Applied() int { return int(r.To - r.From) }

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

// Migrate brings the schema up to date. It holds an advisory lock while it works,
// so a daemon and one-shot commands migrating the same database at the same moment
// apply each migration once; each migration runs in its own transaction, which
// also moves the version on.
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
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", migrateLock); err != nil {
		return res, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// On a fresh context: a cancelled one would leave the lock with the
		// session until it closes.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, "select pg_advisory_unlock($1)", migrateLock); uerr != nil && err == nil && !conn.IsClosed() {
			err = fmt.Errorf("migrate: unlock: %w", uerr)
		}
	}()
	if _, err := conn.Exec(ctx, `create table if not exists `+VersionTable+`(version int4 not null);
insert into `+VersionTable+`(version) select 0 where not exists (select from `+VersionTable+`)`); err != nil {
		return res, fmt.Errorf("migrate: prepare version table: %w", err)
	}
	if res.From, err = SchemaVersion(ctx, conn); err != nil {
		return res, fmt.Errorf("migrate: read schema version: %w", err)
	}
	latest := int32(len(ms))
	if res.From > latest {
		return res, fmt.Errorf("migrate: the database schema is at version %d, newer than this angelad knows (%d): upgrade angelad", res.From, latest)
	}
	if res.From < 0 {
		return res, fmt.Errorf("migrate: the database schema is at version %d, which is not a version", res.From)
	}
	res.To = res.From
	for _, m := range ms[res.From:] {
		if err := apply(ctx, conn, m); err != nil {
			return res, err
		}
		res.To = m.version
	}
	return res, nil
}

// apply runs one migration and records its version, in one transaction
// unless the file asks to run outside one.
func apply(ctx context.Context, conn *pgx.Conn, m migration) error {
	fail := func(err error) error {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return fmt.Errorf("migrate: migration %s: %s", m.name, pgErr.Message)
		}
		return fmt.Errorf("migrate: migration %s: %w", m.name, err)
	}
	setVersion := "update " + VersionTable + " set version = $1"
	if m.noTx {
		// Each statement on its own: a failure leaves the earlier ones
		// applied, so such a file must be written to be re-run (if not
		// exists), and the version moves only once all of it succeeded.
		for _, stmt := range splitStatements(m.sql) {
			if _, err := conn.Exec(ctx, stmt, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fail(err)
			}
		}
		if _, err := conn.Exec(ctx, setVersion, m.version); err != nil {
			return fail(err)
		}
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The simple protocol runs the whole file, every statement, in one round trip.
	if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fail(err)
	}
	if _, err := tx.Exec(ctx, setVersion, m.version); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	// A migration may have changed session settings (search_path); the
	// connection goes on serving the command that migrated it.
	if _, err := conn.Exec(ctx, "reset all"); err != nil {
		return fail(err)
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
// never migrated it.
func SchemaVersion(ctx context.Context, q DB) (int32, error) {
	var v int32
	err := q.QueryRow(ctx, "select version from "+VersionTable).Scan(&v)
	if IsSchemaMissing(err) {
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

package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable records the schema version angelad's migrations have reached.
const VersionTable = "public.angelad_schema_version"

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

// Migrate brings the schema up to date. It holds an advisory lock while it works,
// so a daemon and one-shot commands migrating the same database at the same moment
// apply each migration once; each migration runs in its own transaction.
func Migrate(ctx context.Context, conn *pgx.Conn) (MigrateResult, error) {
	var res MigrateResult
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return res, fmt.Errorf("migrate: prepare version table: %w", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return res, fmt.Errorf("migrate: load migrations: %w", err)
	}
	if res.From, err = m.GetCurrentVersion(ctx); err != nil {
		return res, fmt.Errorf("migrate: read schema version: %w", err)
	}
	if res.From > LatestVersion() {
		return res, fmt.Errorf("migrate: the database schema is at version %d, newer than this angelad knows (%d): upgrade angelad", res.From, LatestVersion())
	}
	// Count the migrations this call applies rather than trusting the version
	// read above: another process may migrate between that read and tern
	// taking its lock, and From must not then claim that process's work.
	var applied int32
	m.OnStart = func(int32, string, string, string) { applied++ }
	if err := m.Migrate(ctx); err != nil {
		var me migrate.MigrationPgError
		if errors.As(err, &me) {
			return res, fmt.Errorf("migrate: migration %s: %s", me.MigrationName, me.PgError.Message)
		}
		return res, fmt.Errorf("migrate: %w", err)
	}
	if res.To, err = m.GetCurrentVersion(ctx); err != nil {
		return res, fmt.Errorf("migrate: read schema version: %w", err)
	}
	res.From = res.To - applied
	return res, nil
}

// SchemaVersion returns the schema version of the database, 0 when angelad has
// never migrated it.
func SchemaVersion(ctx context.Context, q Querier) (int32, error) {
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
func ZonelessColumns(ctx context.Context, q Querier) ([]string, error) {
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

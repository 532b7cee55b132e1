package postgres

import (
	"context"
	"io/fs"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
)

// Migration is a migration of a test's own, for MigrateWith.
type Migration struct {
	Name, SQL string
}

// MigrateWith is Migrate with the migrations given instead of the embedded
// ones, loaded by the same rules (NNN_name.sql, numbered from 1).
func MigrateWith(ctx context.Context, conn *pgx.Conn, files ...Migration) (MigrateResult, error) {
	fsys := fstest.MapFS{}
	for _, f := range files {
		fsys[f.Name] = &fstest.MapFile{Data: []byte(f.SQL)}
	}
	ms, err := loadMigrations(fsys)
	if err != nil {
		return MigrateResult{}, err
	}
	return migrate(ctx, conn, ms)
}

// SplitStatements exposes splitStatements.
var SplitStatements = splitStatements

// MigrationFiles returns the embedded migrations by file name.
func MigrationFiles() (map[string]string, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	ms, err := loadMigrations(sub)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.name] = m.sql
	}
	return out, nil
}

package postgres

import (
	"context"
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

package postgres

import (
	"context"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
)

// FindBinDirIn is FindBinDir with the PATH and the install patterns given, so
// tests can point discovery at a tree of their own.
func FindBinDirIn(override, path string, patterns []string) (string, error) {
	return findBinDir(context.Background(), override, binSearch{path: path, patterns: patterns}, "", "")
}

// FindClusterBinDirIn is FindBinDirIn for the cluster in dataDir, as Start
// looks for its programs.
func FindClusterBinDirIn(override, dataDir, path string, patterns []string) (string, error) {
	bin, _, err := findClusterBinDir(context.Background(), override, binSearch{path: path, patterns: patterns}, dataDir)
	return bin, err
}

// NewClusterSearchingIn is NewCluster with discovery pointed at the PATH and
// install patterns given.
func NewClusterSearchingIn(opts ClusterOptions, path string, patterns []string) *Cluster {
	c := NewCluster(opts)
	c.search = &binSearch{path: path, patterns: patterns}
	return c
}

// ProgramEnv is the environment the server programs get from env.
func ProgramEnv(env []string) []string { return programEnv(env) }

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

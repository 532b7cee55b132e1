package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestSplitStatementsRespectsQuotesCommentsAndDollarBodies(t *testing.T) {
	sql := `---- tern: disable-tx ----
-- a comment; with a semicolon
create table t (a text default 'x;y', "b;c" int);
insert into t values (E'it\'s; here', 1), ('it''s; there', 2);
/* a block; /* nested; */ still; */ create index concurrently if not exists t_a on t (a);
do $body$ begin perform 1; end $body$;
select $$;$$, 1;  ;
-- trailing comment only`
	got := postgres.SplitStatements(sql)
	want := []string{
		"---- tern: disable-tx ----\n-- a comment; with a semicolon\ncreate table t (a text default 'x;y', \"b;c\" int)",
		`insert into t values (E'it\'s; here', 1), ('it''s; there', 2)`,
		"/* a block; /* nested; */ still; */ create index concurrently if not exists t_a on t (a)",
		"do $body$ begin perform 1; end $body$",
		"select $$;$$, 1",
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("split:\n got %q\nwant %q", got, want)
	}
}

func TestMigratorRefusesGapsRepeatsAndBadNames(t *testing.T) {
	conn := pgtest.Conn(t, pgtest.EmptyDB(t))
	for _, tc := range []struct {
		files []postgres.Migration
		want  string
	}{
		{[]postgres.Migration{{"001_a.sql", "select 1"}, {"003_c.sql", "select 1"}}, "migration 003_c.sql: want version 2 here"},
		{[]postgres.Migration{{"001_a.sql", "select 1"}, {"001_b.sql", "select 1"}}, "migration 001_b.sql: want version 2 here"},
		{[]postgres.Migration{{"one.sql", "select 1"}}, "migration file one.sql: want NNN_name.sql"},
	} {
		_, err := postgres.MigrateWith(testContext(t), conn, tc.files...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.files, err, tc.want)
		}
	}
	var exists bool
	if err := conn.QueryRow(testContext(t), "select to_regclass($1) is not null", postgres.VersionTable).Scan(&exists); err != nil || exists {
		t.Errorf("refused migrations touched the database: version table exists = %v, %v", exists, err)
	}
}

func TestMigratorRollsBackAFailedMigrationWhole(t *testing.T) {
	conn := pgtest.Conn(t, pgtest.EmptyDB(t))
	ok := postgres.Migration{Name: "001_ok.sql", SQL: "create table a (x int)"}
	bad := postgres.Migration{Name: "002_bad.sql", SQL: "create table b (x int); insert into b values (1); select 1/0"}
	_, err := postgres.MigrateWith(testContext(t), conn, ok, bad)
	if err == nil || err.Error() != "migrate: migration 002_bad.sql: division by zero" {
		t.Fatalf("err = %v", err)
	}
	if got := versionRows(t, conn); len(got) != 1 || got[0] != 1 {
		t.Errorf("version after the failure = %v, want [1]", got)
	}
	var b bool
	if err := conn.QueryRow(testContext(t), "select to_regclass('b') is not null").Scan(&b); err != nil || b {
		t.Errorf("the failed migration's table b survived: %v %v", b, err)
	}
	// Fixed, it applies from where it stopped.
	bad.SQL = "create table b (x int)"
	res, err := postgres.MigrateWith(testContext(t), conn, ok, bad)
	if err != nil || res.From != 1 || res.To != 2 {
		t.Errorf("after the fix: %+v, %v", res, err)
	}
}

func TestMigratorRunsANoTxMigrationStatementByStatement(t *testing.T) {
	conn := pgtest.Conn(t, pgtest.EmptyDB(t))
	files := []postgres.Migration{
		{"001_table.sql", "create table big (x text); insert into big select g::text from generate_series(1, 1000) g"},
		// Inside a transaction PostgreSQL refuses CREATE INDEX CONCURRENTLY.
		{"002_index.sql", "---- tern: disable-tx ----\ncreate index concurrently if not exists big_x on big (x);\nanalyze big;\n"},
	}
	res, err := postgres.MigrateWith(testContext(t), conn, files...)
	if err != nil || res.To != 2 {
		t.Fatalf("MigrateWith = %+v, %v", res, err)
	}
	var valid bool
	if err := conn.QueryRow(testContext(t), "select indisvalid from pg_index where indexrelid = 'big_x'::regclass").Scan(&valid); err != nil || !valid {
		t.Errorf("the concurrent index: valid = %v, %v", valid, err)
	}
	// The same file in a transaction fails: the directive is what made it work.
	conn2 := pgtest.Conn(t, pgtest.EmptyDB(t))
	files[1].SQL = strings.Replace(files[1].SQL, "---- tern: disable-tx ----\n", "", 1)
	if _, err := postgres.MigrateWith(testContext(t), conn2, files...); err == nil || !strings.Contains(err.Error(), "cannot run inside a transaction block") {
		t.Errorf("concurrent index in a transaction: %v", err)
	}
}

func TestMigratorContinuesADatabaseTernMigrated(t *testing.T) {
	conn := pgtest.Conn(t, pgtest.EmptyDB(t))
	// What an earlier, tern-based angelad left: the table in tern's shape at
	// version 1, with migration 1 applied.
	mustExec(t, conn, "create table "+postgres.VersionTable+"(version int4 not null); insert into "+postgres.VersionTable+" values (1)")
	mustExec(t, conn, "create table a (x int)")
	res, err := postgres.MigrateWith(testContext(t), conn,
		postgres.Migration{Name: "001_a.sql", SQL: "create table a (x int)"},
		postgres.Migration{Name: "002_b.sql", SQL: "create table b (x int)"})
	if err != nil || res.From != 1 || res.To != 2 || res.Applied() != 1 {
		t.Errorf("MigrateWith on a tern-migrated database = %+v, %v", res, err)
	}
	if got := versionRows(t, conn); len(got) != 1 || got[0] != 2 {
		t.Errorf("version rows = %v", got)
	}
}

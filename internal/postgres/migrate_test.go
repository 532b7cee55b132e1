package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// memoryTables are the tables migration 001 creates or adopts.
var memoryTables = []string{"conversations", "angela_emotions", "angela_journal"}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func migrate(t *testing.T, conn *pgx.Conn) postgres.MigrateResult {
	t.Helper()
	res, err := postgres.Migrate(testContext(t), conn)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return res
}

// versionRows returns every row of the version table: exactly one is right.
func versionRows(t *testing.T, conn *pgx.Conn) []int32 {
	t.Helper()
	rows, err := conn.Query(testContext(t), "select version from "+postgres.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return versions
}

type columnInfo struct {
	DataType string
	Default  string
	Nullable string
}

// columns reads information_schema.columns for the memory tables, keyed by
// "table.column".
func columns(t *testing.T, conn *pgx.Conn) map[string]columnInfo {
	t.Helper()
	rows, err := conn.Query(testContext(t), `
		select table_name, column_name, data_type, coalesce(column_default, ''), is_nullable
		from information_schema.columns
		where table_schema = 'public' and table_name = any($1)`, memoryTables)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]columnInfo{}
	for rows.Next() {
		var table, column string
		var c columnInfo
		if err := rows.Scan(&table, &column, &c.DataType, &c.Default, &c.Nullable); err != nil {
			t.Fatal(err)
		}
		out[table+"."+column] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshot reads every row of the memory tables as JSON objects, keyed by
// "table/primary key", so that rows can be compared before and after.
func snapshot(t *testing.T, conn *pgx.Conn) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, table := range memoryTables {
		var exists bool
		if err := conn.QueryRow(testContext(t), "select to_regclass($1) is not null", table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			continue
		}
		rows, err := conn.Query(testContext(t), `
			select to_jsonb(t)::text, (select a.attname from pg_index i
			    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
			    where i.indrelid = $1::regclass and i.indisprimary)
			from `+pgx.Identifier{table}.Sanitize()+` t`, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var doc, pk string
			if err := rows.Scan(&doc, &pk); err != nil {
				t.Fatal(err)
			}
			var row map[string]any
			if err := json.Unmarshal([]byte(doc), &row); err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%s/%v", table, row[pk])] = row
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(testContext(t), "select count(*) from "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mustReject runs an insert expected to violate a check and reports whether
// the named constraint rejected it.
func mustReject(t *testing.T, conn *pgx.Conn, constraint, sql string) {
	t.Helper()
	_, err := conn.Exec(testContext(t), sql)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != constraint {
		t.Errorf("%s: err = %v, want a violation of %s", sql, err, constraint)
	}
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(testContext(t), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestMigrateFreshDatabaseReachesLatestVersionOnce(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.EmptyDB(t))
	ctx := testContext(t)

	if v, err := postgres.SchemaVersion(ctx, conn); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of an empty database = %d, %v; want 0, nil", v, err)
	}
	_, err := conn.Exec(ctx, "select 1 from conversations")
	if !postgres.IsSchemaMissing(err) {
		t.Errorf("IsSchemaMissing(%v) = false on an empty database", err)
	}

	res := migrate(t, conn)
	if res.From != 0 || res.To != postgres.LatestVersion() || res.Applied() != int(postgres.LatestVersion()) {
		t.Errorf("first Migrate = %+v (applied %d), want 0 -> %d", res, res.Applied(), postgres.LatestVersion())
	}
	res = migrate(t, conn)
	if res.Applied() != 0 || res.From != postgres.LatestVersion() || res.To != postgres.LatestVersion() {
		t.Errorf("second Migrate = %+v (applied %d), want nothing applied", res, res.Applied())
	}
	if v, err := postgres.SchemaVersion(ctx, conn); err != nil || v != postgres.LatestVersion() {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, postgres.LatestVersion())
	}
	if got := versionRows(t, conn); len(got) != 1 {
		t.Errorf("version table rows = %v, want exactly one", got)
	}
}

func TestMigrateCreatesTablesWithChecksDefaultsAndIndexes(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.EmptyDB(t))
	migrate(t, conn)
	ctx := testContext(t)

	cols := columns(t, conn)
	for name, want := range map[string]string{
		"conversations.conversation_id":   "uuid",
		"conversations.speaker":           "text",
		"conversations.message_text":      "text",
		"conversations.topic":             "character varying",
		"conversations.importance_level":  "integer",
		"conversations.created_at":        "timestamp with time zone",
		"angela_emotions.emotion_id":      "uuid",
		"angela_emotions.felt_at":         "timestamp with time zone",
		"angela_emotions.emotion":         "character varying",
		"angela_emotions.memory_strength": "integer",
		"angela_journal.entry_date":       "date",
		"angela_journal.mood_score":       "integer",
	} {
		if got := cols[name].DataType; got != want {
			t.Errorf("%s is %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"conversations.importance_level":  "5",
		"angela_emotions.memory_strength": "10",
	} {
		if got := cols[name].Default; got != want {
			t.Errorf("default of %s = %q, want %q", name, got, want)
		}
	}

	rows, err := conn.Query(ctx, `select indexdef from pg_indexes where schemaname = 'public' and tablename = any($1)`, memoryTables)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(defs, "\n")
	for _, want := range []string{
		"conversations_created_at_idx ON public.conversations USING btree (created_at DESC)",
		"conversations_speaker_created_at_idx ON public.conversations USING btree (lower(speaker), created_at DESC)",
		"angela_emotions_felt_at_idx ON public.angela_emotions USING btree (felt_at DESC)",
		"UNIQUE INDEX angela_journal_entry_date_key ON public.angela_journal USING btree (entry_date)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no index %q among:\n%s", want, all)
		}
	}

	mustReject(t, conn, "conversations_speaker_check", `insert into conversations (speaker, message_text) values ('bob', 'hi')`)
	mustReject(t, conn, "conversations_importance_level_check", `insert into conversations (speaker, message_text, importance_level) values ('david', 'hi', 11)`)
	mustReject(t, conn, "angela_emotions_intensity_check", `insert into angela_emotions (emotion, intensity, context) values ('happy', 0, 'c')`)
	mustReject(t, conn, "angela_emotions_memory_strength_check", `insert into angela_emotions (emotion, intensity, context, memory_strength) values ('happy', 5, 'c', 11)`)
	mustReject(t, conn, "angela_journal_mood_score_check", `insert into angela_journal (entry_date, content, mood_score) values ('2025-11-08', 'day', 0)`)

	mustExec(t, conn, `insert into conversations (speaker, message_text) values ('david', 'สวัสดี')`)
	mustExec(t, conn, `insert into angela_emotions (emotion, intensity, context) values ('happy', 9, 'c')`)
	mustExec(t, conn, `insert into angela_journal (entry_date, content) values ('2025-11-08', 'day')`)
	var importance, strength int
	if err := conn.QueryRow(ctx, "select (select importance_level from conversations), (select memory_strength from angela_emotions)").Scan(&importance, &strength); err != nil {
		t.Fatal(err)
	}
	if importance != 5 || strength != 10 {
		t.Errorf("defaults: importance %d, strength %d; want 5 and 10", importance, strength)
	}
	_, err = conn.Exec(ctx, `insert into angela_journal (entry_date, content) values ('2025-11-08', 'again')`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Errorf("a second journal entry for one date: err = %v, want a unique violation", err)
	}
}

func TestMigrateAdoptsLegacyDatabaseInPlace(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.LegacyDB(t))
	ctx := testContext(t)
	mustExec(t, conn, `insert into angela_journal (entry_date, title, content, emotion, mood_score, created_at)
		values ('2025-11-08', 'วันแรก', 'a first day', 'hopeful', 8, '2025-11-08 22:00:00')`)

	colsBefore := columns(t, conn)
	rowsBefore := snapshot(t, conn)
	countsBefore := map[string]int{}
	for _, table := range memoryTables {
		countsBefore[table] = count(t, conn, table)
	}
	if len(rowsBefore) != 4 {
		t.Fatalf("the legacy database holds %d rows, want 4", len(rowsBefore))
	}

	res := migrate(t, conn)
	if res.From != 0 || res.To != postgres.LatestVersion() {
		t.Errorf("Migrate = %+v, want 0 -> %d", res, postgres.LatestVersion())
	}

	colsAfter := columns(t, conn)
	for name, before := range colsBefore {
		after, ok := colsAfter[name]
		if !ok {
			t.Errorf("legacy column %s was dropped", name)
			continue
		}
		if after != before {
			t.Errorf("legacy column %s changed from %+v to %+v", name, before, after)
		}
	}
	for _, name := range []string{
		"conversations.project_context", "conversations.sentiment_score", "conversations.sentiment_label",
		"conversations.interface", "angela_emotions.secondary_emotions", "angela_emotions.tags",
		"angela_emotions.what_i_learned", "angela_journal.entry_id",
	} {
		if _, ok := colsAfter[name]; !ok {
			t.Errorf("legacy column %s is missing after Migrate", name)
		}
	}
	for _, name := range []string{"conversations.created_at", "angela_emotions.felt_at", "angela_journal.created_at"} {
		if got := colsAfter[name].DataType; got != "timestamp without time zone" {
			t.Errorf("%s is %q after Migrate, want the legacy timestamp without time zone", name, got)
		}
	}

	for _, table := range memoryTables {
		if got := count(t, conn, table); got != countsBefore[table] {
			t.Errorf("%s has %d rows after Migrate, want %d", table, got, countsBefore[table])
		}
	}
	compareRows(t, rowsBefore, snapshot(t, conn))

	// Every new row is checked; the legacy rows, capitalised speakers and NULL
	// contexts among them, stay as they were.
	mustReject(t, conn, "conversations_speaker_check", `insert into conversations (speaker, message_text) values ('bob', 'hi')`)
	mustReject(t, conn, "conversations_importance_level_check", `insert into conversations (speaker, message_text, importance_level) values ('david', 'hi', 0)`)
	mustReject(t, conn, "angela_emotions_intensity_check", `insert into angela_emotions (emotion, intensity, context) values ('happy', 11, 'c')`)
	mustReject(t, conn, "angela_emotions_memory_strength_check", `insert into angela_emotions (emotion, intensity, context, memory_strength) values ('happy', 5, 'c', 0)`)
	mustReject(t, conn, "angela_journal_mood_score_check", `insert into angela_journal (entry_date, content, mood_score) values ('2025-11-09', 'day', 11)`)
	mustExec(t, conn, `insert into conversations (speaker, message_text) values ('david', 'new row')`)
	mustExec(t, conn, `update conversations set topic = topic where speaker = 'David'`)

	after := snapshot(t, conn)
	for key := range after {
		if _, legacy := rowsBefore[key]; !legacy && !strings.HasPrefix(key, "conversations/") {
			t.Errorf("unexpected row %s", key)
		}
	}
	compareRows(t, rowsBefore, after)

	var speaker string
	if err := conn.QueryRow(ctx, `select speaker from conversations where conversation_id = '11111111-1111-4111-8111-111111111111'`).Scan(&speaker); err != nil || speaker != "David" {
		t.Errorf("legacy speaker = %q, %v; want David, untouched", speaker, err)
	}

	if res := migrate(t, conn); res.Applied() != 0 {
		t.Errorf("second Migrate applied %d", res.Applied())
	}
}

// compareRows checks that every row in before is in after with every column
// it had unchanged; after may have more columns.
func compareRows(t *testing.T, before, after map[string]map[string]any) {
	t.Helper()
	for key, old := range before {
		row, ok := after[key]
		if !ok {
			t.Errorf("row %s is gone", key)
			continue
		}
		for col, v := range old {
			if !reflect.DeepEqual(row[col], v) {
				t.Errorf("row %s: %s changed from %v to %v", key, col, v, row[col])
			}
		}
	}
}

func TestMigrateAddsWhatAnOlderLegacyDatabaseLacks(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.LegacyDB(t))
	ctx := testContext(t)
	// An earlier version of the Python original: fewer columns, no journal.
	mustExec(t, conn, `
		alter table conversations drop column session_id, drop column topic,
		    drop column emotion_detected, drop column importance_level;
		alter table angela_emotions drop column david_words, drop column why_it_matters,
		    drop column memory_strength;
		drop table angela_journal`)
	rowsBefore := snapshot(t, conn)
	colsBefore := columns(t, conn)

	migrate(t, conn)

	colsAfter := columns(t, conn)
	for name := range colsBefore {
		if _, ok := colsAfter[name]; !ok {
			t.Errorf("legacy column %s was dropped", name)
		}
	}
	for _, name := range []string{
		"conversations.session_id", "conversations.topic", "conversations.emotion_detected",
		"conversations.importance_level", "angela_emotions.david_words", "angela_emotions.why_it_matters",
		"angela_emotions.memory_strength", "angela_journal.entry_date", "angela_journal.mood_score",
	} {
		if _, ok := colsAfter[name]; !ok {
			t.Errorf("Migrate did not add %s", name)
		}
	}
	compareRows(t, rowsBefore, snapshot(t, conn))

	// The legacy rows take the new columns' defaults.
	var importance int
	if err := conn.QueryRow(ctx, `select importance_level from conversations where conversation_id = '11111111-1111-4111-8111-111111111111'`).Scan(&importance); err != nil || importance != 5 {
		t.Errorf("importance_level of a legacy row = %d, %v; want the default 5", importance, err)
	}
	mustReject(t, conn, "angela_emotions_memory_strength_check", `insert into angela_emotions (emotion, intensity, context, memory_strength) values ('happy', 5, 'c', 11)`)
}

func TestMigrateRacingOnOneDatabase(t *testing.T) {
	t.Parallel()
	const migrators = 6
	for round := range 4 {
		legacy := round%2 == 1
		var url string
		if legacy {
			url = pgtest.LegacyDB(t)
		} else {
			url = pgtest.EmptyDB(t)
		}
		conns := make([]*pgx.Conn, migrators)
		for i := range conns {
			conns[i] = pgtest.Conn(t, url)
		}

		start := make(chan struct{})
		results := make([]postgres.MigrateResult, migrators)
		errs := make([]error, migrators)
		var wg sync.WaitGroup
		for i, conn := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = postgres.Migrate(testContext(t), conn)
			}()
		}
		close(start)
		wg.Wait()

		applied := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d (legacy %v): migrator %d: %v", round, legacy, i, err)
				continue
			}
			applied += results[i].Applied()
		}
		if applied != int(postgres.LatestVersion()) {
			t.Errorf("round %d: the migrators applied %d migrations between them, want each of %d once: %+v",
				round, applied, postgres.LatestVersion(), results)
		}
		if got := versionRows(t, conns[0]); len(got) != 1 || got[0] != postgres.LatestVersion() {
			t.Errorf("round %d: version table rows = %v, want exactly [%d]", round, got, postgres.LatestVersion())
		}
		for _, table := range memoryTables {
			count(t, conns[0], table) // fails the test if the table is missing
		}
	}
}

func TestMigrateRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.EmptyDB(t))
	migrate(t, conn)
	newer := postgres.LatestVersion() + 1
	mustExec(t, conn, "update "+postgres.VersionTable+" set version = $1", newer)

	_, err := postgres.Migrate(testContext(t), conn)
	if err == nil {
		t.Fatal("Migrate of a database newer than this binary succeeded")
	}
	want := fmt.Sprintf("migrate: the database schema is at version %d, newer than this angelad knows (%d): upgrade angelad", newer, postgres.LatestVersion())
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if got := versionRows(t, conn); len(got) != 1 || got[0] != newer {
		t.Errorf("version table rows = %v, want [%d] left alone", got, newer)
	}
}

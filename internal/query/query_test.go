package query_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/query"
)

// setup returns a connection to a fresh migrated database holding a few
// conversations, Thai ones among them.
func setup(t *testing.T) *pgx.Conn {
	t.Helper()
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	_, err := conn.Exec(context.Background(), `
		insert into conversations (speaker, message_text, topic, importance_level, created_at) values
		    ('david',  'สวัสดีค่ะ น้องแองเจล่า', 'greeting', 7, '2025-11-08 09:30:00+07'),
		    ('angela', 'Good morning, David!',   'greeting', 5, '2025-11-08 09:31:00+07'),
		    ('david',  'กินข้าวหรือยัง',           null,       3, '2025-11-08 12:00:00+07')`)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func run(t *testing.T, conn *pgx.Conn, o query.Options) *query.Result {
	t.Helper()
	res, err := query.Run(context.Background(), conn, o)
	if err != nil {
		t.Fatalf("Run(%q): %v", o.SQL, err)
	}
	return res
}

func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "select count(*) from "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func values(res *query.Result) [][]string {
	var out [][]string
	for _, row := range res.Rows {
		var r []string
		for _, v := range row {
			if v == nil {
				r = append(r, "<NULL>")
			} else {
				r = append(r, *v)
			}
		}
		out = append(out, r)
	}
	return out
}

func TestRunBindsParametersAndKeepsThaiText(t *testing.T) {
	conn := setup(t)
	res := run(t, conn, query.Options{
		SQL:  "SELECT speaker, message_text, topic FROM conversations WHERE speaker = $1 ORDER BY created_at DESC LIMIT $2",
		Args: []string{"david", "10"},
	})
	got := values(res)
	want := [][]string{
		{"david", "กินข้าวหรือยัง", "<NULL>"},
		{"david", "สวัสดีค่ะ น้องแองเจล่า", "greeting"},
	}
	if len(got) != len(want) {
		t.Fatalf("rows = %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i, got[i], want[i])
		}
	}
	if res.CommandTag != "SELECT 2" {
		t.Errorf("CommandTag = %q, want SELECT 2", res.CommandTag)
	}
	names := []string{res.Columns[0].Name, res.Columns[1].Name, res.Columns[2].Name}
	if strings.Join(names, ",") != "speaker,message_text,topic" {
		t.Errorf("columns = %v", names)
	}

	// A parameter whose type nothing decides is text.
	res = run(t, conn, query.Options{SQL: "select $1 as echo", Args: []string{"ok"}})
	if got := *res.Rows[0][0]; got != "ok" {
		t.Errorf("select $1 = %q, want ok", got)
	}

	// A Thai argument goes to the server and back unchanged.
	res = run(t, conn, query.Options{SQL: "select count(*) from conversations where message_text = $1", Args: []string{"กินข้าวหรือยัง"}})
	if got := *res.Rows[0][0]; got != "1" {
		t.Errorf("count of the Thai message = %s, want 1", got)
	}
}

func TestRunTreatsAnInjectionLookingArgumentAsAValue(t *testing.T) {
	conn := setup(t)
	const evil = "david'; drop table conversations; --"
	for _, write := range []bool{false, true} {
		res := run(t, conn, query.Options{
			SQL:   "select count(*) from conversations where speaker = $1",
			Args:  []string{evil},
			Write: write,
		})
		if got := *res.Rows[0][0]; got != "0" {
			t.Errorf("Write=%v: count = %s, want 0 (the argument is one literal value)", write, got)
		}
	}
	if got := count(t, conn, "conversations"); got != 3 {
		t.Errorf("conversations has %d rows after the query, want 3", got)
	}
}

func TestRunWithoutWriteChangesNothing(t *testing.T) {
	conn := setup(t)
	for _, sql := range []string{
		"insert into conversations (speaker, message_text) values ('david', 'should not be stored')",
		"update conversations set message_text = 'changed'",
		"delete from conversations",
		"truncate conversations",
		"create table scratch (id int)",
		"do $$ begin insert into conversations (speaker, message_text) values ('david', 'x'); end $$",
		"with d as (delete from conversations returning 1) select count(*) from d",
	} {
		before := count(t, conn, "conversations")
		_, err := query.Run(context.Background(), conn, query.Options{SQL: sql})
		if err == nil {
			t.Errorf("Run(%q) without Write succeeded", sql)
			continue
		}
		if !query.IsInputError(err) {
			t.Errorf("Run(%q): IsInputError = false for %v", sql, err)
		}
		if !strings.Contains(err.Error(), "pass --write") || !strings.Contains(err.Error(), "SQLSTATE 25006") {
			t.Errorf("Run(%q) error = %q, want a read-only message naming --write", sql, err)
		}
		if after := count(t, conn, "conversations"); after != before {
			t.Errorf("Run(%q) without Write: %d rows before, %d after", sql, before, after)
		}
	}
	// The statement cannot lift the read-only mode of its own transaction,
	// and a session default it sets does not carry into the next query.
	if _, err := query.Run(context.Background(), conn, query.Options{SQL: "set transaction read write"}); err == nil {
		t.Error("set transaction read write succeeded inside the read-only transaction")
	}
	run(t, conn, query.Options{SQL: "set session characteristics as transaction read write"})
	if _, err := query.Run(context.Background(), conn, query.Options{SQL: "delete from conversations"}); !query.IsInputError(err) {
		t.Errorf("delete after changing the session default: err = %v, want the read-only refusal", err)
	}

	var changed int
	if err := conn.QueryRow(context.Background(), "select count(*) from conversations where message_text = 'changed'").Scan(&changed); err != nil {
		t.Fatal(err)
	}
	if changed != 0 {
		t.Errorf("%d rows were updated without Write", changed)
	}
}

func TestRunWithWriteCommits(t *testing.T) {
	conn := setup(t)
	res := run(t, conn, query.Options{
		SQL:   "insert into conversations (speaker, message_text) values ($1, $2) returning message_text",
		Args:  []string{"david", "จำไว้นะ"},
		Write: true,
	})
	if res.CommandTag != "INSERT 0 1" {
		t.Errorf("CommandTag = %q, want INSERT 0 1", res.CommandTag)
	}
	if got := *res.Rows[0][0]; got != "จำไว้นะ" {
		t.Errorf("returned %q", got)
	}
	if got := count(t, conn, "conversations"); got != 4 {
		t.Errorf("conversations has %d rows, want 4: the insert was not committed", got)
	}

	res = run(t, conn, query.Options{SQL: "delete from conversations where speaker = $1", Args: []string{"angela"}, Write: true})
	if res.CommandTag != "DELETE 1" || len(res.Columns) != 0 {
		t.Errorf("delete: tag %q, %d columns", res.CommandTag, len(res.Columns))
	}
	if got := count(t, conn, "conversations"); got != 3 {
		t.Errorf("conversations has %d rows after the delete, want 3", got)
	}
}

func TestRunAllowsExactlyOneStatement(t *testing.T) {
	conn := setup(t)
	for _, o := range []query.Options{
		{SQL: "select 1; select 2"},
		{SQL: "select 1; drop table conversations"},
		{SQL: "insert into conversations (speaker, message_text) values ('david', 'a'); insert into conversations (speaker, message_text) values ('david', 'b')", Write: true},
	} {
		_, err := query.Run(context.Background(), conn, o)
		if err == nil || err.Error() != "query: exactly one SQL statement is allowed" {
			t.Errorf("Run(%q) error = %v, want the one-statement error", o.SQL, err)
		}
		if !query.IsInputError(err) {
			t.Errorf("Run(%q): not an input error", o.SQL)
		}
	}
	if got := count(t, conn, "conversations"); got != 3 {
		t.Errorf("conversations has %d rows, want 3", got)
	}
	// A trailing semicolon is still one statement.
	run(t, conn, query.Options{SQL: "select 1;"})
}

func TestRunStatementTimeout(t *testing.T) {
	conn := setup(t)
	_, err := query.Run(context.Background(), conn, query.Options{SQL: "select pg_sleep(5)", Timeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("pg_sleep(5) with a 100ms timeout succeeded")
	}
	if want := "query: canceled after 100ms statement timeout"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start with %q", err, want)
	}
	if query.IsInputError(err) {
		t.Errorf("a timeout is reported as an input error")
	}
	// The timeout was local to the transaction: the connection is usable and
	// back to its own setting.
	res := run(t, conn, query.Options{SQL: "select current_setting('statement_timeout')"})
	if got := *res.Rows[0][0]; got != "30s" {
		t.Errorf("statement_timeout inside the next query = %q, want the 30s default", got)
	}
	var outside string
	if err := conn.QueryRow(context.Background(), "show statement_timeout").Scan(&outside); err != nil {
		t.Fatal(err)
	}
	if outside != "0" {
		t.Errorf("statement_timeout after Run = %q, want the session's own 0", outside)
	}
}

func TestRunInputErrors(t *testing.T) {
	conn := setup(t)
	tests := []struct {
		name string
		o    query.Options
		want string // a part of the message
	}{
		{"empty", query.Options{SQL: ""}, "the SQL statement is empty"},
		{"blank", query.Options{SQL: " \n\t"}, "the SQL statement is empty"},
		{"only a comment", query.Options{SQL: "-- nothing here"}, "the SQL statement is empty"},
		{"syntax", query.Options{SQL: "select * form conversations"}, `syntax error at or near "form" at line 1, column 10 (SQLSTATE 42601)`},
		{"undefined table on line 2", query.Options{SQL: "select *\nfrom nowhere"}, `relation "nowhere" does not exist at line 2, column 6 (SQLSTATE 42P01)`},
		{"undefined column", query.Options{SQL: "select mood from conversations"}, "SQLSTATE 42703"},
		{"too few arguments", query.Options{SQL: "select * from conversations where speaker = $1 limit $2", Args: []string{"david"}}, "the statement takes 2 parameters but 1 argument was given"},
		{"too many arguments", query.Options{SQL: "select 1", Args: []string{"x"}}, "the statement takes 0 parameters but 1 argument was given"},
		{"argument of the wrong type", query.Options{SQL: "select * from conversations limit $1", Args: []string{"ten"}}, `invalid input syntax for type bigint: "ten" (SQLSTATE 22P02)`},
		{"untyped parameter", query.Options{SQL: "select pg_typeof($1)", Args: []string{"x"}}, "could not determine data type of parameter $1 (SQLSTATE 42P18); hint: cast the parameter, for example $1::text"},
		{"division by zero", query.Options{SQL: "select 1/0"}, "SQLSTATE 22012"},
		{"NUL in SQL", query.Options{SQL: "select 'a\x00b'"}, "the SQL statement contains a NUL byte"},
		{"NUL in an argument", query.Options{SQL: "select $1::text", Args: []string{"a\x00b"}}, "argument $1 contains a NUL byte"},
		{"invalid UTF-8 in SQL", query.Options{SQL: "select '\xff'"}, "the SQL statement is not valid UTF-8"},
		{"invalid UTF-8 in an argument", query.Options{SQL: "select $1::text, $2::text", Args: []string{"ok", "\xc3\x28"}}, "argument $2 is not valid UTF-8"},
		{"copy", query.Options{SQL: "/* export */ COPY conversations TO STDOUT"}, "COPY is not supported"},
		{"negative timeout", query.Options{SQL: "select 1", Timeout: -time.Second}, "the statement timeout must be positive"},
		{"check violation", query.Options{SQL: "insert into conversations (speaker, message_text) values ('bob', 'hi')", Write: true}, "conversations_speaker_check"},
	}
	for _, tt := range tests {
		_, err := query.Run(context.Background(), conn, tt.o)
		if err == nil {
			t.Errorf("%s: Run succeeded", tt.name)
			continue
		}
		if !query.IsInputError(err) {
			t.Errorf("%s: IsInputError = false for %q", tt.name, err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "query: ") || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q is not one line starting with \"query: \"", tt.name, msg)
		}
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: error = %q, want it to contain %q", tt.name, msg, tt.want)
		}
	}
	if got := count(t, conn, "conversations"); got != 3 {
		t.Errorf("conversations has %d rows, want 3", got)
	}
}

func TestRunErrorDetailIsAPreviewOfWholeCharacters(t *testing.T) {
	conn := setup(t)
	// น้ำ is one character of three runes: a detail of 251 characters.
	_, err := query.Run(context.Background(), conn, query.Options{
		SQL: `do $$ begin raise exception 'boom' using detail = 'a' || repeat('น้ำ', 250); end $$`})
	if err == nil {
		t.Fatal("no error")
	}
	want := "boom (SQLSTATE P0001); a" + strings.Repeat("น้ำ", 199) + "..."
	if !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error = %q\nwant it to end %q", err, want)
	}
}

func TestRunOnAClosedConnectionIsARuntimeError(t *testing.T) {
	t.Parallel()
	conn, err := pgx.Connect(context.Background(), pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	_, err = query.Run(context.Background(), conn, query.Options{SQL: "select 1"})
	if err == nil {
		t.Fatal("Run on a closed connection succeeded")
	}
	if query.IsInputError(err) {
		t.Errorf("IsInputError = true for %q", err)
	}
	var qe *query.Error
	if !errors.As(err, &qe) || !strings.HasPrefix(err.Error(), "query: ") {
		t.Errorf("error = %q (%T), want a *query.Error", err, err)
	}
}

func TestWriteJSONTypesValuesByColumnType(t *testing.T) {
	conn := setup(t)
	res := run(t, conn, query.Options{SQL: `select
		42::int4                                  as i,
		9007199254740993::int8                    as big,
		12345678901234567890.123456789000::numeric as n,
		1.5::float8                               as f,
		'NaN'::float8                             as nan,
		true                                      as yes,
		false                                     as no,
		null::text                                as nothing,
		'{"b": [1, 2.50], "a": "x"}'::jsonb       as jb,
		'{"z": 1,
		  "a": 2}'::json                          as j,
		$1::text                                  as t,
		timestamptz '2025-11-08 09:30:00+07'      as ts,
		'{1,2}'::int[]                            as arr,
		''::text                                  as empty`,
		Args: []string{"สวัสดี \"Angela\" <3 & 😀\nบรรทัดใหม่"}})

	var out strings.Builder
	if err := res.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	raw := out.String()

	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, raw)
	}
	if len(rows) != 1 {
		t.Fatalf("got %d objects, want 1", len(rows))
	}
	row := rows[0]
	checks := map[string]any{
		"i":       json.Number("42"),
		"big":     json.Number("9007199254740993"),
		"n":       json.Number("12345678901234567890.123456789000"),
		"f":       json.Number("1.5"),
		"nan":     "NaN",
		"yes":     true,
		"no":      false,
		"nothing": nil,
		"t":       "สวัสดี \"Angela\" <3 & 😀\nบรรทัดใหม่",
		"ts":      "2025-11-08 09:30:00+07",
		"arr":     "{1,2}",
		"empty":   "",
	}
	for k, want := range checks {
		if got, ok := row[k]; !ok || got != want {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	jb, ok := row["jb"].(map[string]any)
	if !ok || jb["a"] != "x" {
		t.Errorf("jb = %#v, want an embedded object", row["jb"])
	} else if arr, ok := jb["b"].([]any); !ok || len(arr) != 2 || arr[1] != json.Number("2.50") {
		t.Errorf("jb.b = %#v, want [1, 2.50]", jb["b"])
	}
	if j, ok := row["j"].(map[string]any); !ok || j["z"] != json.Number("1") {
		t.Errorf("j = %#v, want an embedded object", row["j"])
	}

	// Column order is kept in each object, and numeric keeps every digit.
	for _, want := range []string{`{"i":42,"big":9007199254740993,"n":12345678901234567890.123456789000,`, `"j":{"z":1,"a":2},`, `<3 & 😀`} {
		if !strings.Contains(raw, want) {
			t.Errorf("output lacks %s:\n%s", want, raw)
		}
	}
	if strings.Index(raw, `"t":`) > strings.Index(raw, `"ts":`) {
		t.Errorf("keys are not in column order:\n%s", raw)
	}
}

func TestWriteJSONRoundTripsStoredRows(t *testing.T) {
	conn := setup(t)
	res := run(t, conn, query.Options{SQL: "select speaker, message_text, topic, importance_level from conversations order by created_at"})
	var out strings.Builder
	if err := res.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Speaker    string  `json:"speaker"`
		Message    string  `json:"message_text"`
		Topic      *string `json:"topic"`
		Importance int     `json:"importance_level"`
	}
	if err := json.Unmarshal([]byte(out.String()), &rows); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out.String())
	}
	if len(rows) != 3 || rows[0].Message != "สวัสดีค่ะ น้องแองเจล่า" || rows[0].Importance != 7 || rows[2].Topic != nil || rows[2].Message != "กินข้าวหรือยัง" {
		t.Errorf("rows = %+v", rows)
	}

	// No rows is an empty array, and so is a statement without columns.
	for _, sql := range []string{"select * from conversations where false", "set local work_mem = '8MB'"} {
		res := run(t, conn, query.Options{SQL: sql})
		var out strings.Builder
		if err := res.WriteJSON(&out); err != nil {
			t.Fatal(err)
		}
		if out.String() != "[]\n" {
			t.Errorf("%s: WriteJSON = %q, want []", sql, out.String())
		}
	}
}

func TestWriteCSV(t *testing.T) {
	conn := setup(t)
	res := run(t, conn, query.Options{
		SQL:  "(select speaker, message_text, topic from conversations where speaker = $1 order by created_at) union all select 'system', $2, null",
		Args: []string{"david", "a, \"quoted\"\nline"},
	})
	var out strings.Builder
	if err := res.WriteCSV(&out); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out.String())
	}
	want := [][]string{
		{"speaker", "message_text", "topic"},
		{"david", "สวัสดีค่ะ น้องแองเจล่า", "greeting"},
		{"david", "กินข้าวหรือยัง", ""},
		{"system", "a, \"quoted\"\nline", ""},
	}
	if len(records) != len(want) {
		t.Fatalf("records = %q, want %q", records, want)
	}
	for i := range want {
		if strings.Join(records[i], "\x1f") != strings.Join(want[i], "\x1f") {
			t.Errorf("record %d = %q, want %q", i, records[i], want[i])
		}
	}
}

func TestWriteTableAlignsThaiText(t *testing.T) {
	conn := setup(t)
	res := run(t, conn, query.Options{SQL: "select speaker, message_text, importance_level, topic from conversations order by created_at"})
	var out strings.Builder
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	want := ` speaker |     message_text     | importance_level |  topic
---------+----------------------+------------------+----------
 david   | สวัสดีค่ะ น้องแองเจล่า    |                7 | greeting
 angela  | Good morning, David! |                5 | greeting
 david   | กินข้าวหรือยัง           |                3 |
(3 rows)
`
	if got != want {
		t.Errorf("WriteTable:\n%s\nwant:\n%s", got, want)
	}

	res = run(t, conn, query.Options{SQL: "insert into conversations (speaker, message_text) values ('david', 'x')", Write: true})
	out.Reset()
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "INSERT 0 1\n" {
		t.Errorf("WriteTable for an insert = %q, want the command tag", out.String())
	}
}

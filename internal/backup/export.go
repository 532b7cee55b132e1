package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
)

// TxBeginner starts a transaction with options: *pgx.Conn and
// *pgxpool.Pool satisfy it.
type TxBeginner interface {
	BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error)
}

// ExportOptions says what Export writes.
type ExportOptions struct {
	// Since, when not zero, keeps only the rows made from then on (each
	// table by its own time: see specs).
	Since time.Time
	// Location is the configured time zone: --since's date is taken in it.
	Location *time.Location
	// Now is the header's created_at.
	Now time.Time
	// Angelad is the version written in the header.
	Angelad string
	// Progress, when set, is called with the rows written so far and the
	// total, now and then.
	Progress func(done, total int64)
}

// targetColumn is a column of a table as the connected database has it.
type targetColumn struct {
	name, pgType      string
	generated         bool
	notNull, inKey    bool
	canonical, export string // the header's type; the expression that exports it
}

const columnsSQL = `select a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '', a.attnotnull,
	exists (select from pg_index i where i.indrelid = a.attrelid and i.indisprimary and a.attnum = any(i.indkey))
from pg_attribute a
where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
order by a.attname`

// columnsOf returns the columns of table in the connected database, by name;
// none when the table does not exist.
func columnsOf(ctx context.Context, q postgres.DB, table string) ([]targetColumn, error) {
	rows, err := q.Query(ctx, columnsSQL, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	cols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (targetColumn, error) {
		var c targetColumn
		err := row.Scan(&c.name, &c.pgType, &c.generated, &c.notNull, &c.inKey)
		c.canonical = canonicalType(table, c.name, c.pgType)
		c.export = exportExpr(c.name, c.pgType, c.canonical)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	return cols, nil
}

// exportExpr is the select-list expression that writes column name: a time
// as a fixed-width UTC instant (or wall time), anything else as it is.
func exportExpr(name, pgType, canonical string) string {
	id := pgx.Identifier{name}.Sanitize()
	var v, format string
	switch {
	case pgType == typeTimestampTZ:
		v, format = id+` at time zone 'UTC'`, `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`
	case pgType == typeTimestamp && canonical == typeTimestampTZ:
		v, format = id+`::timestamptz at time zone 'UTC'`, `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`
	case pgType == typeTimestamp:
		v, format = id, `'YYYY-MM-DD"T"HH24:MI:SS.US'`
	default:
		return id
	}
	// infinity and -infinity (a state row's due_at) as PostgreSQL spells them.
	return fmt.Sprintf(`case when isfinite(%[1]s) then to_char(%[2]s, %[3]s) else %[1]s::text end as %[1]s`, id, v, format)
}

// exportTable is a table as this export writes it.
type exportTable struct {
	spec tableSpec
	cols []targetColumn
	rows int64
}

// selectSQL reads the table's rows as JSON, in key order (text keys in
// byte order, whatever the database's collation), those since $1 when since.
func (t exportTable) selectSQL(since bool) string {
	exprs := make([]string, len(t.cols))
	for i, c := range t.cols {
		exprs[i] = c.export
	}
	order := make([]string, len(t.spec.key))
	for i, k := range t.spec.key {
		order[i] = "t." + pgx.Identifier{k}.Sanitize()
		for _, c := range t.cols {
			if c.name == k && canonicalType(t.spec.name, c.name, c.pgType) == "text" {
				order[i] += ` collate "C"`
			}
		}
	}
	return `select row_to_json(x)::text from (select ` + strings.Join(exprs, ", ") + ` from ` +
		pgx.Identifier{t.spec.name}.Sanitize() + ` t` + t.where(since) + ` order by ` + strings.Join(order, ", ") + `) x`
}

func (t exportTable) where(since bool) string {
	if !since {
		return ""
	}
	return " where " + t.spec.since
}

// args are the arguments of the table's statements: the time and, when its
// --since condition names it, the local date.
func (t exportTable) args(since []any) []any {
	if len(since) == 0 || strings.Contains(t.spec.since, "$2") {
		return since
	}
	return since[:1]
}

// Export writes every memory of the connected database to w in the export
// format, from one snapshot, and returns the header it wrote. The schema must
// be migrated.
func Export(ctx context.Context, db TxBeginner, w io.Writer, o ExportOptions) (Header, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Header{}, fmt.Errorf("export: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	h := Header{Format: FormatVersion, Angelad: o.Angelad, CreatedAt: o.Now.UTC().Format(time.RFC3339), Tables: []Table{}}
	if h.SchemaVersion, err = postgres.SchemaVersion(ctx, tx); err != nil {
		return Header{}, fmt.Errorf("export: %w", err)
	}
	if err := tx.QueryRow(ctx, `select current_setting('TimeZone')`).Scan(&h.TimeZone); err != nil {
		return Header{}, fmt.Errorf("export: %w", err)
	}
	since := !o.Since.IsZero()
	var args []any
	if since {
		loc := o.Location
		if loc == nil {
			loc = time.UTC
		}
		h.Since = o.Since.UTC().Format(time.RFC3339Nano)
		args = []any{o.Since, o.Since.In(loc).Format(time.DateOnly)}
	}
	var tables []exportTable
	var total int64
	for _, s := range specs {
		cols, err := columnsOf(ctx, tx, s.name)
		if err != nil {
			return Header{}, fmt.Errorf("export: %w", err)
		}
		if len(cols) == 0 {
			return Header{}, fmt.Errorf("export: table %s is missing: migrate the database (angelad migrate)", s.name)
		}
		t := exportTable{spec: s}
		for _, c := range cols {
			if !derived(c.name, c.generated) {
				t.cols = append(t.cols, c)
			}
		}
		count := `select count(*) from ` + pgx.Identifier{s.name}.Sanitize() + t.where(since)
		if err := tx.QueryRow(ctx, count, t.args(args)...).Scan(&t.rows); err != nil {
			return Header{}, fmt.Errorf("export: count %s: %w", s.name, err)
		}
		total += t.rows
		tables = append(tables, t)
		ht := Table{Name: s.name, Key: s.key, Rows: t.rows, Columns: make([]Column, len(t.cols))}
		for i, c := range t.cols {
			ht.Columns[i] = Column{Name: c.name, Type: c.canonical}
		}
		h.Tables = append(h.Tables, ht)
	}

	bw := bufio.NewWriterSize(w, 256<<10)
	line, err := json.Marshal(h)
	if err != nil {
		return Header{}, fmt.Errorf("export: %w", err)
	}
	bw.Write(line)
	bw.WriteByte('\n')
	sum := sha256.New()
	var done int64
	progress := func() {
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	progress()
	for _, t := range tables {
		prefix := []byte(`{"table":"` + t.spec.name + `","row":`)
		rows, err := tx.Query(ctx, t.selectSQL(since), t.args(args)...)
		if err != nil {
			return Header{}, fmt.Errorf("export %s: %w", t.spec.name, err)
		}
		var n int64
		var buf []byte
		for rows.Next() {
			raw := rows.RawValues()[0]
			buf = append(append(append(buf[:0], prefix...), raw...), '}', '\n')
			sum.Write(buf)
			if _, err := bw.Write(buf); err != nil {
				rows.Close()
				return Header{}, fmt.Errorf("export: write: %w", err)
			}
			n++
			if done++; done%1000 == 0 {
				progress()
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return Header{}, fmt.Errorf("export %s: %w", t.spec.name, err)
		}
		if n != t.rows {
			// One snapshot: a difference is a bug, and the file would not import.
			return Header{}, fmt.Errorf("export %s: counted %d rows, read %d", t.spec.name, t.rows, n)
		}
	}
	line, err = json.Marshal(Trailer{End{Rows: done, SHA256: hex.EncodeToString(sum.Sum(nil))}})
	if err != nil {
		return Header{}, fmt.Errorf("export: %w", err)
	}
	bw.Write(line)
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return Header{}, fmt.Errorf("export: write: %w", err)
	}
	progress()
	return h, nil
}

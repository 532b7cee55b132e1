package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/forget"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// Import limits.
const (
	// MaxLineBytes bounds one line: a row holds at most a few texts of
	// 1 MiB, each at most six times as long escaped.
	MaxLineBytes = 64 << 20
	// batchRows and batchBytes bound what one transaction of an import
	// stores.
	batchRows  = 500
	batchBytes = 4 << 20
)

// ImportOptions are Import's callbacks, all optional.
type ImportOptions struct {
	// Progress is called now and then with the pass ("verifying", then
	// "importing"), the bytes of the file it has read and the file's size.
	Progress func(pass string, done, total int64)
	// Note is called with each change made to the target's schema, and
	// each row the target refused, as it happens.
	Note func(msg string)
}

// ImportResult is what Import did.
type ImportResult struct {
	Header Header        `json:"header"`
	Tables []TableResult `json:"tables"`
	// Purged is how many memories of the target the file's tombstones
	// deleted.
	Purged int64 `json:"purged"`
	// SchemaChanges are the changes made to the target so that it holds
	// every value of the file: columns added, NOT NULL dropped.
	SchemaChanges []string `json:"schema_changes"`
	// Refused are the rows the target's constraints would not take.
	Refused []Refusal `json:"refused"`
}

// TableResult counts one table's rows.
type TableResult struct {
	Name string `json:"table"`
	// Rows is how many the file holds.
	Rows int64 `json:"rows"`
	// Stored is how many were new and stored.
	Stored int64 `json:"stored"`
	// Skipped is how many were already there, or forgotten.
	Skipped int64 `json:"skipped"`
	// Refused is how many the target refused.
	Refused int64 `json:"refused"`
}

// Refusal is one row the target would not take.
type Refusal struct {
	Table  string `json:"table"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// manifest is what the verifying pass learned of a file.
type manifest struct {
	header Header
	// nulls holds, per table, the columns with a null in some row.
	nulls map[string]map[string]bool
	sum   string
	size  int64
}

// dataLine is a data line or the trailer, as read.
type dataLine struct {
	Table string          `json:"table"`
	Row   json.RawMessage `json:"row"`
	End   *End            `json:"end"`
}

// Import loads the export at path into the database behind db. It reads the
// file twice: first to verify it whole (its header, every line, the counts and
// the checksum), writing nothing, so that a file that is not an export, is cut
// short, altered or from a newer angelad returns a *FileError and changes
// nothing; then to store it, in batches of one transaction each.
//
// Every row is stored only when its key is new (and, for a memory, not
// tombstoned): importing a file twice stores it once, and an import that was
// interrupted (killed, or the database lost) is finished by running it again.
// Rows already in the target are left as they are. The file's tombstones are
// applied: a memory of the target they name is deleted. Before the first
// batch the target is made to hold every value of the file: a column it lacks
// is added, a NOT NULL a null of the file would break is dropped (each change
// is noted). A row the target's constraints still refuse (a second journal
// entry for a date in a database that allows one) is noted, counted and left
// out, and the others are stored.
func Import(ctx context.Context, db Beginner, path string, o ImportOptions) (ImportResult, error) {
	if o.Progress == nil {
		o.Progress = func(string, int64, int64) {}
	}
	if o.Note == nil {
		o.Note = func(string) {}
	}
	m, err := verify(path, func(done, total int64) { o.Progress("verifying", done, total) })
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{Header: m.header, Tables: []TableResult{}, SchemaChanges: []string{}, Refused: []Refusal{}}
	im := &importer{path: path, db: db, o: o, res: &res, tables: map[string]*importTable{}}
	if err := im.prepare(ctx, m); err != nil {
		return res, err
	}
	if err := im.load(ctx, path, m); err != nil {
		return res, err
	}
	return res, nil
}

// Beginner starts a transaction: *pgx.Conn and *pgxpool.Pool satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	postgres.DB
}

// reader reads an export file, gunzipping it when it is compressed, and
// counts the bytes read from the file itself.
type reader struct {
	f     *os.File
	n     int64
	size  int64
	br    *bufio.Reader
	gz    *gzip.Reader
	line  int64
	buf   []byte
	path  string
	sum   hash.Hash
	total int64 // data lines
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.n += int64(n)
	return n, err
}

func open(path string) (*reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Problem: "cannot open: " + errors.Unwrap(err).Error()}
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, &FileError{Path: path, Problem: "not a regular file (give the file an export wrote)"}
	}
	r := &reader{f: f, size: fi.Size(), path: path, sum: sha256.New()}
	raw := bufio.NewReaderSize(r, 1<<20)
	r.br = raw
	if magic, _ := raw.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		if r.gz, err = gzip.NewReader(raw); err != nil {
			f.Close()
			return nil, &FileError{Path: path, Problem: "a damaged gzip file: " + err.Error()}
		}
		r.br = bufio.NewReaderSize(r.gz, 1<<20)
	}
	return r, nil
}

func (r *reader) Close() error { return r.f.Close() }

func (r *reader) fail(format string, args ...any) error {
	return &FileError{Path: r.path, Line: r.line, Problem: fmt.Sprintf(format, args...)}
}

// next returns the next line without its newline; io.EOF after the last.
// The slice is valid until the next call.
func (r *reader) next() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.buf = append(r.buf, chunk...)
		if len(r.buf) > MaxLineBytes {
			r.line++
			return nil, r.fail("a line over %d MiB: not an export", MaxLineBytes>>20)
		}
		switch {
		case err == nil:
			r.line++
			return r.buf[:len(r.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(r.buf) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			r.line++
			return nil, r.fail("the last line is cut short (no newline): the export did not finish, or the file was cut")
		default:
			r.line++
			var fe *FileError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, r.fail("cannot read: %v", err)
		}
	}
}

// readHeader reads and checks the first line.
func (r *reader) readHeader() (Header, error) {
	line, err := r.next()
	if errors.Is(err, io.EOF) {
		return Header{}, &FileError{Path: r.path, Problem: "empty: not an export"}
	}
	if err != nil {
		return Header{}, err
	}
	var h Header
	if json.Unmarshal(line, &h) != nil || h.Format == 0 {
		return Header{}, r.fail("not an angelad export (its first line is not an export header)")
	}
	if h.Format > FormatVersion {
		return Header{}, r.fail("written by a newer angelad (export format %d; this angelad reads format %d): upgrade angelad to import it", h.Format, FormatVersion)
	}
	if latest := postgres.LatestVersion(); h.SchemaVersion > latest {
		return Header{}, r.fail("exported from a database at schema version %d, newer than this angelad knows (%d): upgrade angelad to import it", h.SchemaVersion, latest)
	}
	seen := map[string]bool{}
	for _, t := range h.Tables {
		spec, ok := specOf(t.Name)
		if !ok {
			return Header{}, r.fail("the header names table %s, which angelad does not export", text.Quote(t.Name))
		}
		if seen[t.Name] {
			return Header{}, r.fail("the header names table %s twice", t.Name)
		}
		seen[t.Name] = true
		if !slices.Equal(t.Key, spec.key) {
			return Header{}, r.fail("the header gives table %s the key %v, not %v", t.Name, t.Key, spec.key)
		}
		cols := map[string]bool{}
		for _, c := range t.Columns {
			if !namePattern().MatchString(c.Name) {
				return Header{}, r.fail("table %s: column name %s is not one angelad accepts", t.Name, text.Quote(c.Name))
			}
			if !typePattern().MatchString(c.Type) {
				return Header{}, r.fail("table %s: column %s has type %s, not one angelad accepts", t.Name, c.Name, text.Quote(c.Type))
			}
			if cols[c.Name] {
				return Header{}, r.fail("table %s: column %s is named twice", t.Name, c.Name)
			}
			cols[c.Name] = true
		}
		for _, k := range spec.key {
			if !cols[k] {
				return Header{}, r.fail("table %s has no column %s, its key", t.Name, k)
			}
		}
		if t.Rows < 0 {
			return Header{}, r.fail("table %s: a negative row count", t.Name)
		}
	}
	return h, nil
}

// verify reads the whole file and checks it, writing nothing.
func verify(path string, progress func(done, total int64)) (manifest, error) {
	r, err := open(path)
	if err != nil {
		return manifest{}, err
	}
	defer r.Close()
	h, err := r.readHeader()
	if err != nil {
		return manifest{}, err
	}
	m := manifest{header: h, nulls: map[string]map[string]bool{}, size: r.size}
	columns := map[string]map[string]bool{}
	keys := map[string][]string{}
	counts := map[string]int64{}
	for _, t := range h.Tables {
		columns[t.Name] = map[string]bool{}
		for _, c := range t.Columns {
			columns[t.Name][c.Name] = true
		}
		keys[t.Name] = t.Key
		m.nulls[t.Name] = map[string]bool{}
	}
	var end *End
	for {
		line, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return manifest{}, err
		}
		if end != nil {
			return manifest{}, r.fail("a line after the trailer")
		}
		if progress != nil && r.line%1000 == 0 {
			progress(r.n, r.size)
		}
		var d dataLine
		if err := json.Unmarshal(line, &d); err != nil {
			return manifest{}, r.fail("not a JSON line: %v", err)
		}
		if d.End != nil {
			end = d.End
			continue
		}
		cols, ok := columns[d.Table]
		if !ok {
			return manifest{}, r.fail("a row of table %s, which the header does not name", text.Quote(d.Table))
		}
		var row map[string]json.RawMessage
		if err := json.Unmarshal(d.Row, &row); err != nil || row == nil {
			return manifest{}, r.fail("the row of %s is not a JSON object", d.Table)
		}
		for k, v := range row {
			if !cols[k] {
				return manifest{}, r.fail("a row of %s has column %s, which the header does not name", d.Table, text.Quote(k))
			}
			if string(v) == "null" {
				m.nulls[d.Table][k] = true
			}
		}
		for _, k := range keys[d.Table] {
			if v, ok := row[k]; !ok || string(v) == "null" {
				return manifest{}, r.fail("a row of %s without %s, its key", d.Table, k)
			}
		}
		r.sum.Write(line)
		r.sum.Write([]byte{'\n'})
		r.total++
		counts[d.Table]++
	}
	if end == nil {
		return manifest{}, &FileError{Path: path, Problem: "no trailer: the export did not finish, or the file was cut"}
	}
	if end.Rows != r.total {
		return manifest{}, &FileError{Path: path, Problem: fmt.Sprintf("the trailer counts %d rows, the file holds %d", end.Rows, r.total)}
	}
	m.sum = hex.EncodeToString(r.sum.Sum(nil))
	if end.SHA256 != m.sum {
		return manifest{}, &FileError{Path: path, Problem: "the checksum does not match: the file was altered or damaged"}
	}
	for _, t := range h.Tables {
		if counts[t.Name] != t.Rows {
			return manifest{}, &FileError{Path: path, Problem: fmt.Sprintf("the header counts %d rows of %s, the file holds %d", t.Rows, t.Name, counts[t.Name])}
		}
	}
	if progress != nil {
		progress(r.size, r.size)
	}
	return m, nil
}

// importer stores a verified file.
type importer struct {
	path   string
	db     Beginner
	o      ImportOptions
	res    *ImportResult
	tables map[string]*importTable
}

// importTable is a table of the file as the target stores it.
type importTable struct {
	spec   tableSpec
	result *TableResult
	insert string
}

// prepare makes the target hold every value of the file, in one
// transaction, and builds each table's statement.
func (im *importer) prepare(ctx context.Context, m manifest) error {
	tx, err := im.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for _, t := range m.header.Tables {
		spec, _ := specOf(t.Name) // verify checked it
		target, err := columnsOf(ctx, tx, t.Name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if len(target) == 0 {
			return fmt.Errorf("import: table %s is missing: migrate the database (angelad migrate)", t.Name)
		}
		have := map[string]targetColumn{}
		for _, c := range target {
			have[c.name] = c
		}
		table := pgx.Identifier{t.Name}.Sanitize()
		for _, c := range t.Columns {
			if derived(c.Name, false) {
				continue
			}
			tc, ok := have[c.Name]
			if !ok {
				// typePattern keeps the type a type name; PostgreSQL
				// refuses one it does not know.
				if _, err := tx.Exec(ctx, `alter table `+table+` add column `+pgx.Identifier{c.Name}.Sanitize()+` `+c.Type); err != nil {
					var pgErr *pgconn.PgError
					if errors.As(err, &pgErr) && (pgErr.Code == "42704" || pgErr.Code == "42601") {
						return &FileError{Path: im.path, Problem: fmt.Sprintf("table %s: column %s has type %s, which this database does not know",
							t.Name, c.Name, text.Quote(c.Type))}
					}
					return fmt.Errorf("import: add column %s.%s %s: %w", t.Name, c.Name, c.Type, err)
				}
				im.change(fmt.Sprintf("added column %s.%s (%s), which the file's rows have", t.Name, c.Name, c.Type))
				continue
			}
			if tc.notNull && !tc.inKey && m.nulls[t.Name][c.Name] {
				if _, err := tx.Exec(ctx, `alter table `+table+` alter column `+pgx.Identifier{c.Name}.Sanitize()+` drop not null`); err != nil {
					return fmt.Errorf("import: allow NULL in %s.%s: %w", t.Name, c.Name, err)
				}
				im.change(fmt.Sprintf("%s.%s now allows NULL, which rows of the file hold (as in an adopted database)", t.Name, c.Name))
			}
		}
		if target, err = columnsOf(ctx, tx, t.Name); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		im.res.Tables = append(im.res.Tables, TableResult{Name: t.Name, Rows: t.Rows})
		im.tables[t.Name] = &importTable{spec: spec, result: &im.res.Tables[len(im.res.Tables)-1],
			insert: insertSQL(spec, t, target)}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	// The results are appended above; the pointers into the slice must
	// point at its final array.
	for i := range im.res.Tables {
		im.tables[im.res.Tables[i].Name].result = &im.res.Tables[i]
	}
	return nil
}

func (im *importer) change(msg string) {
	im.res.SchemaChanges = append(im.res.SchemaChanges, msg)
	im.o.Note(msg)
}

// insertSQL stores a batch of the table's rows: $1 a JSON array of rows as
// text; for a table with grams, $2 the grams of all rows and $3, $4 each
// row's bounds in them (see text.GramRuns). It returns the count stored. A
// row whose key is present is left as it is; a memory whose id is tombstoned
// is not stored (the trigger on the memory tables does that too; the state
// tables have none).
func insertSQL(spec tableSpec, t Table, target []targetColumn) string {
	byName := map[string]targetColumn{}
	for _, c := range target {
		byName[c.name] = c
	}
	var names, defs, values []string
	for _, c := range t.Columns {
		tc, ok := byName[c.Name]
		if !ok || derived(c.Name, tc.generated) {
			continue
		}
		id := pgx.Identifier{c.Name}.Sanitize()
		declared := tc.pgType
		if tc.pgType == typeTimestamp && tc.canonical == typeTimestampTZ {
			// The file holds the instant; the column stores its wall
			// time in the session's zone, as angelad's writers do.
			declared = typeTimestampTZ
		}
		names = append(names, id)
		defs = append(defs, id+" "+declared)
		values = append(values, "x."+id)
	}
	if len(spec.grams) > 0 {
		names = append(names, "search_grams")
		values = append(values, "($2::int4[])[($3::int4[])[e.n]:($4::int4[])[e.n]]")
	}
	key := make([]string, len(spec.key))
	for i, k := range spec.key {
		key[i] = pgx.Identifier{k}.Sanitize()
	}
	where := ""
	if spec.memory {
		where = ` where not exists (select from memory_tombstones z where z.id = x.` + key[0] + `)`
	}
	return `with ins as (insert into ` + pgx.Identifier{spec.name}.Sanitize() + ` (` + strings.Join(names, ", ") + `)
select ` + strings.Join(values, ", ") + `
from jsonb_array_elements($1::text::jsonb) with ordinality as e(j, n),
	jsonb_to_record(e.j) as x(` + strings.Join(defs, ", ") + `)` + where + `
on conflict (` + strings.Join(key, ", ") + `) do nothing
returning 1)
select count(*) from ins`
}

// batch is the rows of one table waiting to be stored.
type batch struct {
	table *importTable
	rows  []json.RawMessage
	bytes int
}

// load reads the file again and stores its rows, a batch a transaction.
func (im *importer) load(ctx context.Context, path string, m manifest) error {
	r, err := open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.next(); err != nil { // the header, verified
		return err
	}
	var b batch
	for {
		line, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if r.line%1000 == 0 {
			im.o.Progress("importing", r.n, r.size)
		}
		var d dataLine
		if err := json.Unmarshal(line, &d); err != nil {
			return r.fail("not a JSON line: %v (the file changed since it was verified)", err)
		}
		if d.End != nil {
			break
		}
		r.sum.Write(line)
		r.sum.Write([]byte{'\n'})
		t := im.tables[d.Table]
		if t == nil {
			return r.fail("a row of table %s, which the header does not name (the file changed since it was verified)", text.Quote(d.Table))
		}
		if b.table != t || len(b.rows) >= batchRows || b.bytes+len(d.Row) > batchBytes {
			if err := im.flush(ctx, &b); err != nil {
				return err
			}
			b.table = t
		}
		b.rows = append(b.rows, slices.Clone(d.Row))
		b.bytes += len(d.Row)
	}
	if err := im.flush(ctx, &b); err != nil {
		return err
	}
	if hex.EncodeToString(r.sum.Sum(nil)) != m.sum {
		return &FileError{Path: path, Problem: "the file changed while it was imported: import it again"}
	}
	im.o.Progress("importing", r.size, r.size)
	return nil
}

// flush stores b in one transaction and empties it. When the target refuses
// the batch for good, it stores the rows one by one, each under a savepoint,
// and notes those refused.
func (im *importer) flush(ctx context.Context, b *batch) error {
	if len(b.rows) == 0 {
		return nil
	}
	defer func() { b.rows, b.bytes = b.rows[:0], 0 }()
	t := b.table
	var n, purged int64
	err := pgx.BeginFunc(ctx, im.db, func(tx pgx.Tx) error {
		var err error
		n, purged, err = im.store(ctx, tx, t, b.rows)
		return err
	})
	if err == nil {
		t.result.Stored += n
		t.result.Skipped += int64(len(b.rows)) - n
		im.res.Purged += purged
	}
	if err == nil || !postgres.RowRejected(err) || ctx.Err() != nil {
		if err != nil {
			return fmt.Errorf("import %s: %w", t.spec.name, err)
		}
		return nil
	}
	return pgx.BeginFunc(ctx, im.db, func(tx pgx.Tx) error {
		var stored, skipped, purged int64
		var refused []Refusal
		for _, row := range b.rows {
			var n, p int64
			err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
				var err error
				n, p, err = im.store(ctx, sp, t, []json.RawMessage{row})
				return err
			})
			switch {
			case err == nil:
				stored += n
				skipped += 1 - n
				purged += p
			case postgres.RowRejected(err):
				refused = append(refused, Refusal{Table: t.spec.name, Key: keyOf(t.spec, row), Reason: text.OneLine(err.Error())})
			default:
				return fmt.Errorf("import %s: %w", t.spec.name, err)
			}
		}
		// Counted though the commit may yet fail: the import then fails
		// with it, and its counts are not reported.
		t.result.Stored += stored
		im.res.Purged += purged
		t.result.Skipped += skipped
		t.result.Refused += int64(len(refused))
		for _, rf := range refused {
			im.res.Refused = append(im.res.Refused, rf)
			im.o.Note(fmt.Sprintf("%s %s: refused by this database: %s", rf.Table, rf.Key, rf.Reason))
		}
		return nil
	})
}

// store inserts rows of t on tx and returns how many were new. Tombstones
// are applied as they are stored: purged is how many memories they deleted.
func (im *importer) store(ctx context.Context, tx pgx.Tx, t *importTable, rows []json.RawMessage) (n, purged int64, err error) {
	array := make([]byte, 0, 2+len(rows)*256)
	array = append(array, '[')
	for i, row := range rows {
		if i > 0 {
			array = append(array, ',')
		}
		array = append(array, row...)
	}
	array = append(array, ']')
	args := []any{string(array)}
	if len(t.spec.grams) > 0 {
		texts := make([][]string, len(rows))
		for i, row := range rows {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(row, &fields); err != nil {
				return 0, 0, fmt.Errorf("row %s: %w", keyOf(t.spec, row), err)
			}
			for _, name := range t.spec.grams {
				var v *string
				if err := json.Unmarshal(fields[name], &v); err != nil && fields[name] != nil {
					return 0, 0, fmt.Errorf("row %s: %s: %w", keyOf(t.spec, row), name, err)
				}
				if v != nil {
					texts[i] = append(texts[i], *v)
				}
			}
		}
		grams, lo, hi := text.GramRuns(len(rows), func(i int) []string { return texts[i] })
		args = append(args, grams, lo, hi)
	}
	if err := tx.QueryRow(ctx, t.insert, args...).Scan(&n); err != nil {
		return 0, 0, err
	}
	if t.spec.name == "memory_tombstones" {
		ids := make([]uuid.UUID, 0, len(rows))
		for _, row := range rows {
			var k struct {
				ID uuid.UUID `json:"id"`
			}
			if err := json.Unmarshal(row, &k); err != nil {
				return 0, 0, fmt.Errorf("tombstone: %w", err)
			}
			ids = append(ids, k.ID)
		}
		if purged, err = forget.Purge(ctx, tx, ids); err != nil {
			return 0, 0, err
		}
	}
	return n, purged, nil
}

// keyOf describes a row by its key, for a note.
func keyOf(spec tableSpec, row json.RawMessage) string {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(row, &fields)
	parts := make([]string, len(spec.key))
	for i, k := range spec.key {
		parts[i] = k + "=" + strings.Trim(string(fields[k]), `"`)
	}
	return strings.Join(parts, " ")
}

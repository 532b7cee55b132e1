package query_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/query"
)

// gate is an advisory lock that a statement's last row waits for: until the
// test releases it, the statement cannot finish.
type gate struct {
	holder *pgx.Conn
	key    int64
	once   sync.Once
	err    error
}

func newGate(t *testing.T, url string, key int64) *gate {
	t.Helper()
	g := &gate{holder: pgtest.Conn(t, url), key: key}
	if _, err := g.holder.Exec(context.Background(), "select pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *gate) open() {
	g.once.Do(func() {
		_, g.err = g.holder.Exec(context.Background(), "select pg_advisory_unlock($1)", g.key)
	})
}

// openOnWrite is the output stream of a query: the first bytes that reach it
// open the gate, which only bytes written while the statement still runs can
// do.
type openOnWrite struct {
	g   *gate
	buf bytes.Buffer
}

func (w *openOnWrite) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.g.open()
	}
	return w.buf.Write(p)
}

// TestStreamWritesRowsBeforeTheStatementEnds: --csv and --json print rows as
// they arrive. The statement's last row waits on an advisory lock that only
// the output writer releases, when its first bytes arrive; a format that held
// the result until the end would wait for that lock until the statement
// timeout and fail.
func TestStreamWritesRowsBeforeTheStatementEnds(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	const rows = 50000
	sql := fmt.Sprintf(`select g, case when g = %d then pg_advisory_lock_shared($1)::text end as waited
		from generate_series(1, %d) g`, rows, rows)
	for i, tt := range []struct {
		name  string
		sink  func(io.Writer) query.Sink
		check func(t *testing.T, out []byte)
	}{
		{"csv", func(w io.Writer) query.Sink { return query.NewCSVSink(w) }, func(t *testing.T, out []byte) {
			recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
			if err != nil || len(recs) != rows+1 || recs[rows][0] != fmt.Sprint(rows) {
				t.Errorf("CSV: %d records, err %v", len(recs), err)
			}
		}},
		{"json", func(w io.Writer) query.Sink { return query.NewJSONSink(w) }, func(t *testing.T, out []byte) {
			var got []struct{ G int }
			if err := json.Unmarshal(out, &got); err != nil || len(got) != rows || got[rows-1].G != rows {
				t.Errorf("JSON: %d rows, err %v", len(got), err)
			}
		}},
		{"table after its sample", func(w io.Writer) query.Sink { return query.NewTableSink(w) }, func(t *testing.T, out []byte) {
			if !bytes.HasSuffix(out, []byte(fmt.Sprintf("\n(%d rows)\n", rows))) {
				t.Errorf("table ends %q", out[max(0, len(out)-40):])
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := int64(7_000_000 + i)
			g := newGate(t, url, key)
			conn := pgtest.Conn(t, url)
			w := &openOnWrite{g: g}
			err := query.Stream(context.Background(), conn, query.Options{
				SQL: sql, Args: []string{fmt.Sprint(key)}, Timeout: 20 * time.Second,
			}, tt.sink(w))
			if err != nil {
				t.Fatalf("Stream: %v (the output was held until the statement ended)", err)
			}
			if g.err != nil {
				t.Fatal(g.err)
			}
			tt.check(t, w.buf.Bytes())
		})
	}
}

// TestTableSinkSizesColumnsFromItsSample: rows after the first 1000 are
// padded to the widths the first 1000 set; a wider one is printed whole.
func TestTableSinkSizesColumnsFromItsSample(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	var out bytes.Buffer
	err := query.Stream(context.Background(), conn, query.Options{
		SQL: `select case when g = 1001 then 'a long value' else 'x' end as v, g from generate_series(1, 1001) g`,
	}, query.NewTableSink(&out))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != " v |  g" || lines[2] != " x |    1" || lines[1001] != " x | 1000" {
		t.Errorf("head of table:\n%s", strings.Join(lines[:3], "\n"))
	}
	if lines[1002] != " a long value | 1001" || lines[1003] != "(1001 rows)" {
		t.Errorf("tail of table:\n%s", strings.Join(lines[1000:], "\n"))
	}
}

// TestStreamFailingPartWayLeavesJSONUnclosed: rows already written stay, the
// error is returned, and the JSON array is not closed, so no parser takes the
// rows so far for the whole result.
func TestStreamFailingPartWayLeavesJSONUnclosed(t *testing.T) {
	t.Parallel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	var out bytes.Buffer
	err := query.Stream(context.Background(), conn, query.Options{
		SQL: `select 1 / (20000 - g) as v from generate_series(1, 20000) g`,
	}, query.NewJSONSink(&out))
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("Stream = %v, want division by zero", err)
	}
	if json.Valid(out.Bytes()) {
		t.Errorf("a failed result was written as valid JSON (%d bytes)", out.Len())
	}
	if !bytes.HasPrefix(out.Bytes(), []byte("[\n  {\"v\":0}")) {
		t.Errorf("output starts %q, want the rows that arrived", out.String()[:min(out.Len(), 40)])
	}
	// The connection is still usable after the failure.
	var one int
	if err := conn.QueryRow(context.Background(), "select 1").Scan(&one); err != nil {
		t.Errorf("connection after a failed stream: %v", err)
	}
}

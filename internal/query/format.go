package query

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
)

// PostgreSQL type OIDs that decide how a value is presented.
const (
	oidBool    = 16
	oidInt8    = 20
	oidInt2    = 21
	oidInt4    = 23
	oidOID     = 26
	oidJSON    = 114
	oidFloat4  = 700
	oidFloat8  = 701
	oidNumeric = 1700
	oidJSONB   = 3802
)

func isNumericType(oid uint32) bool {
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidOID, oidFloat4, oidFloat8, oidNumeric:
		return true
	}
	return false
}

// Sink receives a result as it arrives from the server, so that a result of
// any size passes through in bounded memory. Begin comes first, then Row once
// per row, then End; after an error from any of them, or from the statement,
// nothing more is called.
type Sink interface {
	// Begin receives the result's columns, none for a statement that
	// returns no rows.
	Begin(cols []Column) error
	// Row receives one row, every value in PostgreSQL's text form and nil for
	// SQL NULL. The values are only valid until Row returns.
	Row(values [][]byte) error
	// End receives the server's command tag, such as "SELECT 2", after the
	// last row and, with Write, after the commit.
	End(commandTag string) error
}

// feed passes a collected result to a sink.
func (r *Result) feed(s Sink) error {
	if err := s.Begin(r.Columns); err != nil {
		return err
	}
	values := make([][]byte, len(r.Columns))
	for _, row := range r.Rows {
		for i := range values {
			values[i] = nil
			if i < len(row) && row[i] != nil {
				values[i] = []byte(*row[i])
			}
		}
		if err := s.Row(values); err != nil {
			return err
		}
	}
	return s.End(r.CommandTag)
}

// WriteTable writes the result as TableSink does.
func (r *Result) WriteTable(w io.Writer) error { return r.feed(NewTableSink(w)) }

// WriteCSV writes the result as CSVSink does.
func (r *Result) WriteCSV(w io.Writer) error { return r.feed(NewCSVSink(w)) }

// WriteJSON writes the result as JSONSink does.
func (r *Result) WriteJSON(w io.Writer) error { return r.feed(NewJSONSink(w)) }

// CSVSink writes a result as CSV with a header row, each row as it arrives.
// NULL and the empty string are both an empty field: encoding/csv cannot tell
// them apart, and --json can.
type CSVSink struct {
	cw     *csv.Writer
	record []string
}

// NewCSVSink returns a CSVSink writing to w.
func NewCSVSink(w io.Writer) *CSVSink { return &CSVSink{cw: csv.NewWriter(w)} }

// Begin implements Sink.
func (c *CSVSink) Begin(cols []Column) error {
	header := make([]string, len(cols))
	for i, col := range cols {
		header[i] = col.Name
	}
	c.record = make([]string, len(cols))
	return c.cw.Write(header)
}

// Row implements Sink.
func (c *CSVSink) Row(values [][]byte) error {
	for i := range c.record {
		c.record[i] = ""
		if i < len(values) && values[i] != nil {
			c.record[i] = string(values[i])
		}
	}
	// csv.Writer buffers and reports a failed write of its buffer here.
	return c.cw.Write(c.record)
}

// End implements Sink.
func (c *CSVSink) End(string) error {
	c.cw.Flush()
	return c.cw.Error()
}

// JSONSink writes a result as a JSON array with one object per row, each row
// as it arrives, its keys the column names in column order. Values are typed
// by the column's PostgreSQL type: integers, floats and numeric become JSON
// numbers (numeric digit for digit, never through a float), booleans true and
// false, json and jsonb are embedded as JSON, NULL is null, and everything else
// (text, timestamps, uuids, arrays) is a string in PostgreSQL's text form. NaN
// and infinities, which JSON numbers cannot express, are strings. A column
// name that repeats gets a suffix ("?column?_2") so that no value is lost to a
// JSON parser keeping only the last of equal keys. If the statement fails
// after some rows, the array is left unclosed, so that no parser takes the
// rows written so far for the whole result.
type JSONSink struct {
	bw   *bufio.Writer
	cols []Column
	keys [][]byte
	buf  bytes.Buffer // one row
	rows int
}

// NewJSONSink returns a JSONSink writing to w.
func NewJSONSink(w io.Writer) *JSONSink { return &JSONSink{bw: bufio.NewWriter(w)} }

// Begin implements Sink.
func (j *JSONSink) Begin(cols []Column) error {
	j.cols = cols
	j.keys = make([][]byte, len(cols))
	for i, name := range uniqueNames(cols) {
		k, err := marshalString(name)
		if err != nil {
			return err
		}
		j.keys[i] = k
	}
	_, err := j.bw.WriteString("[")
	return err
}

// Row implements Sink.
func (j *JSONSink) Row(values [][]byte) error {
	buf := &j.buf
	buf.Reset()
	if j.rows > 0 {
		buf.WriteString(",")
	}
	j.rows++
	buf.WriteString("\n  {")
	for i, c := range j.cols {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.Write(j.keys[i])
		buf.WriteString(":")
		var v []byte
		if i < len(values) {
			v = values[i]
		}
		if err := writeJSONValue(buf, c.TypeOID, v); err != nil {
			return err
		}
	}
	buf.WriteString("}")
	_, err := j.bw.Write(buf.Bytes())
	return err
}

// End implements Sink.
func (j *JSONSink) End(string) error {
	if j.rows > 0 {
		j.bw.WriteString("\n")
	}
	j.bw.WriteString("]\n")
	return j.bw.Flush()
}

func writeJSONValue(buf *bytes.Buffer, oid uint32, v []byte) error {
	if v == nil {
		buf.WriteString("null")
		return nil
	}
	s := string(v)
	switch {
	case oid == oidBool && (s == "t" || s == "f"):
		if s == "t" {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
		return nil
	case isNumericType(oid) && isJSONNumber(s):
		buf.WriteString(s)
		return nil
	case oid == oidJSON || oid == oidJSONB:
		// Compact keeps keys, their order and numbers exactly as stored; json
		// (unlike jsonb) may span lines.
		mark := buf.Len()
		if err := json.Compact(buf, []byte(s)); err == nil {
			return nil
		}
		buf.Truncate(mark)
	}
	b, err := marshalString(s)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// isJSONNumber reports whether s, PostgreSQL's text for a number, is also a
// JSON number ("NaN", "Infinity" and "-Infinity" are not).
func isJSONNumber(s string) bool {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}

// marshalString encodes s as a JSON string, leaving <, > and & as they are
// since the output is read by programs and people, not embedded in HTML.
func marshalString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// uniqueNames returns the column names, a repeated one suffixed "_2", "_3", ...
// with a suffix no other column uses.
func uniqueNames(cols []Column) []string {
	taken := make(map[string]bool, len(cols))
	for _, c := range cols {
		taken[c.Name] = true
	}
	seen := make(map[string]bool, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		name := c.Name
		if seen[name] {
			for k := 2; ; k++ {
				candidate := fmt.Sprintf("%s_%d", c.Name, k)
				if !taken[candidate] {
					name = candidate
					break
				}
			}
		}
		seen[name] = true
		taken[name] = true
		names[i] = name
	}
	return names
}

package query

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
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

// WriteTable writes the result as an aligned table for people, in the style of
// psql: centred headers, numbers aligned right, other values left, a "(N rows)"
// footer. NULL is shown as an empty cell, as psql does; --json tells NULL from
// an empty string. Control characters in values are shown escaped (\n, \t,
// \x1b) so that a multi-line message keeps the table aligned. A statement that
// returns no rows prints its command tag, such as "INSERT 0 1".
func (r *Result) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if len(r.Columns) == 0 {
		fmt.Fprintln(bw, r.CommandTag)
		return bw.Flush()
	}

	n := len(r.Columns)
	widths := make([]int, n)
	right := make([]bool, n)
	header := make([]string, n)
	for i, c := range r.Columns {
		header[i] = escapeControls(c.Name)
		widths[i] = displayWidth(header[i])
		right[i] = isNumericType(c.TypeOID)
	}
	cells := make([][]string, len(r.Rows))
	for ri, row := range r.Rows {
		cells[ri] = make([]string, n)
		for i := 0; i < n && i < len(row); i++ {
			if row[i] == nil {
				continue
			}
			s := escapeControls(*row[i])
			cells[ri][i] = s
			widths[i] = max(widths[i], displayWidth(s))
		}
	}

	writeLine := func(values []string, align func(i int) alignment) {
		for i, v := range values {
			if i > 0 {
				bw.WriteString(" |")
			}
			cell := pad(v, widths[i], align(i), i == n-1)
			if cell != "" || i < n-1 {
				bw.WriteByte(' ')
				bw.WriteString(cell)
			}
		}
		bw.WriteByte('\n')
	}
	writeLine(header, func(int) alignment { return alignCenter })
	for i, wd := range widths {
		if i > 0 {
			bw.WriteByte('+')
		}
		bw.WriteString(strings.Repeat("-", wd+2))
	}
	bw.WriteByte('\n')
	for _, row := range cells {
		writeLine(row, func(i int) alignment {
			if right[i] {
				return alignRight
			}
			return alignLeft
		})
	}
	if len(r.Rows) == 1 {
		bw.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(bw, "(%d rows)\n", len(r.Rows))
	}
	if writesRows(r.CommandTag) {
		// INSERT ... RETURNING and the like: the rows, then what was changed.
		fmt.Fprintf(bw, "\n%s\n", r.CommandTag)
	}
	return bw.Flush()
}

func writesRows(tag string) bool {
	verb, _, _ := strings.Cut(tag, " ")
	switch verb {
	case "INSERT", "UPDATE", "DELETE", "MERGE":
		return true
	}
	return false
}

type alignment int

const (
	alignLeft alignment = iota
	alignRight
	alignCenter
)

// pad fills s to width display columns. The last column is not padded on the
// right, so that no line ends in spaces.
func pad(s string, width int, a alignment, last bool) string {
	gap := width - displayWidth(s)
	if gap <= 0 {
		return s
	}
	var left, right int
	switch a {
	case alignLeft:
		right = gap
	case alignRight:
		left = gap
	case alignCenter:
		left = gap / 2
		right = gap - left
	}
	if last {
		right = 0
	}
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", right)
}

// WriteCSV writes the result as CSV with a header row. NULL and the empty
// string are both an empty field: encoding/csv cannot tell them apart, and
// --json can.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		header[i] = c.Name
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	record := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for i := range record {
			record[i] = ""
			if i < len(row) && row[i] != nil {
				record[i] = *row[i]
			}
		}
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the result as a JSON array with one object per row, its
// keys the column names in column order. Values are typed by the column's
// PostgreSQL type: integers, floats and numeric become JSON numbers (numeric
// digit for digit, never through a float), booleans true and false, json and
// jsonb are embedded as JSON, NULL is null, and everything else (text,
// timestamps, uuids, arrays) is a string in PostgreSQL's text form. NaN and
// infinities, which JSON numbers cannot express, are strings. A column name
// that repeats gets a suffix ("?column?_2") so that no value is lost to a
// JSON parser keeping only the last of equal keys.
func (r *Result) WriteJSON(w io.Writer) error {
	keys := make([][]byte, len(r.Columns))
	for i, name := range uniqueNames(r.Columns) {
		k, err := marshalString(name)
		if err != nil {
			return err
		}
		keys[i] = k
	}

	var buf bytes.Buffer
	buf.WriteString("[")
	for ri, row := range r.Rows {
		if ri > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n  {")
		for i, c := range r.Columns {
			if i > 0 {
				buf.WriteString(",")
			}
			buf.Write(keys[i])
			buf.WriteString(":")
			var v *string
			if i < len(row) {
				v = row[i]
			}
			if err := writeJSONValue(&buf, c.TypeOID, v); err != nil {
				return err
			}
		}
		buf.WriteString("}")
	}
	if len(r.Rows) > 0 {
		buf.WriteString("\n")
	}
	buf.WriteString("]\n")
	_, err := w.Write(buf.Bytes())
	return err
}

func writeJSONValue(buf *bytes.Buffer, oid uint32, v *string) error {
	if v == nil {
		buf.WriteString("null")
		return nil
	}
	s := *v
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

package query

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/angela-ai/angelad/internal/text"
)

// tableSampleRows is how many rows the table format reads before it fixes its
// column widths. A longer result is printed as it arrives, its later rows
// padded to those widths; a wider value among them is printed whole, out of
// line, rather than held back.
const tableSampleRows = 1000

// TableSink writes a result as an aligned table for people, in the style of
// psql: centred headers, numbers aligned right, other values left, a "(N rows)"
// footer. NULL is shown as an empty cell, as psql does; --json tells NULL from
// an empty string. Control characters in values are shown escaped (\n, \t,
// \x1b) so that a multi-line message keeps the table aligned and a stored
// escape sequence cannot drive the terminal. A statement that returns no rows
// prints its command tag, such as "INSERT 0 1".
type TableSink struct {
	bw     *bufio.Writer
	cols   []Column
	widths []int
	right  []bool
	header []string
	sample [][]string // rows read before the widths are fixed
	fixed  bool       // the header and the sample are written
	rows   int
}

// NewTableSink returns a TableSink writing to w.
func NewTableSink(w io.Writer) *TableSink { return &TableSink{bw: bufio.NewWriter(w)} }

// Begin implements Sink.
func (t *TableSink) Begin(cols []Column) error {
	n := len(cols)
	t.cols = cols
	t.widths = make([]int, n)
	t.right = make([]bool, n)
	t.header = make([]string, n)
	for i, c := range cols {
		t.header[i] = text.EscapeControls(c.Name)
		t.widths[i] = displayWidth(t.header[i])
		t.right[i] = isNumericType(c.TypeOID)
	}
	return nil
}

// Row implements Sink.
func (t *TableSink) Row(values [][]byte) error {
	t.rows++
	cells := make([]string, len(t.cols))
	for i := 0; i < len(cells) && i < len(values); i++ {
		if values[i] != nil {
			cells[i] = text.EscapeControls(string(values[i]))
		}
	}
	if t.fixed {
		t.writeRow(cells)
		// bufio keeps the first write error; an empty Write returns it, so a
		// closed pipe stops a long result here rather than at End.
		_, err := t.bw.Write(nil)
		return err
	}
	for i, c := range cells {
		t.widths[i] = max(t.widths[i], displayWidth(c))
	}
	t.sample = append(t.sample, cells)
	if len(t.sample) == tableSampleRows {
		t.writeSample()
	}
	return nil
}

// End implements Sink.
func (t *TableSink) End(commandTag string) error {
	if len(t.cols) == 0 {
		fmt.Fprintln(t.bw, commandTag)
		return t.bw.Flush()
	}
	if !t.fixed {
		t.writeSample()
	}
	if t.rows == 1 {
		t.bw.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(t.bw, "(%d rows)\n", t.rows)
	}
	if writesRows(commandTag) {
		// INSERT ... RETURNING and the like: the rows, then what was changed.
		fmt.Fprintf(t.bw, "\n%s\n", commandTag)
	}
	return t.bw.Flush()
}

func (t *TableSink) writeSample() {
	t.fixed = true
	t.writeLine(t.header, func(int) alignment { return alignCenter })
	for i, wd := range t.widths {
		if i > 0 {
			t.bw.WriteByte('+')
		}
		t.bw.WriteString(strings.Repeat("-", wd+2))
	}
	t.bw.WriteByte('\n')
	for _, row := range t.sample {
		t.writeRow(row)
	}
	t.sample = nil
}

func (t *TableSink) writeRow(cells []string) {
	t.writeLine(cells, func(i int) alignment {
		if t.right[i] {
			return alignRight
		}
		return alignLeft
	})
}

func (t *TableSink) writeLine(values []string, align func(i int) alignment) {
	n := len(values)
	for i, v := range values {
		if i > 0 {
			t.bw.WriteString(" |")
		}
		cell := pad(v, t.widths[i], align(i), i == n-1)
		if cell != "" || i < n-1 {
			t.bw.WriteByte(' ')
			t.bw.WriteString(cell)
		}
	}
	t.bw.WriteByte('\n')
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

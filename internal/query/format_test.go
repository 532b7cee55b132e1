package query

import (
	"strings"
	"testing"
	"time"
)

func TestDisplayWidth(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"", 0},
		{"david", 5},
		{"สวัสดี", 4}, // ั and ี sit above the line
		{"น้ำ", 2},    // ้ is a tone mark; sara am takes a column
		{"กินข้าวหรือยัง", 10}, // four marks among fourteen runes
		{"e\u0301", 1}, // e + combining acute
		{"日本語", 6},
		{"한국어", 6},
		{"ｱｲ", 2}, // halfwidth katakana
		{"ＡＢ", 4}, // fullwidth Latin
		{"😀", 2},  // emoji
		{"a\u200bb", 2},
	}
	for _, tt := range tests {
		if got := displayWidth(tt.s); got != tt.want {
			t.Errorf("displayWidth(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func str(s string) *string { return &s }

// columnsOf returns the display column of every '|' in each line.
func columnsOf(lines []string) [][]int {
	var out [][]int
	for _, line := range lines {
		var cols []int
		for i, r := range line {
			if r == '|' || r == '+' {
				cols = append(cols, displayWidth(line[:i]))
			}
		}
		out = append(out, cols)
	}
	return out
}

func TestWriteTableAlignsWideAndCombiningText(t *testing.T) {
	r := &Result{
		Columns: []Column{{Name: "word", TypeOID: 25}, {Name: "n", TypeOID: oidNumeric}, {Name: "note", TypeOID: 25}},
		Rows: [][]*string{
			{str("น้ำ"), str("1.5"), str("line one\nline two\ttab\x1b[31m")},
			{str("日本語のテキスト"), str("-20"), nil},
			{str("😀 ok"), nil, str("ends")},
		},
		CommandTag: "SELECT 3",
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 || lines[5] != "(3 rows)" {
		t.Fatalf("WriteTable:\n%s", out)
	}
	cols := columnsOf(lines[:5])
	for i, c := range cols {
		if len(c) != 2 || c[0] != cols[0][0] || c[1] != cols[0][1] {
			t.Errorf("line %d separators at %v, header at %v:\n%s", i, c, cols[0], out)
		}
	}
	for _, want := range []string{` line one\nline two\ttab\x1b[31m`, "| 1.5 |", "| -20 |", "|     | ends"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range lines {
		if strings.HasSuffix(line, " ") {
			t.Errorf("line %q ends in a space", line)
		}
	}
}

func TestWriteTableFooterAndCommandTag(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"no rows", Result{Columns: []Column{{Name: "a"}}, CommandTag: "SELECT 0"}, " a\n---\n(0 rows)\n"},
		{"one row", Result{Columns: []Column{{Name: "a"}}, Rows: [][]*string{{str("x")}}, CommandTag: "SELECT 1"}, " a\n---\n x\n(1 row)\n"},
		{"returning", Result{Columns: []Column{{Name: "id", TypeOID: oidInt4}}, Rows: [][]*string{{str("7")}}, CommandTag: "INSERT 0 1"}, " id\n----\n  7\n(1 row)\n\nINSERT 0 1\n"},
		{"no columns", Result{CommandTag: "UPDATE 3"}, "UPDATE 3\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := tt.r.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%s: WriteTable = %q, want %q", tt.name, b.String(), tt.want)
		}
	}
}

func TestWriteJSONRepeatedColumnNames(t *testing.T) {
	r := &Result{
		Columns: []Column{{Name: "?column?", TypeOID: oidInt4}, {Name: "?column?", TypeOID: oidInt4}, {Name: "?column?_2", TypeOID: 25}},
		Rows:    [][]*string{{str("1"), str("2"), str("x")}},
	}
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if want := "[\n  {\"?column?\":1,\"?column?_3\":2,\"?column?_2\":\"x\"}\n]\n"; b.String() != want {
		t.Errorf("WriteJSON = %q, want %q", b.String(), want)
	}
}

func TestWriteJSONNumbersThatJSONCannotHold(t *testing.T) {
	r := &Result{
		Columns: []Column{{Name: "a", TypeOID: oidFloat8}, {Name: "b", TypeOID: oidNumeric}, {Name: "c", TypeOID: oidFloat8}, {Name: "d", TypeOID: oidBool}},
		Rows:    [][]*string{{str("-Infinity"), str("NaN"), str("1e+300"), str("t")}},
	}
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"-Infinity","b":"NaN","c":1e+300,"d":true}`; !strings.Contains(b.String(), want) {
		t.Errorf("WriteJSON = %s, want %s", b.String(), want)
	}
}

func TestFirstKeyword(t *testing.T) {
	tests := map[string]string{
		"select 1":                         "select",
		"  \n COPY t TO STDOUT":            "copy",
		"-- note\ncopy t from stdin":       "copy",
		"/* a /* nested */ b */ Copy(x)":   "copy",
		"/* unterminated":                  "",
		"-- only a comment":                "",
		"(select 1)":                       "",
		"with x as (select 1) select 1":    "with",
		"/**/insert into t values (1)":     "insert",
		"\tcopy_of_table_is_not_copy = 1 ": "copy_of_table_is_not_copy",
	}
	for sql, want := range tests {
		if got := firstKeyword(sql); got != want {
			t.Errorf("firstKeyword(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestLineColumn(t *testing.T) {
	tests := []struct {
		sql       string
		pos       int
		line, col int
	}{
		{"select * form t", 10, 1, 10},
		{"select *\nfrom nowhere", 15, 2, 6},
		{"select 'สวัสดี' form t", 17, 1, 17}, // positions count characters, not bytes
	}
	for _, tt := range tests {
		line, col := lineColumn(tt.sql, tt.pos)
		if line != tt.line || col != tt.col {
			t.Errorf("lineColumn(%q, %d) = %d:%d, want %d:%d", tt.sql, tt.pos, line, col, tt.line, tt.col)
		}
	}
}

func TestTimeoutSetting(t *testing.T) {
	tests := map[time.Duration]string{
		time.Nanosecond:             "1",
		100 * time.Millisecond:      "100",
		1500 * time.Microsecond:     "2",
		30 * time.Second:            "30000",
		2*time.Hour + 3*time.Minute: "7380000",
	}
	for d, want := range tests {
		if got := timeoutSetting(d); got != want {
			t.Errorf("timeoutSetting(%s) = %s, want %s", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{30 * time.Second: "30s", time.Minute: "1m", 2 * time.Hour: "2h", 90 * time.Second: "1m30s", 10 * time.Second: "10s", 100 * time.Millisecond: "100ms"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

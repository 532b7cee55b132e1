package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// readLine is one result of a lineReader.
type readLine struct {
	text     string
	tooLarge bool
	end      int64 // offset after it
	number   int64
}

func readAll(t testing.TB, data []byte, offset, line int64, max, bufSize int) ([]readLine, *lineReader) {
	lr := newLineReader(bytes.NewReader(data[offset:]), offset, line, max, bufSize)
	var out []readLine
	for {
		b, tooLarge, err := lr.next()
		if errors.Is(err, io.EOF) {
			return out, lr
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, readLine{string(b), tooLarge, lr.offset, lr.line})
	}
}

// wantLines is what a reader must yield for data: every line that ends in a
// newline, in order, the ones longer than max marked too large; the rest is a
// partial line.
func wantLines(data []byte, max int) (lines []readLine, partialAt int64) {
	var off, n int64
	for {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return lines, off
		}
		n++
		l := readLine{text: string(data[off : off+int64(i)]), end: off + int64(i) + 1, number: n}
		if i > max {
			l.text, l.tooLarge = "", true
		}
		lines = append(lines, l)
		off = l.end
	}
}

func checkReader(t testing.TB, data []byte, split int, max, bufSize int) {
	want, partialAt := wantLines(data, max)
	// Read what was there at first, then the rest from where it stopped, as
	// the worker does when a file grows.
	split = min(max0(split), len(data))
	first, lr := readAll(t, data[:split], 0, 0, max, bufSize)
	rest, lr2 := readAll(t, data, lr.offset, lr.line, max, bufSize)
	got := append(first, rest...)
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d (split %d, max %d)", len(got), len(want), split, max)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %+v, want %+v", i+1, got[i], want[i])
		}
	}
	if lr2.offset != partialAt {
		t.Fatalf("stopped at %d, want %d (the partial line's start)", lr2.offset, partialAt)
	}
}

func max0(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func TestLineReaderWaitsForAPartialLine(t *testing.T) {
	data := []byte("{\"a\":1}\n{\"b\":")
	got, lr := readAll(t, data, 0, 0, MaxLineBytes, 16)
	if len(got) != 1 || got[0].text != `{"a":1}` || lr.offset != 8 || lr.line != 1 {
		t.Fatalf("got %+v, offset %d line %d", got, lr.offset, lr.line)
	}
	data = append(data, "2}\n"...)
	got, lr = readAll(t, data, lr.offset, lr.line, MaxLineBytes, 16)
	if len(got) != 1 || got[0].text != `{"b":2}` || got[0].number != 2 || lr.offset != int64(len(data)) {
		t.Fatalf("after completion: got %+v, offset %d", got, lr.offset)
	}
}

func TestLineReaderSkipsLongLinesWithoutKeepingThem(t *testing.T) {
	long := strings.Repeat("x", 1000)
	data := []byte("short\n" + long + "\nafter\n" + long)
	got, lr := readAll(t, data, 0, 0, 100, 16)
	if len(got) != 3 || !got[1].tooLarge || got[1].text != "" || got[2].text != "after" {
		t.Fatalf("got %+v", got)
	}
	if cap(lr.acc) > 200 {
		t.Fatalf("kept %d bytes of a skipped line", cap(lr.acc))
	}
	checkReader(t, data, 500, 100, 16)
	// A line of exactly max bytes is kept.
	checkReader(t, []byte(strings.Repeat("y", 100)+"\n"), 0, 100, 16)
}

// FuzzLineReader checks that reading a file in two passes, split anywhere,
// yields exactly its complete lines once each, with their offsets and numbers,
// whatever the bytes and the line lengths. Its seed corpus runs in go test.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"type\":\"user\"}\n{\"type\":\"assistant\"}\n"), 5, uint8(40))
	f.Add([]byte("no newline at all"), 3, uint8(4))
	f.Add([]byte("\n\n\n"), 1, uint8(0))
	f.Add([]byte(strings.Repeat("long line ", 20)+"\nshort\n"+strings.Repeat("z", 70)), 100, uint8(32))
	f.Add([]byte("a\r\nb\r\n"), 2, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split int, max uint8) {
		checkReader(t, data, split, int(max), 16)
	})
}

// FuzzParseLine checks that no line makes the parser panic and that it never
// rejects a line encoding/json accepts as an object: a valid line is never
// skipped as malformed. (The walk is a fast structural check; it is lenient
// about what it skips, such as the form of numbers.)
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"type":"user","message":{"role":"user","content":"hi"},"uuid":"x"}`))
	f.Add([]byte(`{"type":"assistant","message":{"content":[{"type":"text","text":"a\"b"}]}}`))
	f.Add([]byte(`{"a":[1,-2.5e3,true,false,null,{"b":"\\\""}]}`))
	f.Add([]byte(`{"type":"user"`))
	f.Add([]byte(`{"type":"assistant","message":{"content":[{"type":"text","text":"a` + "\t\x00" + `b"},{"type":"tool_use","input":` +
		strings.Repeat(`{"k":[`, 300) + "1" + strings.Repeat("]}", 300) + `}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := parseLine(b, true, nowFixed, nil)
		if err != nil && json.Valid(b) && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{")) {
			t.Fatalf("rejected valid %q: %v", b, err)
		}
	})
}

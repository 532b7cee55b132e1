package logging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/testkit"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	// Enough lines to span several backward reads.
	var many strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&many, "line %d\n", i)
	}
	manyLines := strings.SplitAfter(many.String(), "\n")
	manyLines = manyLines[:len(manyLines)-1]

	tests := []struct {
		name    string
		content string
		n       int
		want    string
	}{
		{"last n of more", "a\nb\nc\nd\n", 2, "c\nd\n"},
		{"exactly n", "a\nb\n", 2, "a\nb\n"},
		{"fewer lines than n", "a\nb\n", 10, "a\nb\n"},
		{"last line without newline", "a\nb\nc", 2, "b\nc\n"},
		{"single line without newline", "only", 5, "only\n"},
		{"blank lines count", "a\n\n\nb\n", 3, "\n\nb\n"},
		{"empty file", "", 5, ""},
		{"zero lines", "a\nb\n", 0, ""},
		{"Thai", "สวัสดีค่ะ\nวันนี้เหนื่อยไหม\nคิดถึงนะ\n", 2, "วันนี้เหนื่อยไหม\nคิดถึงนะ\n"},
		{"Thai without newline", "ก\nรักนะ ที่รัก", 1, "รักนะ ที่รัก\n"},
		{"across chunks", many.String(), 15000, strings.Join(manyLines[5000:], "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "angelad.log")
			writeFile(t, path, tt.content)
			var out bytes.Buffer
			if err := Tail(&out, path, tt.n); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("Tail(%d) = %.200q, want %.200q", tt.n, got, tt.want)
			}
		})
	}
}

func TestTailMissingFileIsOneLineNamingIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "none.log")
	err := Tail(&bytes.Buffer{}, path, 10)
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Tail of a missing file: %v", err)
	}
	err = Follow(context.Background(), &bytes.Buffer{}, path, 10)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Follow of a missing file: %v", err)
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r    *bytes.Reader
	read atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read.Add(int64(n))
	return n, err
}

func TestTailReadsOnlyTheEnd(t *testing.T) {
	t.Parallel()
	line := []byte(`{"ts":"2026-01-02T15:04:05.123456789+07:00","level":"info","logger":"memory","msg":"saved"}` + "\n")
	data := bytes.Repeat(line, (10<<20)/len(line)) // a full 10 MB log file
	r := &countingReaderAt{r: bytes.NewReader(data)}
	start, err := tailStart(r, int64(len(data)), 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(data) - 100*len(line)); start != want {
		t.Errorf("start = %d, want %d", start, want)
	}
	if got := r.read.Load(); got > 2*tailChunk {
		t.Errorf("read %d bytes of a %d-byte file to find 100 lines", got, len(data))
	}
}

// waitOutput waits until out holds exactly want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("output %q", want), func() bool { return out.String() == want })
}

// startFollow runs follow on path with a short poll and returns its output
// and a function that stops it and returns its error.
func startFollow(t *testing.T, path string, n int) (*syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- follow(ctx, out, path, n, 5*time.Millisecond) }()
	var (
		once sync.Once
		err  error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Error("follow did not return after its context was cancelled")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

func TestFollowSurvivesRenameAndTruncation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "angelad.log")
	writeFile(t, path, "one\ntwo\nthree\n")
	out, stop := startFollow(t, path, 2)
	want := "two\nthree\n"
	waitOutput(t, out, want)

	appendFile(t, path, "four คิดถึง\n")
	want += "four คิดถึง\n"
	waitOutput(t, out, want)

	// Rotation by rename: the writer still finishes a (partial) line in the
	// old file before the new one appears.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", "five")
	writeFile(t, path, "six\n")
	want += "five\nsix\n"
	waitOutput(t, out, want)
	appendFile(t, path, "seven\n")
	want += "seven\n"
	waitOutput(t, out, want)

	// Truncation in place, then a line shorter than what was there.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "8\n")
	want += "8\n"
	waitOutput(t, out, want)

	if err := stop(); err != nil {
		t.Errorf("follow returned %v after cancellation, want nil", err)
	}
}

func TestFollowZeroLinesPrintsOnlyNewOnes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "angelad.log")
	writeFile(t, path, "old\n")
	out, stop := startFollow(t, path, 0)
	// Nothing says when follow has opened the file, and a line appended
	// before that is old to it: keep appending until one shows.
	testkit.WaitFor(t, "a new line", func() bool {
		appendFile(t, path, "new\n")
		return out.String() != ""
	})
	if got := out.String(); strings.ReplaceAll(got, "new\n", "") != "" {
		t.Errorf("output = %q, want only new lines", got)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

func TestFollowSeesLoggerReopen(t *testing.T) {
	t.Parallel()
	l, _ := newFileLogger(t, Options{})
	l.Info("first")
	out, stop := startFollow(t, l.path, 10)
	testkit.WaitFor(t, "the first entry", func() bool { return strings.Contains(out.String(), `"msg":"first"`) })

	// What logrotate and SIGHUP do.
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Info("second")
	testkit.WaitFor(t, "the second entry", func() bool { return strings.Contains(out.String(), `"msg":"second"`) })
	if err := stop(); err != nil {
		t.Error(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("want 2 lines, got:\n%s", out.String())
	}
}

func TestJournalctlArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unit   string
		user   bool
		n      int
		follow bool
		want   []string
	}{
		{"angelad", false, 100, false, []string{"-u", "angelad", "-n", "100", "--no-pager", "-o", "cat"}},
		{"angelad", false, 100, true, []string{"-u", "angelad", "-n", "100", "-f", "--no-pager", "-o", "cat"}},
		{"angelad", true, 20, false, []string{"--user", "-u", "angelad", "-n", "20", "--no-pager", "-o", "cat"}},
		{"angelad.service", true, 0, true, []string{"--user", "-u", "angelad.service", "-n", "0", "-f", "--no-pager", "-o", "cat"}},
		{"angelad", false, -5, false, []string{"-u", "angelad", "-n", "0", "--no-pager", "-o", "cat"}},
	}
	for _, tt := range tests {
		got := JournalctlArgs(tt.unit, tt.user, tt.n, tt.follow)
		if !slices.Equal(got, tt.want) {
			t.Errorf("JournalctlArgs(%q, %v, %d, %v) = %q, want %q", tt.unit, tt.user, tt.n, tt.follow, got, tt.want)
		}
	}
}

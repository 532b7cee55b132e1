package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/testkit"
)

// syncBuffer is a bytes.Buffer that a goroutine under test may write while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// readLines returns the lines of the file at path.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// newFileLogger returns a logger writing to angelad.log in a fresh directory,
// and what it writes to stderr.
func newFileLogger(t *testing.T, o Options) (*Logger, *syncBuffer) {
	t.Helper()
	if o.File == "" {
		o.File = filepath.Join(t.TempDir(), "angelad.log")
	}
	var stderr syncBuffer
	l, err := New(o, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, &stderr
}

func TestFileGetsOneJSONLinePerEntryAndStderrNothing(t *testing.T) {
	t.Parallel()
	l, stderr := newFileLogger(t, Options{Level: "info", Format: "auto"})
	l.Named("memory").Info("saved emotion", zap.String("emotion", "คิดถึง"), zap.Int("intensity", 8))
	l.Warn("database unreachable")
	l.Debug("not at info level")
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	lines := readLines(t, l.path)
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, lines[0])
	}
	want := map[string]any{"level": "info", "logger": "memory", "msg": "saved emotion", "emotion": "คิดถึง", "intensity": 8.0}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := first["caller"]; ok {
		t.Errorf("caller should be off: %s", lines[0])
	}
	ts, _ := first["ts"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("ts %q is not RFC 3339: %v", ts, err)
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr should stay empty when logging to a file, got %q", s)
	}
}

func TestNewCreatesPrivateDirectoryAndFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "Library", "Logs", "angelad")
	l, _ := newFileLogger(t, Options{File: filepath.Join(dir, "angelad.log")})
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode %o, want 700", got)
	}
	// The file exists before anything is logged: New opened it.
	fi, err := os.Stat(l.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode %o, want 600", got)
	}
}

func TestNewRejectsBadOptionsInOneLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"level", Options{Level: "verbose"}, `log level "verbose": must be debug, info, warn or error`},
		{"zap-only level", Options{Level: "fatal"}, `log level "fatal"`},
		{"format", Options{Format: "xml"}, `log format "xml": must be auto, console or json`},
		{"size", Options{File: filepath.Join(dir, "a.log"), MaxSizeMB: -1}, "max size -1 MB: must be 1 or more"},
		{"files", Options{File: filepath.Join(dir, "a.log"), MaxFiles: -2}, "max files -2: must be 1 or more"},
		{"directory under a file", Options{File: filepath.Join(notDir, "a.log")}, filepath.Join(notDir, "a.log")},
		{"file is a directory", Options{File: dir}, dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.o, &bytes.Buffer{})
			if err == nil {
				l.Close()
				t.Fatal("New succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tt.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	// A buffer is not a terminal: auto means JSON.
	var buf bytes.Buffer
	l, err := New(Options{}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hello")
	if err := l.Close(); err != nil {
		t.Errorf("Close on stderr output: %v", err)
	}
	if !json.Valid(bytes.TrimSpace(buf.Bytes())) {
		t.Errorf("auto on a non-terminal should be JSON: %q", buf.String())
	}

	// Console to a file: readable, and no colour codes in the file.
	fl, _ := newFileLogger(t, Options{Format: "console"})
	fl.Named("daemon").Info("ready", zap.Int("pool", 4))
	fl.Close()
	data, err := os.ReadFile(fl.path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, "INFO\tdaemon\tready\t{\"pool\": 4}") || strings.Contains(s, "\x1b[") {
		t.Errorf("console line = %q", s)
	}
}

func TestSetLevelTakesEffect(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	l, err := New(Options{Level: "info", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	child := l.Named("worker") // derived before the change: must follow it too
	child.Debug("hidden")
	if err := l.SetLevel("debug"); err != nil {
		t.Fatal(err)
	}
	child.Debug("shown")
	if err := l.SetLevel("loud"); err == nil {
		t.Error("SetLevel accepted an invalid level")
	}
	child.Debug("still shown") // the invalid level changed nothing
	if err := l.SetLevel("error"); err != nil {
		t.Fatal(err)
	}
	child.Warn("hidden again")

	out := buf.String()
	for _, s := range []string{`"msg":"shown"`, `"msg":"still shown"`} {
		if !strings.Contains(out, s) {
			t.Errorf("missing %s in %q", s, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("an entry below the level was written: %q", out)
	}
}

func TestReopenAfterRenameWritesToNewFile(t *testing.T) {
	t.Parallel()
	l, stderr := newFileLogger(t, Options{})
	moved := l.path + ".1"
	l.Info("before")
	if err := os.Rename(l.path, moved); err != nil {
		t.Fatal(err)
	}
	// As with logrotate: until the signal, the open file is the moved one.
	l.Info("between")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.path); err != nil {
		t.Fatalf("Reopen did not create the file at the path: %v", err)
	}
	l.Info("after")
	l.Close()

	cur, old := strings.Join(readLines(t, l.path), "\n"), strings.Join(readLines(t, moved), "\n")
	if !strings.Contains(cur, `"msg":"after"`) || strings.Contains(cur, "before") || strings.Contains(cur, "between") {
		t.Errorf("file at the path after Reopen:\n%s", cur)
	}
	if !strings.Contains(old, "before") || !strings.Contains(old, "between") || strings.Contains(old, "after") {
		t.Errorf("moved file:\n%s", old)
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr = %q", s)
	}
}

func TestReopenOnStderrDoesNothing(t *testing.T) {
	t.Parallel()
	l, err := New(Options{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Errorf("Reopen: %v", err)
	}
}

func TestRotationKeepsAtMostMaxFiles(t *testing.T) {
	t.Parallel()
	const maxFiles = 2
	l, stderr := newFileLogger(t, Options{MaxSizeMB: 1, MaxFiles: maxFiles})
	dir := filepath.Dir(l.path)

	// About 4.5 MB of 500-byte entries: four rotations at 1 MB, more than
	// maxFiles. Small entries keep rotations milliseconds apart, so the
	// millisecond timestamps in the backup names stay distinct.
	pad := strings.Repeat("ข", 150) // 450 bytes of Thai
	const entries = 9000
	for i := range entries {
		l.Info("entry", zap.Int("seq", i), zap.String("pad", pad))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	backups := func() []string {
		m, err := filepath.Glob(filepath.Join(dir, "angelad-*.log"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// lumberjack removes old files in a goroutine of its own.
	testkit.WaitFor(t, "old files to be removed", func() bool { return len(backups()) == maxFiles })

	files := append(backups(), l.path)
	last := -1
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over 1 MiB", f, fi.Size())
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e struct{ Seq int }
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s: a line is not JSON (split or doubled?): %v", f, err)
			}
			last = max(last, e.Seq)
		}
		fh.Close()
	}
	if last != entries-1 {
		t.Errorf("the last entry is %d, want %d", last, entries-1)
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr = %q", s)
	}
}

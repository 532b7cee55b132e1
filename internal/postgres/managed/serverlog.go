package managed

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/angela-ai/angelad/internal/text"
)

// maxStartLog bounds the startup log. The server writes a few lines there per
// start before its logging collector takes over, so it only grows across many
// restarts; past this size the next start truncates it.
const maxStartLog = 1 << 20

// serverLogMaxAge is how long a weekday's log file is kept. The server
// truncates a weekday's file only when it rotates into it while running, not
// when it starts, so a server restarted every day would otherwise append to the
// same seven files for ever.
const serverLogMaxAge = 6 * 24 * time.Hour

// pruneServerLogs removes the logging collector's files that were last written
// more than serverLogMaxAge before now, before a start reopens one of them.
// Failing to remove one only keeps old lines.
func (c *Cluster) pruneServerLogs(now time.Time) {
	entries, err := os.ReadDir(c.LogDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "postgresql-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > serverLogMaxAge {
			os.Remove(filepath.Join(c.LogDir(), name))
		}
	}
}

// serverLogTail returns the last few lines the server logged since offset in
// the startup log, joined into one line; when the logging collector had
// already taken over, the last lines of the newest file in LogDir instead.
func (c *Cluster) serverLogTail(offset int64) string {
	lines := readLines(c.StartLogFile(), offset)
	var kept []string
	for _, l := range lines {
		// The collector's hand-over notice says nothing about the failure.
		if strings.Contains(l, "redirecting log output") || strings.Contains(l, "Future log output will appear") {
			continue
		}
		kept = append(kept, l)
	}
	if len(kept) == 0 {
		if newest := newestFile(c.LogDir()); newest != "" {
			kept = readLines(newest, 0)
		}
	}
	if len(kept) > 3 {
		kept = kept[len(kept)-3:]
	}
	for i, l := range kept {
		kept[i] = stripLogPrefix(l)
	}
	tail := strings.Join(kept, " | ")
	if len(tail) > 600 {
		tail = "..." + tail[len(tail)-600:]
	}
	return tail
}

// stripLogPrefix drops the time and pid that log_line_prefix puts before the
// severity.
func stripLogPrefix(line string) string {
	for _, sev := range []string{"PANIC:", "FATAL:", "ERROR:", "WARNING:", "LOG:", "HINT:", "DETAIL:"} {
		if i := strings.Index(line, sev); i >= 0 {
			return text.OneLine(line[i:])
		}
	}
	return line
}

// readLines returns the non-empty lines of path from offset on, at most the
// last 64 KiB of them.
func readLines(path string, offset int64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > 64<<10 {
		offset = fi.Size() - 64<<10
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// newestFile returns the most recently modified file in dir, or "".
func newestFile(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			files = append(files, file{filepath.Join(dir, e.Name()), fi.ModTime()})
		}
	}
	if len(files) == 0 {
		return ""
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.After(files[j].mod) })
	return files[0].path
}

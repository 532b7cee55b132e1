package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"time"
)

// followInterval is how often Follow looks for new lines and for rotation:
// quick enough to feel live, slow enough that an idle follower costs nothing.
const followInterval = 200 * time.Millisecond

// tailChunk is how much Tail reads at a time, backwards from the end.
const tailChunk = 64 << 10

// Tail writes the last n lines of the file at path to w, each ending in a
// newline (one is added if the file's last line lacks it). It reads backwards
// from the end, so its cost depends on n, not on the size of the file. With n
// zero or less it writes nothing.
func Tail(w io.Writer, path string, n int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("tail log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("tail log: %w", err)
	}
	// Lines appended from here on are not part of this tail: stopping at the
	// size seen now keeps it the last n lines of one moment.
	size := fi.Size()
	start, err := tailStart(f, size, n)
	if err != nil {
		return fmt.Errorf("tail log %s: %w", path, err)
	}
	lw := &lineWriter{w: w}
	if _, err := io.Copy(lw, io.NewSectionReader(f, start, size-start)); err != nil {
		return fmt.Errorf("tail log %s: %w", path, err)
	}
	if err := lw.endLine(); err != nil {
		return fmt.Errorf("tail log %s: %w", path, err)
	}
	return nil
}

// Follow writes the last n lines of the file at path to w, then every byte
// appended to it until ctx is done, when it returns nil. It survives
// rotation: when the path names a new file (a rename and recreate, by
// lumberjack or logrotate) it finishes the old file and continues at the
// start of the new one; when the file shrinks (truncated in place) it starts
// again from the beginning. It polls every 200ms rather than using inotify or
// kqueue, which behave differently on Linux and macOS and cost more code than
// a stat five times a second. A truncation that is refilled past the old end
// within one poll goes unnoticed, as does a file rotated in and out again
// within one poll (over 50 MB/s of logging at 10 MB files). Follow fails if the file
// does not exist when it starts; once following, a file that is briefly
// missing is waited for.
func Follow(ctx context.Context, w io.Writer, path string, n int) error {
	return follow(ctx, w, path, n, followInterval)
}

func follow(ctx context.Context, w io.Writer, path string, n int, every time.Duration) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("follow log: %w", err)
	}
	// f is replaced on rotation; close whichever is open at the end.
	defer func() { f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("follow log: %w", err)
	}
	start, err := tailStart(f, fi.Size(), n)
	if err != nil {
		return fmt.Errorf("follow log %s: %w", path, err)
	}
	lw := &lineWriter{w: w}
	buf := make([]byte, 32<<10)
	off, err := copyFrom(lw, f, start, buf)
	if err != nil {
		return fmt.Errorf("follow log %s: %w", path, err)
	}

	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if off, err = copyFrom(lw, f, off, buf); err != nil {
			return fmt.Errorf("follow log %s: %w", path, err)
		}
		cur, err := f.Stat()
		if err != nil {
			return fmt.Errorf("follow log: %w", err)
		}
		atPath, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Moved away and not recreated yet: the writer may still be
			// appending to the old file, so keep reading it.
			continue
		case err != nil:
			return fmt.Errorf("follow log: %w", err)
		case !os.SameFile(atPath, cur):
			next, err := os.Open(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // gone again between the stat and the open
			}
			if err != nil {
				return fmt.Errorf("follow log: %w", err)
			}
			// The writer may have appended to the old file after the copy
			// above and before it moved on to the new one.
			if _, err := copyFrom(lw, f, off, buf); err != nil {
				next.Close()
				return fmt.Errorf("follow log %s: %w", path, err)
			}
			f.Close()
			f, off = next, 0
			if err := lw.endLine(); err != nil {
				return fmt.Errorf("follow log %s: %w", path, err)
			}
		case cur.Size() < off:
			off = 0
			if err := lw.endLine(); err != nil {
				return fmt.Errorf("follow log %s: %w", path, err)
			}
		default:
			continue
		}
		// Show the new file's lines now rather than a poll later.
		if off, err = copyFrom(lw, f, off, buf); err != nil {
			return fmt.Errorf("follow log %s: %w", path, err)
		}
	}
}

// copyFrom copies r from off to its current end into w and returns the
// offset reached.
func copyFrom(w io.Writer, r io.ReaderAt, off int64, buf []byte) (int64, error) {
	n, err := io.CopyBuffer(w, io.NewSectionReader(r, off, math.MaxInt64-off), buf)
	return off + n, err
}

// tailStart returns the offset in the first size bytes of r at which the
// last n lines begin. It reads backwards a chunk at a time, counting
// newlines; UTF-8 never uses the newline byte inside a multibyte character,
// so Thai text cannot be cut.
func tailStart(r io.ReaderAt, size int64, n int) (int64, error) {
	if n <= 0 || size == 0 {
		return size, nil
	}
	buf := make([]byte, min(tailChunk, size))
	// A final newline ends the last line; it does not start an empty one.
	end := size
	if _, err := r.ReadAt(buf[:1], size-1); err != nil {
		return 0, err
	}
	if buf[0] == '\n' {
		end--
	}
	for pos := end; pos > 0; {
		chunk := buf[:min(int64(len(buf)), pos)]
		pos -= int64(len(chunk))
		if _, err := r.ReadAt(chunk, pos); err != nil {
			return 0, err
		}
		for i := len(chunk); ; {
			j := bytes.LastIndexByte(chunk[:i], '\n')
			if j < 0 {
				break
			}
			if n--; n == 0 {
				return pos + int64(j) + 1, nil
			}
			i = j
		}
	}
	return 0, nil
}

// lineWriter remembers whether the output ends in the middle of a line, so
// that a partial last line does not run into whatever is written next.
type lineWriter struct {
	w       io.Writer
	partial bool
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	n, err := lw.w.Write(p)
	if n > 0 {
		lw.partial = p[n-1] != '\n'
	}
	return n, err
}

// endLine ends a partial line.
func (lw *lineWriter) endLine() error {
	if !lw.partial {
		return nil
	}
	_, err := lw.Write([]byte{'\n'})
	return err
}

// JournalctlArgs returns the arguments to journalctl that print the last n
// lines of unit's log, and with follow keep printing new ones: what
// `angelad logs` runs under systemd when no log file is configured. user
// selects the user's journal and a user unit (systemctl --user). The output
// is "cat", the message alone: under systemd the daemon's messages are its
// own JSON lines, which carry their own time and level, so this prints
// exactly what a log file would hold instead of prefixing each line with a
// second timestamp, host and pid. A negative n is treated as zero.
func JournalctlArgs(unit string, user bool, n int, follow bool) []string {
	var args []string
	if user {
		args = append(args, "--user")
	}
	args = append(args, "-u", unit, "-n", strconv.Itoa(max(n, 0)))
	if follow {
		args = append(args, "-f")
	}
	return append(args, "--no-pager", "-o", "cat")
}

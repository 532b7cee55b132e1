// Package logging owns angelad's log output: it builds the zap logger (JSON
// lines when the output is not a terminal, a readable console format when it
// is), writes it to standard error or to one size-rotated file, reopens that
// file and changes the level on SIGHUP, and reads the file back for
// `angelad logs` (Tail, Follow, or the journalctl arguments under systemd).
package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Defaults for the rotation settings of Options.
const (
	// DefaultMaxSizeMB is the size at which the log file is rotated when
	// Options.MaxSizeMB is zero.
	DefaultMaxSizeMB = 10
	// DefaultMaxFiles is how many rotated files are kept when Options.MaxFiles
	// is zero.
	DefaultMaxFiles = 5
)

// Options configure New. The zero value logs at info level to the writer
// given to New, in the format that suits it.
type Options struct {
	// Level is debug, info, warn or error; empty means info.
	Level string
	// Format is auto (console on a terminal, JSON lines otherwise), console or
	// json; empty means auto. A file is never a terminal, so auto writes JSON
	// lines to File.
	Format string
	// File is the log file. Empty means the writer given to New; otherwise
	// every entry goes to this file only, once, and the file is rotated by
	// size.
	File string
	// MaxSizeMB is the size in megabytes (MiB) at which File is rotated;
	// zero means DefaultMaxSizeMB.
	MaxSizeMB int
	// MaxFiles is how many rotated files are kept beside File, the oldest
	// removed first; zero means DefaultMaxFiles.
	MaxFiles int
}

// Logger is the daemon's *zap.Logger together with the output it owns, so that
// a SIGHUP handler can reopen the file and change the level, and the program
// can close the file last. Use it as a *zap.Logger (it embeds one), and hand
// Zap or a Named child to constructors.
type Logger struct {
	*zap.Logger

	level zap.AtomicLevel
	path  string             // the log file; empty when writing to stderr
	file  *lumberjack.Logger // nil when writing to stderr
}

// New returns a logger configured by o. Without o.File it writes to stderr;
// with it, it creates the file's directory (mode 0700, as the log holds what
// the owner said) if missing and opens the file now, so that a file that
// cannot be written is reported here rather than lost at the first entry.
// Errors are one line and name the file or the offending option.
//
// Rotated files are named after File with a UTC timestamp before the
// extension (angelad-2026-01-02T15-04-05.000.log) and are kept uncompressed:
// at the default sizes they take at most 60 MB, and plain files stay readable
// with tail, grep and jq, with no gzip pass competing with the daemon for CPU.
//
// A failure to write an entry to the file is reported on stderr, which
// journald or launchd keep.
func New(o Options, stderr io.Writer) (*Logger, error) {
	lvl, err := parseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	l := &Logger{level: zap.NewAtomicLevelAt(lvl), path: o.File}

	// A file is never a terminal, whatever stderr is.
	enc, err := encoder(o.Format, o.File == "" && isTerminal(stderr))
	if err != nil {
		return nil, err
	}
	// Standard error is unbuffered, and fsync on a pipe or terminal fails with
	// EINVAL, so hiding its Sync keeps Close from reporting a non-error.
	errOut := zapcore.Lock(zapcore.AddSync(struct{ io.Writer }{stderr}))
	out := errOut
	if o.File != "" {
		if l.file, err = openFile(o); err != nil {
			return nil, err
		}
		// lumberjack serialises writes itself and writes straight to the
		// file, so there is nothing to lock or sync on top of it.
		out = zapcore.AddSync(l.file)
	}
	core := zapcore.NewCore(enc, out, l.level)
	l.Logger = zap.New(core, zap.ErrorOutput(errOut))
	return l, nil
}

// openFile validates the rotation options and opens the log file through
// lumberjack.
func openFile(o Options) (*lumberjack.Logger, error) {
	size, files := o.MaxSizeMB, o.MaxFiles
	if size == 0 {
		size = DefaultMaxSizeMB
	}
	if files == 0 {
		files = DefaultMaxFiles
	}
	if size < 0 {
		return nil, fmt.Errorf("log file %s: max size %d MB: must be 1 or more", o.File, o.MaxSizeMB)
	}
	if files < 0 {
		return nil, fmt.Errorf("log file %s: max files %d: must be 1 or more", o.File, o.MaxFiles)
	}
	if err := prepare(o.File); err != nil {
		return nil, err
	}
	f := &lumberjack.Logger{
		Filename:   o.File,
		MaxSize:    size,
		MaxBackups: files,
		// Backups are named in UTC because lumberjack orders them by the
		// time in their names: local names repeat an hour when the clock
		// goes back, and the wrong backup could be removed.
		LocalTime: false,
		Compress:  false,
	}
	// An empty write opens the file (creating it with mode 0600) without
	// writing anything, so an unwritable path fails here.
	if _, err := f.Write(nil); err != nil {
		return nil, fmt.Errorf("log file %s: %w", o.File, err)
	}
	return f, nil
}

// prepare creates the directory of the log file at path with mode 0700 if it
// does not exist (an existing one keeps its mode; lumberjack would make it
// world-readable), and checks that the file can be opened for appending,
// creating it with mode 0600. lumberjack must not be the first to open it:
// when it cannot open an existing path it renames it out of the way and
// starts a new file, even when the path is a directory.
func prepare(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("log file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("log file %s: %w", path, err)
	}
	return nil
}

// encoder returns the encoder for format, with colours only on a terminal.
func encoder(format string, tty bool) (zapcore.Encoder, error) {
	switch format {
	case "", "auto":
		format = "json"
		if tty {
			format = "console"
		}
	case "json", "console":
	default:
		return nil, fmt.Errorf("log format %q: must be auto, console or json", format)
	}
	if format == "json" {
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "ts"
		ec.LevelKey = "level"
		ec.NameKey = "logger"
		ec.MessageKey = "msg"
		// The component (logger name) and message say where an entry comes
		// from; file:line would change with every refactor and mean nothing
		// to the person reading the log.
		ec.CallerKey = zapcore.OmitKey
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		return zapcore.NewJSONEncoder(ec), nil
	}
	ec := zap.NewDevelopmentEncoderConfig()
	ec.CallerKey = zapcore.OmitKey
	ec.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02 15:04:05.000")
	ec.EncodeLevel = zapcore.CapitalLevelEncoder
	if tty {
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
	}
	return zapcore.NewConsoleEncoder(ec), nil
}

// parseLevel accepts the levels the config file allows; zap's own parser
// also takes dpanic, panic and fatal, which angelad does not offer.
func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug":
		return zapcore.DebugLevel, nil
	case "", "info":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("log level %q: must be debug, info, warn or error", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Zap returns the underlying *zap.Logger, for constructors that take one.
func (l *Logger) Zap() *zap.Logger { return l.Logger }

// SetLevel changes the minimum level of l and of every logger derived from it,
// atomically, so a SIGHUP handler can apply the config file's log.level
// while workers log. An invalid level leaves the current one in place.
func (l *Logger) SetLevel(level string) error {
	lvl, err := parseLevel(level)
	if err != nil {
		return err
	}
	l.level.SetLevel(lvl)
	return nil
}

// Reopen closes the log file and opens it again at the same path, creating
// it if it is gone. It is what SIGHUP does, so that an external logrotate
// that moved the file away (without copytruncate) gets the next entries in a
// new file at the path rather than in the moved one. It does nothing when l
// writes to stderr. Entries logged during Reopen are not lost: they go to the
// old file or to the new one.
func (l *Logger) Reopen() error {
	if l.file == nil {
		return nil
	}
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("reopen log file %s: %w", l.path, err)
	}
	if err := prepare(l.path); err != nil {
		return fmt.Errorf("reopen %w", err)
	}
	// Opening now, not at the next entry, returns a failure to the caller
	// instead of to stderr, and puts the new file in place at once for
	// `tail -F` and for Follow.
	if _, err := l.file.Write(nil); err != nil {
		return fmt.Errorf("reopen log file %s: %w", l.path, err)
	}
	return nil
}

// Close flushes l and closes the log file; call it last, once nothing logs
// any more (an entry logged after Close opens the file again). lumberjack
// keeps one idle goroutine per file for removing old files, which Close does
// not stop: goleak checks of a process that logged to a file must ignore
// gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun.
func (l *Logger) Close() error {
	err := l.Logger.Sync()
	if l.file != nil {
		if cerr := l.file.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close log file %s: %w", l.path, cerr))
		}
	}
	return err
}

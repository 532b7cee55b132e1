// Package logging builds angelad's zap logger: JSON lines when the output is not
// a terminal (journald, launchd, a file), a readable console format when it is.
package logging

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Options configure New.
type Options struct {
	Level  string // debug, info, warn, error
	Format string // auto, console, json
}

// New returns a logger writing to w. With Format "auto" it uses the console
// encoder when w is a terminal and JSON otherwise.
func New(o Options, w io.Writer) (*zap.Logger, error) {
	tty := isTerminal(w)
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(o.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", o.Level, err)
	}
	format := o.Format
	if format == "" || format == "auto" {
		format = "json"
		if tty {
			format = "console"
		}
	}
	var enc zapcore.Encoder
	switch format {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "ts"
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02 15:04:05.000")
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		if !tty {
			ec.EncodeLevel = zapcore.CapitalLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("log format %q: must be auto, console or json", o.Format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zap.NewAtomicLevelAt(level))
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

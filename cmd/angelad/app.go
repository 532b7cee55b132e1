package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/query"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// Exit codes, as DESIGN.md defines them.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// app is what every command shares: the standard streams, the global flags and,
// once loaded, the configuration.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configFile     string
	flags          *pflag.FlagSet // the root's persistent flags
	cfg            *config.Config
	// redact is the process's one Redactor, once built (see redactor).
	redact *redact.Redactor
}

// usageError marks an error as the user's to fix (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// runtimeError marks an error that a command returned while running (exit 1),
// as opposed to one cobra returned while parsing its arguments (exit 2).
type runtimeError struct{ err error }

func (e runtimeError) Error() string { return e.err.Error() }
func (e runtimeError) Unwrap() error { return e.err }

// interruptedError says that a signal stopped a command. The exit code is the
// shell's for a process killed by that signal (130 for SIGINT, 143 for
// SIGTERM), so that a script or a loop can tell an interruption from a failure.
type interruptedError struct {
	sig  os.Signal
	note string // what was undone, such as "the statement was canceled on the server"
}

func (e interruptedError) Error() string {
	msg := "interrupted by " + signalName(e.sig)
	if e.note != "" {
		msg += "; " + e.note
	}
	return msg
}

func (e interruptedError) code() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitRuntime
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// loggedError is a runtime error already written to the log.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// Main runs angelad with args and returns its exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommandFor(args)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if !errors.As(err, new(loggedError)) && !errors.As(err, new(silentError)) {
		fmt.Fprintln(stderr, "angelad: "+text.OneLine(err.Error()))
	}
	return exitCode(err)
}

func exitCode(err error) int {
	var ie interruptedError
	switch {
	case errors.As(err, &ie):
		return ie.code()
	case isUsage(err):
		return exitUsage
	case errors.As(err, new(runtimeError)):
		return exitRuntime
	default:
		// Returned by cobra before any command ran: a bad flag, argument or command.
		return exitUsage
	}
}

// isUsage reports whether err is the user's to fix: bad input or configuration.
func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue) || access.IsInput(err) || query.IsInputError(err) || errors.As(err, new(*daemon.FactoryError))
}

// run adapts a command body: it loads the configuration first and marks every
// error the body returns as a runtime error unless it is the user's to fix.
func (a *app) run(body func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := a.loadConfig(cmd); err != nil {
			return err
		}
		err := body(cmd.Context(), cmd, args)
		if err == nil || isUsage(err) {
			return err
		}
		var ie interruptedError
		// A daemon stops on a signal; what it logged failing then is its own
		// failure, not the signal's doing.
		if ctx := cmd.Context(); ctx.Err() != nil && errors.As(context.Cause(ctx), &ie) && !errors.As(err, new(loggedError)) {
			// Whatever failed, it failed because the signal cancelled it.
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "57014" {
				ie.note = "the statement was canceled on the server"
			}
			return ie
		}
		if errors.Is(err, context.Canceled) {
			return runtimeError{errors.New("interrupted")}
		}
		return runtimeError{err}
	}
}

// keyFlags maps each configuration key to its global flag.
func keyFlag(key string) string {
	// strings.Map, not a strings.Replacer: this runs twice per key at every
	// start, and a Replacer is built anew each time.
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' {
			return '-'
		}
		return r
	}, key)
}

func (a *app) loadConfig(cmd *cobra.Command) error {
	cfg, err := a.readConfig(cmd)
	if err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}

// readConfig loads the configuration from the file, the environment and cmd's
// flags, without keeping it.
func (a *app) readConfig(cmd *cobra.Command) (*config.Config, error) {
	o := config.Options{File: a.configFile, Flags: map[string]string{}, FlagNames: map[string]string{}}
	for _, k := range config.Keys() {
		if f := cmd.Flags().Lookup(keyFlag(k)); f != nil && f.Changed {
			o.Flags[k] = f.Value.String()
			o.FlagNames[k] = "--" + f.Name
		}
	}
	// Per-command aliases of a key, such as `query --timeout`.
	if f := cmd.Flags().Lookup("timeout"); f != nil && f.Changed {
		o.Flags["query_timeout"] = f.Value.String()
		o.FlagNames["query_timeout"] = "--timeout"
	}
	return config.Load(o)
}

// access returns the access path a command takes to memory (see
// internal/access), with o's choices.
func (a *app) access(o access.Options) *access.Client { return access.New(a.cfg, o) }

// redactor returns the process's one Redactor, built from the configuration
// on the first call: every text the command keeps, spools or logs is cleaned
// by it. log gets the warning when redaction is off, once, as the process
// starts its work; later calls return the same Redactor.
func (a *app) redactor(log *zap.Logger) (*redact.Redactor, error) {
	if a.redact != nil {
		return a.redact, nil
	}
	r, err := redact.New(a.cfg.Redaction, log.Named("redact"))
	if err != nil {
		// config.Load refuses a bad pattern first: this is the same
		// configuration error, should it ever get through.
		return nil, usageError{err}
	}
	a.redact = r
	return r, nil
}

// warnings is the logger of a one-shot command that has no log of its own:
// a warning (redaction turned off, say) reaches the user as one line on
// standard error, "angelad: warn: ...", and nothing below warn is written.
func (a *app) warnings() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
		MessageKey: "msg", LevelKey: "level", ConsoleSeparator: " ",
		EncodeLevel: func(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
			enc.AppendString("angelad: " + l.String() + ":")
		},
	})
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(a.stderr), zapcore.WarnLevel))
}

// connect opens the one connection a command that holds it itself uses.
func (a *app) connect(ctx context.Context) (*pgx.Conn, error) {
	return a.access(access.Options{}).Connect(ctx)
}

// connectMigrated is connect followed by postgres.Migrate, for the commands
// that write a whole schema's worth (export, import-memory, spool drain) and
// so want every migration applied first; the connection is closed on error.
func (a *app) connectMigrated(ctx context.Context) (*pgx.Conn, error) {
	conn, err := a.connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// withConn runs fn on a connection of the command's own, migrating a database
// that lacks angelad's schema (see access.Client.WithConn).
func (a *app) withConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	return a.access(access.Options{}).WithConn(ctx, fn)
}

// connString is the connection string a one-shot command connects with.
func (a *app) connString() string { return access.ConnString(a.cfg) }

// pathFlags are the flags of a command that the running daemon can serve.
type pathFlags struct{ direct, debug bool }

func addPathFlags(cmd *cobra.Command) *pathFlags {
	var p pathFlags
	cmd.Flags().BoolVar(&p.direct, "direct", false, "connect to the database directly instead of through the running daemon")
	cmd.Flags().BoolVar(&p.debug, "debug", false, "say on standard error which path served the command")
	return &p
}

// saveAccess returns the access path of a save command with p's flags, its
// texts cleaned by the process's Redactor.
func (a *app) saveAccess(p *pathFlags, noSpool bool) (*access.Client, error) {
	r, err := a.redactor(a.warnings())
	if err != nil {
		return nil, err
	}
	return a.pathAccess(p, noSpool, r), nil
}

// pathAccess returns the access path of a command with p's flags: --direct
// skips the daemon, --debug says on stderr which path served the command.
// A save's texts are cleaned by r, the process's Redactor (nil for a read).
func (a *app) pathAccess(p *pathFlags, noSpool bool, r *redact.Redactor) *access.Client {
	o := access.Options{Direct: p.direct, NoSpool: noSpool, Redactor: r}
	if p.debug {
		o.Debug = func(line string) { fmt.Fprintln(a.stderr, "angelad: debug: "+line) }
	}
	return a.access(o)
}

// renameFields presents a validation error under the flag the user typed.
func renameFields(err error, flags map[string]string) error {
	var fe *text.FieldError
	if errors.As(err, &fe) {
		if flag, ok := flags[fe.Field]; ok {
			return &text.FieldError{Field: flag, Problem: fe.Problem}
		}
		return &text.FieldError{Field: "--" + strings.ReplaceAll(fe.Field, "_", "-"), Problem: fe.Problem}
	}
	return err
}

// withFlag returns a copy of flags with field presented as flag.
func withFlag(flags map[string]string, field, flag string) map[string]string {
	out := make(map[string]string, len(flags))
	for k, v := range flags {
		out[k] = v
	}
	out[field] = flag
	return out
}

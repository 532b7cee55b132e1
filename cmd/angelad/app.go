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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/query"
	"github.com/angela-ai/angelad/internal/socket"
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
	var ce *config.Error
	var fe *text.FieldError
	return errors.As(err, &ue) || errors.As(err, &ce) || errors.As(err, &fe) || query.IsInputError(err) ||
		errors.As(err, new(*postgres.InvalidURLError)) || errors.As(err, new(*daemon.FactoryError))
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

func (a *app) clusterOptions() managed.Options {
	return managed.Options{
		StateDir: a.cfg.StateDir,
		BinDir:   a.cfg.PostgresBinDir,
		RunAs:    a.cfg.PostgresRunAs,
	}
}

// connect opens the one connection a one-shot command uses. On the managed
// cluster it first tries the socket (the fast path when the cluster runs) and
// starts the cluster only if that fails; a cluster started here is left
// running for the commands and the daemon that come next.
func (a *app) connect(ctx context.Context) (*pgx.Conn, error) {
	db := a.cfg.Database()
	if !db.Managed {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		conn, err := postgres.Connect(cctx, db.ConnString, a.cfg.TimeZone, a.pooler())
		var iu *postgres.InvalidURLError
		if errors.As(err, &iu) {
			return nil, &postgres.InvalidURLError{Source: db.Source, Reason: iu.Reason}
		}
		return conn, err
	}
	cluster := managed.New(a.clusterOptions())
	connString := a.connString()
	conn, err := postgres.Connect(ctx, connString, a.cfg.TimeZone, a.pooler())
	if err == nil {
		return conn, nil
	}
	if _, err := cluster.Start(ctx); err != nil {
		return nil, fmt.Errorf("managed database in %s: %w", a.cfg.StateDir, err)
	}
	return postgres.Connect(ctx, connString, a.cfg.TimeZone, a.pooler())
}

// pooler says how the process's own connections reach the database: through
// a connection pooler or not (database.pooler).
func (a *app) pooler() postgres.Option {
	return postgres.WithPooler(postgres.Pooler(a.cfg.Pooler()))
}

// pathFlags are the flags of a command that the running daemon can serve.
type pathFlags struct{ direct, debug bool }

func addPathFlags(cmd *cobra.Command) *pathFlags {
	var p pathFlags
	cmd.Flags().BoolVar(&p.direct, "direct", false, "connect to the database directly instead of through the running daemon")
	cmd.Flags().BoolVar(&p.debug, "debug", false, "say on standard error which path served the command")
	return &p
}

// debugf writes one line about the path a command took, with --debug.
func (a *app) debugf(p *pathFlags, format string, args ...any) {
	if p.debug {
		fmt.Fprintf(a.stderr, "angelad: debug: "+format+"\n", args...)
	}
}

// viaDaemon asks the daemon running on this state directory to serve op,
// decoding its result into result. served is false when the command must
// serve itself: --direct, no daemon, a daemon for another database, or one
// that failed or did not answer in time; a write then goes down its chain
// with the same id, which stores it once whatever the daemon did. A usage
// error from the daemon is returned as the direct path would have returned
// it, so the command reports it the same way.
func (a *app) viaDaemon(ctx context.Context, p *pathFlags, op string, args, result any) (served bool, err error) {
	if p.direct {
		a.debugf(p, "served directly (--direct)")
		return false, nil
	}
	if !socket.Fits(args) {
		a.debugf(p, "served directly (the request is too large for the daemon's socket)")
		return false, nil
	}
	cl := socket.Client{Path: socket.Path(a.cfg.StateDir), DB: socket.Identity(a.connString(), a.cfg.TimeZone)}
	err = cl.Call(ctx, op, args, result)
	var se *socket.Error
	switch {
	case err == nil:
		a.debugf(p, "served by the daemon (%s)", cl.Path)
		return true, nil
	case ctx.Err() != nil:
		return true, ctx.Err()
	case errors.As(err, &se) && se.Kind == socket.KindUsage:
		a.debugf(p, "served by the daemon (%s)", cl.Path)
		if se.Field != "" {
			return true, &text.FieldError{Field: se.Field, Problem: se.Problem}
		}
		return true, usageError{errors.New(se.Message)}
	case errors.Is(err, socket.ErrNoDaemon):
		a.debugf(p, "served directly (no daemon listens on %s)", cl.Path)
	default:
		a.debugf(p, "served directly (the daemon did not: %s)", text.OneLine(err.Error()))
	}
	return false, nil
}

// connString is the connection string a one-shot command connects with.
func (a *app) connString() string {
	if db := a.cfg.Database(); !db.Managed {
		return db.ConnString
	}
	return managed.New(a.clusterOptions()).ConnString(managed.Database)
}

// withConn runs fn on a fresh connection. If fn finds angelad's schema missing
// (a new database, or one the Python original made), it migrates and runs fn
// once more: every write carries its idempotency key, so the retry is safe.
func (a *app) withConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = fn(conn)
	if !postgres.IsSchemaMissing(err) {
		return err
	}
	if _, merr := postgres.Migrate(ctx, conn); merr != nil {
		return merr
	}
	return fn(conn)
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

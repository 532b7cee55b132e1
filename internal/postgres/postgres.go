// Package postgres owns angelad's access to PostgreSQL: connections and the shared
// pool, the one database-handle interface (DB) every store takes, and the
// embedded schema migrations. The managed local cluster that is the default
// database lives in the sub-package managed.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/angela-ai/angelad/internal/config"
)

// DB is the database handle the whole program writes and reads through. A
// one-shot command's *pgx.Conn, the daemon's *pgxpool.Pool, one of its
// *pgxpool.Conn and a pgx.Tx of any of them (whose Begin opens a savepoint) all
// satisfy it, so a command and the daemon run the same SQL, alone or inside a
// caller's transaction. It is the one such interface: a consumer that needs
// fewer methods still takes a DB, since every handle has them all.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Begin(ctx context.Context) (pgx.Tx, error)
}

var (
	_ DB = (*pgx.Conn)(nil)
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (*pgxpool.Conn)(nil)
	_ DB = (pgx.Tx)(nil)
)

// ApplicationName is reported to the server in pg_stat_activity.
const ApplicationName = "angelad"

// ParseConfig parses a connection string and sets the session parameters every
// angelad connection carries: the application name and the time zone that
// times without a zone (legacy TIMESTAMP columns) are read and written in
// (TombstonesSetting is set once the connection is known to reach the server
// itself, see markTombstonesChecked). A cancelled context cancels the running
// statement on the server.
func ParseConfig(connString, timeZone string) (*pgx.ConnConfig, error) {
	if err := checkConnString(connString); err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, &InvalidURLError{Reason: parseErrReason(err)}
	}
	setRuntimeParams(cfg.RuntimeParams, timeZone)
	cancelOnServer(&cfg.Config)
	return cfg, nil
}

// cancelRequestGrace is how long a cancelled statement gets to end on the
// server after the cancel request, before the connection is dropped.
const cancelRequestGrace = 10 * time.Second

// cancelOnServer makes a cancelled context cancel the running statement on
// the server (a cancel request, as psql sends on Ctrl-C), instead of pgx's
// default of dropping the connection, which leaves the statement running and
// holding its locks until it ends by itself. If the server does not answer in
// cancelRequestGrace, the connection is dropped after all.
func cancelOnServer(c *pgconn.Config) {
	c.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &cancelRequest{conn: pc}
	}
}

// TombstonesSetting is the session setting by which an angelad connection
// tells the database that its writers leave out the ids forgotten on request
// themselves, so that the database's per-row check (migration 010) may skip
// the rows they send with their search grams. Every statement of angelad that
// inserts into conversations or angela_emotions with search grams must
// therefore leave out the ids in memory_tombstones (NOT EXISTS).
const TombstonesSetting = "angela.tombstones"

// markTombstonesChecked sets TombstonesSetting on a connection that reaches
// the server itself. It is never sent as a startup parameter where a pooler
// may stand in front of the server (PgBouncer refuses a parameter it does not
// know), nor set through a transaction pooler, whose server sessions other
// clients share: there the database's own check covers every row.
func markTombstonesChecked(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, "select set_config('"+TombstonesSetting+"', 'checked', false)")
	return err
}

// cancelSettle is how long a connection whose statement was cancelled waits
// before its next statement: the server delivers a cancel request to the
// session's process by a signal, which may come after the cancelled
// statement has ended, and must not cancel the next one.
const cancelSettle = 100 * time.Millisecond

// cancelRequest is the context watcher of a one-shot connection: when the
// context ends, it sends a cancel request on a connection of its own and
// bounds the wait for the statement to end by cancelRequestGrace. Unlike
// pgx's CancelRequestContextWatcherHandler, it lets the cancel request run to
// its end (the server, or a pooler, closes its socket once the request is
// passed on) even when the statement has ended meanwhile, which is usual since
// the request is what ends it: PgBouncer before 1.20 exits with "bad client
// state" when the client of a cancel request hangs up before the request is
// passed on (pgbouncer issue 801), and would take every client down with it.
type cancelRequest struct {
	conn *pgconn.PgConn
	done chan struct{}
}

// HandleCancel sends the cancel request and sets the deadline past which the
// connection is given up.
func (h *cancelRequest) HandleCancel(context.Context) {
	deadline := time.Now().Add(cancelRequestGrace)
	h.conn.Conn().SetDeadline(deadline)
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if h.conn.CancelRequest(ctx) == nil {
			<-time.After(cancelSettle)
		}
	}()
}

// HandleUnwatchAfterCancel waits for the cancel request to end, then lifts
// the deadline.
func (h *cancelRequest) HandleUnwatchAfterCancel() {
	<-h.done
	h.conn.Conn().SetDeadline(time.Time{})
}

func setRuntimeParams(p map[string]string, timeZone string) {
	if _, ok := p["application_name"]; !ok {
		p["application_name"] = ApplicationName
	}
	if timeZone != "" {
		p["timezone"] = timeZone
	}
}

// InvalidURLError says that a database URL cannot be parsed. It is the user's
// to fix, and retrying cannot help. Its message never holds any part of the
// URL: pgx's parse errors quote the string with the password redacted only as
// far as it can tell where the password ends, so Reason is one of a fixed set
// of lines chosen from pgx's error, never pgx's text.
type InvalidURLError struct {
	// Source says where the URL came from, such as "env ANGELA_DATABASE_URL";
	// "" when not known.
	Source string
	Reason string
}

func (e *InvalidURLError) Error() string {
	from := ""
	if e.Source != "" {
		from = " from " + e.Source
	}
	return "invalid database URL" + from + ": " + e.Reason + " (not shown, it may hold a password)"
}

// parseErrReasons maps what pgx's parse errors say to what the user is told,
// first match first. The text matched is pgx's own message, after the quoted
// connection string.
var parseErrReasons = []struct{ match, reason string }{
	{"invalid port", "a port is not a number from 1 to 65535"},
	{"port numbers to", "the number of ports does not match the number of hosts"},
	{"failed to read service", "the service (service= or PGSERVICE) cannot be read from the service file (PGSERVICEFILE or ~/.pg_service.conf)"},
	{"invalid connect_timeout", "connect_timeout is not a whole number of seconds"},
	{"sslmode is invalid", "sslmode is not one of disable, allow, prefer, require, verify-ca, verify-full"},
	{"invalid sslcertmode", "sslcertmode is not one of disable, allow, require"},
	{"failed to configure TLS", "the TLS settings (sslmode, sslrootcert, sslcert, sslkey, sslpassword) cannot be used"},
	{"target_session_attrs", "target_session_attrs is not one of any, read-write, read-only, primary, standby, prefer-standby"},
	{"protocol_version", "min_protocol_version or max_protocol_version is not valid"},
	{"channel_binding", "channel_binding is not one of disable, prefer, require"},
	{"require_auth", "require_auth is not valid"},
	{"statement_cache_capacity", "statement_cache_capacity is not a number"},
	{"description_cache_capacity", "description_cache_capacity is not a number"},
	{"default_query_exec_mode", "default_query_exec_mode is not valid"},
	{"pool_", "a pool_ setting is not valid"},
}

// checkConnString refuses, before pgx reads it, a string that pgx would read
// in a way its writer did not mean (see config.CheckConnString), such as a
// password with an unencoded "/" taken for the host.
func checkConnString(s string) error {
	if s == "" {
		return nil // libpq's PG* variables alone
	}
	if err := config.CheckConnString(s); err != nil {
		return &InvalidURLError{Reason: err.Error()}
	}
	return nil
}

func parseErrReason(err error) string {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// "cannot parse `<redacted string>`: <message> (<cause>)"
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = msg[i+3:]
		}
	}
	for _, r := range parseErrReasons {
		if strings.Contains(msg, r.match) {
			return r.reason
		}
	}
	return "it cannot be parsed"
}

// Connect opens one connection, for a one-shot command. Unless told
// otherwise (WithPooler), it tells whether a connection pooler stands in front
// of the database (see PoolerAuto), and if one does, connects again speaking
// as poolers need.
func Connect(ctx context.Context, connString, timeZone string, opts ...Option) (*pgx.Conn, error) {
	o := connectOptions{pooler: PoolerAuto}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := ParseConfig(connString, timeZone)
	if err != nil {
		return nil, err
	}
	ask := o.pooler != PoolerNone && o.pooler != PoolerTransaction && !modeChosenInURL(cfg)
	if o.pooler == PoolerTransaction && !modeChosenInURL(cfg) {
		usePoolerProtocol(cfg)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnectError{Where: Describe(&cfg.Config), Err: err}
	}
	registerTypes(conn)
	if !ask {
		if o.pooler == PoolerNone && !modeChosenInURL(cfg) {
			if err := markTombstonesChecked(ctx, conn); err != nil {
				closeConn(ctx, conn)
				return nil, &ConnectError{Where: Describe(&cfg.Config), Err: err}
			}
		}
		return conn, nil
	}
	pooled, err := throughPooler(ctx, conn.PgConn())
	if err == nil && !pooled {
		if err := markTombstonesChecked(ctx, conn); err != nil {
			closeConn(ctx, conn)
			return nil, &ConnectError{Where: Describe(&cfg.Config), Err: err}
		}
		return conn, nil
	}
	closeConn(ctx, conn)
	if err != nil {
		return nil, &ConnectError{Where: Describe(&cfg.Config), Err: err}
	}
	usePoolerProtocol(cfg)
	if conn, err = pgx.ConnectConfig(ctx, cfg); err != nil {
		return nil, &ConnectError{Where: Describe(&cfg.Config), Err: err}
	}
	registerTypes(conn)
	return conn, nil
}

// closeConn closes a connection that is no longer wanted, without waiting
// long on a server that does not answer.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	conn.Close(cctx)
}

// PoolOptions size and pace the daemon's pool; zero values keep pgxpool's
// defaults.
type PoolOptions struct {
	MaxConns, MinConns int32
	// HealthCheckPeriod is how often idle connections are checked.
	HealthCheckPeriod time.Duration
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration
	// Pooler says whether a connection pooler stands in front of the
	// database; "" is PoolerAuto: the pool asks once, before its first
	// connection.
	Pooler Pooler
}

// NewPool builds the daemon's pool. It connects lazily; the caller pings it,
// and closes it after everything that uses it has returned. Its times read
// within MinReadTime and MaxReadTime (see registerBoundedTimes).
func NewPool(ctx context.Context, connString, timeZone string, o PoolOptions) (*pgxpool.Pool, error) {
	if err := checkConnString(connString); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, &InvalidURLError{Reason: parseErrReason(err)}
	}
	// The pool keeps pgx's default of dropping a connection whose context
	// ends: the daemon's checks bound their wait on a server that does not
	// answer, which a cancel request would stretch by cancelRequestGrace.
	setRuntimeParams(cfg.ConnConfig.RuntimeParams, timeZone)
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MinConns > 0 {
		cfg.MinConns = min(o.MinConns, cfg.MaxConns)
	}
	if o.HealthCheckPeriod > 0 {
		cfg.HealthCheckPeriod = o.HealthCheckPeriod
	}
	if o.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		registerTypes(conn)
		if modeChosenInURL(cfg.ConnConfig) || PoolerProtocol(conn) {
			return nil
		}
		return markTombstonesChecked(ctx, conn)
	}
	if !modeChosenInURL(cfg.ConnConfig) {
		switch o.Pooler {
		case PoolerNone:
		case PoolerTransaction:
			usePoolerProtocol(cfg.ConnConfig)
		default:
			cfg.BeforeConnect = new(poolerProbe).beforeConnect
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnectError{Where: Describe(&cfg.ConnConfig.Config), Err: err}
	}
	return pool, nil
}

// ConnectError says where a connection was attempted (never with the password)
// and why it failed.
type ConnectError struct {
	Where string
	Err   error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to the database at %s: %s", e.Where, connectReason(e.Err))
}

func (e *ConnectError) Unwrap() error { return e.Err }

// connectReason keeps the innermost cause of a failed connection: pgx's own
// message repeats the user and database that Where already names.
func connectReason(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error()
	}
	return err.Error()
}

// Describe names a connection target without its password:
// "host=/path/run port=5432 user=angela database=angela".
func Describe(c *pgconn.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "host=%s port=%d", c.Host, c.Port)
	if c.User != "" {
		fmt.Fprintf(&b, " user=%s", c.User)
	}
	if c.Database != "" {
		fmt.Fprintf(&b, " database=%s", c.Database)
	}
	return b.String()
}

// DescribeConnString is Describe for a connection string; it never fails and
// never returns the password.
func DescribeConnString(connString string) string {
	if checkConnString(connString) != nil {
		return "an unparsable database URL"
	}
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return "an unparsable database URL"
	}
	return Describe(cfg)
}

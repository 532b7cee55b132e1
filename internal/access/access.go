// Package access owns the one way a short-lived process (a command, a hook,
// the MCP server) reaches Angela's memory: the daemon running on the same
// state directory over its socket first, then a connection of the process's
// own (starting the managed cluster, and migrating a database that lacks
// angelad's schema), then, for a save the database cannot take now, the
// spool. Every step carries the id the save was given, so a save that may have
// reached the database through an earlier step is still stored once. It also
// owns how the time and id a caller gives a save are read, and which failures
// a save may be spooled for, so that every way in behaves alike.
package access

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/socket"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// Options choose which steps of the chain a Client takes. The zero value is
// the whole chain, as a one-shot command takes it.
type Options struct {
	// Direct skips the daemon (the commands' --direct).
	Direct bool
	// NoSpool makes a save the database cannot take an error instead of a
	// spooled record (the commands' --no-spool).
	NoSpool bool
	// NoStart never starts the managed cluster: a hook that would wait for it
	// is better off doing nothing.
	NoStart bool
	// NoMigrate leaves a database without angelad's schema as it is: the call
	// returns the error that postgres.IsSchemaMissing reports.
	NoMigrate bool
	// Keep holds one connection for the Client's life, opened again after an
	// outage (the MCP server); otherwise each call opens one and closes it.
	Keep bool
	// Connect opens the process's own connection instead of the configured
	// database (tests); nil connects as ConnString says.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Debug receives one line saying which path served a call the daemon can
	// serve, and why (the commands' --debug).
	Debug func(line string)
	// Log receives one line when a kept connection cannot be opened and one
	// when it can again.
	Log *zap.Logger
	// Now is the clock a save's time is checked against, and the one that
	// times how long a database found not answering is left alone (see
	// UnreachableError.Retry); nil means time.Now.
	Now func() time.Time
	// SemanticTimeout, when set, bounds the embedding model's ranking of a
	// question below embedding.timeout (a hook, which has hooks.timeout for
	// everything), so that a slow model leaves time to rank by words.
	SemanticTimeout time.Duration
	// Redactor cleans every text of a save before it goes down the chain
	// (see SaveEmotion): the process's one Redactor, built from its
	// configuration. nil applies the built-in rules, so that a Client built
	// without one still keeps no secret.
	Redactor *redact.Redactor
}

// Client is one process's access path to memory. A Client with Keep is safe
// for concurrent use (calls take its connection in turn); Close releases it.
type Client struct {
	cfg    *config.Config
	o      Options
	daemon *socket.Client // nil: no daemon is asked
	spool  *spool.Spool   // nil: a save that cannot reach the database fails

	mu   sync.Mutex // guards conn, down and the fields below, and serialises kept calls
	conn *pgx.Conn  // the kept connection
	down bool       // the last attempt to open it failed; logged once per outage
	// downUntil and downErr remember an attempt to open the kept connection
	// that failed slowly (a database that does not answer): until
	// downUntil, calls fail at once with downErr instead of each waiting
	// the connect timeout again.
	downUntil time.Time
	downErr   error
}

// Defaults for a configuration built by hand (tests), where zero would mean
// no time at all.
const (
	defaultSaveTimeout    = 15 * time.Second
	defaultConnectTimeout = 5 * time.Second
	// directConnectTimeout bounds a one-shot connection to a database angelad
	// does not manage; the managed cluster's is bounded by its start.
	directConnectTimeout = 15 * time.Second
	// downFor is how long a kept connection's slow failure to open is
	// trusted: the calls in that time fail (a save: is spooled) at once, and
	// the first call after it tries the database again.
	downFor = 30 * time.Second
)

// New returns the access path for cfg. A configuration without a state
// directory (a test's) has neither a daemon to ask nor a spool.
func New(cfg *config.Config, o Options) *Client {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	c := &Client{cfg: cfg, o: o}
	if !o.Direct && cfg.StateDir != "" {
		c.daemon = &socket.Client{Path: socket.Path(cfg.StateDir), DB: socket.Identity(ConnString(cfg), cfg.TimeZone)}
	}
	if !o.NoSpool && cfg.StateDir != "" {
		c.spool = spool.New(cfg.StateDir, nil)
	}
	return c
}

// ConnString is the connection string a short-lived process connects with:
// the configured database, or the managed cluster's.
func ConnString(cfg *config.Config) string {
	if db := cfg.Database(); !db.Managed {
		return db.ConnString
	}
	return cluster(cfg).ConnString(managed.Database)
}

func cluster(cfg *config.Config) *managed.Cluster {
	return managed.New(managed.Options{
		StateDir: cfg.StateDir,
		BinDir:   cfg.PostgresBinDir,
		RunAs:    cfg.PostgresRunAs,
	})
}

// Connect opens a connection of the process's own, for a caller that holds
// it itself (query, migrate, spool drain). On the managed cluster it tries
// the socket first (the fast path when the cluster runs) and starts the
// cluster only if that fails, unless NoStart; a cluster started here is left
// running for the commands and the daemon that come next.
func (c *Client) Connect(ctx context.Context) (*pgx.Conn, error) {
	if c.o.Connect != nil {
		return c.o.Connect(ctx)
	}
	db := c.cfg.Database()
	if !db.Managed {
		cctx, cancel := context.WithTimeout(ctx, directConnectTimeout)
		defer cancel()
		conn, err := postgres.Connect(cctx, db.ConnString, c.cfg.TimeZone, c.pooler())
		var iu *postgres.InvalidURLError
		if errors.As(err, &iu) {
			return nil, &postgres.InvalidURLError{Source: db.Source, Reason: iu.Reason}
		}
		return conn, err
	}
	connString := ConnString(c.cfg)
	conn, err := postgres.Connect(ctx, connString, c.cfg.TimeZone, c.pooler())
	if err == nil || c.o.NoStart {
		return conn, err
	}
	if _, err := cluster(c.cfg).Start(ctx); err != nil {
		return nil, fmt.Errorf("managed database in %s: %w", c.cfg.StateDir, err)
	}
	return postgres.Connect(ctx, connString, c.cfg.TimeZone, c.pooler())
}

// UnreachableError says the database could not be reached for a call: no
// connection could be opened, or the kept one broke and no new one served.
// Its message is its cause's, and says so when the database was not tried.
type UnreachableError struct {
	Err error
	// Retry, when not zero, says that this call did not try the database: a
	// moment ago an attempt to open the kept connection failed slowly with
	// Err, and none is made again for Retry.
	Retry time.Duration
}

func (e *UnreachableError) Error() string {
	if e.Retry <= 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s; angelad waits %s before it tries the database again", e.Err, (e.Retry + time.Second - 1).Truncate(time.Second))
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// WithConn runs fn on the process's own connection. If fn finds angelad's
// schema missing (a new database, or one the Python original made), it
// migrates and runs fn once more, unless NoMigrate: every write carries its
// idempotency key, so the retry is safe.
func (c *Client) WithConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	if c.o.Keep {
		return c.withKept(ctx, fn)
	}
	conn, err := c.Connect(ctx)
	if err != nil {
		return &UnreachableError{Err: err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return c.run(ctx, conn, fn)
}

func (c *Client) run(ctx context.Context, conn *pgx.Conn, fn func(*pgx.Conn) error) error {
	err := fn(conn)
	if c.o.NoMigrate || !postgres.IsSchemaMissing(err) {
		return err
	}
	if _, merr := postgres.Migrate(ctx, conn); merr != nil {
		return merr
	}
	return fn(conn)
}

// withKept runs fn on the kept connection, opening it first if there is none.
// A connection found broken is dropped and fn retried once on a new one:
// every write carries its id, so the retry never stores anything twice.
//
// An attempt to open the connection that fails after half the connect
// timeout or more (a database that takes connections but does not answer, a
// managed cluster that cannot start) marks the database down for downFor:
// the calls in that time return an *UnreachableError with Retry set at once,
// instead of each making its caller wait as long again. A fast failure (the
// connection refused) marks nothing: trying again costs nothing, and finds
// the database the moment it is back.
func (c *Client) withKept(ctx context.Context, fn func(*pgx.Conn) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := false
		if c.conn == nil || c.conn.IsClosed() {
			if now := c.o.Now(); now.Before(c.downUntil) {
				return &UnreachableError{Err: c.downErr, Retry: c.downUntil.Sub(now)}
			}
			timeout := c.cfg.PoolConnectTimeout
			if timeout <= 0 {
				timeout = defaultConnectTimeout
			}
			start := c.o.Now()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			conn, err := c.Connect(cctx)
			cancel()
			if err != nil {
				if !c.down {
					c.o.Log.Warn("database unreachable", zap.Error(err))
					c.down = true
				}
				if end := c.o.Now(); end.Sub(start) >= timeout/2 && ctx.Err() == nil {
					c.downUntil, c.downErr = end.Add(downFor), err
				}
				return &UnreachableError{Err: err}
			}
			if c.down {
				c.o.Log.Info("database reachable again")
				c.down = false
			}
			c.conn, fresh = conn, true
			c.downUntil, c.downErr = time.Time{}, nil
		}
		err := c.run(ctx, c.conn, fn)
		if err == nil || !c.conn.IsClosed() {
			return err
		}
		// The connection broke under fn: the database restarted or went away.
		c.conn = nil
		if fresh || attempt > 0 || ctx.Err() != nil {
			return &UnreachableError{Err: err}
		}
	}
}

// Close closes the kept connection, if any.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
}

func (c *Client) debugf(format string, args ...any) {
	if c.o.Debug != nil {
		c.o.Debug(fmt.Sprintf(format, args...))
	}
}

// viaDaemon asks the daemon to serve op, decoding its result into result.
// served is false when the call must be served here: Direct, no daemon, a
// daemon for another database, one that does not serve the call (an older
// daemon: see the socket package's rule of compatibility), or one that
// failed or did not answer in time;
// a save then goes down the chain with the same id, which stores it once
// whatever the daemon did. The daemon's refusal of the input is returned as
// the direct path would have returned it.
func (c *Client) viaDaemon(ctx context.Context, op string, args, result any) (served bool, err error) {
	return c.viaDaemonOf(ctx, c.daemon, op, args, result)
}

// viaDaemonOf is viaDaemon through d, c's daemon client or one with a
// longer timeout (see semanticDaemon).
func (c *Client) viaDaemonOf(ctx context.Context, d *socket.Client, op string, args, result any) (served bool, err error) {
	if d == nil {
		if c.o.Direct {
			c.debugf("served directly (--direct)")
		}
		return false, nil
	}
	if !socket.Fits(args) {
		c.debugf("served directly (the request is too large for the daemon's socket)")
		return false, nil
	}
	err = d.Call(ctx, op, args, result)
	var se *socket.Error
	switch {
	case err == nil:
		c.debugf("served by the daemon (%s)", d.Path)
		return true, nil
	case ctx.Err() != nil:
		return true, ctx.Err()
	case errors.As(err, &se) && se.Kind == socket.KindUsage:
		c.debugf("served by the daemon (%s)", d.Path)
		if se.Field != "" {
			return true, &text.FieldError{Field: se.Field, Problem: se.Problem}
		}
		return true, &socket.UsageError{Msg: se.Message}
	case errors.Is(err, socket.ErrNoDaemon):
		c.debugf("served directly (no daemon listens on %s)", d.Path)
	default:
		c.debugf("served directly (the daemon did not: %s)", text.OneLine(err.Error()))
	}
	return false, nil
}

// semanticDaemon is c's daemon client for a call that has the daemon ask
// the embedding model (nil without a daemon): it waits for the model as long
// as a question here would (SemanticTimeout, else embedding.timeout) on top
// of the socket's usual timeout. With the usual timeout alone, a model
// slower than it (one being loaded) would be given up on at the daemon and
// asked the same question again directly, to wait as long again.
func (c *Client) semanticDaemon() *socket.Client {
	if c.daemon == nil {
		return nil
	}
	wait := c.o.SemanticTimeout
	if wait <= 0 {
		wait = c.cfg.Embedding.Timeout
	}
	d := *c.daemon
	if d.Timeout <= 0 {
		d.Timeout = socket.DefaultTimeout
	}
	d.Timeout += wait
	return &d
}

// pooler says how the process's own connections reach the database: through
// a connection pooler or not (database.pooler). The managed cluster has none.
func (c *Client) pooler() postgres.Option {
	if c.cfg.Database().Managed {
		return postgres.WithPooler(postgres.PoolerNone)
	}
	return postgres.WithPooler(postgres.Pooler(c.cfg.Pooler()))
}

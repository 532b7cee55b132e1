package postgres

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Pooler says whether a connection pooler that shares PostgreSQL's sessions
// between its clients stands between angelad and the database: PgBouncer in
// transaction mode, or the poolers in front of managed PostgreSQL services
// (Supabase, Neon). Such a pooler hands each transaction, and each statement
// outside one, to whichever server session is free, so nothing a client leaves
// in a session outlives its transaction: not a prepared statement, not a
// session advisory lock, not a SET. pgx prepares and caches a named statement
// per query by default, which breaks there at once ("prepared statement
// stmtcache_... already exists", SQLSTATE 42P05, or "does not exist", 26000);
// through a pooler angelad sends each statement in one round trip without
// naming it (pgx's QueryExecModeExec), which every pooler passes on as it is.
// angelad's locks are transaction-scoped in every mode, so that they hold
// through a pooler too.
type Pooler string

// The values of Pooler, and of the database.pooler configuration key.
const (
	// PoolerAuto tells each new connection apart: PostgreSQL names the server
	// process of a session when the session starts (in BackendKeyData, the
	// key of cancel requests), and pg_backend_pid() names the same process;
	// a pooler cannot give a client the process of a session it does not keep
	// for that client, and makes up a key of its own, so the two differ. It
	// costs one round trip per connection, and one more connection when a
	// pooler is found (a one-shot command connects again; a pool asks once,
	// on a connection of its own).
	PoolerAuto Pooler = "auto"
	// PoolerNone is a direct connection (or a pooler in session mode): pgx
	// prepares and caches each statement, and nothing is asked.
	PoolerNone Pooler = "none"
	// PoolerTransaction is a pooler in transaction (or statement) mode, or
	// any pooler, said outright: statements are never prepared by name, and
	// nothing is asked.
	PoolerTransaction Pooler = "transaction"
)

// Option adjusts how Connect connects.
type Option func(*connectOptions)

type connectOptions struct {
	pooler Pooler
}

// WithPooler says whether a pooler stands in front of the database; without
// it Connect tells (PoolerAuto).
func WithPooler(p Pooler) Option {
	return func(o *connectOptions) { o.pooler = p }
}

// usePoolerProtocol makes connections of cc send every statement unnamed, in
// one round trip, with nothing cached on the server.
func usePoolerProtocol(cc *pgx.ConnConfig) {
	cc.DefaultQueryExecMode = pgx.QueryExecModeExec
	cc.StatementCacheCapacity = 0
	cc.DescriptionCacheCapacity = 0
}

// registerTypes tells the connection's type map the PostgreSQL type of the Go
// types angelad passes as parameters that pgx cannot place by itself. Through
// a pooler a statement goes without its description, so pgx sends each
// parameter as text typed by its Go type alone, and finds no text form for a
// raw 16-byte uuid or arrays of uuids, which the batch writes pass for speed.
// With a description the server's types decide, and these go unused.
func registerTypes(conn *pgx.Conn) {
	m := conn.TypeMap()
	registerBoundedTimes(m)
	m.RegisterDefaultPgType([16]byte{}, "uuid")
	m.RegisterDefaultPgType([][16]byte{}, "_uuid")
	m.RegisterDefaultPgType([]uuid.UUID{}, "_uuid")
}

// modeChosenInURL reports whether the connection string chose pgx's query
// mode itself (default_query_exec_mode): then angelad leaves it as it is.
func modeChosenInURL(cc *pgx.ConnConfig) bool {
	return cc.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement
}

// PoolerProtocol reports whether conn sends its statements as angelad does
// through a pooler (for the daemon's start-up log line).
func PoolerProtocol(conn *pgx.Conn) bool {
	return conn.Config().DefaultQueryExecMode != pgx.QueryExecModeCacheStatement
}

// throughPooler reports whether pc reaches PostgreSQL through a pooler: the
// server process PostgreSQL named when the session started is not the one
// that answers (see PoolerAuto). The statement carries no parameter, so it
// goes by the simple protocol, which every pooler passes on.
func throughPooler(ctx context.Context, pc *pgconn.PgConn) (bool, error) {
	res := pc.Exec(ctx, "select pg_backend_pid()")
	results, err := res.ReadAll()
	if err != nil {
		return false, fmt.Errorf("tell whether a connection pooler is in front of the database: %w", err)
	}
	if len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) != 1 {
		return false, fmt.Errorf("tell whether a connection pooler is in front of the database: pg_backend_pid() returned no row")
	}
	pid, err := strconv.ParseInt(string(results[0].Rows[0][0]), 10, 64)
	if err != nil {
		return false, fmt.Errorf("tell whether a connection pooler is in front of the database: pg_backend_pid() returned %q", results[0].Rows[0][0])
	}
	return uint32(pid) != pc.PID(), nil
}

// poolerProbe is what a pool with PoolerAuto knows about its database: asked
// once, on a connection of its own, before the pool's first connection, so
// that every connection of the pool speaks the same way.
type poolerProbe struct {
	mu     sync.Mutex
	known  bool
	pooled bool
}

// beforeConnect is the pool's BeforeConnect: it asks on the first connection
// attempt (and again after an attempt that could not tell), then sets the
// protocol of the connection about to be made.
func (p *poolerProbe) beforeConnect(ctx context.Context, cc *pgx.ConnConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.known {
		pc, err := pgconn.ConnectConfig(ctx, &cc.Config)
		if err != nil {
			return err
		}
		pooled, err := throughPooler(ctx, pc)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		pc.Close(cctx)
		cancel()
		if err != nil {
			return err
		}
		p.known, p.pooled = true, pooled
	}
	if p.pooled {
		usePoolerProtocol(cc)
	}
	return nil
}

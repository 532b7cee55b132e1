// Package mcpserver owns `angelad mcp`: Angela's memory as Model Context
// Protocol tools over stdio, built on the official Go SDK. It keeps one
// database connection for its lifetime, opens it again after an outage, and
// validates every argument the way the CLI does, so an invalid one is a tool
// error that names the argument and what is allowed.
package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// Options configure New.
type Options struct {
	// Connect opens the server's database connection; it is called again after
	// the connection is lost.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Log receives one line per failed call and per outage.
	Log *zap.Logger
	// Location is the zone times are shown in.
	Location *time.Location
	// Version is angelad's version, told to the client.
	Version string
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration
	// SaveTimeout bounds the write of a save once connected, so that a
	// database that does not answer sends the record to the spool.
	SaveTimeout time.Duration
	// Spool takes the saves the database cannot take now, for the daemon to
	// store later; nil makes such a save a tool error.
	Spool *spool.Spool
	// Memory and Companion configure recall and search_memory.
	Memory    config.Memory
	Companion config.Companion
}

// Server is angelad's MCP server.
type Server struct {
	o   Options
	srv *mcp.Server

	mu   sync.Mutex // guards conn: one call at a time uses it
	conn *pgx.Conn
	down bool // the last attempt failed; logged once per outage
}

// instructions tell the model what the server is for.
const instructions = `Angela's long-term memory (angelad). Save what Angela feels with save_emotion
and what was said with save_conversation; look back with recent_emotions and
recent_conversations, and read the daily updates with journal. Times are RFC 3339; every id is a UUID that makes a save
idempotent, so retrying a save with the same id never stores it twice.`

// New builds the server and its tools.
func New(o Options) *Server {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.SaveTimeout <= 0 {
		o.SaveTimeout = 15 * time.Second
	}
	s := &Server{o: o}
	s.srv = mcp.NewServer(&mcp.Implementation{Name: "angelad", Title: "Angela's memory", Version: o.Version},
		&mcp.ServerOptions{Instructions: instructions})
	s.addTools()
	return s
}

// Run serves one client over r and w until the client closes r (or ctx is
// done), then closes the database connection.
func (s *Server) Run(ctx context.Context, r io.Reader, w io.Writer) error {
	defer s.close()
	err := s.srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(r), Writer: nopWriteCloser{w}})
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("mcp: %w", err)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func (s *Server) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.conn.Close(ctx)
		cancel()
		s.conn = nil
	}
}

// UnavailableError says the database could not be reached for a call.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string {
	return "the memory database is unavailable right now (" + text.OneLine(e.Err.Error()) + "); nothing was read or written, try again later"
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// spoolable reports whether a save of a valid record that failed with err
// goes to the spool, as the CLI decides: the database could not take it for a
// reason that may pass by waiting (postgres.Transient). Invalid input, a
// refusal of the record itself, a fault that waits for a person and a
// cancelled call are not spooled.
func (s *Server) spoolable(ctx context.Context, err error) bool {
	var fe *text.FieldError
	return s.o.Spool != nil && err != nil && ctx.Err() == nil && !errors.As(err, &fe) && postgres.Transient(err)
}

// spoolSave writes a record the database could not take to the spool.
func (s *Server) spoolSave(kind spool.Kind, id uuid.UUID, record any, cause error) (spool.Record, string, error) {
	reason := text.OneLine(cause.Error())
	r, err := s.o.Spool.Add(kind, id, record, reason)
	if err != nil {
		return spool.Record{}, "", fmt.Errorf("%s not saved: %s; and it cannot be spooled either: %w", kind, reason, err)
	}
	s.o.Log.Warn("spooled a save", zap.String("kind", string(kind)), zap.String("id", id.String()), zap.String("reason", reason))
	return r, reason, nil
}

// withConn runs fn on the server's connection, opening it first if there is
// none. A connection found broken is dropped and fn retried once on a new one:
// every write carries its id, so the retry never stores anything twice. A
// database without angelad's schema is migrated and fn run again.
func (s *Server) withConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := false
		if s.conn == nil || s.conn.IsClosed() {
			cctx, cancel := context.WithTimeout(ctx, s.o.ConnectTimeout)
			conn, err := s.o.Connect(cctx)
			cancel()
			if err != nil {
				if !s.down {
					s.o.Log.Warn("database unreachable", zap.Error(err))
					s.down = true
				}
				return &UnavailableError{Err: err}
			}
			if s.down {
				s.o.Log.Info("database reachable again")
				s.down = false
			}
			s.conn, fresh = conn, true
		}
		err := fn(s.conn)
		if postgres.IsSchemaMissing(err) {
			if _, merr := postgres.Migrate(ctx, s.conn); merr != nil {
				return merr
			}
			err = fn(s.conn)
		}
		if err == nil || !s.conn.IsClosed() {
			return err
		}
		// The connection broke under fn: the database restarted or went away.
		s.conn = nil
		if fresh || attempt > 0 || ctx.Err() != nil {
			return &UnavailableError{Err: err}
		}
	}
}

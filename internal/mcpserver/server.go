// Package mcpserver owns `angelad mcp`: Angela's memory as Model Context
// Protocol tools over stdio, built on the official Go SDK. It reaches memory
// through internal/access, as the CLI does, on a Client that keeps one
// database connection for the server's lifetime and opens it again after an
// outage; it presents every argument error under the tool's argument name, so
// an invalid one is a tool error that names it and what is allowed. It also
// owns how the process talks to its client: a line that is not a message is
// answered and the session goes on, and the calls read before the input ends
// are answered before the server exits (see stream).
package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/text"
)

// Options configure New.
type Options struct {
	// Access is the server's path to memory, a Client with Keep: the server
	// closes it when Run returns.
	Access *access.Client
	// Log receives one line per failed call and per spooled save.
	Log *zap.Logger
	// Location is the zone times are shown in.
	Location *time.Location
	// Version is angelad's version, told to the client.
	Version string
	// Drain bounds how long the calls in flight when the client closes the
	// input may take to be answered before they are cancelled; zero means
	// DefaultDrain.
	Drain time.Duration
	// After is the clock Drain is measured on; nil means time.After.
	After func(time.Duration) <-chan time.Time
}

// DefaultDrain is longer than a save can take (the connect timeout and
// save_timeout, 5 and 15 seconds by default): a save the client sent before
// it closed the input is stored or spooled, not cancelled.
const DefaultDrain = 30 * time.Second

// maxLine bounds one message from the client, as the SDK's transport does.
const maxLine = mcp.DefaultMaxLineLength

// Server is angelad's MCP server.
type Server struct {
	o   Options
	srv *mcp.Server
}

// instructions tell the model what the server is for, naming every tool.
const instructions = `Angela's long-term memory (angelad). Read recall when a session starts: the recall pack of
who and when, the latest journal entry, her strongest memories and the end of the last session.
Save what Angela feels with save_emotion and what was said with save_conversation; find anything
remembered with search_memory; look back with recent_emotions and recent_conversations, and read
the daily updates (morning greeting, evening reflection, midnight note) with journal. Times are
RFC 3339. A save given an id (a UUID) is stored once however often it is retried; a save made while
the database is away is kept in angelad's spool and stored later, so it needs no retry.`

// New builds the server and its tools.
func New(o Options) *Server {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Drain <= 0 {
		o.Drain = DefaultDrain
	}
	if o.After == nil {
		o.After = time.After
	}
	s := &Server{o: o}
	s.srv = mcp.NewServer(&mcp.Implementation{Name: "angelad", Title: "Angela's memory", Version: o.Version},
		&mcp.ServerOptions{Instructions: instructions})
	s.addTools()
	return s
}

// Run serves one client over r and w until the client closes r (or ctx is
// done), then closes the database connection. A line that is not a message
// is answered with a JSON-RPC error and the session goes on; the calls read
// before r ends are finished and answered (see stream).
func (s *Server) Run(ctx context.Context, r io.Reader, w io.Writer) error {
	defer s.o.Access.Close()
	st := newStream(r, w, maxLine, s.o.Drain, s.o.After, s.o.Log)
	// stream bounds the lines itself, and answers one too long instead of
	// ending the session as the SDK's own bound does.
	err := s.srv.Run(ctx, &mcp.IOTransport{Reader: st, Writer: writer{st}, MaxLineLength: -1})
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("mcp: %w", err)
}

// UnavailableError says the database could not be reached for a call.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string {
	return "the memory database is unavailable right now (" + text.OneLine(e.Err.Error()) + "); nothing was read or written, try again later"
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// presented returns err as the tool reports it: the database out of reach
// as an *UnavailableError, anything else as it is.
func presented(err error) error {
	var ue *access.UnreachableError
	if errors.As(err, &ue) {
		return &UnavailableError{Err: ue}
	}
	return err
}

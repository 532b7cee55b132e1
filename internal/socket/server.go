package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/text"
)

// Handler serves one operation: it decodes args, does the work and returns
// what the command prints from. An error that is a *text.FieldError (or
// wraps one) is answered as usage; any other as runtime. A handler decodes
// its args with decode before it does anything else, so that arguments it
// does not know are answered as not served with nothing done (see the
// package comment).
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Timeouts of one connection. A request is read within readTimeout of the
// connection (a client that stalls loses its slot); it is served within
// serveTimeout, also while the daemon is stopping, so a save that reached
// the database is answered rather than cut off.
const (
	readTimeout  = 5 * time.Second
	serveTimeout = 10 * time.Second
	writeTimeout = 5 * time.Second
)

// Server answers requests on the socket.
type Server struct {
	path     string
	identity string // the daemon's database (Identity)
	log      *zap.Logger
	handlers map[string]Handler
	// allowed reports whether a peer's user may be served: the daemon's
	// own user and root.
	allowed func(uid int) bool

	served, refused, failed, notServedN atomic.Int64
	notServedLogged                     atomic.Bool
}

// NewServer returns a server for the socket at path, serving the requests
// made for the database named identity (see Identity).
func NewServer(path, identity string, log *zap.Logger, handlers map[string]Handler) *Server {
	own := os.Geteuid()
	return &Server{
		path: path, identity: identity, log: log, handlers: handlers,
		allowed: func(uid int) bool { return uid == own || uid == 0 },
	}
}

// Stats counts what the server did.
type Stats struct {
	Path    string `json:"socket"`
	Served  int64  `json:"requests_served"`
	Refused int64  `json:"peers_refused,omitempty"`
	Failed  int64  `json:"requests_failed,omitempty"`
	// NotServed counts the requests answered as not served (see
	// notServed): more than a few say the daemon is older or newer than the
	// commands that call it.
	NotServed int64 `json:"requests_not_served,omitempty"`
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	return Stats{Path: s.path, Served: s.served.Load(), Refused: s.refused.Load(), Failed: s.failed.Load(),
		NotServed: s.notServedN.Load()}
}

// Listen creates the socket: its directory 0700 and the socket 0600, both
// the daemon's user's. A socket left by a daemon that died is replaced; the
// caller holds the state directory's lock, so no live daemon owns it.
func (s *Server) Listen() (*net.UnixListener, error) {
	if err := checkPath(s.path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	// MkdirAll keeps the mode of a directory that exists: set it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove the old socket: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.path, err)
	}
	// Closing the listener removes the socket file.
	l.SetUnlinkOnClose(true)
	if err := os.Chmod(s.path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket mode: %w", err)
	}
	return l, nil
}

// Serve accepts connections on l until ctx is done, then closes l and waits
// for the requests in flight.
func (s *Server) Serve(ctx context.Context, l *net.UnixListener) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer wg.Wait()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.Close()
			return fmt.Errorf("accept on %s: %w", s.path, err)
		}
		wg.Go(func() {
			defer c.Close()
			s.serveConn(ctx, c)
		})
	}
}

// serveConn checks the peer, then answers its one request.
func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	uid, err := peerUID(c)
	if err != nil || !s.allowed(uid) {
		s.refused.Add(1)
		s.log.Warn("refused a connection from another user", zap.Int("uid", uid), zap.Error(err))
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		writeFrame(c, Response{V: Version, Error: &Error{Kind: KindRefused, Message: "this daemon serves its own user only"}})
		return
	}
	c.SetReadDeadline(time.Now().Add(readTimeout))
	resp := s.answer(ctx, c)
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := writeFrame(c, resp); err != nil {
		s.log.Debug("cannot send an answer", zap.Error(err))
	}
}

// answer reads one request from r and serves it. Whatever r holds, it
// returns an answer and never panics past its recover: a malformed request
// must not disturb the daemon.
func (s *Server) answer(ctx context.Context, r io.Reader) (resp Response) {
	resp.V = Version
	defer func() {
		if v := recover(); v != nil {
			s.failed.Add(1)
			s.log.Error("a request handler panicked", zap.Any("panic", v))
			resp = Response{V: Version, Error: &Error{Kind: KindRuntime, Message: "the daemon failed to serve the request"}}
		}
	}()
	var req Request
	if err := readFrame(r, &req); err != nil {
		s.failed.Add(1)
		return Response{V: Version, Error: &Error{Kind: KindProtocol, Message: "malformed request: " + err.Error()}}
	}
	if req.V != Version {
		return s.notServed(fmt.Sprintf("protocol version %d is not served (this daemon speaks %d)", req.V, Version))
	}
	if req.DB != s.identity {
		return Response{V: Version, Error: &Error{Kind: KindRefused, Message: "this daemon serves another database: " + s.identity}}
	}
	h, ok := s.handlers[req.Op]
	if !ok {
		return s.notServed(fmt.Sprintf("operation %q is not served", req.Op))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveTimeout)
	defer cancel()
	out, err := h(sctx, req.Args)
	if err == nil {
		var data []byte
		if data, err = json.Marshal(out); err == nil {
			s.served.Add(1)
			return Response{V: Version, OK: true, Result: data}
		}
	}
	var ns *notServedError
	if errors.As(err, &ns) {
		return s.notServed(err.Error())
	}
	var fe *text.FieldError
	if errors.As(err, &fe) {
		s.served.Add(1)
		return Response{V: Version, Error: &Error{Kind: KindUsage, Message: err.Error(), Field: fe.Field, Problem: fe.Problem}}
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		s.served.Add(1)
		return Response{V: Version, Error: &Error{Kind: KindUsage, Message: err.Error()}}
	}
	s.failed.Add(1)
	return Response{V: Version, Error: &Error{Kind: KindRuntime, Message: err.Error()}}
}

// notServedError is a handler's refusal of a request it cannot serve as
// asked (an argument field it does not know), before it did anything: it is
// answered with KindVersion, as an operation the daemon does not serve, and
// the client serves the request itself.
type notServedError struct{ msg string }

func (e *notServedError) Error() string { return e.msg }

// UsageError is a handler's refusal of its arguments that is about no one
// field (an argument that does not decode, say).
type UsageError struct{ Msg string }

// Error returns the message.
func (e *UsageError) Error() string { return e.Msg }

// notServed is the answer to a request this daemon does not serve (another
// protocol version, an operation or an argument it does not know: a client
// newer or older than it), which the client then serves itself. It is
// counted, and logged once per daemon: the client's work is done, but each
// such request pays for a call that served nothing until the daemon is
// restarted on the same binary.
func (s *Server) notServed(msg string) Response {
	s.notServedN.Add(1)
	if !s.notServedLogged.Swap(true) {
		s.log.Info("a client asked for what this daemon does not serve, and serves it itself; restarting the daemon on the same angelad as the commands serves it here",
			zap.String("reason", msg))
	}
	return Response{V: Version, Error: &Error{Kind: KindVersion, Message: msg}}
}

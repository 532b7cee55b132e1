package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
)

// shutdownTimeout bounds the wait for the pages in flight when the daemon
// stops; live streams end at once with the daemon's context.
const shutdownTimeout = 5 * time.Second

// Register adds the viewer to the daemon when web.enabled is set, and
// nothing otherwise.
func Register(d *daemon.Daemon, cfg config.Web, mem config.Memory, searcher *embedding.Searcher) {
	if cfg.Enabled {
		d.Register("web", WorkerFactory(cfg, mem, searcher))
	}
}

// URL is the address a browser opens the viewer at, without the token:
// http on the listen address (loopback for an address that means every
// interface), or "" when the viewer listens on a Unix socket.
func URL(cfg config.Web) string {
	if cfg.Socket != "" {
		return ""
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// WorkerFactory returns the factory of the viewer's worker, which serves the
// viewer on the configured address until the daemon stops, its search
// ranking questions by meaning too with searcher (nil: by words alone). The token is
// made (or read) when the worker is built, so that a token file others may
// read stops the start-up with its name.
func WorkerFactory(cfg config.Web, mem config.Memory, searcher *embedding.Searcher) daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) {
		tok, err := Token(d.StateDir)
		if err != nil {
			return nil, err
		}
		s := New(Options{Pool: d.Pool, Log: d.Log, Token: tok, Now: d.Clock.Now, After: d.Clock.After,
			Location: d.Location, Model: memory.NewModel(mem), StateDir: d.StateDir, Searcher: searcher})
		return daemon.WorkerFunc(func(ctx context.Context) error { return serve(ctx, d, cfg, s) }), nil
	}
}

// webStatus is the worker's detail in status.json: where it listens, never
// the token.
type webStatus struct {
	URL    string `json:"url,omitempty"`
	Socket string `json:"socket,omitempty"`
}

func serve(ctx context.Context, d daemon.Deps, cfg config.Web, s *Server) error {
	l, err := listen(cfg)
	if err != nil {
		return err
	}
	if !cfg.Loopback() {
		d.Log.Warn("the viewer listens beyond loopback, as web.listen says: anyone who can reach it is asked for the token",
			zap.String("listen", cfg.Listen))
	}
	d.Log.Info("listening", zap.String("url", URL(cfg)), zap.String("socket", cfg.Socket))
	d.Status.DetailNow(webStatus{URL: URL(cfg), Socket: cfg.Socket})
	hs := httpServer(ctx, s.Handler(), d.Log, defaultTimeouts)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve the viewer: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the viewer: %w", err)
	}
	return nil
}

// timeouts are the HTTP server's bounds on a connection: a request must
// arrive whole within read (its headers within readHeader) and its answer
// be written within write, so that a client that sends or reads slowly,
// token or not, cannot hold a connection and one of the daemon's
// descriptors forever. A live stream lifts them for itself (see events).
type timeouts struct{ readHeader, read, write, idle time.Duration }

var defaultTimeouts = timeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: 2 * time.Minute}

// httpServer is the viewer's HTTP server: h, with every request's context
// ending with ctx.
func httpServer(ctx context.Context, h http.Handler, log *zap.Logger, to timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: to.readHeader,
		ReadTimeout:       to.read,
		WriteTimeout:      to.write,
		IdleTimeout:       to.idle,
		// Every request's context ends with the daemon's, so that the live
		// streams return at shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    zap.NewStdLog(log.Named("http")),
	}
}

// listen opens the configured address: the Unix socket (its directory 0700
// when made here, the socket 0600, one a dead daemon left replaced), or TCP.
func listen(cfg config.Web) (net.Listener, error) {
	if cfg.Socket == "" {
		l, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("viewer: listen on %s (web.listen): %w", cfg.Listen, err)
		}
		return l, nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o700); err != nil {
		return nil, fmt.Errorf("viewer: socket directory (web.socket): %w", err)
	}
	if fi, err := os.Lstat(cfg.Socket); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, daemon.Unrestartable(fmt.Errorf("viewer: web.socket %s exists and is not a socket", cfg.Socket))
		}
		if err := os.Remove(cfg.Socket); err != nil {
			return nil, fmt.Errorf("viewer: remove the old socket: %w", err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Socket, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("viewer: listen on %s (web.socket): %w", cfg.Socket, err)
	}
	l.SetUnlinkOnClose(true)
	if err := os.Chmod(cfg.Socket, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("viewer: socket mode: %w", err)
	}
	return l, nil
}

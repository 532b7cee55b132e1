package managed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Running reports whether the cluster's server is up and accepts connections
// on its socket, as its postmaster.pid says. It reads that file and asks the
// kernel whether the process lives; it makes no connection.
func (c *Cluster) Running(ctx context.Context) bool {
	pm, ok := c.postmaster()
	return ok && pm.ready(c)
}

// ServerRunning is Running for an observer, such as `angelad status`, that
// may not be the cluster's user. known is false when this process cannot
// tell: the data directory belongs to another user (a user asking about the
// system daemon's cluster), whose pid file and processes it may not read.
func (c *Cluster) ServerRunning() (running, known bool) {
	if c.stateDir == "" {
		return false, false
	}
	if uid, _, err := fileOwner(c.DataDir()); err != nil || (!isRoot() && uid != uint32(os.Geteuid())) {
		return false, err != nil && errors.Is(err, fs.ErrNotExist)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir(), "postmaster.pid")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, false
	}
	return c.Running(context.Background()), true
}

// pidKind is what the pid in a postmaster.pid is to the cluster.
type pidKind int

const (
	pidGone    pidKind = iota // no such process, not even a zombie
	pidDying                  // it exited or is exiting: a zombie, say
	pidServer                 // alive, and as far as can be told the server
	pidForeign                // alive, but not a server of this cluster
)

// postmasterAlive reports whether pid is a live postmaster of dataDir.
func postmasterAlive(pid int, dataDir string) bool { return classifyPID(pid, dataDir) == pidServer }

// postmasterInfo is what postmaster.pid says about the server.
type postmasterInfo struct {
	pid       int
	identity  string // pid, data directory and start time: one server's lifetime
	socketDir string
	status    string
}

// postmaster reads postmaster.pid. Its lines are fixed by PostgreSQL (10 and
// later): pid, data directory, start time, port, first socket directory,
// first listen address, shared memory key, status. The server fills it in as
// it starts, so a short file means a server still starting.
func (c *Cluster) postmaster() (postmasterInfo, bool) {
	if c.stateDir == "" {
		return postmasterInfo{}, false
	}
	data, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		return postmasterInfo{}, false
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) < 8 {
		return postmasterInfo{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return postmasterInfo{}, false
	}
	return postmasterInfo{
		pid:       pid,
		identity:  strings.Join(lines[:3], "\n") + "\n",
		socketDir: strings.TrimSpace(lines[4]),
		status:    strings.TrimSpace(lines[7]),
	}, true
}

// ready reports whether the server accepts connections, on the socket
// directory where c expects it.
func (pm postmasterInfo) ready(c *Cluster) bool {
	return pm.status == "ready" && pm.socketDir == c.SocketDir() && postmasterAlive(pm.pid, c.DataDir())
}

// verifiedRunning reports, without connecting, whether the server runs and a
// Start under the lock already made sure, since this server started, that it
// accepts connections and has the database.
func (c *Cluster) verifiedRunning() bool {
	pm, ok := c.postmaster()
	if !ok || !pm.ready(c) {
		return false
	}
	verified, err := os.ReadFile(filepath.Join(c.stateDir, verifiedName))
	return err == nil && string(verified) == pm.identity
}

// markVerified records that the running server accepts connections and has
// the database, for verifiedRunning.
func (c *Cluster) markVerified() error {
	pm, ok := c.postmaster()
	if !ok {
		return fmt.Errorf("read %s: the server is not running", filepath.Join(c.DataDir(), "postmaster.pid"))
	}
	path := filepath.Join(c.stateDir, verifiedName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(pm.identity), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// crashWait bounds how long a start waits for a dead server to be reaped and
// its processes to exit; they do so in a second or two.
const crashWait = 30 * time.Second

// clearDeadServer makes way for a start when a server died and left its
// postmaster.pid behind (status found no server running). PostgreSQL refuses
// to start while that file names a process that kill(pid, 0) finds: a zombie
// not yet reaped by its parent, or an unrelated process that reused the pid.
// It also refuses while processes of the dead server still hold its shared
// memory. So this waits for the zombie to be reaped and the old processes to
// exit, and removes a postmaster.pid that names a process working elsewhere.
func (c *Cluster) clearDeadServer(ctx context.Context) error {
	pm, ok := c.postmaster()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, crashWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		kind := classifyPID(pm.pid, c.DataDir())
		switch kind {
		case pidServer:
			return nil // a server after all: pg_ctl start will say so
		case pidForeign:
			if err := c.removeStaleLocks(pm.pid); err != nil {
				return err
			}
		}
		left := processesIn(c.DataDir())
		if (kind == pidGone || kind == pidForeign) && len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if kind == pidDying {
				return fmt.Errorf("the server (pid %d) of %s died but its parent has not reaped it within %s", pm.pid, c.DataDir(), crashWait)
			}
			return fmt.Errorf("processes %v of the server that died still run in %s after %s", left, c.DataDir(), crashWait)
		case <-tick.C:
		}
	}
}

// removeStaleLocks removes postmaster.pid and the socket's lock file when they
// name pid, a process that is not the server: PostgreSQL would take it for
// one and refuse to start.
func (c *Cluster) removeStaleLocks(pid int) error {
	for _, path := range []string{
		filepath.Join(c.DataDir(), "postmaster.pid"),
		filepath.Join(c.SocketDir(), fmt.Sprintf(".s.PGSQL.%d.lock", managedPort)),
	} {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		if strings.TrimSpace(first) != strconv.Itoa(pid) {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the stale %s: %w", path, err)
		}
	}
	return nil
}

// probe opens and closes one connection to database.
func (c *Cluster) probe(ctx context.Context, database string) error {
	if _, err := os.Stat(filepath.Join(c.SocketDir(), fmt.Sprintf(".s.PGSQL.%d", managedPort))); err != nil {
		return err // no socket, no server: skip the connection attempt
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cfg, err := pgconn.ParseConfig(c.ConnString(database))
	if err != nil {
		return err
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// prepareRuntime makes the socket directory (0700, owned by the server's user)
// and the startup log, and returns the startup log's size, where this start's
// output begins.
func (s *session) prepareRuntime() (int64, error) {
	dir := s.c.SocketDir()
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return 0, fmt.Errorf("create socket directory: %w", err)
	}
	// Also repairs a directory someone loosened or that an earlier user owned.
	if err := os.Chmod(dir, 0o700); err != nil {
		return 0, fmt.Errorf("socket directory: %w", err)
	}
	if err := s.acct.chown(dir); err != nil {
		return 0, err
	}
	logPath := s.c.StartLogFile()
	flags := os.O_WRONLY | os.O_CREATE
	if fi, err := os.Stat(logPath); err == nil && fi.Size() > maxStartLog {
		flags |= os.O_TRUNC
	}
	// Made here because the server's user may not create files in the state
	// directory; pg_ctl appends to it as that user.
	f, err := os.OpenFile(logPath, flags, 0o600)
	if err != nil {
		return 0, fmt.Errorf("startup log: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("startup log: %w", err)
	}
	if err := s.acct.chown(logPath); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// status asks pg_ctl whether the postmaster named in postmaster.pid is alive,
// which leaves the judgement of a stale pid file to PostgreSQL.
func (s *session) status(ctx context.Context) (bool, error) {
	out, err := s.run(ctx, statusTimeout, "pg_ctl", "status", "-D", s.c.DataDir())
	var exit *exec.ExitError
	switch {
	case err == nil:
		// pg_ctl asks kill(pid, 0), which a zombie and a process that reused
		// the pid of a dead server pass too.
		if pm, ok := s.c.postmaster(); ok && !postmasterAlive(pm.pid, s.c.DataDir()) {
			return false, nil
		}
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 3: // no server running
		return false, nil
	default:
		return false, programError("pg_ctl status", out, err)
	}
}

// startServer runs pg_ctl start and waits until the server accepts
// connections. It reports false when another server won the race to start.
func (s *session) startServer(ctx context.Context) (bool, error) {
	if err := s.writeConf(); err != nil {
		return false, err
	}
	logStart, err := s.prepareRuntime()
	if err != nil {
		return false, err
	}
	s.c.pruneServerLogs(time.Now())
	// pg_ctl detaches the server into a session of its own; the server's
	// output goes to the startup log until the logging collector takes over.
	out, err := s.run(ctx, startWait+killDelay, "pg_ctl", "start",
		"-D", s.c.DataDir(), "-l", s.c.StartLogFile(),
		"-w", "-t", strconv.Itoa(int(startWait/time.Second)), "-s")
	if err != nil {
		// A server started outside angelad's lock (by hand, say) may have won;
		// its postmaster.pid then made ours give up.
		if running, serr := s.status(ctx); serr == nil && running && s.c.waitReady(ctx) == nil {
			// Unless pg_ctl merely gave up waiting for our own server.
			return !strings.Contains(out, "another server might be running"), nil
		}
		msg := programError("pg_ctl start", out, err).Error()
		if tail := s.c.serverLogTail(logStart); tail != "" {
			msg += "; server log: " + tail
		}
		return false, errors.New(msg)
	}
	if err := s.c.waitReady(ctx); err != nil {
		return true, fmt.Errorf("the server started but does not accept connections at %s: %w", s.c.SocketDir(), err)
	}
	return true, nil
}

// stopServer runs pg_ctl stop -m fast and waits until the server is down.
func (s *session) stopServer(ctx context.Context) error {
	out, err := s.run(ctx, stopWait+killDelay, "pg_ctl", "stop",
		"-D", s.c.DataDir(), "-m", "fast", "-w", "-t", strconv.Itoa(int(stopWait/time.Second)), "-s")
	if err != nil {
		// Someone else may have stopped it in the meantime.
		if running, serr := s.status(ctx); serr == nil && !running {
			return nil
		}
		return programError("pg_ctl stop", out, err)
	}
	// Tidiness only: the next server has another identity anyway.
	os.Remove(filepath.Join(s.c.stateDir, verifiedName))
	return nil
}

// waitReady polls until the server accepts connections to the maintenance
// database or readyTimeout passes.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c.probe(ctx, "postgres")
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return connectCause(err)
		case <-tick.C:
		}
	}
}

// connectCause shortens a failed probe to its innermost cause.
func connectCause(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return errors.New(pgErr.Message)
	}
	if u := errors.Unwrap(err); u != nil {
		return connectCause(u)
	}
	return err
}

// ensureDatabase creates Database if it is missing. It runs under the
// lock, so only one process ever creates it.
func (c *Cluster) ensureDatabase(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: connect: %w", Database, connectCause(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1)", Database).Scan(&exists); err != nil {
		return fmt.Errorf("create database %s: %w", Database, err)
	}
	if exists {
		return nil
	}
	// template0 so that the encoding may be given; the locale is the cluster's.
	sql := "create database " + pgx.Identifier{Database}.Sanitize() + " template template0 encoding 'UTF8'"
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", Database, err)
	}
	return nil
}

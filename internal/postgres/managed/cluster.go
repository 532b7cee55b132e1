// Package managed owns the managed local PostgreSQL: the cluster angelad
// creates on first use in its state directory, then starts, stops and watches.
// Its files follow the steps: finding the server programs (bindir.go), the OS
// account the server runs as (account.go), initdb (initdb.go), the server's
// configuration (conf.go), telling from its pid file whether it runs, starting
// and stopping it (server.go), running the programs (programs.go) and reading
// the server's log to say why a start failed (serverlog.go). Every step that
// changes the cluster runs under a lock file that several processes share
// (cluster.go). Connections and the pool are package postgres's; this one
// connects only to tell that the server is up and has its database.
package managed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Database is the database angelad keeps its memory in on the managed
// cluster.
const Database = "angela"

// User is the superuser initdb creates in the managed cluster; every
// connection over the cluster's socket uses it.
const User = "angela"

// ErrNoServerBinaries is returned, wrapped, when no PostgreSQL server programs
// can be found for the managed cluster.
var ErrNoServerBinaries = errors.New("no PostgreSQL server programs (initdb, pg_ctl) found: install the PostgreSQL server packages, or set ANGELA_DATABASE_URL to an existing database")

// IsSetupError reports whether err, from Start or Stop, says that the system
// or the configuration is set up so that the cluster cannot run: trying again
// cannot cure it, only a person changing the setup can. A caller that retries
// failed starts should give up on these and say why. They are:
//
//   - ErrNoServerBinaries: no server programs, or postgres.bin_dir lacks them;
//   - an existing cluster whose major version (PG_VERSION) no server programs
//     found have, or that differs from the version in postgres.bin_dir: a
//     server refuses a data directory of another major version;
//   - a state directory the server's user cannot enter, or one so long that
//     the socket path exceeds the limit of Unix sockets;
//   - a data directory owned by root or by another user than postgres.run_as,
//     or a non-empty directory in its place that holds no cluster.
//
// Everything else may pass: a server still recovering, a lock held by another
// process, a timeout, an interrupted program.
func IsSetupError(err error) bool {
	var se setupError
	return errors.Is(err, ErrNoServerBinaries) || errors.As(err, &se)
}

// setupError marks an error for IsSetupError.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

// setupFault marks err for IsSetupError.
func setupFault(err error) error { return setupError{err} }

// The layout of a state directory. Everything the cluster owns lives under it,
// so two commands given the same state directory always share one cluster.
const (
	dataDirName   = "postgres"         // the data directory
	initDirName   = "postgres.initdb"  // initdb works in postgres.initdb.<random>, then it is renamed to dataDirName
	socketDirName = "run"              // the Unix socket, mode 0700
	lockFileName  = "cluster.lock"     // flock'd while a process creates, starts or stops the cluster
	startLogName  = "postgres.log"     // what the server writes before its logging collector takes over
	confFileName  = "angelad.conf"     // included from postgresql.conf, rewritten before every start
	verifiedName  = "cluster.verified" // which server Start last found running with its database
	serverLogDir  = "log"              // the logging collector's directory, inside the data directory
)

// managedPort only names the socket file (.s.PGSQL.5432): the server never
// listens on TCP, so clusters in different state directories never collide.
const managedPort = 5432

// Time limits of the steps of Start and Stop. Each applies on top of the
// caller's context, so a caller without a deadline still never hangs.
const (
	initdbTimeout = 3 * time.Minute
	startWait     = 2 * time.Minute // pg_ctl start -t: crash recovery can take a while
	stopWait      = time.Minute     // pg_ctl stop -t
	statusTimeout = 15 * time.Second
	lockTimeout   = 5 * time.Minute // longer than initdb plus a start, which the holder may be doing
	readyTimeout  = time.Minute
	probeTimeout  = 3 * time.Second
	dbTimeout     = 30 * time.Second
	killDelay     = 10 * time.Second // between SIGTERM and SIGKILL when a program overruns
)

// Options configures a managed cluster.
type Options struct {
	// StateDir holds the cluster: its data in StateDir/postgres, its Unix socket
	// in StateDir/run (mode 0700), its startup log in StateDir/postgres.log and
	// the lock file StateDir/cluster.lock.
	StateDir string
	// BinDir is the directory of initdb, pg_ctl and postgres; "" discovers it
	// with FindBinDir.
	BinDir string
	// RunAs is the OS user the server runs as when angelad runs as root, since
	// PostgreSQL refuses to run as root. "" means "postgres" if that user
	// exists, else "nobody". An existing cluster always runs as the owner of its
	// data directory. RunAs is ignored when angelad is not root: the server then
	// runs as the current user.
	RunAs string
	// Fast trades durability for speed, for tests and benchmarks: initdb
	// --no-sync, and fsync, synchronous_commit and full_page_writes off.
	Fast bool
	// Locale is the locale initdb gives a new cluster; "" means C.UTF-8 where
	// the system has it, else C. Tests set "C" to check behaviour under the
	// locale a system without C.UTF-8 gets.
	Locale string
}

// Cluster is the managed local PostgreSQL: a cluster that angelad creates on
// first use in its state directory and that listens only on a Unix socket.
// Its methods are safe for concurrent use, also by several processes at once.
type Cluster struct {
	opts     Options
	stateDir string     // absolute
	search   *binSearch // where to look for the programs; nil: where FindBinDir looks
}

// New returns the cluster that lives in opts.StateDir. It does not touch
// the disk; Start creates what is missing.
func New(opts Options) *Cluster {
	dir := opts.StateDir
	if dir != "" {
		// The socket directory goes into connection strings, where only an
		// absolute path means a Unix socket.
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
	}
	return &Cluster{opts: opts, stateDir: dir}
}

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return filepath.Join(c.stateDir, dataDirName) }

// SocketDir returns the directory of the cluster's Unix socket.
func (c *Cluster) SocketDir() string { return filepath.Join(c.stateDir, socketDirName) }

// LogDir returns the directory of the server's own log: one file per weekday,
// postgresql-Mon.log and so on, each emptied when its day comes round again,
// so the log keeps about one week and stays bounded however long the server
// runs and however often it restarts. What the server says before that log is
// open goes to StartLogFile.
func (c *Cluster) LogDir() string { return filepath.Join(c.DataDir(), serverLogDir) }

// StartLogFile returns the file that receives the server's output until its
// logging collector takes over: configuration and startup errors end up here.
func (c *Cluster) StartLogFile() string { return filepath.Join(c.stateDir, startLogName) }

// ConnString returns a keyword/value connection string to database on the
// cluster, for example "host=/state/run port=5432 user=angela dbname=angela".
func (c *Cluster) ConnString(database string) string {
	return "host=" + connValue(c.SocketDir()) +
		" port=" + strconv.Itoa(managedPort) +
		" user=" + connValue(User) +
		" dbname=" + connValue(database)
}

// connValue quotes a keyword/value connection string value when it needs it.
func connValue(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\r\v\f'\\=") {
		return s
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Start makes sure the cluster exists and runs: on first use it runs initdb and
// creates the database named by Database. started reports whether this call
// started the server; it is false when the server was already running, and
// false whenever err is not nil (a server this call started is stopped again
// when a later step fails).
//
// Several processes may call Start on one state directory at the same moment:
// they take turns on a lock file, and PostgreSQL's postmaster.pid decides
// whether a server runs, so exactly one of them starts it. The server is
// detached from the calling process and keeps running after it exits, until
// Stop. When the server runs and an earlier Start has checked it, Start reads
// two small files and returns: no lock, no program, no connection.
func (c *Cluster) Start(ctx context.Context) (started bool, err error) {
	if c.verifiedRunning() {
		return false, nil
	}
	started, err = c.start(ctx)
	if err != nil {
		return false, fmt.Errorf("start the managed PostgreSQL: %w", err)
	}
	return started, nil
}

func (c *Cluster) start(ctx context.Context) (bool, error) {
	s, err := c.setup(ctx, true)
	if err != nil {
		return false, err
	}
	defer s.unlock()

	if err := s.initialise(ctx); err != nil {
		return false, err
	}
	running, err := s.status(ctx)
	if err != nil {
		return false, err
	}
	started := false
	if running {
		// Started by another process (or by hand): it may still be coming up.
		if err := c.waitReady(ctx); err != nil {
			return false, fmt.Errorf("a server runs on %s but does not accept connections at %s: %w", c.DataDir(), c.SocketDir(), err)
		}
	} else if err = c.clearDeadServer(ctx); err == nil {
		started, err = s.startServer(ctx)
	}
	if err == nil {
		err = c.ensureDatabase(ctx)
	}
	if err == nil {
		err = c.markVerified()
	}
	if err != nil {
		if started {
			// Leave nothing running that the caller does not know about; the
			// caller's context may be what failed, so stop on a fresh one.
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWait+killDelay)
			defer cancel()
			if stopErr := s.stopServer(stopCtx); stopErr != nil {
				return false, fmt.Errorf("%w (and stopping the server again failed: %v)", err, stopErr)
			}
		}
		return false, err
	}
	return started, nil
}

// Stop stops the cluster (pg_ctl stop -m fast: sessions are disconnected,
// transactions in flight roll back) and waits until it is down. It is not an
// error when the cluster is not running or does not exist.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.stateDir == "" {
		return errors.New("stop the managed PostgreSQL: no state directory")
	}
	if _, err := os.Stat(filepath.Join(c.DataDir(), "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	s, err := c.setup(ctx, false)
	if err != nil {
		return fmt.Errorf("stop the managed PostgreSQL: %w", err)
	}
	defer s.unlock()
	running, err := s.status(ctx)
	if err == nil && running {
		err = s.stopServer(ctx)
	}
	if err != nil {
		return fmt.Errorf("stop the managed PostgreSQL: %w", err)
	}
	return nil
}

// session is one locked piece of work on the cluster: the programs, the OS
// user they run as, and the lock that keeps other processes out meanwhile.
type session struct {
	c      *Cluster
	bin    string
	acct   account
	unlock func()
}

// setup finds the programs and the server's OS user, prepares the state
// directory (creating it when create is set) and takes the lock.
func (c *Cluster) setup(ctx context.Context, create bool) (*session, error) {
	if c.stateDir == "" {
		return nil, errors.New("no state directory configured")
	}
	// A Unix socket path has at most 103 bytes on macOS (107 on Linux); say so
	// instead of letting the server fail with a less obvious message.
	if sock := filepath.Join(c.SocketDir(), fmt.Sprintf(".s.PGSQL.%d", managedPort)); len(sock) > 103 {
		return nil, setupFault(fmt.Errorf("state directory %s is too long: the socket path %s would have %d bytes, and Unix sockets allow 103: choose a shorter state directory", c.stateDir, sock, len(sock)))
	}
	search := defaultSearch()
	if c.search != nil {
		search = *c.search
	}
	// Before the lock, so that a missing program stops Start before it
	// creates anything.
	bin, major, err := findClusterBinDir(ctx, c.opts.BinDir, search, c.DataDir())
	if err != nil {
		return nil, err
	}
	acct, err := c.account()
	if err != nil {
		return nil, err
	}
	if create {
		if err := c.makeStateDir(acct); err != nil {
			return nil, err
		}
	}
	if acct.other {
		if err := checkTraversable(c.stateDir, acct); err != nil {
			return nil, err
		}
	}
	unlock, err := lockFile(ctx, filepath.Join(c.stateDir, lockFileName), lockTimeout)
	if err != nil {
		return nil, err
	}
	// Another process may have created the cluster while this one waited, with
	// programs of another version than the ones found for no cluster (its PATH
	// may differ); this cluster is now the one that must fit.
	if now, err := clusterVersion(c.DataDir()); err != nil || now != major {
		if err == nil {
			bin, _, err = findClusterBinDir(ctx, c.opts.BinDir, search, c.DataDir())
		}
		if err != nil {
			unlock()
			return nil, err
		}
	}
	return &session{c: c, bin: bin, acct: acct, unlock: unlock}, nil
}

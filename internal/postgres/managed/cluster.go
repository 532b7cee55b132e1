// Package managed owns the managed local PostgreSQL: the cluster angelad
// creates on first use in its state directory and starts, stops and watches
// over. It finds the server programs, picks the OS account the
// server runs as, runs initdb, writes the server's configuration, starts and
// stops the server under a lock that several processes share, and reads the
// server's log to say why a start failed. It makes no connection beyond those
// it needs to tell that the server is up and has its database; connections and
// the pool are package postgres's.
package managed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// IsPermanent reports whether err, from Start or Stop, is one that trying
// again cannot cure: only a person changing the system or the configuration
// can. A caller that retries failed starts should give up on these and say
// why. They are:
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
func IsPermanent(err error) bool {
	var p permanentError
	return errors.Is(err, ErrNoServerBinaries) || errors.As(err, &p)
}

// permanentError marks an error for IsPermanent.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent marks err for IsPermanent.
func permanent(err error) error { return permanentError{err} }

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

// maxStartLog bounds the startup log. The server writes a few lines there per
// start before its logging collector takes over, so it only grows across many
// restarts; past this size the next start truncates it.
const maxStartLog = 1 << 20

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

// account is the OS user that the cluster's programs run as.
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32 // supplementary groups
	// other is set when angelad runs as root and the programs switch to this
	// user; files the server needs are then given to it.
	other bool
}

func (a account) inGroup(gid uint32) bool {
	if gid == a.gid {
		return true
	}
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
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
		return nil, permanent(fmt.Errorf("state directory %s is too long: the socket path %s would have %d bytes, and Unix sockets allow 103: choose a shorter state directory", c.stateDir, sock, len(sock)))
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

// account decides which OS user runs the cluster's programs.
func (c *Cluster) account() (account, error) {
	if !isRoot() {
		return currentAccount()
	}
	// An existing data directory belongs to the user its server must run as,
	// whatever the default would pick today.
	if uid, gid, err := fileOwner(c.DataDir()); err == nil {
		if uid == 0 {
			return account{}, permanent(fmt.Errorf("data directory %s is owned by root, and PostgreSQL refuses to run as root: chown -R it to an unprivileged user", c.DataDir()))
		}
		acct, err := accountByID(uid, gid)
		if err != nil {
			return account{}, err
		}
		if c.opts.RunAs != "" && c.opts.RunAs != acct.name {
			return account{}, permanent(fmt.Errorf("data directory %s belongs to %s, not to the configured user %s: chown -R it to %s, or run as %s", c.DataDir(), acct.name, c.opts.RunAs, c.opts.RunAs, acct.name))
		}
		return acct, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return account{}, err
	}
	name := c.opts.RunAs
	if name == "" {
		name = "nobody"
		if _, err := user.Lookup("postgres"); err == nil {
			name = "postgres"
		}
	}
	acct, err := accountByName(name)
	if err != nil {
		return account{}, err
	}
	if acct.uid == 0 {
		return account{}, permanent(fmt.Errorf("user %s is root, and PostgreSQL refuses to run as root: choose an unprivileged user", name))
	}
	return acct, nil
}

// makeStateDir creates the state directory if it is missing. When the server
// runs as another user, that user must be able to pass through it (but not to
// list or read it), hence 0711.
func (c *Cluster) makeStateDir(acct account) error {
	if _, err := os.Stat(c.stateDir); err == nil {
		return nil
	}
	mode := os.FileMode(0o700)
	if acct.other {
		mode = 0o711
	}
	if err := os.MkdirAll(c.stateDir, mode); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	// MkdirAll's mode passes through the umask.
	if err := os.Chmod(c.stateDir, mode); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

// initialise creates the cluster if it does not exist yet. initdb works in a
// scratch directory that is renamed into place only when it is complete, so an
// interrupted initdb never leaves a half-made cluster behind.
func (s *session) initialise(ctx context.Context) error {
	if err := s.c.removeInitLeftovers(ctx); err != nil {
		return err
	}
	data := s.c.DataDir()
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		return nil
	}
	if entries, err := os.ReadDir(data); err == nil {
		if len(entries) > 0 {
			return permanent(fmt.Errorf("%s is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away", data))
		}
		if err := os.Remove(data); err != nil {
			return fmt.Errorf("remove empty %s: %w", data, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", data, err)
	}

	// Prefer C.UTF-8: byte-order collation like C, but character classes and
	// case mapping that know Thai. Not every system has it.
	var (
		tmp string
		err error
	)
	locales := []string{"C.UTF-8", "C"}
	if s.c.opts.Locale != "" {
		locales = []string{s.c.opts.Locale}
	}
	for _, locale := range locales {
		var out string
		tmp, out, err = s.initdb(ctx, locale)
		if err == nil || !strings.Contains(out, "locale") {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := appendInclude(filepath.Join(tmp, "postgresql.conf")); err != nil {
		return err
	}
	if err := os.Rename(tmp, data); err != nil {
		return fmt.Errorf("move the new cluster into place: %w", err)
	}
	syncDir(s.c.stateDir)
	return nil
}

// initWait bounds the wait for the processes of an interrupted initdb to
// exit once killed.
const initWait = 30 * time.Second

// removeInitLeftovers removes what an interrupted initdb left in the state
// directory. It runs under the lock, so no initdb of a live process works
// there. One whose process was killed may still run (on Linux it dies with
// its parent, but the postgres it runs lives until it has read all its
// input), so those still working in a leftover are killed first: otherwise
// they would write into the directory while it is removed.
func (c *Cluster) removeInitLeftovers(ctx context.Context) error {
	entries, err := os.ReadDir(c.stateDir)
	if err != nil {
		return fmt.Errorf("read the state directory: %w", err)
	}
	for _, e := range entries {
		if name := e.Name(); name != initDirName && !strings.HasPrefix(name, initDirName+".") {
			continue
		}
		dir := filepath.Join(c.stateDir, e.Name())
		if err := killProcessesIn(ctx, dir); err != nil {
			return err
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove what an interrupted initdb left: %w", err)
		}
	}
	return nil
}

// killProcessesIn kills the postgres processes working in dir and waits until
// they are gone.
func killProcessesIn(ctx context.Context, dir string) error {
	left := processesIn(dir)
	if len(left) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, initWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ; len(left) > 0; left = processesIn(dir) {
		for _, pid := range left {
			killProcess(pid)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes %v of an interrupted initdb still run in %s after %s", left, dir, initWait)
		case <-tick.C:
		}
	}
	return nil
}

// initdb runs initdb into a fresh directory with the given locale and returns
// that directory and initdb's output. The directory's name is new for every
// attempt, so an initdb of an interrupted command that still runs (where it
// does not die with its parent) never shares one with this attempt. On
// failure nothing is left behind.
func (s *session) initdb(ctx context.Context, locale string) (dir, out string, err error) {
	// Made here, not by initdb, because the server's user may not be allowed to
	// create entries in the state directory.
	dir, err = os.MkdirTemp(s.c.stateDir, initDirName+".")
	if err != nil {
		return "", "", fmt.Errorf("create the directory for initdb: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := s.acct.chown(dir); err != nil {
		return "", "", err
	}
	args := []string{
		"-D", dir,
		"-E", "UTF8",
		"--locale=" + locale,
		"-U", User,
		// Only the socket is reachable, and only by this user (and root): its
		// directory is 0700. TCP is never listened on; reject it anyway.
		"--auth-local=trust",
		"--auth-host=reject",
	}
	if s.c.opts.Fast {
		args = append(args, "--no-sync")
	}
	out, err = s.runOwned(ctx, initdbTimeout, "initdb", args...)
	if err != nil {
		return "", out, programError("initdb", out, err)
	}
	return dir, out, nil
}

// includeLine makes a hand-started server (pg_ctl start -D <state>/postgres)
// behave like one angelad starts.
const includeLine = "include_if_exists = '" + confFileName + "'"

// appendInclude adds the include of angelad.conf to the end of postgresql.conf,
// so angelad's settings override initdb's defaults.
func appendInclude(conf string) error {
	f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("configure the new cluster: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n# Settings of angelad's managed cluster; ALTER SYSTEM overrides them.\n%s\n", includeLine)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("configure the new cluster: %w", err)
	}
	return nil
}

// serverConf returns the contents of angelad.conf.
func (c *Cluster) serverConf() string {
	var b strings.Builder
	b.WriteString("# Written by angelad before it starts this server; edits are overwritten.\n")
	b.WriteString("# Use ALTER SYSTEM (postgresql.auto.conf) for settings of your own.\n\n")
	b.WriteString("# Only the Unix socket, in a directory only the server's user can enter.\n")
	b.WriteString("listen_addresses = ''\n")
	fmt.Fprintf(&b, "port = %d\n", managedPort)
	fmt.Fprintf(&b, "unix_socket_directories = %s\n", confString(socketDirList(c.SocketDir())))
	b.WriteString("unix_socket_permissions = 0700\n\n")
	b.WriteString("# A week of logs, one file per weekday, each truncated when it is reused.\n")
	b.WriteString("logging_collector = on\n")
	fmt.Fprintf(&b, "log_directory = %s\n", confString(serverLogDir))
	b.WriteString("log_filename = 'postgresql-%a.log'\n")
	b.WriteString("log_rotation_age = '1d'\n")
	b.WriteString("log_rotation_size = 0\n")
	b.WriteString("log_truncate_on_rotation = on\n")
	if c.opts.Fast {
		b.WriteString("\n# Fast mode (tests, benchmarks): a crash may lose or corrupt data.\n")
		b.WriteString("fsync = off\n")
		b.WriteString("synchronous_commit = off\n")
		b.WriteString("full_page_writes = off\n")
	}
	return b.String()
}

// confString quotes s as a postgresql.conf string value.
func confString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// socketDirList quotes dir as the one element of unix_socket_directories, a
// comma-separated list in which a path containing a comma must be quoted.
func socketDirList(dir string) string {
	return `"` + strings.ReplaceAll(dir, `"`, `""`) + `"`
}

// writeConf writes angelad.conf when its contents changed.
func (s *session) writeConf() error {
	path := filepath.Join(s.c.DataDir(), confFileName)
	want := []byte(s.c.serverConf())
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, want, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := s.acct.chown(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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

// serverLogMaxAge is how long a weekday's log file is kept. The server
// truncates a weekday's file only when it rotates into it while running, not
// when it starts, so a server restarted every day would otherwise append to the
// same seven files for ever.
const serverLogMaxAge = 6 * 24 * time.Hour

// pruneServerLogs removes the logging collector's files that were last written
// more than serverLogMaxAge before now, before a start reopens one of them.
// Failing to remove one only keeps old lines.
func (c *Cluster) pruneServerLogs(now time.Time) {
	entries, err := os.ReadDir(c.LogDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "postgresql-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > serverLogMaxAge {
			os.Remove(filepath.Join(c.LogDir(), name))
		}
	}
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

// run runs one of the server programs as the cluster's OS user and returns
// its combined output.
func (s *session) run(ctx context.Context, timeout time.Duration, program string, args ...string) (string, error) {
	return s.runProgram(ctx, timeout, false, program, args)
}

// runOwned is run for a program that must not outlive this process: on Linux
// it is killed when this process dies. Not for pg_ctl start, whose server
// must outlive a one-shot command that started it; it is pg_ctl's child, and
// the kernel does not pass the setting on to children anyway.
func (s *session) runOwned(ctx context.Context, timeout time.Duration, program string, args ...string) (string, error) {
	return s.runProgram(ctx, timeout, true, program, args)
}

func (s *session) runProgram(ctx context.Context, timeout time.Duration, owned bool, program string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, program), args...)
	// A directory the server's user can enter: PostgreSQL's programs complain
	// when they cannot return to the working directory they started in.
	cmd.Dir = s.c.stateDir
	cmd.Env = programEnv(os.Environ())
	// Its own process group, so a Ctrl-C meant for a one-shot command does not
	// reach pg_ctl or initdb halfway; the postmaster already gets a session of
	// its own from pg_ctl.
	cmd.SysProcAttr = s.acct.sysProcAttr()
	if owned {
		defer diesWithParent(cmd.SysProcAttr)()
	}
	// SIGTERM first: initdb then removes what it made, pg_ctl stops waiting.
	cmd.Cancel = func() error { return terminate(cmd.Process) }
	cmd.WaitDelay = killDelay
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out: %w", err)
		}
	}
	return string(out), err
}

// programEnv is the environment of the server programs: the caller's, without
// PG* variables that would point them at another cluster, port or user,
// without the service manager's variables meant for angelad alone, and with
// English messages so that errors read the same everywhere.
func programEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PG") || serviceManagerVars[name] ||
			name == "LC_ALL" || name == "LC_MESSAGES" || name == "LANGUAGE" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_MESSAGES=C")
}

// serviceManagerVars are what systemd hands the service's main process, angelad:
// its notification socket, watchdog and passed sockets. A server built with
// systemd support (Debian's) that inherited them would send READY=1 and
// STOPPING=1 as if it were the service, which systemd rejects under
// NotifyAccess=main, or worse, believes.
var serviceManagerVars = map[string]bool{
	"NOTIFY_SOCKET":  true,
	"WATCHDOG_USEC":  true,
	"WATCHDOG_PID":   true,
	"LISTEN_FDS":     true,
	"LISTEN_PID":     true,
	"LISTEN_FDNAMES": true,
}

// programError turns a failed program into one line: the program, then the
// line of its output that says what went wrong.
func programError(program, out string, err error) error {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("%s: %w", program, err)
	}
	if msg := summarize(out); msg != "" {
		return fmt.Errorf("%s: %s", program, msg)
	}
	return fmt.Errorf("%s: %w", program, err)
}

// summarize picks the line of a program's output that names the error: the
// last one that says error or FATAL (PostgreSQL prints hints after it), else
// the last line. The program's own "initdb: error: " prefix is dropped.
func summarize(out string) string {
	var last, lastErr string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		last = line
		lower := strings.ToLower(line)
		if strings.Contains(lower, "error") || strings.Contains(lower, "fatal") || strings.Contains(lower, "could not") {
			lastErr = line
		}
	}
	if lastErr != "" {
		last = lastErr
	}
	for _, prefix := range []string{"initdb: error: ", "pg_ctl: error: ", "initdb: ", "pg_ctl: "} {
		if after, ok := strings.CutPrefix(last, prefix); ok {
			return after
		}
	}
	return last
}

// serverLogTail returns the last few lines the server logged since offset in
// the startup log, joined into one line; when the logging collector had
// already taken over, the last lines of the newest file in LogDir instead.
func (c *Cluster) serverLogTail(offset int64) string {
	lines := readLines(c.StartLogFile(), offset)
	var kept []string
	for _, l := range lines {
		// The collector's hand-over notice says nothing about the failure.
		if strings.Contains(l, "redirecting log output") || strings.Contains(l, "Future log output will appear") {
			continue
		}
		kept = append(kept, l)
	}
	if len(kept) == 0 {
		if newest := newestFile(c.LogDir()); newest != "" {
			kept = readLines(newest, 0)
		}
	}
	if len(kept) > 3 {
		kept = kept[len(kept)-3:]
	}
	for i, l := range kept {
		kept[i] = stripLogPrefix(l)
	}
	tail := strings.Join(kept, " | ")
	if len(tail) > 600 {
		tail = "..." + tail[len(tail)-600:]
	}
	return tail
}

// stripLogPrefix drops the time and pid that log_line_prefix puts before the
// severity.
func stripLogPrefix(line string) string {
	for _, sev := range []string{"PANIC:", "FATAL:", "ERROR:", "WARNING:", "LOG:", "HINT:", "DETAIL:"} {
		if i := strings.Index(line, sev); i >= 0 {
			return strings.Join(strings.Fields(line[i:]), " ")
		}
	}
	return line
}

// readLines returns the non-empty lines of path from offset on, at most the
// last 64 KiB of them.
func readLines(path string, offset int64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > 64<<10 {
		offset = fi.Size() - 64<<10
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// newestFile returns the most recently modified file in dir, or "".
func newestFile(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			files = append(files, file{filepath.Join(dir, e.Name()), fi.ModTime()})
		}
	}
	if len(files) == 0 {
		return ""
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.After(files[j].mod) })
	return files[0].path
}

// syncDir makes a rename in dir durable; a failure only costs durability.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

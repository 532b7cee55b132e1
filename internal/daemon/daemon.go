// Package daemon owns `angelad run`: the lock that allows one daemon per state
// directory, waiting for the database, the one pool every worker shares, the
// supervisor that keeps the workers running, the database monitor, the status
// file that `angelad status` reads, and an orderly shutdown: workers first,
// then the pool, then the managed cluster if this daemon started it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
)

// Options configure a Daemon.
type Options struct {
	Config  *config.Config
	Log     *zap.Logger
	Version string
	// Notify tells the service manager about a state change ("READY=1",
	// "STOPPING=1", "WATCHDOG=1"); nil when there is none.
	Notify func(state string)
	// Watchdog, when positive, is how often Notify("WATCHDOG=1") is sent.
	Watchdog time.Duration
	// Now and After are the clock; tests replace them. Defaults: time.Now and
	// time.After.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Daemon is one run of `angelad run`.
type Daemon struct {
	o         Options
	cfg       *config.Config
	log       *zap.Logger
	factories []namedFactory
	// ready is closed once the daemon is ready; Ready returns it.
	ready chan struct{}
}

type namedFactory struct {
	name string
	f    Factory
}

// New returns a daemon. Register workers, then call Run.
func New(o Options) *Daemon {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Notify == nil {
		o.Notify = func(string) {}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Daemon{o: o, cfg: o.Config, log: o.Log, ready: make(chan struct{})}
}

// Register adds a worker that the supervisor runs and restarts, built by f
// once the pool exists. Call it before Run.
func (d *Daemon) Register(name string, f Factory) {
	d.factories = append(d.factories, namedFactory{name, f})
}

// Ready is closed once the pool is up and the workers started.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// poolCloseTimeout bounds the wait for the pool to close after the workers.
const poolCloseTimeout = 2 * time.Second

// Backoff bounds for waiting on the database at start-up.
const (
	dbMinBackoff = time.Second
	dbMaxBackoff = 30 * time.Second
)

// Run runs the daemon until ctx is cancelled and returns nil on a clean stop.
func (d *Daemon) Run(ctx context.Context) (err error) {
	cfg, log := d.cfg, d.log
	startedAt := d.o.Now()
	db := cfg.Database()
	// As root the managed cluster's server runs as another user, who must
	// pass through the state directory to its data and socket; otherwise
	// no one but this user needs it.
	if err := MakeStateDir(cfg.StateDir, db.Managed && os.Geteuid() == 0); err != nil {
		return err
	}
	lock, err := AcquireLock(cfg.StateDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	removeStatusLeftovers(cfg.StateDir)

	board := newStatusBoard(cfg.StateDir, d.o.Now, Status{
		PID: os.Getpid(), Version: d.o.Version, State: StateStarting, StartedAt: startedAt,
		ConfigFile: cfg.File, StateDir: cfg.StateDir, Workers: []WorkerStatus{},
		Database: DatabaseStatus{Managed: db.Managed},
	})
	board.refresh = cfg.PoolHealthCheckPeriod
	statusWriteFailed := func(err error) { log.Warn("cannot write the status file", zap.Error(err)) }
	publish := func(change func(*Status)) {
		if err := board.update(change, false); err != nil {
			statusWriteFailed(err)
		}
	}
	defer publish(func(s *Status) { s.State = StateStopped })

	log.Info("starting",
		zap.String("version", d.o.Version),
		zap.String("config_file", cfg.File),
		zap.String("state_dir", cfg.StateDir),
		zap.String("database_source", db.Source),
		zap.String("database", describeDatabase(db, cfg.StateDir)),
		zap.Int("pool_max_conns", cfg.PoolMaxConns))
	if warning := cfg.ExposedPassword(); warning != "" {
		log.Warn(warning)
	}

	var cluster *managed.Cluster
	if db.Managed {
		cluster = managed.New(managed.Options{
			StateDir: cfg.StateDir, BinDir: cfg.PostgresBinDir, RunAs: cfg.PostgresRunAs,
		})
	}
	// ownsCluster is set when this daemon started the managed cluster, at
	// start-up or after an outage; the daemon then stops it on the way out.
	var ownsCluster atomic.Bool
	defer func() {
		if cluster == nil || !ownsCluster.Load() {
			return
		}
		// Our context is cancelled by now: stop on a fresh one.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if serr := cluster.Stop(sctx); serr != nil {
			if err == nil {
				err = serr // the caller logs what Run returns
				return
			}
			// Run returns the earlier error; this one is said here or nowhere.
			log.Error("cannot stop the managed PostgreSQL", zap.Error(serr))
			return
		}
		log.Info("stopped the managed PostgreSQL")
	}()

	connString, err := d.waitForDatabase(ctx, cluster, &ownsCluster, publish)
	if err != nil || ctx.Err() != nil {
		if ctx.Err() != nil {
			log.Info("stopped before the database was ready")
			return nil
		}
		return err
	}
	where := postgres.DescribeConnString(connString)
	publish(func(s *Status) { s.Database.Target = where })

	pool, err := postgres.NewPool(ctx, connString, cfg.TimeZone, postgres.PoolOptions{
		MaxConns: int32(cfg.PoolMaxConns), MinConns: int32(cfg.PoolMinConns),
		HealthCheckPeriod: cfg.PoolHealthCheckPeriod, ConnectTimeout: cfg.PoolConnectTimeout,
		Pooler: postgres.Pooler(cfg.Pooler()),
	})
	if err != nil {
		return err
	}
	defer func() {
		// pgxpool.Close waits for every connection to be released: bounded, so
		// that a worker that ignored shutdown_timeout cannot hold the process.
		closed := make(chan struct{})
		go func() {
			pool.Close()
			close(closed)
		}()
		select {
		case <-closed:
			log.Info("closed the database pool")
		case <-d.o.After(poolCloseTimeout):
			log.Error("the database pool did not close: a worker still holds a connection", zap.Duration("waited", poolCloseTimeout))
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return &postgres.ConnectError{Where: where, Err: err}
	}

	// The watchdog goes by the supervisor's heartbeat and the monitor's
	// checks: each promises when it comes round again.
	live := newLiveness()
	supCfg := SupervisorConfig{
		Log: log.Named("supervisor"), Now: d.o.Now, After: d.o.After,
		StopTimeout: cfg.ShutdownTimeout,
	}
	if d.o.Watchdog > 0 {
		supCfg.Heartbeat = d.o.Watchdog / 4
		supCfg.OnHeartbeat = func() { live.promise("supervisor", d.o.Now().Add(d.o.Watchdog/2)) }
		supCfg.OnHeartbeat()
	}
	var sup *Supervisor
	supCfg.OnChange = func(now bool) {
		if err := board.update(func(s *Status) { s.Workers = sup.Status() }, now); err != nil {
			statusWriteFailed(err)
		}
	}
	sup = NewSupervisor(supCfg)
	watch := NewDatabaseWatch()
	workers, err := buildWorkers(d.factories, func(name string) Deps {
		return Deps{
			Pool: pool, Log: log.Named(name), Clock: Clock{Now: d.o.Now, After: d.o.After},
			Location: cfg.Location(), StateDir: cfg.StateDir, Status: sup.Reporter(name), Database: watch,
		}
	})
	if err != nil {
		return err
	}
	for i, nf := range d.factories {
		sup.Add(nf.name, workers[i])
	}
	monitor := &dbMonitor{
		pool: pool, cluster: cluster, log: log.Named("database"),
		interval: cfg.PoolHealthCheckPeriod, now: d.o.Now, after: d.o.After,
		publish:          func(change func(*DatabaseStatus)) { publish(func(s *Status) { change(&s.Database) }) },
		onClusterStarted: func() { ownsCluster.Store(true) },
		alive: func(until time.Time) {
			live.promise("monitor", until)
			// Beyond the usual two periods only while a restart of the
			// cluster keeps the monitor from publishing.
			hold := time.Time{}
			if until.After(d.o.Now().Add(2 * cfg.PoolHealthCheckPeriod)) {
				hold = until
			}
			if err := board.hold(hold); err != nil {
				log.Warn("cannot write the status file", zap.Error(err))
			}
		},
		watch: watch,
		up:    true,
	}
	monitor.check(ctx)

	var wg sync.WaitGroup
	supErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		supErr <- sup.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		monitor.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		board.flushDetails(ctx, d.o.After, statusWriteFailed)
	}()
	if d.o.Watchdog > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.watchdog(ctx, live)
		}()
	}

	readyAt := d.o.Now()
	publish(func(s *Status) { s.State, s.ReadyAt = StateRunning, readyAt })
	d.o.Notify("READY=1")
	log.Info("ready",
		zap.String("database", where),
		zap.String("state_dir", cfg.StateDir),
		zap.Int("workers", len(d.factories)),
		zap.Duration("startup", readyAt.Sub(startedAt)))
	close(d.ready)

	<-ctx.Done()
	d.o.Notify("STOPPING=1")
	publish(func(s *Status) { s.State = StateStopping })
	log.Info("shutting down", zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
	err = <-supErr
	wg.Wait()
	var ste *StopTimeoutError
	if errors.As(err, &ste) {
		// The workers still running are abandoned with the process.
		log.Error("workers did not stop in time", zap.Strings("workers", ste.Workers), zap.Duration("shutdown_timeout", ste.Timeout))
		return nil
	}
	return err
}

// waitForDatabase makes the database usable: it starts the managed cluster if
// that is the database, connects and migrates. At boot the database may not be
// up yet, so failures that can pass are retried with capped exponential
// backoff, one log line per attempt, instead of exiting and being restarted in
// a loop. It returns the connection string.
func (d *Daemon) waitForDatabase(ctx context.Context, cluster *managed.Cluster, owns *atomic.Bool, publish func(func(*Status))) (string, error) {
	backoff := dbMinBackoff
	for attempt := 1; ; attempt++ {
		connString, retry, err := d.openDatabase(ctx, cluster, owns)
		if err == nil || !retry || ctx.Err() != nil {
			return connString, err
		}
		d.log.Warn("database not ready, retrying",
			zap.Int("attempt", attempt), zap.Duration("backoff", backoff), zap.Error(err))
		publish(func(s *Status) { s.State, s.Database.LastError = StateWaiting, err.Error() })
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-d.o.After(backoff):
		}
		backoff = min(backoff*2, dbMaxBackoff)
	}
}

// openDatabase makes one attempt; retry says whether another may succeed.
func (d *Daemon) openDatabase(ctx context.Context, cluster *managed.Cluster, owns *atomic.Bool) (connString string, retry bool, err error) {
	cfg := d.cfg
	connString = cfg.Database().ConnString
	if cluster != nil {
		started, err := cluster.Start(ctx)
		if err != nil {
			return "", !managed.IsSetupError(err), fmt.Errorf("managed database in %s: %w", cfg.StateDir, err)
		}
		if started {
			owns.Store(true)
			d.log.Info("started the managed PostgreSQL", zap.String("data_dir", cluster.DataDir()))
		} else {
			d.log.Info("using the managed PostgreSQL already running", zap.String("data_dir", cluster.DataDir()))
		}
		connString = cluster.ConnString(managed.Database)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.PoolConnectTimeout)
	conn, err := postgres.Connect(cctx, connString, cfg.TimeZone, postgres.WithPooler(postgres.Pooler(cfg.Pooler())))
	cancel()
	if err != nil {
		var ce *postgres.ConnectError
		return "", errors.As(err, &ce), err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := postgres.Migrate(ctx, conn)
	if err != nil {
		// A connection lost mid-migration may pass; a migration that fails on
		// a live connection will fail again.
		return "", conn.IsClosed(), err
	}
	d.log.Info("schema", zap.Int32("version", res.To), zap.Int("applied", res.Applied()))
	if postgres.PoolerProtocol(conn) {
		d.log.Info("the database is reached through a connection pooler: no statement is prepared by name",
			zap.String("database.pooler", cfg.Pooler()))
	}
	if cols, err := postgres.ZonelessColumns(ctx, conn); err == nil && len(cols) > 0 && cfg.Sources["timezone"].Kind == "default" {
		d.log.Warn("times without a zone are read in this machine's zone; set timezone in the config file to pin it",
			zap.Strings("columns", cols), zap.String("timezone", cfg.TimeZone))
	}
	return connString, false, nil
}

// describeDatabase names the database for the start-up line, never with its
// password.
func describeDatabase(db config.Database, stateDir string) string {
	if db.Managed {
		return "the managed local cluster in " + stateDir
	}
	return postgres.DescribeConnString(db.ConnString)
}

// Package daemon owns `angelad run`: it resolves the database (starting the
// managed cluster when that is the one), migrates, creates the one pool the
// workers share, and on cancellation closes the pool and stops the cluster it
// started.
package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
)

// Daemon is one run of `angelad run`.
type Daemon struct {
	cfg     *config.Config
	log     *zap.Logger
	version string
	// Ready, when not nil, is closed once the pool is up.
	Ready chan struct{}
}

// New returns a daemon for cfg that logs to log.
func New(cfg *config.Config, log *zap.Logger, version string) *Daemon {
	return &Daemon{cfg: cfg, log: log, version: version}
}

// Run runs the daemon until ctx is cancelled. It returns nil on a clean stop.
func (d *Daemon) Run(ctx context.Context) (err error) {
	cfg := d.cfg
	db := cfg.Database()
	d.log.Info("starting",
		zap.String("version", d.version),
		zap.String("config_file", cfg.File),
		zap.String("state_dir", cfg.StateDir),
		zap.String("database_source", db.Source),
		zap.Int("pool_max_conns", cfg.PoolMaxConns))

	connString := db.ConnString
	if db.Managed {
		cluster := postgres.NewCluster(postgres.ClusterOptions{
			StateDir: cfg.StateDir, BinDir: cfg.PostgresBinDir, RunAs: cfg.PostgresRunAs,
		})
		started, err := cluster.Start(ctx)
		if err != nil {
			return fmt.Errorf("managed database in %s: %w", cfg.StateDir, err)
		}
		if started {
			d.log.Info("started the managed PostgreSQL", zap.String("data_dir", cluster.DataDir()))
			defer func() {
				// Stop with a fresh context: ours is already cancelled.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()
				if serr := cluster.Stop(sctx); serr != nil {
					d.log.Error("stop the managed PostgreSQL", zap.Error(serr))
					if err == nil {
						err = serr
					}
					return
				}
				d.log.Info("stopped the managed PostgreSQL")
			}()
		} else {
			d.log.Info("using the managed PostgreSQL already running", zap.String("data_dir", cluster.DataDir()))
		}
		connString = cluster.ConnString(postgres.ManagedDatabase)
	}
	where := postgres.DescribeConnString(connString)

	if err := d.migrate(ctx, connString); err != nil {
		return err
	}
	pool, err := postgres.NewPool(ctx, connString, cfg.TimeZone, int32(cfg.PoolMaxConns))
	if err != nil {
		return err
	}
	defer func() {
		pool.Close()
		d.log.Info("closed the database pool")
	}()
	if err := pool.Ping(ctx); err != nil {
		return &postgres.ConnectError{Where: where, Err: err}
	}
	d.log.Info("ready", zap.String("database", where), zap.String("state_dir", cfg.StateDir))
	if d.Ready != nil {
		close(d.Ready)
	}
	<-ctx.Done()
	d.log.Info("shutting down")
	return d.stop(pool)
}

func (d *Daemon) migrate(ctx context.Context, connString string) error {
	conn, err := postgres.Connect(ctx, connString, d.cfg.TimeZone)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := postgres.Migrate(ctx, conn)
	if err != nil {
		return err
	}
	d.log.Info("schema", zap.Int32("version", res.To), zap.Int("applied", res.Applied()))
	return nil
}

// stop is where the workers will be waited for; the pool closes after them.
func (d *Daemon) stop(_ *pgxpool.Pool) error { return nil }

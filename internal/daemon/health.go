package daemon

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/postgres"
)

// dbMonitor checks the database every interval. It logs one line when the
// database goes away and one when it is back, never a line per failed check,
// and restarts the managed cluster if that is what went away. The pool
// reconnects by itself; the monitor only watches and reports.
type dbMonitor struct {
	pool     *pgxpool.Pool
	cluster  *postgres.Cluster // nil unless the database is the managed cluster
	log      *zap.Logger
	interval time.Duration
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time
	publish  func(func(*DatabaseStatus))
	// onClusterStarted is called when the monitor restarted the managed
	// cluster, which the daemon then owns and stops on exit.
	onClusterStarted func()

	up        bool // the daemon starts the monitor once the database answered
	downSince time.Time
	upSince   time.Time // since when the checks have succeeded
	// restartFailed is set once a failed restart of the managed cluster was
	// logged in this outage, so that it is logged once per outage.
	restartFailed bool
}

// Run checks every interval until ctx is done. The daemon makes the first
// check itself, before it reports ready.
func (m *dbMonitor) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.after(m.interval):
		}
		m.check(ctx)
	}
}

func (m *dbMonitor) check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, m.interval)
	defer cancel()
	start := m.now()
	var server string
	var schema int32
	err := m.pool.QueryRow(cctx, "select current_setting('server_version')").Scan(&server)
	latency := m.now().Sub(start)
	if err == nil {
		schema, err = postgres.SchemaVersion(cctx, m.pool)
	}
	if ctx.Err() != nil {
		return // shutting down: not an outage
	}
	now := m.now()
	if err != nil {
		if m.up {
			m.up, m.downSince, m.upSince = false, now, time.Time{}
			m.log.Warn("database unreachable", zap.Error(err))
		}
		m.publish(func(d *DatabaseStatus) {
			d.Reachable, d.DownSince, d.CheckedAt, d.LastError = false, m.downSince, now, err.Error()
			d.ReachableSince = time.Time{}
		})
		if m.cluster != nil {
			started, serr := m.cluster.Start(ctx)
			switch {
			case serr != nil && ctx.Err() == nil && !m.restartFailed:
				m.restartFailed = true
				m.log.Error("cannot restart the managed PostgreSQL", zap.Error(serr))
			case serr == nil && started:
				m.onClusterStarted()
				m.log.Info("restarted the managed PostgreSQL")
			}
		}
		return
	}
	if !m.up {
		m.log.Info("database reachable again", zap.Duration("down_for", now.Sub(m.downSince)))
		m.up, m.restartFailed = true, false
	}
	if m.upSince.IsZero() {
		m.upSince = now
	}
	m.publish(func(d *DatabaseStatus) {
		d.Reachable, d.DownSince, d.LastError, d.ReachableSince = true, time.Time{}, "", m.upSince
		d.Latency, d.CheckedAt, d.ServerVersion, d.SchemaVersion = latency, now, server, schema
	})
}

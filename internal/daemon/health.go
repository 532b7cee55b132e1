package daemon

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
)

// maxCheckTimeout caps the time one health check may take.
const maxCheckTimeout = 10 * time.Second

// checkTimeout is how long one health check may take: half its period, at
// most maxCheckTimeout. Shorter than the period, so that a slow check never
// runs into the next one and the status file, refreshed after every check,
// never goes two periods without a write.
func checkTimeout(interval time.Duration) time.Duration {
	return min(interval/2, maxCheckTimeout)
}

// outageRecheck is how often the monitor checks while the database is away:
// a failed connection costs next to nothing, and the workers it wakes on the
// database's return then store what waited within about a second.
const outageRecheck = time.Second

// checkEvery is the wait between the end of one check and the start of the
// next. While the database answers it is half the period: a check may take
// the other half, so an outage shows in status within one period. During an
// outage it is outageRecheck (or that half period, when shorter).
func checkEvery(interval time.Duration, up bool) time.Duration {
	if up {
		return interval / 2
	}
	return min(outageRecheck, interval/2)
}

// clusterRestartTimeout bounds one restart of the managed cluster by the
// monitor: long enough for crash recovery, short enough that the monitor is
// known to come back.
const clusterRestartTimeout = 3 * time.Minute

// dbMonitor checks the database every interval. It logs one line when the
// database goes away and one when it is back, never a line per failed check,
// and restarts the managed cluster if that is what went away. The pool
// reconnects by itself; the monitor only watches and reports.
type dbMonitor struct {
	pool     *pgxpool.Pool
	cluster  *managed.Cluster // nil unless the database is the managed cluster
	log      *zap.Logger
	interval time.Duration
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time
	publish  func(func(*DatabaseStatus))
	// onClusterStarted is called when the monitor restarted the managed
	// cluster, which the daemon then owns and stops on exit.
	onClusterStarted func()
	// alive, when set, is told after every check until when the monitor
	// promises to report again: the watchdog and the status file's freshness
	// go by it. Before a restart of the cluster the promise covers the
	// restart.
	alive func(until time.Time)
	// watch delivers the workers' requests for a check and is told when the
	// database answers again, to wake them; nil: neither.
	watch *DatabaseWatch

	up        bool // the daemon starts the monitor once the database answered
	downSince time.Time
	upSince   time.Time // since when the checks have succeeded
	// restartFailed is set once a failed restart of the managed cluster was
	// logged in this outage, so that it is logged once per outage.
	restartFailed bool
	// restartedAt is when the monitor last tried to restart the managed
	// cluster in this outage: it tries at most once a period, although it
	// checks every outageRecheck.
	restartedAt time.Time
}

// Run checks twice a period (every outageRecheck during an outage), and at
// once when a worker could not reach the database, until ctx is done. The
// daemon makes the first check itself, before it reports ready.
func (m *dbMonitor) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.after(checkEvery(m.interval, m.up)):
		case <-m.watch.checkRequests():
		}
		m.check(ctx)
	}
}

// promise tells alive that the monitor reports again within d.
func (m *dbMonitor) promise(d time.Duration) {
	if m.alive != nil {
		m.alive(m.now().Add(d))
	}
}

// check checks the database once, and once more right after it restarted the
// managed cluster, so that the recovery shows at once.
func (m *dbMonitor) check(ctx context.Context) {
	if m.probe(ctx) || m.cluster == nil || ctx.Err() != nil ||
		!m.restartedAt.IsZero() && m.now().Sub(m.restartedAt) < m.interval {
		m.promise(2 * m.interval)
		return
	}
	m.restartedAt = m.now()
	m.promise(clusterRestartTimeout + 2*m.interval)
	rctx, cancel := context.WithTimeout(ctx, clusterRestartTimeout)
	started, err := m.cluster.Start(rctx)
	cancel()
	switch {
	case ctx.Err() != nil:
	case err != nil && !m.restartFailed:
		m.restartFailed = true
		m.log.Error("cannot restart the managed PostgreSQL", zap.Error(err))
	case err == nil && started:
		m.onClusterStarted()
		m.log.Info("restarted the managed PostgreSQL")
		m.probe(ctx)
	}
	m.promise(2 * m.interval)
}

// probe asks the database for its version and schema, publishes what it
// found and then logs a change of reachability. It reports whether the
// database answered.
func (m *dbMonitor) probe(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout(m.interval))
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
		return true // shutting down: not an outage
	}
	now := m.now()
	if err != nil {
		wasUp := m.up
		if wasUp {
			m.up, m.downSince, m.upSince = false, now, time.Time{}
		}
		// Published first: whoever reads the log line and runs status sees it.
		m.publish(func(d *DatabaseStatus) {
			d.Reachable, d.DownSince, d.CheckedAt, d.LastError = false, m.downSince, now, err.Error()
			d.ReachableSince = time.Time{}
		})
		if wasUp {
			m.log.Warn("database unreachable", zap.Error(err))
		}
		return false
	}
	wasDown := !m.up
	m.up, m.restartFailed, m.restartedAt = true, false, time.Time{}
	if m.upSince.IsZero() {
		m.upSince = now
	}
	m.publish(func(d *DatabaseStatus) {
		d.Reachable, d.DownSince, d.LastError, d.ReachableSince = true, time.Time{}, "", m.upSince
		d.Latency, d.CheckedAt, d.ServerVersion, d.SchemaVersion = latency, now, server, schema
	})
	if wasDown {
		// The workers backing off retry now, not at the end of their backoff.
		m.watch.Recovered()
		m.log.Info("database reachable again", zap.Duration("down_for", now.Sub(m.downSince)))
	}
	return true
}

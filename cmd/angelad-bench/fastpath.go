package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The fast-path group: one-shot commands served through the running daemon's
// socket, beside the same commands connecting themselves, as issue 11 sets
// targets for.
const (
	targetDaemonSave    = 6 * time.Millisecond
	targetDaemonRatio   = 0.4
	targetVersion       = 5500 * time.Microsecond
	targetDaemonGet     = 7 * time.Millisecond
	concurrentSaves     = 100
	concurrentSaveRuns  = 5
	emptyBinarySource   = "package main\n\nfunc main() {}\n"
	emptyBinaryModule   = "module empty\n\ngo 1.26\n"
	fastPathConcurrency = "100 save-conversation processes started at once"
)

// fastPath is what the group measured.
type fastPath struct {
	DaemonSave, DirectSave, Version, Empty summary
	Seed                                   *summary
	// ConcurrentWall is the wall time of 100 save-conversation processes
	// started together against the daemon; Backends is how many PostgreSQL
	// sessions the database counted meanwhile (pg_stat_database.sessions).
	ConcurrentWall summary
	Backends       []int64
	// DaemonGet and DirectGet are get-emotions --limit 10 on the filled table.
	DaemonGet, DirectGet summary
}

// buildEmpty builds an empty static Go program, the floor of any Go command.
func (b *bench) buildEmpty(ctx context.Context) (string, error) {
	dir := filepath.Join(b.tmpDir, "empty")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for name, body := range map[string]string{"main.go": emptyBinarySource, "go.mod": emptyBinaryModule} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, "empty")
	build := exec.CommandContext(ctx, goCommand(), "build", "-trimpath", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the empty program: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// measureFastPath starts a daemon and times, interleaved, save-emotion
// through it and --direct, the seed's one-liner, angelad version and an
// empty Go program; then 100 concurrent saves through it.
func (b *bench) measureFastPath(ctx context.Context, conn *pgx.Conn, res *results) error {
	empty, err := b.buildEmpty(ctx)
	if err != nil {
		return err
	}
	d, err := b.startServingDaemon(ctx)
	if err != nil {
		return err
	}
	defer d.stop()
	save := []string{"save-emotion", "--emotion", "happy", "--intensity", "9", "--context", "benchmark: through the daemon",
		"--david-words", "พี่ ก็ คิดถึงเหมือน กัน ค่ะ"}
	probes := []probe{
		{name: "save-emotion through the daemon", run: b.angelad(isUUID, save...)},
		{name: "save-emotion --direct", run: b.angelad(isUUID, append(save, "--direct")...)},
		{name: "angelad version", run: b.angelad(nonEmpty, "version")},
		{name: "empty Go program", run: func(ctx context.Context) (time.Duration, error) {
			return runTimed(ctx, empty, b.env, func(string) error { return nil })
		}},
	}
	if seed, _ := b.seedProbe(ctx); seed != nil {
		probes = append(probes, *seed)
	}
	b.logf("timing save-emotion through the daemon and directly, version and an empty program, interleaved (%d rounds)", runsE2E)
	got, err := interleave(ctx, warmups, runsE2E, probes)
	if err != nil {
		return err
	}
	fp := &fastPath{DaemonSave: got[0], DirectSave: got[1], Version: got[2], Empty: got[3]}
	if len(got) > 4 {
		fp.Seed = &got[4]
	}

	b.logf("timing %d concurrent save-conversation processes through the daemon (%d runs)", concurrentSaves, concurrentSaveRuns)
	var walls []time.Duration
	for range concurrentSaveRuns {
		before, err := sessions(ctx, conn)
		if err != nil {
			return err
		}
		wall, err := b.concurrentSaves(ctx)
		if err != nil {
			return err
		}
		after, err := sessions(ctx, conn)
		if err != nil {
			return err
		}
		walls = append(walls, wall)
		fp.Backends = append(fp.Backends, after-before)
	}
	fp.ConcurrentWall = summarize(walls)
	res.FastPath = fp
	return nil
}

// measureDaemonGet times get-emotions --limit 10 on the filled table through
// a daemon and directly, interleaved.
func (b *bench) measureDaemonGet(ctx context.Context, res *results) error {
	d, err := b.startServingDaemon(ctx)
	if err != nil {
		return err
	}
	defer d.stop()
	b.logf("timing get-emotions --limit 10 through the daemon and directly (%d rounds)", runsE2E)
	got, err := interleave(ctx, warmups, runsE2E, []probe{
		{name: "get-emotions through the daemon", run: b.angelad(tenEmotions, "get-emotions", "--limit", "10")},
		{name: "get-emotions --direct", run: b.angelad(tenEmotions, "get-emotions", "--limit", "10", "--direct")},
	})
	if err != nil {
		return err
	}
	res.FastPath.DaemonGet, res.FastPath.DirectGet = got[0], got[1]
	return nil
}

// startServingDaemon is startDaemon that returns once the daemon also serves
// its socket; a daemon that does not is stopped.
func (b *bench) startServingDaemon(ctx context.Context) (*daemonRun, error) {
	d, err := b.startDaemon(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.waitForSocket(ctx, d); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// waitForSocket waits until the daemon serves its socket: a read through it
// that --debug says the daemon served.
func (b *bench) waitForSocket(ctx context.Context, d *daemonRun) error {
	deadline := time.Now().Add(daemonReadyTimeout)
	for {
		cmd := exec.CommandContext(ctx, b.bin, "get-emotions", "--limit", "1", "--debug")
		cmd.Env = b.env
		out, err := cmd.CombinedOutput()
		if err == nil && strings.Contains(string(out), "served by the daemon") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon serves no socket after %s: %s%s", daemonReadyTimeout, strings.TrimSpace(string(out)), d.log.tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.done:
			return fmt.Errorf("angelad run exited: %v%s", exitStatus(d.err), d.log.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// concurrentSaves starts concurrentSaves save-conversation processes at once
// and returns the wall time until the last one exits, checking each printed
// its id.
func (b *bench) concurrentSaves(ctx context.Context) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, concurrentSaves)
	start := time.Now()
	for i := range concurrentSaves {
		wg.Go(func() {
			_, err := runTimed(ctx, b.bin, b.env, isUUID, "save-conversation", "--speaker", "david",
				"--message", fmt.Sprintf("benchmark: concurrent save %d", i), "--id", uuid.NewString())
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("concurrent save-conversation: %w", err)
	}
	return wall, nil
}

// sessions is how many sessions the current database has had since its
// statistics were reset (PostgreSQL 14 and later).
func sessions(ctx context.Context, conn *pgx.Conn) (int64, error) {
	// The statistics are sent by backends as they exit, at most every
	// PGSTAT_MIN_INTERVAL; a snapshot is read fresh in a new transaction.
	if _, err := conn.Exec(ctx, "select pg_stat_clear_snapshot()"); err != nil {
		return 0, err
	}
	var n int64
	err := conn.QueryRow(ctx, "select sessions from pg_stat_database where datname = current_database()").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read pg_stat_database.sessions: %w", err)
	}
	return n, nil
}

// fastPathRows are the group's rows.
func fastPathRows(r results) []row {
	fp := r.FastPath
	if fp == nil {
		return nil
	}
	direct := baseline{Name: "--direct", Value: fp.DirectSave.Median}
	bases := []baseline{direct}
	if fp.Seed != nil {
		bases = append(bases, baseline{Name: "seed psycopg2", Value: fp.Seed.Median})
	}
	ratio := float64(fp.DaemonSave.Median) / float64(max(fp.DirectSave.Median, 1))
	ratioGauge := &gauge{Value: ratio, Unit: "x", Limit: targetDaemonRatio,
		Text: fmt.Sprintf("%s / %s", formatMS(fp.DaemonSave.Median), formatMS(fp.DirectSave.Median))}
	rows := []row{
		{Measurement: "save-emotion through the running daemon, end to end", Result: fp.DaemonSave, Target: targetDaemonSave, Baselines: bases},
		{Measurement: "  its ratio to save-emotion --direct in the same run", Gauge: ratioGauge},
		{Measurement: "  save-emotion --direct (its own connection), end to end", Result: fp.DirectSave},
		{Measurement: "angelad version, end to end", Result: fp.Version, Target: targetVersion,
			Baselines: []baseline{{Name: "empty Go program", Value: fp.Empty.Median}}},
		{Measurement: "  floor: an empty static Go program, end to end", Result: fp.Empty},
	}
	backends := make([]string, len(fp.Backends))
	for i, n := range fp.Backends {
		backends[i] = fmt.Sprint(n)
	}
	rows = append(rows, row{Measurement: fmt.Sprintf("%d save-conversation processes at once through the daemon: wall time (sessions opened per run: %s)",
		concurrentSaves, strings.Join(backends, ", ")), Result: fp.ConcurrentWall})
	if fp.DaemonGet.N > 0 {
		rows = append(rows,
			row{Measurement: fmt.Sprintf("get-emotions --limit 10 through the daemon (%s emotions)", thousands(r.Fill)),
				Result: fp.DaemonGet, Target: targetDaemonGet, Baselines: []baseline{{Name: "--direct", Value: fp.DirectGet.Median}}},
			row{Measurement: "  get-emotions --limit 10 --direct", Result: fp.DirectGet})
	}
	return rows
}

// fastPathNote says how the group was measured.
func fastPathNote() string {
	return "through the daemon: the same commands with `angelad run` started on the state directory (transcript capture off), " +
		"so they are served over its Unix socket from its warm pool; --direct makes them connect themselves as before. " +
		"Sessions opened: the database's pg_stat_database.sessions counter before and after one run of " + fastPathConcurrency +
		" (the daemon's pool already open; the count includes the bench's own reads of the counter, none in between)."
}

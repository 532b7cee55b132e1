package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// How many timed runs each measurement makes, after how many warm-up runs.
// Warm-up runs fill the page cache with the binary, open and prepare the
// pool's connections and bring the server's caches up, so that the timed runs
// measure the steady state a user sees.
const (
	warmups     = 3
	runsE2E     = 50  // one process per run, a few ms each
	runsBatch   = 30  // rounds of the write group: 100 saves, or one pgbench run of 100
	runsPoolOne = 300 // single saves, 10 per round of the write group
	// connectEachTxns is the transactions of one pgbench -C run; its figure
	// is the time per transaction.
	connectEachTxns = 10
	poolMaxConns    = 10 // the daemon's default pool, as issue 2 sets it
	// timeZone is the session time zone of this program's own connections;
	// the timings do not depend on it.
	timeZone = "UTC"
)

// bench is one run of the report: the temporary directories, the built
// binary and the throwaway cluster, all of which Close removes.
type bench struct {
	opts options
	logf func(format string, args ...any)

	tmpDir     string // the binary, its empty config file, the pgbench script
	bin        string
	env        []string // angelad's environment
	stateDir   string
	cluster    *managed.Cluster
	connString string

	pgbenchPath string
	pgbenchEnv  []string
	scriptFile  string
}

// newBench builds angelad, finds pgbench and starts the cluster. On error it
// has already cleaned up.
func newBench(ctx context.Context, o options, logf func(string, ...any)) (_ *bench, err error) {
	b := &bench{opts: o, logf: logf}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()

	if b.tmpDir, err = os.MkdirTemp("", "angelad-bench-"); err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	b.bin = filepath.Join(b.tmpDir, "angelad")
	logf("building angelad in %s", root)
	// Built as `make build` builds it (-trimpath, CGO_ENABLED=0): the binary
	// under test is the one users run.
	build := exec.CommandContext(ctx, goCommand(), "build", "-trimpath", "-o", b.bin, "./cmd/angelad")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build angelad: %w: %s", err, strings.TrimSpace(string(out)))
	}

	binDir, err := managed.FindBinDir("")
	if err != nil {
		return nil, fmt.Errorf("find PostgreSQL: %w", err)
	}
	b.pgbenchPath = filepath.Join(binDir, "pgbench")
	if _, err := os.Stat(b.pgbenchPath); err != nil {
		return nil, fmt.Errorf("pgbench is not beside initdb in %s: %w", binDir, err)
	}

	// An empty config file, named explicitly, so that no /etc/angelad or user
	// config on this machine points angelad elsewhere.
	configFile := filepath.Join(b.tmpDir, "config.toml")
	if err := os.WriteFile(configFile, nil, 0o600); err != nil {
		return nil, fmt.Errorf("write config file: %w", err)
	}
	b.scriptFile = filepath.Join(b.tmpDir, "insert.sql")
	if err := os.WriteFile(b.scriptFile, []byte(pgbenchScript), 0o600); err != nil {
		return nil, fmt.Errorf("write pgbench script: %w", err)
	}

	// TempStateDir: a short path (the socket must fit in ~100 bytes) that the
	// cluster's user can traverse when this runs as root.
	if b.stateDir, err = pgtest.TempStateDir("angelad-bench-"); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	// Not Fast: the report is about what the owner's machine does, fsync and all.
	b.cluster = managed.New(managed.Options{StateDir: b.stateDir, BinDir: binDir})
	logf("starting a throwaway cluster in %s", b.stateDir)
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := b.cluster.Start(startCtx); err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	b.connString = b.cluster.ConnString(managed.Database)

	// Transcript capture off: the daemon's figures here are its start-up,
	// idle cost and socket, not reading this machine's transcripts (make
	// benchcapture measures the capture).
	b.env = append(cleanEnv(os.Environ()), "ANGELA_STATE_DIR="+b.stateDir, "ANGELA_CONFIG="+configFile,
		"ANGELA_CONVERSATION_TRANSCRIPTS=[]")
	// English, C-locale numbers: parsePgbench reads pgbench's output.
	b.pgbenchEnv = append(cleanEnv(os.Environ()), "LC_ALL=C", "PGCLIENTENCODING=UTF8")
	return b, nil
}

// Close stops the cluster and removes the temporary directories. It runs on a
// context of its own: the run's context may be what was cancelled.
func (b *bench) Close() {
	if b.cluster != nil {
		b.logf("stopping the cluster")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := b.cluster.Stop(ctx); err != nil {
			b.logf("stop cluster: %v", err)
		}
		cancel()
	}
	for _, dir := range []string{b.stateDir, b.tmpDir} {
		if dir == "" {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			b.logf("remove %s: %v", dir, err)
		}
	}
}

// moduleRoot is the directory of the go.mod that the current directory belongs
// to, so that `go run ./cmd/angelad-bench` works from anywhere in the tree.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goCommand(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the angelad module: run from its checkout (make bench)")
	}
	return filepath.Dir(gomod), nil
}

// goCommand honours the Makefile's GO variable when it is exported.
func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// cleanEnv drops every variable that would point angelad, libpq or pgbench at
// another database, state directory or config than the throwaway ones.
func cleanEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "PG"), strings.HasPrefix(name, "ANGELA_"),
			name == "DATABASE_URL", name == "STATE_DIRECTORY", name == "LC_ALL":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// measure takes every figure of the report.
func (b *bench) measure(ctx context.Context) (results, error) {
	res := results{Started: time.Now(), Fill: b.opts.fill, LoadBefore: loadAverage()}
	conn, err := postgres.Connect(ctx, b.connString, timeZone)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		return res, err
	}
	if res.Server, res.Settings, err = serverInfo(ctx, conn); err != nil {
		return res, err
	}
	res.Machine = machineInfo(b.stateDir)
	// A checkpoint before each group, so that no group pays for the writes of
	// the one before it.
	checkpoint := func() error {
		if _, err := conn.Exec(ctx, "checkpoint"); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		return nil
	}

	// These groups come before the fill: the autovacuum that a million new
	// rows set off would compete with the daemon's start-up.
	fastPath := func(ctx context.Context, res *results) error { return b.measureFastPath(ctx, conn, res) }
	for _, group := range []func(context.Context, *results) error{b.measureOneShot, b.measureWrites, b.measureDaemon, fastPath} {
		if err := checkpoint(); err != nil {
			return res, err
		}
		if err := group(ctx, &res); err != nil {
			return res, err
		}
	}

	b.logf("filling angela_emotions with %s emotions", thousands(b.opts.fill))
	if _, err := conn.Exec(ctx, "truncate angela_emotions"); err != nil {
		return res, fmt.Errorf("truncate: %w", err)
	}
	start := time.Now()
	if _, err := conn.Exec(ctx, fillSQL, b.opts.fill); err != nil {
		return res, fmt.Errorf("fill angela_emotions: %w", err)
	}
	res.FillTime = time.Since(start)
	if _, err := conn.Exec(ctx, "analyze angela_emotions"); err != nil {
		return res, fmt.Errorf("analyze: %w", err)
	}
	if err := checkpoint(); err != nil {
		return res, err
	}
	b.logf("timing angelad get-emotions --limit 10 end to end (%d runs)", runsE2E)
	recent := func(ctx context.Context, q postgres.DB) error {
		list, err := memory.Recent(ctx, q, 10)
		if err == nil && len(list) != 10 {
			err = fmt.Errorf("read %d emotions, want 10", len(list))
		}
		return err
	}
	got, err := interleave(ctx, warmups, runsE2E, []probe{
		{name: "get-emotions", run: b.angelad(tenEmotions, "get-emotions", "--limit", "10")},
		{name: "connect + recent", run: timed(func(ctx context.Context) error {
			c, err := postgres.Connect(ctx, b.connString, timeZone)
			if err != nil {
				return err
			}
			defer c.Close(ctx)
			return recent(ctx, c)
		})},
		{name: "recent", run: timed(func(ctx context.Context) error { return recent(ctx, conn) })},
	})
	if err != nil {
		return res, err
	}
	res.GetE2E, res.ConnectRecent, res.Recent = got[0], got[1], got[2]
	if err := b.measureDaemonGet(ctx, &res); err != nil {
		return res, err
	}
	res.LoadAfter = loadAverage()
	return res, nil
}

// fillSQL writes $1 emotions in one statement, a minute apart going back from
// now, with texts of a plausible length, some Thai, and optional columns
// sometimes NULL, as a long-lived memory would have them.
const fillSQL = `insert into angela_emotions
	(felt_at, emotion, intensity, context, david_words, why_it_matters, memory_strength)
select now() - g * interval '1 minute',
	(array['happy', 'loved', 'grateful', 'คิดถึง', 'proud', 'calm', 'curious', 'worried'])[1 + g % 8],
	1 + g % 10,
	'Conversation ' || g || ': David told Angela about his day and she listened closely',
	case when g % 3 = 0 then 'พี่ ก็ คิดถึงเหมือน กัน ค่ะ' end,
	case when g % 5 = 0 then 'It shows that David trusts Angela with what matters to him' end,
	1 + g % 10
from generate_series(1, $1::int) as g`

// measureOneShot times save-emotion end to end and, interleaved with it, the
// parts its time is made of, and the seed's one-liner when it can run here.
func (b *bench) measureOneShot(ctx context.Context, res *results) error {
	probes := []probe{
		{name: "angelad save-emotion", run: b.angelad(isUUID,
			"save-emotion", "--emotion", "happy", "--intensity", "9", "--context", "benchmark: end to end",
			"--david-words", "พี่ ก็ คิดถึงเหมือน กัน ค่ะ")},
		{name: "angelad version", run: b.angelad(nonEmpty, "version")},
		{name: "connect", run: timed(func(ctx context.Context) error {
			c, err := postgres.Connect(ctx, b.connString, timeZone)
			if err != nil {
				return err
			}
			return c.Close(ctx)
		})},
		{name: "connect + save", run: timed(func(ctx context.Context) error {
			c, err := postgres.Connect(ctx, b.connString, timeZone)
			if err != nil {
				return err
			}
			defer c.Close(ctx)
			_, err = memory.Save(ctx, c, benchEmotion("benchmark: connect + save"))
			return err
		})},
	}
	// What the server alone needs for a one-shot save: a C client opening a
	// new connection for each INSERT. No client that connects per command,
	// in any language, does better on this machine.
	probes = append(probes, probe{name: "pgbench -C", run: func(ctx context.Context) (time.Duration, error) {
		r, err := b.pgbench(ctx, 1, 1, connectEachTxns, "-C")
		return r.Elapsed() / connectEachTxns, err
	}})
	if seed, why := b.seedProbe(ctx); seed != nil {
		probes = append(probes, *seed)
	} else {
		res.SeedWhy = why
		b.logf("not timing the seed's one-liner: %s", why)
	}
	b.logf("timing save-emotion end to end and its parts, interleaved (%d rounds)", runsE2E)
	got, err := interleave(ctx, warmups, runsE2E, probes)
	if err != nil {
		return err
	}
	res.SaveE2E, res.VersionE2E, res.Connect, res.ConnectSave, res.PgbenchConnectEach = got[0], got[1], got[2], got[3], got[4]
	if len(got) > 5 {
		res.Seed = &got[5]
	}
	return nil
}

// measureWrites times memory.Save through a warmed pool of poolMaxConns and
// pgbench doing the same INSERT, interleaved round by round: the machine's
// load drifts (on a shared machine, a lot), and the ratios must not depend on
// which measurement ran during a quiet minute.
func (b *bench) measureWrites(ctx context.Context, res *results) error {
	pool, err := postgres.NewPool(ctx, b.connString, timeZone, postgres.PoolOptions{MaxConns: poolMaxConns})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := warmPool(ctx, pool); err != nil {
		return err
	}
	e := benchEmotion("benchmark: pool")
	save := func(ctx context.Context) error {
		_, err := memory.Save(ctx, pool, e)
		return err
	}
	var connTimes []time.Duration
	probes := []probe{
		{name: "pool: 1 save", perRound: runsPoolOne / runsBatch, run: timed(save)},
		{name: "pool: 100 in sequence", run: timed(func(ctx context.Context) error {
			for range batch {
				if err := save(ctx); err != nil {
					return err
				}
			}
			return nil
		})},
		{name: "pool: 100 concurrently", run: timed(func(ctx context.Context) error {
			errs := make([]error, batch)
			var wg sync.WaitGroup
			for i := range batch {
				wg.Go(func() { errs[i] = save(ctx) })
			}
			wg.Wait()
			return errors.Join(errs...)
		})},
		{name: "pgbench -c 1", run: func(ctx context.Context) (time.Duration, error) {
			r, err := b.pgbench(ctx, 1, 1, batch)
			connTimes = append(connTimes, r.ConnTime)
			return r.Elapsed(), err
		}},
		{name: "pgbench -c 10", run: func(ctx context.Context) (time.Duration, error) {
			r, err := b.pgbench(ctx, 10, 2, batch/10)
			return r.Elapsed(), err
		}},
		// Ten times as many transactions, reported per 100: in a run of only
		// 100, pgbench's threads starting and finishing at different moments
		// weigh on the figure as much as the INSERTs do.
		{name: "pgbench -c 10 -t 100", run: func(ctx context.Context) (time.Duration, error) {
			r, err := b.pgbench(ctx, 10, 2, batch)
			return r.Elapsed() / 10, err
		}},
	}
	b.logf("timing saves through a pool of %d and pgbench, interleaved (%d rounds)", poolMaxConns, runsBatch)
	got, err := interleave(ctx, 1, runsBatch, probes)
	if err != nil {
		return err
	}
	res.PoolOne, res.PoolSeq, res.PoolConc = got[0], got[1], got[2]
	res.PgbenchSeq, res.PgbenchConc, res.PgbenchConcSteady = got[3], got[4], got[5]
	res.PgbenchConnect = summarize(connTimes).Median
	return nil
}

// warmPool opens all of the pool's connections at once and saves through each,
// so that the timings include neither connecting nor preparing the INSERT.
func warmPool(ctx context.Context, pool *pgxpool.Pool) error {
	conns := make([]*pgxpool.Conn, 0, poolMaxConns)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range poolMaxConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("warm the pool: %w", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if _, err := memory.Save(ctx, c, benchEmotion("benchmark: warm-up")); err != nil {
			return fmt.Errorf("warm the pool: %w", err)
		}
	}
	return nil
}

// seedScript is the seed's one-liner: a new psycopg2 connection per call, one
// INSERT, commit.
const seedScript = `import os, psycopg2
conn = psycopg2.connect(os.environ["ANGELA_BENCH_DSN"])
cur = conn.cursor()
cur.execute(
    "INSERT INTO angela_emotions (emotion, intensity, context, david_words, why_it_matters, memory_strength)"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING emotion_id",
    ("happy", 9, "benchmark: seed one-liner", "พี่ ก็ คิดถึงเหมือน กัน ค่ะ", None, 10),
)
print(cur.fetchone()[0])
conn.commit()
conn.close()
`

// seedProbe returns the seed's one-liner as a probe when a Python with
// psycopg2 is at hand; otherwise nil and why not, and the report quotes
// issue 2. Without -python it tries python3 on PATH, then the system's, which
// is where Debian's python3-psycopg2 installs when PATH has a pyenv or venv
// Python first.
func (b *bench) seedProbe(ctx context.Context) (*probe, string) {
	candidates := []string{"python3", "/usr/bin/python3"}
	if b.opts.python != "" {
		candidates = []string{b.opts.python}
	}
	python := ""
	for _, c := range candidates {
		if exec.CommandContext(ctx, c, "-c", "import psycopg2").Run() == nil {
			python = c
			break
		}
	}
	if python == "" {
		return nil, fmt.Sprintf("no psycopg2 for %s on this machine", strings.Join(candidates, " or "))
	}
	b.logf("timing the seed's one-liner with %s", python)
	env := append(cleanEnv(os.Environ()), "ANGELA_BENCH_DSN="+b.connString)
	return &probe{name: "seed one-liner", run: func(ctx context.Context) (time.Duration, error) {
		return runTimed(ctx, python, env, isUUID, "-c", seedScript)
	}}, ""
}

// angelad returns a run of the built binary with args, timed from exec to exit.
func (b *bench) angelad(check func(stdout string) error, args ...string) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		return runTimed(ctx, b.bin, b.env, check, args...)
	}
}

// runTimed runs a program, times it from start to exit and checks its output
// after the clock stops.
func runTimed(ctx context.Context, prog string, env []string, check func(string) error, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		if msg := lastLine(stderr.String()); msg != "" {
			return 0, fmt.Errorf("%w: %s", err, msg)
		}
		return 0, err
	}
	if err := check(stdout.String()); err != nil {
		return 0, err
	}
	return d, nil
}

func isUUID(out string) error {
	if _, err := uuid.Parse(strings.TrimSpace(out)); err != nil {
		return fmt.Errorf("printed %q, not an id", out)
	}
	return nil
}

func nonEmpty(out string) error {
	if strings.TrimSpace(out) == "" {
		return errors.New("printed nothing")
	}
	return nil
}

// tenEmotions checks get-emotions' human format: one "Context:" line each.
func tenEmotions(out string) error {
	if n := strings.Count(out, "\n   Context: "); n != 10 {
		return fmt.Errorf("printed %d emotions, want 10", n)
	}
	return nil
}

// timed times an in-process call.
func timed(f func(context.Context) error) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		err := f(ctx)
		return time.Since(start), err
	}
}

// probe is one measurement: each call of run does the thing once and reports
// how long it took.
type probe struct {
	name     string
	perRound int // calls per round; 0 means 1
	run      func(context.Context) (time.Duration, error)
}

// interleave runs the probes in turn, round after round: warmup rounds
// untimed, then rounds timed, and summarises each probe's timed calls. Taking
// turns spreads whatever else the machine does evenly over the figures that
// are compared with each other.
func interleave(ctx context.Context, warmup, rounds int, probes []probe) ([]summary, error) {
	samples := make([][]time.Duration, len(probes))
	for r := range warmup + rounds {
		for i, p := range probes {
			for range max(p.perRound, 1) {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				d, err := p.run(ctx)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", p.name, err)
				}
				if r >= warmup {
					samples[i] = append(samples[i], d)
				}
			}
		}
	}
	out := make([]summary, len(probes))
	for i, s := range samples {
		out[i] = summarize(s)
	}
	return out, nil
}

func benchEmotion(context string) memory.Emotion {
	return memory.Emotion{
		Emotion:    "happy",
		Intensity:  9,
		Context:    context,
		DavidWords: "พี่ ก็ คิดถึงเหมือน กัน ค่ะ",
	}
}

// serverInfo reads the server version and the settings that decide what a
// commit costs.
func serverInfo(ctx context.Context, conn *pgx.Conn) (string, []setting, error) {
	var version string
	if err := conn.QueryRow(ctx, "show server_version").Scan(&version); err != nil {
		return "", nil, fmt.Errorf("server version: %w", err)
	}
	version, _, _ = strings.Cut(version, " ") // "15.10 (Debian 15.10-0+deb12u1)"
	var settings []setting
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers"} {
		var v string
		if err := conn.QueryRow(ctx, "select current_setting($1)", name).Scan(&v); err != nil {
			return "", nil, fmt.Errorf("setting %s: %w", name, err)
		}
		settings = append(settings, setting{Name: name, Value: v})
	}
	return "PostgreSQL " + version, settings, nil
}

// machineInfo describes where the figures were taken.
func machineInfo(stateDir string) string {
	s := fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil {
		if fs := mountFSType(string(mounts), stateDir); fs != "" {
			s += ", cluster on " + fs
		}
	}
	return s
}

// loadAverage is the one-minute load average, or "" where /proc/loadavg does
// not exist. Other work on the machine moves every figure; the report says how
// much there was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/managed"
)

// pgbenchScript is the single-row INSERT that memory.Save sends, as a pgbench
// script. It is the same statement with the same columns, conflict clause and
// RETURNING list; the differences are that pgbench cannot make a UUID, so the
// server does (gen_random_uuid(), about a microsecond), and that the texts are
// literals rather than bound parameters (run with -M prepared, so the
// statement is parsed once per connection, as pgx's statement cache does).
const pgbenchScript = `\set intensity random(1, 10)
insert into angela_emotions
	(emotion_id, felt_at, emotion, intensity, context, david_words, why_it_matters, memory_strength)
values (gen_random_uuid(), coalesce(null::timestamptz, clock_timestamp()), 'happy', :intensity, 'benchmark: pgbench',
	nullif('พี่ ก็ คิดถึงเหมือน กัน ค่ะ'::text, ''), nullif(''::text, ''), 10)
on conflict (emotion_id) do nothing
returning emotion_id, felt_at::timestamptz, emotion, coalesce(intensity, 0),
	coalesce(context, ''), coalesce(david_words, ''), coalesce(why_it_matters, ''),
	coalesce(memory_strength, 0);
`

// pgbenchResult is what one pgbench run reports.
type pgbenchResult struct {
	Transactions int           // actually processed
	Latency      time.Duration // "latency average"
	ConnTime     time.Duration // "initial connection time"; 0 before PostgreSQL 14
	TPS          float64       // excluding the time to connect
}

// Elapsed is how long the run's transactions took, transactions / tps:
// connecting excluded, except with -C, where each transaction connects. With
// one client it equals Latency × Transactions.
func (r pgbenchResult) Elapsed() time.Duration {
	if r.TPS <= 0 {
		return 0
	}
	return time.Duration(float64(r.Transactions) / r.TPS * float64(time.Second))
}

// parsePgbench reads pgbench's summary. PostgreSQL 14 and later print one tps
// line "(without initial connection time)"; older versions print two, and the
// one "(excluding connections establishing)" is the comparable one. With -C
// (a new connection per transaction) the line is "(including reconnection
// times)", which is what -C is for.
func parsePgbench(out []byte) (pgbenchResult, error) {
	var r pgbenchResult
	var want int
	var haveTPS, haveProcessed bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, ok := strings.Cut(line, ":")
		if ok {
			val = strings.TrimSpace(val)
			switch key {
			case "number of transactions actually processed":
				done, total, _ := strings.Cut(val, "/")
				n, err1 := strconv.Atoi(done)
				t, err2 := strconv.Atoi(total)
				if err1 != nil || err2 != nil {
					return r, fmt.Errorf("pgbench output: cannot read %q", line)
				}
				r.Transactions, want, haveProcessed = n, t, true
			}
		}
		key, val, ok = strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "latency average":
			d, err := parseMillis(val)
			if err != nil {
				return r, fmt.Errorf("pgbench output: %q: %w", line, err)
			}
			r.Latency = d
		case "initial connection time":
			d, err := parseMillis(val)
			if err != nil {
				return r, fmt.Errorf("pgbench output: %q: %w", line, err)
			}
			r.ConnTime = d
		case "tps":
			num, note, _ := strings.Cut(val, " ")
			if !strings.Contains(note, "without initial connection time") &&
				!strings.Contains(note, "excluding connections establishing") &&
				!strings.Contains(note, "including reconnection times") {
				continue
			}
			tps, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return r, fmt.Errorf("pgbench output: cannot read %q", line)
			}
			r.TPS, haveTPS = tps, true
		}
	}
	if !haveProcessed || !haveTPS {
		return r, errors.New("pgbench output has no transaction count or tps line")
	}
	if r.Transactions != want {
		return r, fmt.Errorf("pgbench processed %d of %d transactions", r.Transactions, want)
	}
	return r, nil
}

// parseMillis reads "0.402 ms".
func parseMillis(s string) (time.Duration, error) {
	num, ok := strings.CutSuffix(s, " ms")
	if !ok {
		return 0, fmt.Errorf("not in milliseconds")
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(v * float64(time.Millisecond)), nil
}

// pgbench runs one pgbench of clients × perClient transactions of the script
// on the cluster; extra options go before the database. pgbench is only a
// client, so root may run it; the socket's trust authentication lets it in as
// the cluster's superuser. The database argument is the cluster's whole
// connection string, which libpq expands.
func (b *bench) pgbench(ctx context.Context, clients, threads, perClient int, extra ...string) (pgbenchResult, error) {
	load := []string{"-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads), "-t", strconv.Itoa(perClient)}
	load = append(load, extra...)
	args := append([]string{
		"-n",             // no pgbench tables to vacuum
		"-M", "prepared", // parse once per connection, like pgx's statement cache
		"-f", b.scriptFile,
	}, load...)
	args = append(args, b.cluster.ConnString(managed.Database))
	cmd := exec.CommandContext(ctx, b.pgbenchPath, args...)
	cmd.Env = b.pgbenchEnv
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	what := "pgbench " + strings.Join(load, " ")
	if err != nil {
		if msg := lastLine(stderr.String()); msg != "" {
			return pgbenchResult{}, fmt.Errorf("%s: %w: %s", what, err, msg)
		}
		return pgbenchResult{}, fmt.Errorf("%s: %w", what, err)
	}
	r, err := parsePgbench(out)
	if err != nil {
		return r, fmt.Errorf("%s: %w", what, err)
	}
	return r, nil
}

// lastLine is the last non-empty line of a program's output: where PostgreSQL's
// programs say what went wrong.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

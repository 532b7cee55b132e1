package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The daemon group: `angelad run` against the running cluster, as issue 3
// sets targets for.
const (
	daemonWarmups = 1
	runsDaemon    = 10
	// idleSettle is how long the idle daemon runs after ready before the first
	// reading: start-up's allocations and its first pool health check are not
	// what an idle daemon costs.
	idleSettle = 5 * time.Second
	// daemonReadyTimeout bounds a start-up. The database is running, so a
	// daemon that is not ready by then is stuck, most likely retrying it.
	daemonReadyTimeout = 30 * time.Second
	// daemonStopTimeout is the daemon's default shutdown_timeout with room to
	// close the pool and exit.
	daemonStopTimeout = 15 * time.Second
	// defaultClockTicks is USER_HZ on every Linux architecture Go runs on; it
	// is used only when getconf cannot say.
	defaultClockTicks = 100
)

// idleReading is one idle daemon read from /proc twice, Span apart.
type idleReading struct {
	Span          time.Duration // wall time between the readings
	ClockTicks    int64         // USER_HZ, the unit of utime and stime
	Before, After procSample
}

// CPU is the CPU time, user and system, the daemon used between the readings.
func (r idleReading) CPU() time.Duration {
	if r.ClockTicks <= 0 || r.After.CPUTicks < r.Before.CPUTicks {
		return 0
	}
	return time.Duration(r.After.CPUTicks-r.Before.CPUTicks) * time.Second / time.Duration(r.ClockTicks)
}

// CPUPercent is CPU as a percentage of one core over Span.
func (r idleReading) CPUPercent() float64 {
	if r.Span <= 0 {
		return 0
	}
	return 100 * float64(r.CPU()) / float64(r.Span)
}

// procSample is what /proc/<pid>/stat and /proc/<pid>/status say about a
// process at one moment. Sizes are in kB as the kernel prints them (KiB).
type procSample struct {
	CPUTicks uint64 // utime + stime, all threads
	RSSKB    int64  // VmRSS
	HWMKB    int64  // VmHWM, the peak of VmRSS
	AnonKB   int64  // RssAnon: the heap, stacks and the runtime's other private memory
	FileKB   int64  // RssFile: the mapped binary and libraries
	Threads  int
}

// measureDaemon times `angelad run` from exec to ready against the running
// cluster, run after run, then reads one idle daemon's memory and CPU time
// from /proc. One daemon runs per state directory, so each run is stopped
// before the next starts.
func (b *bench) measureDaemon(ctx context.Context, res *results) error {
	var logged, stops []time.Duration
	b.logf("timing angelad run from exec to ready, then SIGTERM (%d runs after %d warm-up)", runsDaemon, daemonWarmups)
	got, err := interleave(ctx, daemonWarmups, runsDaemon, []probe{{name: "angelad run", run: func(ctx context.Context) (time.Duration, error) {
		d, err := b.startDaemon(ctx)
		if err != nil {
			return 0, err
		}
		if d.logged > 0 {
			logged = append(logged, d.logged)
		}
		stopped, err := d.stop()
		stops = append(stops, stopped)
		return d.readyAfter, err
	}}})
	if err != nil {
		return err
	}
	res.DaemonReady = got[0]
	// The warm-up run's figures are in these too; drop them as interleave does.
	if len(logged) > daemonWarmups {
		res.DaemonLogged = summarize(logged[daemonWarmups:])
	}
	res.DaemonStop = summarize(stops[daemonWarmups:])

	res.IdleSpan = b.opts.idle
	switch {
	case b.opts.idle == 0:
		res.IdleWhy = "-idle 0"
		return nil
	case !haveProc():
		res.IdleWhy = "no /proc"
		return nil
	}
	res.Idle, err = b.measureIdle(ctx)
	return err
}

// measureIdle starts one daemon, lets it settle, and reads it from /proc at
// the start and the end of the -idle span.
func (b *bench) measureIdle(ctx context.Context) (*idleReading, error) {
	hz := clockTicks(ctx)
	b.logf("reading an idle angelad run from /proc: %s to settle after ready, then %s idle", idleSettle, b.opts.idle)
	d, err := b.startDaemon(ctx)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		switch {
		case stopped:
		case ctx.Err() != nil:
			<-d.done // Cancel has sent SIGTERM; a second would force an exit
		default:
			_, _ = d.stop()
		}
	}()
	pid := d.cmd.Process.Pid
	if err := d.idle(ctx, idleSettle); err != nil {
		return nil, err
	}
	before, err := readProc(pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := d.idle(ctx, b.opts.idle); err != nil {
		return nil, err
	}
	after, err := readProc(pid)
	if err != nil {
		return nil, err
	}
	span := time.Since(start)
	stopped = true
	if _, err := d.stop(); err != nil {
		return nil, err
	}
	return &idleReading{Span: span, ClockTicks: hz, Before: before, After: after}, nil
}

// daemonRun is one `angelad run` the bench started.
type daemonRun struct {
	cmd        *exec.Cmd
	log        *daemonLog
	readyAfter time.Duration // exec to the ready line read from stderr
	logged     time.Duration // the ready line's "startup" field; 0 if absent
	// done is closed when the process has exited and its stderr is read to
	// the end; err is then Wait's result.
	done chan struct{}
	err  error
}

// startDaemon starts `angelad run` with the bench's environment and returns
// once its ready line has been read.
func (b *bench) startDaemon(ctx context.Context) (*daemonRun, error) {
	log := &daemonLog{ready: make(chan readyEvent, 1)}
	cmd := exec.CommandContext(ctx, b.bin, "run")
	cmd.Env = b.env
	// Not a terminal, so the daemon logs JSON lines, which daemonLog reads
	// as they are written.
	cmd.Stderr = log
	// Interrupted, the daemon is stopped as a service manager stops it, so
	// that it closes its pool instead of leaving the server to notice.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = daemonStopTimeout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start angelad run: %w", err)
	}
	d := &daemonRun{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	timer := time.NewTimer(daemonReadyTimeout)
	defer timer.Stop()
	select {
	case ev := <-log.ready:
		d.readyAfter, d.logged = ev.at.Sub(start), ev.startup
		return d, nil
	case <-d.done:
		return nil, fmt.Errorf("angelad run exited before it was ready: %v%s", exitStatus(d.err), log.tail())
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-d.done
		return nil, fmt.Errorf("angelad run was not ready after %s%s", daemonReadyTimeout, log.tail())
	case <-ctx.Done():
		<-d.done // Cancel has sent SIGTERM; WaitDelay bounds the wait
		return nil, ctx.Err()
	}
}

// idle waits for span, unless the daemon exits or ctx is done first.
func (d *daemonRun) idle(ctx context.Context, span time.Duration) error {
	timer := time.NewTimer(span)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-d.done:
		return fmt.Errorf("angelad run exited while idle: %v%s", exitStatus(d.err), d.log.tail())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop sends SIGTERM and waits for the daemon to exit, which it must do with
// status 0. It returns how long that took.
func (d *daemonRun) stop() (time.Duration, error) {
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("SIGTERM angelad run: %w", err)
	}
	timer := time.NewTimer(daemonStopTimeout)
	defer timer.Stop()
	select {
	case <-d.done:
	case <-timer.C:
		_ = d.cmd.Process.Kill()
		<-d.done
		return 0, fmt.Errorf("angelad run did not exit within %s of SIGTERM%s", daemonStopTimeout, d.log.tail())
	}
	took := time.Since(start)
	if d.err != nil {
		return 0, fmt.Errorf("angelad run after SIGTERM: %v, want exit status 0%s", exitStatus(d.err), d.log.tail())
	}
	return took, nil
}

// exitStatus names how a process ended.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// readyEvent is the daemon's ready line: when it was read and the start-up
// the daemon logged on it.
type readyEvent struct {
	at      time.Time
	startup time.Duration
}

// daemonLog is the daemon's stderr. It splits what the daemon writes into
// lines, sends the first ready line on ready with the moment it arrived, and
// keeps the last lines for error messages.
type daemonLog struct {
	ready chan readyEvent // buffered: one

	mu      sync.Mutex
	partial []byte
	last    []string
	sent    bool
}

const daemonLogTail = 5

func (l *daemonLog) Write(p []byte) (int, error) {
	at := time.Now() // before parsing: the line was there by now
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i]
		if len(l.last) == daemonLogTail {
			l.last = l.last[1:]
		}
		l.last = append(l.last, string(line))
		if !l.sent {
			if startup, ok := parseReadyLine(line); ok {
				l.ready <- readyEvent{at: at, startup: startup}
				l.sent = true
			}
		}
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// tail is the last lines the daemon logged, for an error message.
func (l *daemonLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return " (it logged nothing)"
	}
	return "; its last log lines:\n" + strings.Join(l.last, "\n")
}

// parseReadyLine reports whether line is the daemon's JSON "ready" log line,
// and the start-up it logged on it: zap's JSON encoder writes durations as
// seconds, a console-style encoder as a Go duration string. A ready line
// without a readable start-up is still ready, with startup 0.
func parseReadyLine(line []byte) (startup time.Duration, ok bool) {
	if !bytes.Contains(line, []byte(`"ready"`)) {
		return 0, false // most lines: skip decoding them
	}
	var entry struct {
		Msg     string          `json:"msg"`
		Startup json.RawMessage `json:"startup"`
	}
	if json.Unmarshal(line, &entry) != nil || entry.Msg != "ready" {
		return 0, false
	}
	var secs float64
	if json.Unmarshal(entry.Startup, &secs) == nil && secs > 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	var s string
	if json.Unmarshal(entry.Startup, &s) == nil {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d, true
		}
	}
	return 0, true
}

// haveProc reports whether this system has a Linux-style /proc.
func haveProc() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
func clockTicks(ctx context.Context) int64 {
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err != nil {
		return defaultClockTicks
	}
	hz, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || hz <= 0 {
		return defaultClockTicks
	}
	return hz
}

// readProc reads pid's CPU time and memory from /proc.
func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("read /proc: %w", err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("read /proc: %w", err)
	}
	s, err := parseProcStatus(string(status))
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	utime, stime, err := parseProcStatCPU(string(stat))
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.CPUTicks = utime + stime
	return s, nil
}

// parseProcStatCPU returns utime and stime, fields 14 and 15 of
// /proc/<pid>/stat, in clock ticks. Field 2 is the command name in
// parentheses, which may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStatCPU(stat string) (utime, stime uint64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("no command name in parentheses")
	}
	// After the name: field 3 (state) onwards.
	rest := strings.Fields(stat[i+1:])
	const utimeAt, stimeAt = 14 - 3, 15 - 3
	if len(rest) <= stimeAt {
		return 0, 0, fmt.Errorf("%d fields after the command name, want at least %d", len(rest), stimeAt+1)
	}
	if utime, err = strconv.ParseUint(rest[utimeAt], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("utime: %w", err)
	}
	if stime, err = strconv.ParseUint(rest[stimeAt], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stime: %w", err)
	}
	return utime, stime, nil
}

// parseProcStatus reads VmRSS, VmHWM, RssAnon, RssFile and Threads from
// /proc/<pid>/status. VmRSS and Threads are required: a zombie or a kernel
// thread has no VmRSS, and its figures would mean nothing. RssAnon and
// RssFile are 0 on kernels older than 4.5, which do not print them.
func parseProcStatus(status string) (procSample, error) {
	var s procSample
	var haveRSS, haveThreads bool
	for line := range strings.Lines(status) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst, haveRSS = &s.RSSKB, true
		case "VmHWM":
			dst = &s.HWMKB
		case "RssAnon":
			dst = &s.AnonKB
		case "RssFile":
			dst = &s.FileKB
		case "Threads":
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				return s, fmt.Errorf("parse Threads: %w", err)
			}
			s.Threads, haveThreads = n, true
			continue
		default:
			continue
		}
		kb, err := parseKB(val)
		if err != nil {
			return s, fmt.Errorf("%s: %w", key, err)
		}
		*dst = kb
	}
	switch {
	case !haveRSS:
		return s, errors.New("no VmRSS line")
	case !haveThreads:
		return s, errors.New("no Threads line")
	}
	return s, nil
}

// parseKB reads a /proc size such as "\t   12345 kB".
func parseKB(val string) (int64, error) {
	f := strings.Fields(val)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("%q is not a size in kB", strings.TrimSpace(val))
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// daemonRows are the daemon group of the table.
func daemonRows(r results) []row {
	rows := []row{{Measurement: "angelad run: start-up to ready, end to end", Result: r.DaemonReady, Target: targetDaemonReady}}
	if r.DaemonLogged.N > 0 {
		rows = append(rows, row{Measurement: `  of which: logged by the daemon ("startup": lock to ready)`, Result: r.DaemonLogged})
	}
	rows = append(rows, row{Measurement: "angelad run: SIGTERM to exit 0", Result: r.DaemonStop})

	span := seconds(r.IdleSpan)
	rss := &gauge{Unit: "MB", Limit: targetIdleRSSMB, Why: r.IdleWhy}
	cpu := &gauge{Unit: "%", Limit: targetIdleCPUPct, Strict: true, Why: r.IdleWhy}
	if i := r.Idle; i != nil {
		rss.Value = megabytes(i.After.RSSKB)
		rss.Text = fmt.Sprintf("%s MB (anon %s, file %s), peak VmHWM %s MB, %s MB at the start; %d threads",
			trimFloat(rss.Value, 1), trimFloat(megabytes(i.After.AnonKB), 1), trimFloat(megabytes(i.After.FileKB), 1),
			trimFloat(megabytes(i.After.HWMKB), 1), trimFloat(megabytes(i.Before.RSSKB), 1), i.After.Threads)
		cpu.Value = i.CPUPercent()
		cpu.Text = fmt.Sprintf("%s in %s = %s %% of one core", formatMS(i.CPU()), seconds(i.Span), trimFloat(cpu.Value, 3))
		if i.CPU() == 0 && i.ClockTicks > 0 {
			// Not a tick counted: say what that bounds, not "0 %".
			tick := time.Second / time.Duration(i.ClockTicks)
			cpu.Text = fmt.Sprintf("under %s (no tick counted) in %s = under %s %% of one core",
				formatMS(tick), seconds(i.Span), trimFloat(100*float64(tick)/float64(i.Span), 3))
		}
	}
	return append(rows,
		row{Measurement: "idle daemon: resident memory (VmRSS) after " + span, Gauge: rss},
		row{Measurement: "idle daemon: CPU time over " + span, Gauge: cpu},
	)
}

// daemonNote says how the start-up rows were taken.
func daemonNote(r results) string {
	return fmt.Sprintf("angelad run: from exec to the moment its JSON \"ready\" log line is read from its stderr pipe, with the environment of the end-to-end rows, "+
		"against the cluster already running (the daemon uses it and does not start it); then SIGTERM and wait for exit status 0. "+
		"%d runs after %d warm-up, one after another: one daemon runs per state directory. "+
		"\"startup\" is the field the daemon logs on its ready line, from taking its lock to ready; the rest of the end-to-end time is exec, "+
		"the Go runtime, flags, config and the logger.", runsDaemon, daemonWarmups)
}

// idleNote says how the idle rows were taken, or why they were not.
func idleNote(r results) string {
	if r.Idle == nil {
		return "idle daemon: not measured (" + r.IdleWhy + ")."
	}
	tick := time.Second / time.Duration(max(r.Idle.ClockTicks, 1))
	return fmt.Sprintf("idle daemon: one angelad run, as it is before any worker registers, left %s after ready to settle, then read from /proc "+
		"at the start and the end of %s: CPU time is utime + stime of /proc/<pid>/stat (all threads; counted in ticks of %s), "+
		"memory is VmRSS (RssAnon + RssFile, shared memory aside), VmHWM and Threads of /proc/<pid>/status at the end; "+
		"MB = 10^6 bytes (the kernel's kB are KiB), the stricter reading of issue 3's 30 MB.",
		seconds(idleSettle), seconds(r.Idle.Span), formatMS(tick))
}

// megabytes converts the kernel's kB (KiB) to MB of 10^6 bytes.
func megabytes(kb int64) float64 { return float64(kb) * 1024 / 1e6 }

// seconds prints d as "60 s".
func seconds(d time.Duration) string { return trimFloat(d.Seconds(), 1) + " s" }

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// statLine is a /proc/<pid>/stat line with the given command name, utime 150
// and stime 37 (fields 14 and 15), and numbers after them that must not be
// taken for either.
func statLine(comm string) string {
	return "4242 (" + comm + ") S 1 4242 4242 0 -1 4194560 1234 0 7 0 150 37 0 0 20 0 9 0 123456 1262133248 3605 18446744073709551615\n"
}

func TestParseProcStatCPU(t *testing.T) {
	t.Parallel()
	for _, comm := range []string{
		"angelad",
		"with space",
		"a) b (c",      // parentheses inside the name
		"x) S 1 2 3 4", // a name that looks like the fields after it
		"",
	} {
		utime, stime, err := parseProcStatCPU(statLine(comm))
		if err != nil || utime != 150 || stime != 37 {
			t.Errorf("comm %q: utime, stime = %d, %d, %v; want 150, 37", comm, utime, stime, err)
		}
	}
}

func TestParseProcStatCPURejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty":            "",
		"no parentheses":   "4242 angelad S 1 4242 4242 0 -1 4194560 1234 0 7 0 150 37 0",
		"cut short":        "4242 (angelad) S 1 4242 4242 0 -1 4194560 1234 0 7 0 150",
		"utime not number": strings.Replace(statLine("angelad"), " 150 ", " x ", 1),
		"negative stime":   strings.Replace(statLine("angelad"), " 37 ", " -37 ", 1),
	}
	for name, stat := range tests {
		if u, s, err := parseProcStatCPU(stat); err == nil {
			t.Errorf("%s: parsed as %d, %d; want an error", name, u, s)
		}
	}
}

const procStatus = `Name:	angelad
Umask:	0022
State:	S (sleeping)
Tgid:	4242
Pid:	4242
VmPeak:	 1262132 kB
VmSize:	 1262132 kB
VmHWM:	   16012 kB
VmRSS:	   14420 kB
RssAnon:	    8192 kB
RssFile:	    6228 kB
RssShmem:	       0 kB
VmData:	   62480 kB
Threads:	9
voluntary_ctxt_switches:	152
`

func TestParseProcStatus(t *testing.T) {
	t.Parallel()
	got, err := parseProcStatus(procStatus)
	if err != nil {
		t.Fatal(err)
	}
	want := procSample{RSSKB: 14420, HWMKB: 16012, AnonKB: 8192, FileKB: 6228, Threads: 9}
	if got != want {
		t.Errorf("parseProcStatus = %+v, want %+v", got, want)
	}

	// A kernel before 4.5 prints no RssAnon or RssFile: still a reading.
	old := strings.Replace(strings.Replace(procStatus, "RssAnon:\t    8192 kB\n", "", 1), "RssFile:\t    6228 kB\n", "", 1)
	if got, err := parseProcStatus(old); err != nil || got.RSSKB != 14420 || got.AnonKB != 0 {
		t.Errorf("without RssAnon and RssFile: %+v, %v", got, err)
	}
}

func TestParseProcStatusRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		// A zombie's status has no Vm lines.
		"no VmRSS":   "Name:\tangelad\nState:\tZ (zombie)\nThreads:\t1\n",
		"no Threads": "VmRSS:\t 14420 kB\n",
		"not kB":     strings.Replace(procStatus, "14420 kB", "14420 MB", 1),
		"no number":  strings.Replace(procStatus, "14420 kB", "kB", 1),
		"bad thread": strings.Replace(procStatus, "Threads:\t9", "Threads:\tnine", 1),
	}
	for name, status := range tests {
		if s, err := parseProcStatus(status); err == nil {
			t.Errorf("%s: parsed as %+v, want an error", name, s)
		}
	}
}

// TestReadProcSelf reads this test's own process, the way the bench reads
// the daemon's: the parsers must agree with the kernel, not only with the
// samples above.
func TestReadProcSelf(t *testing.T) {
	t.Parallel()
	if !haveProc() {
		t.Skip("no /proc")
	}
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKB <= 0 || s.HWMKB < s.RSSKB || s.Threads < 1 {
		t.Errorf("readProc(self) = %+v", s)
	}
}

func TestParseReadyLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		line    string
		ready   bool
		startup time.Duration
	}{
		{"zap JSON, seconds",
			`{"level":"info","ts":"2025-11-08T21:30:00.1+07:00","logger":"daemon","msg":"ready","database":"/tmp/s/run:5432","workers":0,"startup":0.0123}`,
			true, 12300 * time.Microsecond},
		{"duration as a string", `{"msg":"ready","startup":"41.5ms"}`, true, 41500 * time.Microsecond},
		{"no startup field", `{"msg":"ready"}`, true, 0},
		{"unreadable startup", `{"msg":"ready","startup":"soon"}`, true, 0},
		{"another message naming ready", `{"msg":"starting","state":"ready"}`, false, 0},
		{"console format", `2025-11-08 21:30:00.100	INFO	daemon	ready	{"startup": "12ms"}`, false, 0},
		{"not JSON", `"msg":"ready" and then some`, false, 0},
		{"empty", ``, false, 0},
	}
	for _, tt := range tests {
		startup, ready := parseReadyLine([]byte(tt.line))
		if ready != tt.ready || startup != tt.startup {
			t.Errorf("%s: parseReadyLine = %v, %v; want %v, %v", tt.name, startup, ready, tt.startup, tt.ready)
		}
	}
}

func TestDaemonLogFindsReadyAcrossWrites(t *testing.T) {
	t.Parallel()
	l := &daemonLog{ready: make(chan readyEvent, 1)}
	// The pipe hands over whatever the daemon wrote: lines split anywhere,
	// several in one read, a second ready line after a restart.
	for _, chunk := range []string{
		`{"msg":"starting"}` + "\n" + `{"msg":"rea`,
		`dy","startup":0.02}` + "\n",
		`{"msg":"ready","startup":0.5}` + "\n" + `{"msg":"shutting down"}`,
	} {
		if n, err := l.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	select {
	case ev := <-l.ready:
		if ev.startup != 20*time.Millisecond || ev.at.IsZero() {
			t.Errorf("ready event = %+v, want the first ready line's 20ms", ev)
		}
	default:
		t.Fatal("no ready event")
	}
	select {
	case ev := <-l.ready:
		t.Errorf("a second ready event: %+v", ev)
	default:
	}
	// The unfinished last line is not in the tail yet.
	if tail := l.tail(); !strings.HasSuffix(tail, `{"msg":"ready","startup":0.5}`) {
		t.Errorf("tail = %q", tail)
	}
}

func TestDaemonLogTailIsBounded(t *testing.T) {
	t.Parallel()
	l := &daemonLog{ready: make(chan readyEvent, 1)}
	if got := l.tail(); !strings.Contains(got, "logged nothing") {
		t.Errorf("empty tail = %q", got)
	}
	for i := range 20 {
		l.Write([]byte(strings.Repeat("x", i) + "\n"))
	}
	lines := strings.Split(strings.TrimPrefix(l.tail(), "; its last log lines:\n"), "\n")
	if len(lines) != daemonLogTail || lines[len(lines)-1] != strings.Repeat("x", 19) {
		t.Errorf("tail = %q, want the last %d lines", lines, daemonLogTail)
	}
}

func TestIdleReadingCPU(t *testing.T) {
	t.Parallel()
	r := idleReading{
		Span:       time.Minute,
		ClockTicks: 100,
		Before:     procSample{CPUTicks: 40},
		After:      procSample{CPUTicks: 46},
	}
	if got := r.CPU(); got != 60*time.Millisecond {
		t.Errorf("CPU = %v, want 60ms (6 ticks of 10 ms)", got)
	}
	if got := r.CPUPercent(); got != 0.1 {
		t.Errorf("CPUPercent = %v, want 0.1", got)
	}
	r.ClockTicks = 0
	if got := r.CPU(); got != 0 {
		t.Errorf("CPU without a clock rate = %v, want 0", got)
	}
}

func TestGaugeCells(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		g      gauge
		result string
		target string
	}{
		{"met", gauge{Value: 14.8, Unit: "MB", Text: "14.8 MB", Limit: 30}, "14.8 MB", "<= 30 MB: met"},
		{"at the limit", gauge{Value: 30, Unit: "MB", Text: "30 MB", Limit: 30}, "30 MB", "<= 30 MB: met"},
		{"missed", gauge{Value: 31.25, Unit: "MB", Text: "31.3 MB", Limit: 30}, "31.3 MB", "<= 30 MB: missed by 1.25 MB"},
		{"strict, under", gauge{Value: 0.05, Unit: "%", Text: "0.05 %", Limit: 1, Strict: true}, "0.05 %", "< 1 %: met"},
		{"strict, at the limit", gauge{Value: 1, Unit: "%", Text: "1 %", Limit: 1, Strict: true}, "1 %", "< 1 %: missed"},
		{"not measured", gauge{Unit: "MB", Limit: 30, Why: "no /proc"}, "not measured (no /proc)", "<= 30 MB: not measured"},
		{"no target", gauge{Value: 3, Unit: "MB", Text: "3 MB"}, "3 MB", "-"},
	}
	for _, tt := range tests {
		result, target := tt.g.cells()
		if result != tt.result || target != tt.target {
			t.Errorf("%s: cells = %q, %q; want %q, %q", tt.name, result, target, tt.result, tt.target)
		}
	}
}

// daemonResults is sampleResults with a daemon group.
func daemonResults() results {
	r := sampleResults()
	r.DaemonReady = summary{N: 10, Median: 48 * time.Millisecond, P90: 55 * time.Millisecond}
	r.DaemonLogged = summary{N: 10, Median: 21 * time.Millisecond, P90: 25 * time.Millisecond}
	r.DaemonStop = summary{N: 10, Median: 3 * time.Millisecond, P90: 4 * time.Millisecond}
	r.IdleSpan = time.Minute
	r.Idle = &idleReading{
		Span:       60*time.Second + 2*time.Millisecond,
		ClockTicks: 100,
		Before:     procSample{CPUTicks: 30, RSSKB: 14000, HWMKB: 15000, Threads: 8},
		After:      procSample{CPUTicks: 33, RSSKB: 14420, HWMKB: 16012, AnonKB: 8192, FileKB: 6228, Threads: 9},
	}
	return r
}

func findRow(t *testing.T, rep report, prefix string) row {
	t.Helper()
	for _, r := range rep.Rows {
		if strings.HasPrefix(r.Measurement, prefix) {
			return r
		}
	}
	t.Fatalf("no row %q in %q", prefix, rowNames(rep))
	return row{}
}

func rowNames(rep report) []string {
	var names []string
	for _, r := range rep.Rows {
		names = append(names, r.Measurement)
	}
	return names
}

func TestDaemonRows(t *testing.T) {
	t.Parallel()
	rep := buildReport(daemonResults())
	ready := findRow(t, rep, "angelad run: start-up to ready")
	if c := ready.cells(); c[2] != "<= 200 ms: met" {
		t.Errorf("start-up row = %q", c)
	}
	findRow(t, rep, "  of which: logged by the daemon")
	rss := findRow(t, rep, "idle daemon: resident memory (VmRSS) after 60 s").cells()
	if want := "14.8 MB (anon 8.4, file 6.4), peak VmHWM 16.4 MB, 14.3 MB at the start; 9 threads"; rss[1] != want {
		t.Errorf("memory result = %q, want %q", rss[1], want)
	}
	if rss[2] != "<= 30 MB: met" {
		t.Errorf("memory target = %q", rss[2])
	}
	cpu := findRow(t, rep, "idle daemon: CPU time over 60 s").cells()
	if want := "30 ms in 60 s = 0.05 % of one core"; cpu[1] != want {
		t.Errorf("CPU result = %q, want %q", cpu[1], want)
	}
	if cpu[2] != "< 1 %: met" {
		t.Errorf("CPU target = %q", cpu[2])
	}
	idle := daemonResults()
	idle.Idle.After.CPUTicks = idle.Idle.Before.CPUTicks
	cpu = findRow(t, buildReport(idle), "idle daemon: CPU time over 60 s").cells()
	if want := "under 10 ms (no tick counted) in 60 s = under 0.017 % of one core"; cpu[1] != want || cpu[2] != "< 1 %: met" {
		t.Errorf("CPU without a tick = %q, want %q, met", cpu[1:3], want)
	}
	if notes := strings.Join(rep.Notes, "\n"); !strings.Contains(notes, "ticks of 10 ms") {
		t.Errorf("notes do not give the tick: %s", notes)
	}
}

func TestDaemonRowsNotMeasured(t *testing.T) {
	t.Parallel()
	r := daemonResults()
	r.Idle, r.IdleWhy = nil, "no /proc"
	r.DaemonLogged = summary{}
	rep := buildReport(r)
	for _, prefix := range []string{"idle daemon: resident memory (VmRSS) after 60 s", "idle daemon: CPU time over 60 s"} {
		if c := findRow(t, rep, prefix).cells(); c[1] != "not measured (no /proc)" || !strings.HasSuffix(c[2], ": not measured") {
			t.Errorf("%s: cells = %q", prefix, c)
		}
	}
	if slices.ContainsFunc(rowNames(rep), func(n string) bool { return strings.Contains(n, "logged by the daemon") }) {
		t.Error("a logged start-up row without samples")
	}
	if notes := strings.Join(rep.Notes, "\n"); !strings.Contains(notes, "idle daemon: not measured (no /proc)") {
		t.Errorf("notes do not say why: %s", notes)
	}
}

func TestDaemonRowsJSON(t *testing.T) {
	t.Parallel()
	var js bytes.Buffer
	if err := writeJSON(&js, buildReport(daemonResults())); err != nil {
		t.Fatal(err)
	}
	var back jsonReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	var mem *jsonRow
	for i := range back.Rows {
		if strings.HasPrefix(back.Rows[i].Measurement, "idle daemon: resident memory") {
			mem = &back.Rows[i]
		}
	}
	if mem == nil {
		t.Fatalf("no memory row in %s", js.String())
	}
	if mem.Value == nil || *mem.Value < 14.76 || *mem.Value > 14.77 || mem.Unit != "MB" ||
		mem.Target != "<= 30 MB" || mem.TargetMet == nil || !*mem.TargetMet || mem.MedianMS != 0 {
		t.Errorf("memory JSON row = %+v", *mem)
	}
}

func TestParseFlagsIdle(t *testing.T) {
	t.Parallel()
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || o.idle != time.Minute {
		t.Errorf("default -idle = %v, %v; want 1m", o.idle, err)
	}
	if o, err := parseFlags([]string{"-idle", "5s"}, &bytes.Buffer{}); err != nil || o.idle != 5*time.Second {
		t.Errorf("-idle 5s = %v, %v", o.idle, err)
	}
	if _, err := parseFlags([]string{"-idle", "-1s"}, &bytes.Buffer{}); err == nil {
		t.Error("-idle -1s accepted")
	}
}

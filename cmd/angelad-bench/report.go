package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Figures quoted from issue 2. They were taken on the issue author's machine
// with the Python seed, which cannot run here; the report says so wherever it
// shows one.
const (
	quotedSeedOneLiner = 70 * time.Millisecond // Python + psycopg2, new connection per call
	quotedSeedSeq      = 61 * time.Millisecond // asyncpg pool, 100 saves in sequence
	quotedSeedConc     = 36 * time.Millisecond // asyncpg pool, 100 saves concurrently
	quotedPgbenchSeq   = 31 * time.Millisecond
	quotedPgbenchConc  = 9 * time.Millisecond
)

// Targets from issue 2.
const (
	targetOneShot = 5 * time.Millisecond
	targetSeq     = 40 * time.Millisecond
	targetConc    = 12 * time.Millisecond
)

// Targets from issue 3, for the daemon. "Well under 1 %" of CPU is read as
// under 1 %; the row shows how far under.
const (
	targetDaemonReady = 200 * time.Millisecond
	targetIdleRSSMB   = 30 // MB of 10^6 bytes, the stricter reading of "30 MB"
	targetIdleCPUPct  = 1
)

// batch is the number of saves in the sequential and concurrent rows.
const batch = 100

// setting is one server setting as SHOW prints it.
type setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// results is everything measure found out, before it becomes rows.
type results struct {
	Started time.Time
	Machine string
	// LoadBefore and LoadAfter are the one-minute load averages when the
	// measurements began and ended; "" where the system does not say.
	LoadBefore, LoadAfter string
	Server                string // "PostgreSQL 15.10"
	Settings              []setting

	SaveE2E     summary
	VersionE2E  summary
	Connect     summary // in process: connect and close
	ConnectSave summary // in process: connect, one save, close

	// Seed is the psycopg2 one-liner measured here; nil when this machine
	// cannot run it, and SeedWhy then says why.
	Seed    *summary
	SeedWhy string

	PoolOne, PoolSeq, PoolConc summary

	// PgbenchSeq and PgbenchConc summarise the time of the 100 transactions of
	// each pgbench run (connecting excluded).
	PgbenchSeq, PgbenchConc summary
	// PgbenchConcSteady is -c 10 -j 2 -t 100 per 100 transactions: the
	// concurrent floor without the skew of pgbench's threads starting and
	// stopping, which a run of 100 is too short to hide.
	PgbenchConcSteady summary
	PgbenchConnect    time.Duration // median initial connection time, -c 1
	// PgbenchConnectEach is one INSERT on a new connection (pgbench -C): the
	// server's floor for any client that connects per command.
	PgbenchConnectEach summary

	Fill     int
	FillTime time.Duration
	GetE2E   summary
	// ConnectRecent is memory.Recent(10) on a new connection, in process;
	// Recent is the same on an open one: the query alone.
	ConnectRecent, Recent summary

	// DaemonReady is `angelad run` from exec to its ready line read from its
	// stderr; DaemonLogged is the start-up it logs on that line, and
	// DaemonStop is SIGTERM to its exit.
	DaemonReady, DaemonLogged, DaemonStop summary
	// Idle is one idle daemon read from /proc over IdleSpan (the -idle flag);
	// nil when not measured, and IdleWhy then says why.
	Idle     *idleReading
	IdleWhy  string
	IdleSpan time.Duration

	// FastPath is the group of commands served through the daemon's socket.
	FastPath *fastPath
}

// baseline is what a row is compared with.
type baseline struct {
	Name   string
	Value  time.Duration
	Quoted bool // from issue 2, not measured in this run
}

// row is one line of the table.
type row struct {
	Measurement string
	Result      summary
	Target      time.Duration // 0: none
	// Baselines are shown in order; the ratio is to the first.
	Baselines []baseline
	// Gauge, when set, is the result instead of Result and Target: a row
	// that is not a set of timings.
	Gauge *gauge
}

// gauge is a row's result that is one reading rather than timings: an idle
// daemon's memory or CPU time.
type gauge struct {
	Value float64 // in Unit; what Limit is compared with
	Unit  string  // "MB", "%"
	Text  string  // the result cell
	Limit float64 // the target, in Unit; 0: none
	// Strict makes the target Value < Limit rather than Value <= Limit.
	Strict bool
	// Why, when set, says why there is no reading.
	Why string
}

func (g gauge) measured() bool { return g.Why == "" }

func (g gauge) met() bool {
	if g.Strict {
		return g.Value < g.Limit
	}
	return g.Value <= g.Limit
}

// target is the target as the table shows it: "<= 30 MB", "< 1 %"; "" for none.
func (g gauge) target() string {
	if g.Limit <= 0 {
		return ""
	}
	op := "<= "
	if g.Strict {
		op = "< "
	}
	return op + trimFloat(g.Limit, 2) + " " + g.Unit
}

func (g gauge) cells() (result, target string) {
	result = g.Text
	if !g.measured() {
		result = "not measured (" + g.Why + ")"
	}
	target = g.target()
	switch {
	case target == "":
		target = "-"
	case !g.measured():
		target += ": not measured"
	case g.met():
		target += ": met"
	case trimFloat(g.Value-g.Limit, 2) == "0": // a strict target, just reached
		target += ": missed"
	default:
		target += ": missed by " + trimFloat(g.Value-g.Limit, 2) + " " + g.Unit
	}
	return result, target
}

// report is the whole output.
type report struct {
	Header []string
	Server string
	// Settings are the durability settings every row ran under.
	Settings []setting
	Rows     []row
	Notes    []string
}

// buildReport turns measurements into the table issue 2 asks for.
func buildReport(r results) report {
	seed := baseline{Name: "seed psycopg2", Value: quotedSeedOneLiner, Quoted: true}
	if r.Seed != nil {
		seed = baseline{Name: "seed psycopg2", Value: r.Seed.Median}
	}
	pgOne := baseline{Name: "pgbench 1 INSERT", Value: r.PgbenchSeq.Median / batch}
	pgSeq := baseline{Name: "pgbench", Value: r.PgbenchSeq.Median}
	pgConc := baseline{Name: "pgbench", Value: r.PgbenchConc.Median}
	rows := []row{
		{Measurement: "angelad save-emotion, end to end", Result: r.SaveE2E, Target: targetOneShot,
			Baselines: []baseline{seed, {Name: "pgbench -C", Value: r.PgbenchConnectEach.Median}}},
		{Measurement: "  of which: angelad version, end to end (no config, no database)", Result: r.VersionE2E},
		{Measurement: "  of which: in process, connect + close", Result: r.Connect},
		{Measurement: "  of which: in process, connect + 1 save + close", Result: r.ConnectSave},
		{Measurement: "  floor: pgbench -C, 1 INSERT on a new connection", Result: r.PgbenchConnectEach},
		{Measurement: "pool of 10: 1 save", Result: r.PoolOne, Baselines: []baseline{pgOne}},
		{Measurement: "pool of 10: 100 saves in sequence", Result: r.PoolSeq, Target: targetSeq,
			Baselines: []baseline{pgSeq, {Name: "seed asyncpg", Value: quotedSeedSeq, Quoted: true}}},
		{Measurement: "pool of 10: 100 saves concurrently (100 goroutines)", Result: r.PoolConc, Target: targetConc,
			Baselines: []baseline{pgConc, {Name: "pgbench steady", Value: r.PgbenchConcSteady.Median},
				{Name: "seed asyncpg", Value: quotedSeedConc, Quoted: true}}},
		{Measurement: "pgbench: 100 INSERTs in sequence (-c 1 -t 100)", Result: r.PgbenchSeq,
			Baselines: []baseline{{Name: "issue's pgbench", Value: quotedPgbenchSeq, Quoted: true}}},
		{Measurement: "pgbench: 100 INSERTs concurrently (-c 10 -j 2 -t 10)", Result: r.PgbenchConc,
			Baselines: []baseline{{Name: "issue's pgbench", Value: quotedPgbenchConc, Quoted: true}}},
		{Measurement: "pgbench: 1000 INSERTs concurrently, per 100 (-c 10 -j 2 -t 100)", Result: r.PgbenchConcSteady},
		{Measurement: fmt.Sprintf("angelad get-emotions --limit 10, end to end (%s emotions)", thousands(r.Fill)),
			Result: r.GetE2E, Target: targetOneShot},
		{Measurement: "  of which: in process, connect + memory.Recent(10) + close", Result: r.ConnectRecent},
		{Measurement: "  of which: memory.Recent(10) on an open connection", Result: r.Recent},
	}
	rows = append(rows, daemonRows(r)...)
	rows = append(rows, fastPathRows(r)...)
	seedNote := "seed psycopg2: the seed's one-liner (python, psycopg2.connect, INSERT, commit) measured here end to end like angelad."
	if r.Seed == nil {
		seedNote = "seed psycopg2: quoted from issue 2, not measured here: " + r.SeedWhy + "."
	}
	var settings []string
	for _, s := range r.Settings {
		settings = append(settings, s.Name+"="+s.Value)
	}
	machine := r.Machine
	if r.LoadBefore != "" {
		machine += fmt.Sprintf(", load average %s at the start, %s at the end", r.LoadBefore, r.LoadAfter)
	}
	return report{
		Header: []string{
			"angelad performance report, " + r.Started.Format(time.RFC3339),
			"machine: " + machine,
			"server: " + r.Server + ", a throwaway managed cluster, Unix socket, normal durability (not Fast)",
			"settings: " + strings.Join(settings, " "),
		},
		Server:   r.Server,
		Settings: r.Settings,
		Rows:     rows,
		Notes: []string{
			"result: median, p90 and n (the number of timed runs of the whole measurement, after warm-up runs); ratio: result / first baseline.",
			"interleaved: the rows of each group (save-emotion and its parts; the pool and pgbench rows; get-emotions and its parts) take turns run by run, so that a change in the machine's load hits the figures compared with each other alike.",
			"end to end: from exec of the binary to its exit, with ANGELA_STATE_DIR naming the running cluster and an empty config file.",
			"of which: parts of the end-to-end row above, timed on their own, to show where its time goes.",
			"pool of 10: memory.Save through postgres.NewPool with MaxConns 10, every connection opened and its statement prepared before timing.",
			fmt.Sprintf("pgbench: the INSERT memory.Save sends (same columns, on conflict do nothing, returning), -n -M prepared, over the same socket; "+
				"time = transactions / tps without initial connection time (= latency average x 100 for -c 1); its initial connection took %s.", formatMS(r.PgbenchConnect)),
			"pgbench steady: -c 10 -j 2 -t 100 divided by 10; a run of only 100 (-t 10) is too short to hide pgbench's threads starting and finishing at different moments.",
			fmt.Sprintf("pgbench -C: the same INSERT from a C client that opens a new connection for each (runs of %d, time per transaction including connecting); "+
				"what any client that opens a connection per command pays on this server, whatever its language.", connectEachTxns),
			seedNote,
			"quoted: a figure from issue 2, measured on the issue author's machine, not in this run; the pgbench rows compare this machine with that one.",
			fmt.Sprintf("get-emotions: the table truncated, filled with %s emotions by one insert ... select from generate_series (%.1f s), then analyzed.",
				thousands(r.Fill), r.FillTime.Seconds()),
			daemonNote(r),
			idleNote(r),
			fastPathNote(),
		},
	}
}

// cells renders a row's five columns.
func (r row) cells() []string {
	if r.Gauge != nil {
		result, target := r.Gauge.cells()
		return []string{r.Measurement, result, target, "-", "-"}
	}
	result := formatMS(r.Result.Median)
	if r.Result.N >= 10 {
		result += ", p90 " + formatMS(r.Result.P90)
	}
	result += fmt.Sprintf(", n=%d", r.Result.N)

	target := "-"
	if r.Target > 0 {
		target = "<= " + formatMS(r.Target)
		if r.Result.Median <= r.Target {
			target += ": met"
		} else {
			target += ": missed by " + formatMS(r.Result.Median-r.Target)
		}
	}

	base := "-"
	if len(r.Baselines) > 0 {
		var parts []string
		for _, b := range r.Baselines {
			s := b.Name + " " + formatMS(b.Value)
			if b.Quoted {
				s += " (quoted)"
			}
			parts = append(parts, s)
		}
		base = strings.Join(parts, "; ")
	}

	ratio := "-"
	if v, ok := r.ratio(); ok {
		ratio = fmt.Sprintf("%.2fx %s", v, r.Baselines[0].Name)
	}
	return []string{r.Measurement, result, target, base, ratio}
}

// ratio is the median over the first baseline.
func (r row) ratio() (float64, bool) {
	if len(r.Baselines) == 0 || r.Baselines[0].Value <= 0 {
		return 0, false
	}
	return float64(r.Result.Median) / float64(r.Baselines[0].Value), true
}

var tableHeader = []string{"measurement", "result", "target", "baseline", "ratio"}

// writeText prints the header, the table and the notes.
func writeText(w io.Writer, rep report) error {
	var b strings.Builder
	for _, h := range rep.Header {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n")
	cells := make([][]string, len(rep.Rows))
	for i, r := range rep.Rows {
		cells[i] = r.cells()
	}
	b.WriteString(formatTable(tableHeader, cells))
	b.WriteString("\n")
	for _, n := range rep.Notes {
		b.WriteString("- " + n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatTable aligns rows under header in columns two spaces apart, with a rule
// under the header. No line ends in spaces, which diffs and editors show.
func formatTable(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		var l strings.Builder
		for i, c := range r {
			l.WriteString(c)
			if i < len(r)-1 {
				l.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(header)
	rule := make([]string, len(header))
	for i, w := range widths {
		rule[i] = strings.Repeat("-", w)
	}
	line(rule)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// jsonReport is the -json form: numbers in milliseconds, for programs.
type jsonReport struct {
	Header   []string  `json:"header"`
	Server   string    `json:"server"`
	Settings []setting `json:"settings"`
	Rows     []jsonRow `json:"rows"`
	Notes    []string  `json:"notes"`
}

type jsonRow struct {
	Measurement string         `json:"measurement"`
	Samples     int            `json:"samples,omitempty"`
	MedianMS    float64        `json:"median_ms,omitempty"`
	P90MS       float64        `json:"p90_ms,omitempty"`
	TargetMS    *float64       `json:"target_ms,omitempty"`
	TargetMet   *bool          `json:"target_met,omitempty"`
	Baselines   []jsonBaseline `json:"baselines,omitempty"`
	Ratio       *float64       `json:"ratio,omitempty"`
	// A gauge row has these instead of the timings.
	Result      string   `json:"result,omitempty"`
	Value       *float64 `json:"value,omitempty"`
	Unit        string   `json:"unit,omitempty"`
	Target      string   `json:"target,omitempty"`
	NotMeasured string   `json:"not_measured,omitempty"`
}

type jsonBaseline struct {
	Name   string  `json:"name"`
	MS     float64 `json:"ms"`
	Quoted bool    `json:"quoted"`
}

func writeJSON(w io.Writer, rep report) error {
	out := jsonReport{Header: rep.Header, Server: rep.Server, Settings: rep.Settings, Notes: rep.Notes}
	for _, r := range rep.Rows {
		if g := r.Gauge; g != nil {
			jr := jsonRow{Measurement: strings.TrimSpace(r.Measurement), Unit: g.Unit, NotMeasured: g.Why}
			jr.Result, _ = g.cells()
			jr.Target = g.target()
			if g.measured() {
				v := g.Value
				jr.Value = &v
				if g.Limit > 0 {
					met := g.met()
					jr.TargetMet = &met
				}
			}
			out.Rows = append(out.Rows, jr)
			continue
		}
		jr := jsonRow{
			Measurement: strings.TrimSpace(r.Measurement),
			Samples:     r.Result.N,
			MedianMS:    ms(r.Result.Median),
			P90MS:       ms(r.Result.P90),
		}
		if r.Target > 0 {
			t, met := ms(r.Target), r.Result.Median <= r.Target
			jr.TargetMS, jr.TargetMet = &t, &met
		}
		for _, b := range r.Baselines {
			jr.Baselines = append(jr.Baselines, jsonBaseline{Name: b.Name, MS: ms(b.Value), Quoted: b.Quoted})
		}
		if v, ok := r.ratio(); ok {
			jr.Ratio = &v
		}
		out.Rows = append(out.Rows, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// thousands writes n with comma separators: 1,000,000.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// mountFSType returns the type of the file system that path lives on, given
// the contents of /proc/self/mounts; "" when it cannot tell. fsync's cost,
// which decides every write figure here, depends on it.
func mountFSType(mounts, path string) string {
	best, fsType := "", ""
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		// The kernel escapes spaces and the like in mount points as \040.
		mp := unescapeMount(f[1])
		if !(path == mp || mp == "/" || strings.HasPrefix(path, mp+"/")) {
			continue
		}
		// The longest match is the innermost mount; a later mount on the same
		// point hides an earlier one.
		if len(mp) >= len(best) {
			best, fsType = mp, f[2]
		}
	}
	return fsType
}

func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

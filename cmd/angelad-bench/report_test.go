package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func ms2d(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func TestPercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no samples", nil, 50, 0},
		{"one sample", []time.Duration{7}, 90, 7},
		{"odd median is the middle", []time.Duration{1, 2, 9}, 50, 2},
		{"even median is the mean of the middle two", []time.Duration{1, 2, 4, 9}, 50, 3},
		{"p90 interpolates", []time.Duration{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 90, 90},
		{"p90 between ranks", []time.Duration{0, 100}, 90, 90},
		{"p0 is the minimum", []time.Duration{3, 5, 8}, 0, 3},
		{"p100 is the maximum", []time.Duration{3, 5, 8}, 100, 8},
		{"out of range is clamped", []time.Duration{3, 5, 8}, 150, 8},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tt.name, tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestSummarizeLeavesInputUnsorted(t *testing.T) {
	t.Parallel()
	in := []time.Duration{9, 1, 5, 3, 7}
	orig := slices.Clone(in)
	s := summarize(in)
	if s.N != 5 || s.Median != 5 {
		t.Errorf("summarize = %+v, want N 5, median 5", s)
	}
	if want := time.Duration(8); s.P90 != 8 {
		t.Errorf("p90 = %v, want %v", s.P90, want)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("summarize reordered its input: %v", in)
	}
}

func TestFormatMS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{412 * time.Microsecond, "0.412 ms"},
		{ms2d(4.812), "4.81 ms"},
		{5 * time.Millisecond, "5 ms"},
		{ms2d(31.24), "31.2 ms"},
		{70 * time.Millisecond, "70 ms"},
		{ms2d(312.4), "312 ms"},
	}
	for _, tt := range tests {
		if got := formatMS(tt.d); got != tt.want {
			t.Errorf("formatMS(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1000000: "1,000,000", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFormatTableAligns(t *testing.T) {
	t.Parallel()
	got := formatTable([]string{"a", "bb", "c"}, [][]string{
		{"long cell", "x", "last"},
		{"é", "yyyy", ""},
	})
	want := "" +
		"a          bb    c\n" +
		"---------  ----  ----\n" +
		"long cell  x     last\n" +
		"é          yyyy\n"
	if got != want {
		t.Errorf("formatTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestRowCells(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		row  row
		want []string
	}{
		{
			name: "target met, measured baseline",
			row: row{
				Measurement: "pool of 10: 100 saves in sequence",
				Result:      summary{N: 30, Median: 30 * time.Millisecond, P90: ms2d(33.5)},
				Target:      40 * time.Millisecond,
				Baselines: []baseline{
					{Name: "pgbench", Value: 24 * time.Millisecond},
					{Name: "seed asyncpg", Value: 61 * time.Millisecond, Quoted: true},
				},
			},
			want: []string{
				"pool of 10: 100 saves in sequence",
				"30 ms, p90 33.5 ms, n=30",
				"<= 40 ms: met",
				"pgbench 24 ms; seed asyncpg 61 ms (quoted)",
				"1.25x pgbench",
			},
		},
		{
			name: "target missed, no baseline, few samples",
			row: row{
				Measurement: "get-emotions",
				Result:      summary{N: 5, Median: ms2d(6.5), P90: 9 * time.Millisecond},
				Target:      5 * time.Millisecond,
			},
			want: []string{"get-emotions", "6.5 ms, n=5", "<= 5 ms: missed by 1.5 ms", "-", "-"},
		},
	}
	for _, tt := range tests {
		if got := tt.row.cells(); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// sampleResults is a plausible run, for the shape of the report.
func sampleResults() results {
	s := func(v float64) summary { return summary{N: 30, Median: ms2d(v), P90: ms2d(v * 1.1)} }
	return results{
		Started:  time.Date(2025, 11, 8, 21, 30, 0, 0, time.UTC),
		Machine:  "linux/amd64, 2 CPUs",
		Server:   "PostgreSQL 15.10",
		Settings: []setting{{"fsync", "on"}, {"synchronous_commit", "on"}},
		SaveE2E:  s(4), VersionE2E: s(1), Connect: s(1.5), ConnectSave: s(2.5),
		SeedWhy: "no psycopg2 for python3 or /usr/bin/python3 on this machine",
		PoolOne: s(0.5), PoolSeq: s(50), PoolConc: s(10),
		PgbenchSeq: s(40), PgbenchConc: s(8),
		Fill:   1000000,
		GetE2E: s(3),
	}
}

func TestBuildReport(t *testing.T) {
	t.Parallel()
	rep := buildReport(sampleResults())
	var pool1, seq, save *row
	for i := range rep.Rows {
		switch r := &rep.Rows[i]; r.Measurement {
		case "pool of 10: 1 save":
			pool1 = r
		case "pool of 10: 100 saves in sequence":
			seq = r
		case "angelad save-emotion, end to end":
			save = r
		}
	}
	if pool1 == nil || seq == nil || save == nil {
		t.Fatalf("rows missing: %+v", rep.Rows)
	}
	// One save compares with one pgbench transaction: its run of 100 / 100.
	if got, want := pool1.Baselines[0].Value, ms2d(0.4); got != want {
		t.Errorf("1-save baseline = %v, want %v", got, want)
	}
	if v, ok := seq.ratio(); !ok || v != 1.25 {
		t.Errorf("sequential ratio = %v, %v; want 1.25 to pgbench", v, ok)
	}
	if b := save.Baselines[0]; !b.Quoted || b.Value != quotedSeedOneLiner {
		t.Errorf("seed baseline without psycopg2 = %+v, want the quoted figure", b)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "no psycopg2") {
		t.Errorf("notes do not say why the seed was not measured: %q", rep.Notes)
	}

	r := sampleResults()
	measured := summary{N: 50, Median: 80 * time.Millisecond}
	r.Seed = &measured
	rep = buildReport(r)
	if b := rep.Rows[0].Baselines[0]; b.Quoted || b.Value != 80*time.Millisecond {
		t.Errorf("seed baseline with psycopg2 = %+v, want the measured median", b)
	}
}

func TestWriteTextAndJSON(t *testing.T) {
	t.Parallel()
	rep := buildReport(sampleResults())
	var text bytes.Buffer
	if err := writeText(&text, rep); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{"fsync=on synchronous_commit=on", "measurement", "1,000,000 emotions", "(quoted)"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("line ends in a space: %q", line)
		}
	}

	var js bytes.Buffer
	if err := writeJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back jsonReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, js.String())
	}
	if len(back.Rows) != len(rep.Rows) {
		t.Fatalf("JSON has %d rows, want %d", len(back.Rows), len(rep.Rows))
	}
	first := back.Rows[0]
	if first.MedianMS != 4 || first.TargetMS == nil || *first.TargetMS != 5 || first.TargetMet == nil || !*first.TargetMet {
		t.Errorf("first JSON row = %+v", first)
	}
	if strings.HasPrefix(back.Rows[1].Measurement, " ") {
		t.Errorf("JSON measurement keeps the table's indent: %q", back.Rows[1].Measurement)
	}
}

const pgbench15 = `pgbench (15.10 (Debian 15.10-0+deb12u1))
transaction type: /tmp/angelad-bench-1/insert.sql
scaling factor: 1
query mode: prepared
number of clients: 1
number of threads: 1
maximum number of tries: 1
number of transactions per client: 100
number of transactions actually processed: 100/100
number of failed transactions: 0 (0.000%)
latency average = 0.402 ms
initial connection time = 2.011 ms
tps = 2487.562189 (without initial connection time)
`

const pgbench13 = `transaction type: insert.sql
scaling factor: 1
query mode: prepared
number of clients: 10
number of threads: 2
number of transactions per client: 10
number of transactions actually processed: 100/100
latency average = 3.750 ms
tps = 2000.000000 (including connections establishing)
tps = 2500.000000 (excluding connections establishing)
`

func TestParsePgbench(t *testing.T) {
	t.Parallel()
	r, err := parsePgbench([]byte(pgbench15))
	if err != nil {
		t.Fatal(err)
	}
	if r.Transactions != 100 || r.Latency != 402*time.Microsecond || r.ConnTime != 2011*time.Microsecond || r.TPS != 2487.562189 {
		t.Errorf("PostgreSQL 15 output: %+v", r)
	}
	// One client: transactions / tps is the latency average × 100.
	if got := r.Elapsed(); got < ms2d(40.19) || got > ms2d(40.21) {
		t.Errorf("Elapsed = %v, want about 40.2 ms", got)
	}

	r, err = parsePgbench([]byte(pgbench13))
	if err != nil {
		t.Fatal(err)
	}
	if r.TPS != 2500 || r.ConnTime != 0 {
		t.Errorf("PostgreSQL 13 output: took %+v, want the tps excluding connections", r)
	}
	if got := r.Elapsed(); got != 40*time.Millisecond {
		t.Errorf("Elapsed = %v, want 40ms", got)
	}
}

// pgbenchConnectEach is pgbench -C: a new connection per transaction.
const pgbenchConnectEach = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: insert.sql
scaling factor: 1
query mode: prepared
number of clients: 1
number of threads: 1
maximum number of tries: 1
number of transactions per client: 10
number of transactions actually processed: 10/10
number of failed transactions: 0 (0.000%)
latency average = 15.613 ms
average connection time = 7.164 ms
tps = 64.050420 (including reconnection times)
`

func TestParsePgbenchConnectEach(t *testing.T) {
	t.Parallel()
	r, err := parsePgbench([]byte(pgbenchConnectEach))
	if err != nil {
		t.Fatal(err)
	}
	// With -C the time includes connecting: 10 / 64.05 tps = 156.1 ms.
	if got := r.Elapsed() / 10; got < ms2d(15.61) || got > ms2d(15.62) {
		t.Errorf("per transaction = %v, want about 15.61 ms", got)
	}
}

func TestParsePgbenchRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"no tps":              "number of transactions actually processed: 100/100\n",
		"no count":            "tps = 10.0 (without initial connection time)\n",
		"failed transactions": strings.Replace(pgbench15, "100/100", "97/100", 1),
		"bad latency":         strings.Replace(pgbench15, "0.402 ms", "0.402 s", 1),
	}
	for name, out := range tests {
		if r, err := parsePgbench([]byte(out)); err == nil {
			t.Errorf("%s: parsed as %+v, want an error", name, r)
		}
	}
}

func TestMountFSType(t *testing.T) {
	t.Parallel()
	mounts := `/dev/vda / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/vdb /tmp/with\040space xfs rw 0 0
proc /proc proc rw 0 0
`
	tests := map[string]string{
		"/tmp/angelad-bench-1":  "tmpfs",
		"/tmp":                  "tmpfs",
		"/tmpfoo/x":             "ext4",
		"/tmp/with space/state": "xfs",
		"/var/lib/angelad":      "ext4",
	}
	for path, want := range tests {
		if got := mountFSType(mounts, path); got != want {
			t.Errorf("mountFSType(%q) = %q, want %q", path, got, want)
		}
	}
	if got := mountFSType("", "/x"); got != "" {
		t.Errorf("no mounts: %q, want empty", got)
	}
}

func TestCleanEnv(t *testing.T) {
	t.Parallel()
	got := cleanEnv([]string{"HOME=/root", "PGHOST=elsewhere", "ANGELA_DATABASE_URL=x",
		"DATABASE_URL=y", "STATE_DIRECTORY=/s", "LC_ALL=de_DE.UTF-8", "PATH=/bin", "TZ=Asia/Bangkok"})
	want := []string{"HOME=/root", "PATH=/bin", "TZ=Asia/Bangkok"}
	if !slices.Equal(got, want) {
		t.Errorf("cleanEnv = %q, want %q", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-json", "-fill", "5000"}, &bytes.Buffer{})
	if err != nil || !o.json || o.fill != 5000 || o.python != "" {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-fill", "3"}, {"extra"}, {"-nope"}} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, o Options) (*Config, error) {
	t.Helper()
	if o.Env == nil {
		o.Env = envOf(nil)
	}
	root := false
	o.Root = &root
	o.GOOS = "linux"
	if o.Home == "" {
		o.Home = t.TempDir()
	}
	return Load(o)
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLayersFileThenEnvThenFlags(t *testing.T) {
	file := writeFile(t, `
timezone = "Asia/Bangkok"
query_timeout = "45s"
[log]
level = "debug"
format = "json"
[pool]
max_conns = 4
`)
	c, err := load(t, Options{
		File:  file,
		Env:   envOf(map[string]string{"ANGELA_LOG_LEVEL": "warn", "ANGELA_QUERY_TIMEOUT": "1m"}),
		Flags: map[string]string{"query_timeout": "5s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.TimeZone != "Asia/Bangkok" || c.LogFormat != "json" || c.PoolMaxConns != 4 {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.LogLevel != "warn" {
		t.Errorf("env should override file: log.level = %q", c.LogLevel)
	}
	if c.QueryTimeout != 5*time.Second {
		t.Errorf("flag should override env: query_timeout = %v", c.QueryTimeout)
	}
	want := map[string]string{
		"timezone":      "file " + file,
		"log.level":     "env ANGELA_LOG_LEVEL",
		"query_timeout": "flag --query-timeout",
		"state_dir":     "default",
	}
	for k, w := range want {
		if got := c.Sources[k].String(); got != w {
			t.Errorf("source of %s = %q, want %q", k, got, w)
		}
	}
	if c.File != file {
		t.Errorf("File = %q", c.File)
	}
}

func TestConfigFileFromEnvAndDefaultLocation(t *testing.T) {
	file := writeFile(t, `timezone = "Europe/Paris"`)
	c, err := load(t, Options{Env: envOf(map[string]string{"ANGELA_CONFIG": file})})
	if err != nil || c.TimeZone != "Europe/Paris" {
		t.Fatalf("ANGELA_CONFIG not read: %v %+v", err, c)
	}

	home := t.TempDir()
	def := filepath.Join(home, ".config", "angelad", "config.toml")
	os.MkdirAll(filepath.Dir(def), 0o700)
	os.WriteFile(def, []byte(`timezone = "Asia/Tokyo"`), 0o600)
	c, err = load(t, Options{Home: home})
	if err != nil || c.TimeZone != "Asia/Tokyo" || c.File != def {
		t.Fatalf("default user file not read: %v %+v", err, c)
	}
}

func TestBadConfigIsOneLineError(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"missing explicit file", Options{File: "/nonexistent/angelad.toml"}, "config file /nonexistent/angelad.toml: no such file or directory"},
		{"unknown key", Options{File: writeFile(t, `colour = "blue"`)}, `unknown key "colour"`},
		{"bad toml", Options{File: writeFile(t, "timezone = \n")}, "line 1"},
		{"bad level in file", Options{File: writeFile(t, "[log]\nlevel = \"loud\"")}, `invalid log.level: must be one of debug, info, warn, error, got "loud"`},
		{"bad zone in env", Options{Env: envOf(map[string]string{"ANGELA_TIMEZONE": "Mars/Olympus"})}, `invalid ANGELA_TIMEZONE: must be an IANA zone name`},
		{"bad timeout flag", Options{Flags: map[string]string{"query_timeout": "-1s"}}, `invalid --query-timeout: must be a positive duration`},
		{"bad pool size", Options{Env: envOf(map[string]string{"ANGELA_POOL_MAX_CONNS": "0"})}, `invalid ANGELA_POOL_MAX_CONNS: must be an integer from 1 to 1000`},
		{"bad pooler", Options{Env: envOf(map[string]string{"ANGELA_DATABASE_POOLER": "pgbouncer"})}, `invalid ANGELA_DATABASE_POOLER: must be one of auto, none, transaction, got "pgbouncer"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.o)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is %T, want *config.Error", err)
			}
		})
	}
}

func TestDatabasePrecedence(t *testing.T) {
	file := writeFile(t, `database_url = "postgres://file@db/angela"`)
	tests := []struct {
		name        string
		o           Options
		wantConn    string
		wantManaged bool
		wantSource  string
	}{
		{"nothing set", Options{}, "", true, "default: the managed local cluster"},
		{"PG vars", Options{Env: envOf(map[string]string{"PGHOST": "/run/pg", "PGPASSWORD": "s"})}, "", false, "env PGHOST"},
		{"PGPASSWORD alone", Options{Env: envOf(map[string]string{"PGPASSWORD": "s"})}, "", true, "default: the managed local cluster"},
		{"DATABASE_URL over PG vars", Options{Env: envOf(map[string]string{"PGHOST": "x", "DATABASE_URL": "postgres://generic/db"})}, "postgres://generic/db", false, "env DATABASE_URL"},
		{"file over DATABASE_URL", Options{File: file, Env: envOf(map[string]string{"DATABASE_URL": "postgres://generic/db"})}, "postgres://file@db/angela", false, "file " + file},
		{"ANGELA_DATABASE_URL over file", Options{File: file, Env: envOf(map[string]string{"ANGELA_DATABASE_URL": "postgres://env/db"})}, "postgres://env/db", false, "env ANGELA_DATABASE_URL"},
		{"flag over all", Options{File: file, Env: envOf(map[string]string{"ANGELA_DATABASE_URL": "postgres://env/db"}), Flags: map[string]string{"database_url": "postgres://flag/db"}}, "postgres://flag/db", false, "flag --database-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			d := c.Database()
			if d.ConnString != tt.wantConn || d.Managed != tt.wantManaged || d.Source != tt.wantSource {
				t.Errorf("Database() = %+v, want %q managed=%v from %q", d, tt.wantConn, tt.wantManaged, tt.wantSource)
			}
		})
	}
}

// TestDatabasePooler: database.pooler is auto unless set, in the [database]
// section or by ANGELA_DATABASE_POOLER, and it is none for the managed
// cluster, which nothing stands in front of.
func TestDatabasePooler(t *testing.T) {
	file := writeFile(t, "database_url = \"postgres://db.example/angela\"\n[database]\npooler = \"transaction\"\n")
	for _, tt := range []struct {
		name   string
		o      Options
		key    string
		pooler string
	}{
		{"default", Options{Env: envOf(map[string]string{"ANGELA_DATABASE_URL": "postgres://db.example/angela"})}, "auto", "auto"},
		{"file", Options{File: file}, "transaction", "transaction"},
		{"env over file", Options{File: file, Env: envOf(map[string]string{"ANGELA_DATABASE_POOLER": "none"})}, "none", "none"},
		{"managed cluster", Options{Env: envOf(map[string]string{"ANGELA_DATABASE_POOLER": "transaction"})}, "transaction", "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if c.DatabasePooler != tt.key || c.Pooler() != tt.pooler {
				t.Errorf("database.pooler = %q, Pooler() = %q; want %q, %q", c.DatabasePooler, c.Pooler(), tt.key, tt.pooler)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://angela:s3cret@db:5432/AngelaMemory", "postgres://angela:xxxxx@db:5432/AngelaMemory"},
		{"postgres://angela@db/x?password=s3cret&sslmode=disable", "postgres://angela@db/x?password=xxxxx&sslmode=disable"},
		{"host=db user=angela password=s3cret dbname=x", "host=db user=angela password=xxxxx dbname=x"},
		{"host=db password = 'se cret' dbname=x", "host=db password = xxxxx dbname=x"},
		{"postgres://db/x", "postgres://db/x"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	c, err := load(t, Options{Env: envOf(map[string]string{"ANGELA_DATABASE_URL": "postgres://a:s3cret@h/d"})})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Value("database_url"); strings.Contains(v, "s3cret") {
		t.Errorf("Value(database_url) leaks the password: %q", v)
	}
}

func TestDefaultStateDir(t *testing.T) {
	tests := []struct {
		goos string
		root bool
		env  map[string]string
		want string
	}{
		{"linux", false, nil, "/home/d/.local/state/angelad"},
		{"linux", false, map[string]string{"XDG_STATE_HOME": "/x/state"}, "/x/state/angelad"},
		{"linux", true, nil, "/var/lib/angelad"},
		{"linux", true, map[string]string{"STATE_DIRECTORY": "/var/lib/angelad2:/other"}, "/var/lib/angelad2"},
		{"darwin", false, nil, "/home/d/Library/Application Support/angelad"},
	}
	for _, tt := range tests {
		if got := DefaultStateDir(tt.goos, tt.root, "/home/d", envOf(tt.env)); got != tt.want {
			t.Errorf("DefaultStateDir(%s, root=%v, %v) = %q, want %q", tt.goos, tt.root, tt.env, got, tt.want)
		}
	}
}

func TestLocalTimeZoneFromTZ(t *testing.T) {
	if got := LocalTimeZone(envOf(map[string]string{"TZ": "Asia/Bangkok"})); got != "Asia/Bangkok" {
		t.Errorf("LocalTimeZone = %q", got)
	}
	if got := LocalTimeZone(envOf(map[string]string{"TZ": "Not/AZone"})); got == "Not/AZone" {
		t.Errorf("LocalTimeZone accepted an invalid TZ")
	}
}

func TestLaunchAgentLogsToItsFile(t *testing.T) {
	root := false
	home := t.TempDir()
	c, err := Load(Options{GOOS: "darwin", Root: &root, Home: home, Env: envOf(map[string]string{"XPC_SERVICE_NAME": "com.angela.angelad"})})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, "Library", "Logs", "angelad", "angelad.log"); c.LogFile != want {
		t.Errorf("log.file under the LaunchAgent = %q, want %q", c.LogFile, want)
	}
	c, _ = Load(Options{GOOS: "darwin", Root: &root, Home: home, Env: envOf(nil)})
	if c.LogFile != "" {
		t.Errorf("log.file outside launchd = %q, want standard error", c.LogFile)
	}
}

func TestSectionKeyKinds(t *testing.T) {
	file := writeFile(t, `
[companion]
language = "en"
since = "2024-02-29"
`)
	c, err := load(t, Options{File: file, Env: envOf(map[string]string{"ANGELA_COMPANION_NAME": "  Angie  "})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Companion.Language != "en" || c.Companion.Name != "Angie" || c.Companion.UserName != "David" {
		t.Errorf("companion = %+v", c.Companion)
	}
	if got := c.Companion.Since.Format(time.DateOnly); got != "2024-02-29" {
		t.Errorf("since = %s", got)
	}
	if got := c.TOMLValue("companion.since"); got != `"2024-02-29"` {
		t.Errorf("TOMLValue(companion.since) = %s", got)
	}
	bangkok, _ := time.LoadLocation("Asia/Bangkok")
	for _, tc := range []struct {
		at   time.Time
		want int
	}{
		{time.Date(2024, 2, 29, 0, 0, 0, 0, bangkok), 1},
		{time.Date(2024, 2, 29, 23, 59, 0, 0, bangkok), 1},
		{time.Date(2024, 3, 1, 0, 30, 0, 0, bangkok), 2},
		// 23:30 UTC on 1 March is already 2 March in Bangkok.
		{time.Date(2024, 3, 1, 23, 30, 0, 0, time.UTC).In(bangkok), 3},
		{time.Date(2025, 2, 28, 12, 0, 0, 0, bangkok), 366},
		{time.Date(2024, 2, 28, 12, 0, 0, 0, bangkok), 0},
	} {
		if got := c.Companion.DayTogether(tc.at); got != tc.want {
			t.Errorf("DayTogether(%s) = %d, want %d", tc.at, got, tc.want)
		}
	}
	for env, want := range map[string]string{
		"ANGELA_COMPANION_LANGUAGE": "invalid ANGELA_COMPANION_LANGUAGE: must be one of th, en",
		"ANGELA_COMPANION_SINCE":    "invalid ANGELA_COMPANION_SINCE: must be a date YYYY-MM-DD",
		"ANGELA_COMPANION_NAME":     "invalid ANGELA_COMPANION_NAME: must be a name of 1 to 50 characters",
	} {
		_, err := load(t, Options{Env: envOf(map[string]string{env: "  \t "})})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s blank: err = %v, want prefix %q", env, err, want)
		}
	}
}

func TestListBoolFloatHelpers(t *testing.T) {
	var (
		list []string
		b    bool
		f    float64
	)
	lk := listKey("x.list", "", []string{"a"}, func(*Config) *[]string { return &list })
	bk := boolKey("x.bool", "", false, func(*Config) *bool { return &b })
	fk := floatKey("x.float", "", 0.5, 0, 1, func(*Config) *float64 { return &f })
	c := &Config{}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`["~/a/*.jsonl", "b c"]`, []string{"~/a/*.jsonl", "b c"}},
		{`[]`, []string{}},
		{`/a/*.jsonl:/b/*.jsonl`, []string{"/a/*.jsonl", "/b/*.jsonl"}},
		{`/a/*.jsonl`, []string{"/a/*.jsonl"}},
	} {
		if err := lk.set(c, tc.in); err != nil {
			t.Fatalf("list %q: %v", tc.in, err)
		}
		if !slices.Equal(list, tc.want) || list == nil {
			t.Errorf("list %q = %#v, want %#v", tc.in, list, tc.want)
		}
	}
	if err := lk.set(c, `["a", 1]`); err == nil {
		t.Error("a list with a number was accepted")
	}
	if err := bk.set(c, "true"); err != nil || !b {
		t.Errorf("bool true: %v %v", b, err)
	}
	if err := bk.set(c, "yes"); err == nil {
		t.Error(`bool "yes" was accepted`)
	}
	if err := fk.set(c, "0.25"); err != nil || f != 0.25 {
		t.Errorf("float 0.25: %v %v", f, err)
	}
	for _, bad := range []string{"NaN", "1.5", "-0.1", "x"} {
		if err := fk.set(c, bad); err == nil {
			t.Errorf("float %q was accepted", bad)
		}
	}
}

func TestFileListsAndTOMLValues(t *testing.T) {
	var list []string
	ks := []key{listKey("x.list", "", nil, func(*Config) *[]string { return &list })}
	file := writeFile(t, "[x]\nlist = [\"a\", \"b\\\"c\"]\n")
	values, err := readFile(file, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks[0].set(&Config{}, values["x.list"]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(list, []string{"a", `b"c`}) {
		t.Errorf("list from file = %#v", list)
	}
	if _, err := readFile(writeFile(t, "[x]\nlist = [\"a\", 2]\n"), true); err == nil || !strings.Contains(err.Error(), "x.list: must be a list of strings") {
		t.Errorf("mixed list: err = %v", err)
	}
	c, err := load(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TOMLValue("pool.max_conns"); got != "10" {
		t.Errorf("TOMLValue(pool.max_conns) = %s", got)
	}
	if got := c.TOMLValue("log.level"); got != `"info"` {
		t.Errorf("TOMLValue(log.level) = %s", got)
	}
}

func TestSpeakerNameUsesTheConfiguredNames(t *testing.T) {
	c := Companion{UserName: "Somchai", Name: "Malee"}
	for speaker, want := range map[string]string{"david": "Somchai", "angela": "Malee", "system": "ระบบ", "": "ระบบ"} {
		if got := c.SpeakerName(speaker, "ระบบ"); got != want {
			t.Errorf("SpeakerName(%q) = %q, want %q", speaker, got, want)
		}
	}
}

// Package config owns angelad's configuration: the Config struct and its
// defaults, the TOML file, ANGELA_* environment variables and flags layered on top
// of each other, validation, where each value came from, and redaction of secrets.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/angela-ai/angelad/internal/text"
)

// Config is angelad's effective configuration.
type Config struct {
	// DatabaseURL names an existing database; empty means the managed local
	// cluster (unless DATABASE_URL or libpq's PG* variables name one).
	DatabaseURL string
	// DatabasePooler says whether a connection pooler in transaction mode
	// stands in front of the database: auto (angelad tells on connecting),
	// none or transaction.
	DatabasePooler string
	// StateDir holds the managed cluster, its socket and angelad's own state.
	StateDir string
	// TimeZone is the IANA zone that times are shown in and that legacy columns
	// without a zone are read and written in.
	TimeZone string
	// QueryTimeout bounds each `angelad query` statement.
	QueryTimeout time.Duration
	// SaveTimeout bounds the write of a one-shot save once connected; a save
	// that takes longer is spooled.
	SaveTimeout time.Duration
	// PostgresBinDir overrides discovery of the PostgreSQL server binaries.
	PostgresBinDir string
	// PostgresRunAs is the OS user the managed cluster runs as when angelad runs
	// as root; empty means "postgres" if that user exists, else "nobody".
	PostgresRunAs string
	// PoolMaxConns is the size of the daemon's pool.
	PoolMaxConns int
	// PoolMinConns is how many connections the pool keeps open when idle.
	PoolMinConns int
	// PoolHealthCheckPeriod is how often the pool checks its idle connections
	// and the daemon checks that the database answers.
	PoolHealthCheckPeriod time.Duration
	// PoolConnectTimeout bounds one connection attempt.
	PoolConnectTimeout time.Duration
	// ShutdownTimeout is how long workers get to return after SIGTERM.
	ShutdownTimeout time.Duration
	// LogFile is where the daemon logs; empty means standard error.
	LogFile string
	// LogMaxSizeMB is the size at which the log file is rotated.
	LogMaxSizeMB int
	// LogMaxFiles is how many rotated log files are kept.
	LogMaxFiles int
	// LogLevel is one of debug, info, warn, error.
	LogLevel string
	// LogFormat is auto (console on a terminal, JSON otherwise), console or json.
	LogFormat string

	// The sections of the workers and of what they write, each with its keys,
	// defaults and validation in a file of its own.
	Companion    Companion
	Conversation Conversation
	DailyUpdate  DailyUpdate
	Memory       Memory
	Hooks        Hooks
	Redaction    Redaction
	Embedding    Embedding
	Web          Web

	// File is the config file that was read ("" when none).
	File string
	// Sources says where each key's value came from, by key name.
	Sources map[string]Source
	// database is how the database was chosen; see Database.
	database Database
	// exposed is ExposedPassword's warning.
	exposed string
}

// Source says where a configuration value came from.
type Source struct {
	Kind string // default, file, env, flag
	Name string // the file path, variable or flag name
}

func (s Source) String() string {
	if s.Name == "" {
		return s.Kind
	}
	return s.Kind + " " + s.Name
}

// Error is a configuration problem the user must fix: a bad value, an unknown
// key, an unreadable file. Its message is one line.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func errorf(format string, args ...any) error { return &Error{msg: fmt.Sprintf(format, args...)} }

// key describes one configuration key: its name in the file, its environment
// variable, its default, and how to read and write it on Config.
type key struct {
	name   string
	help   string
	secret bool
	// hide, when set, replaces Redact for showing a secret that is not a
	// connection string.
	hide func(string) string
	// def is the built-in value, in the form set accepts; keys whose default
	// depends on the platform get theirs from platformDefaults instead.
	def  string
	kind valueKind
	get  func(*Config) string
	set  func(*Config, string) error
}

// valueKind says how a value is written in TOML by `angelad config`.
type valueKind int

const (
	kindString valueKind = iota
	kindInt
	kindFloat
	kindBool
	kindList
)

// EnvName is the environment variable that overrides a key:
// "log.level" -> ANGELA_LOG_LEVEL.
func EnvName(name string) string {
	return "ANGELA_" + strings.ToUpper(strings.ReplaceAll(name, ".", "_"))
}

// The helpers below build the keys of every section. Each takes a function
// that returns the field on a Config, so one table serves defaults, the file,
// the environment and flags alike.

func strKey(name, help, def string, field func(*Config) *string) key {
	return key{name: name, help: help, def: def,
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, v string) error { *field(c) = v; return nil }}
}

func oneOfKey(name, help, def string, field func(*Config) *string, allowed ...string) key {
	return key{name: name, help: help, def: def,
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, v string) error {
			if !slices.Contains(allowed, v) {
				return fmt.Errorf("must be one of %s, got %q", strings.Join(allowed, ", "), v)
			}
			*field(c) = v
			return nil
		}}
}

func intKey(name, help string, def, min, max int, field func(*Config) *int) key {
	return key{name: name, help: help, def: strconv.Itoa(def), kind: kindInt,
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < min || n > max {
				return fmt.Errorf("must be an integer from %d to %d, got %q", min, max, v)
			}
			*field(c) = n
			return nil
		}}
}

func floatKey(name, help string, def, min, max float64, field func(*Config) *float64) key {
	format := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	return key{name: name, help: help, def: format(def), kind: kindFloat,
		get: func(c *Config) string { return format(*field(c)) },
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || f < min || f > max {
				return fmt.Errorf("must be a number from %s to %s, got %q", format(min), format(max), v)
			}
			*field(c) = f
			return nil
		}}
}

func durKey(name, help string, def time.Duration, field func(*Config) *time.Duration) key {
	return key{name: name, help: help, def: def.String(),
		get: func(c *Config) string { return field(c).String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf(`must be a positive duration such as "30s" or "2m", got %q`, v)
			}
			*field(c) = d
			return nil
		}}
}

func boolKey(name, help string, def bool, field func(*Config) *bool) key {
	return key{name: name, help: help, def: strconv.FormatBool(def), kind: kindBool,
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("must be true or false, got %q", v)
			}
			*field(c) = b
			return nil
		}}
}

// listKey is a list of strings. In the file it is a TOML array; in an
// environment variable or a flag it is a JSON array (`["a", "b"]`, `[]` for
// none) or a colon-separated list, like PATH.
func listKey(name, help string, def []string, field func(*Config) *[]string) key {
	encode := func(l []string) string {
		data, _ := json.Marshal(l) // strings always marshal
		return string(data)
	}
	return key{name: name, help: help, def: encode(def), kind: kindList,
		get: func(c *Config) string { return encode(*field(c)) },
		set: func(c *Config, v string) error {
			l, err := parseList(v)
			if err != nil {
				return err
			}
			*field(c) = l
			return nil
		}}
}

func parseList(v string) ([]string, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "[") {
		var l []string
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			return nil, fmt.Errorf(`must be a list of strings such as ["a", "b"] or a:b, got %q`, v)
		}
		if l == nil {
			l = []string{}
		}
		return l, nil
	}
	l := []string{}
	for _, s := range strings.Split(v, string(os.PathListSeparator)) {
		if s != "" {
			l = append(l, s)
		}
	}
	return l, nil
}

// keys is the key table, built once: every command reads it several times
// (a flag and a help line per key, then Load), and building it allocates a
// few closures per key. Callers must not modify it.
func keys() []key { return keyTable().list }

// keyIndex finds a key by name.
func keyIndex(name string) (key, bool) {
	k, ok := keyTable().byName[name]
	return k, ok
}

var keyTable = sync.OnceValue(func() (t struct {
	list   []key
	byName map[string]key
}) {
	t.list = buildKeys()
	t.byName = make(map[string]key, len(t.list))
	for _, k := range t.list {
		t.byName[k.name] = k
	}
	return t
})

func buildKeys() []key {
	ks := []key{
		{name: "database_url", help: "an existing database (URL or key=value); empty: the managed local cluster", secret: true,
			get: func(c *Config) string { return c.DatabaseURL },
			set: func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
		poolerKey(),
		{name: "state_dir", help: "where the managed cluster and angelad's state live",
			get: func(c *Config) string { return c.StateDir },
			set: func(c *Config, v string) error {
				if v == "" {
					return errors.New("must not be empty")
				}
				if !filepath.IsAbs(v) {
					// Resolved against the working directory, a relative path
					// would give every directory a new, empty memory.
					hint := ""
					if abs, err := filepath.Abs(v); err == nil {
						hint = fmt.Sprintf(" such as %q", abs)
					}
					return fmt.Errorf("must be an absolute path%s, got %q", hint, v)
				}
				c.StateDir = filepath.Clean(v)
				return nil
			}},
		{name: "timezone", help: "IANA time zone for showing times and for legacy columns without a zone",
			get: func(c *Config) string { return c.TimeZone },
			set: func(c *Config, v string) error {
				if v == "" || strings.EqualFold(v, "local") {
					return errors.New(`must be an IANA zone name such as "Asia/Bangkok" or "UTC"`)
				}
				if _, err := loadLocation(v); err != nil {
					return fmt.Errorf(`must be an IANA zone name such as "Asia/Bangkok" or "UTC", got %q`, v)
				}
				c.TimeZone = v
				return nil
			}},
		durKey("query_timeout", "statement timeout of angelad query", 30*time.Second, func(c *Config) *time.Duration { return &c.QueryTimeout }),
		durKey("save_timeout", "how long save-emotion and save-conversation wait for the database to store a record before they spool it", 15*time.Second, func(c *Config) *time.Duration { return &c.SaveTimeout }),
		durKey("shutdown_timeout", "how long the daemon's workers get to stop after SIGTERM", 10*time.Second, func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
		strKey("postgres.bin_dir", "directory of initdb and pg_ctl; empty: discover", "", func(c *Config) *string { return &c.PostgresBinDir }),
		strKey("postgres.run_as", "OS user the managed cluster runs as when angelad runs as root", "", func(c *Config) *string { return &c.PostgresRunAs }),
		intKey("pool.max_conns", "connections in the daemon's pool", 10, 1, 1000, func(c *Config) *int { return &c.PoolMaxConns }),
		intKey("pool.min_conns", "connections the daemon's pool keeps open when idle", 1, 0, 1000, func(c *Config) *int { return &c.PoolMinConns }),
		durKey("pool.health_check_period", "how often the daemon checks its connections and the database", 10*time.Second, func(c *Config) *time.Duration { return &c.PoolHealthCheckPeriod }),
		durKey("pool.connect_timeout", "how long one connection attempt may take", 5*time.Second, func(c *Config) *time.Duration { return &c.PoolConnectTimeout }),
		oneOfKey("log.level", "debug, info, warn or error", "info", func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error"),
		oneOfKey("log.format", "auto (console on a terminal, JSON otherwise), console or json", "auto", func(c *Config) *string { return &c.LogFormat }, "auto", "console", "json"),
		{name: "log.file", help: "the daemon's log file, rotated by size; empty: standard error",
			get: func(c *Config) string { return c.LogFile },
			set: func(c *Config, v string) error {
				if v == "" {
					c.LogFile = ""
					return nil
				}
				abs, err := filepath.Abs(v)
				if err != nil {
					return err
				}
				c.LogFile = abs
				return nil
			}},
		intKey("log.max_size_mb", "rotate the log file at this size, in MB", 10, 1, 10000, func(c *Config) *int { return &c.LogMaxSizeMB }),
		intKey("log.max_files", "rotated log files kept", 5, 1, 1000, func(c *Config) *int { return &c.LogMaxFiles }),
	}
	// The sections, each in its own file.
	ks = append(ks, companionKeys()...)
	ks = append(ks, conversationKeys()...)
	ks = append(ks, dailyUpdateKeys()...)
	ks = append(ks, memoryKeys()...)
	ks = append(ks, hooksKeys()...)
	ks = append(ks, redactionKeys()...)
	ks = append(ks, embeddingKeys()...)
	ks = append(ks, webKeys()...)
	return ks
}

// Keys lists the configuration keys in the order `angelad config` shows them.
func Keys() []string {
	names := make([]string, 0, len(keys()))
	for _, k := range keys() {
		names = append(names, k.name)
	}
	return names
}

// Help returns the one-line description of a key.
func Help(name string) string {
	k, _ := keyIndex(name)
	return k.help
}

// Env is the process environment as Load sees it; tests pass their own.
type Env func(string) (string, bool)

// Options are the inputs of Load besides the environment.
type Options struct {
	// File is the config file named by --config; "" means ANGELA_CONFIG, then
	// the default locations.
	File string
	// Flags are values given on the command line, by key name.
	Flags map[string]string
	// FlagNames maps a key to the flag that set it, for Sources.
	FlagNames map[string]string
	// Env looks up environment variables; nil means os.LookupEnv.
	Env Env
	// GOOS and Root describe the platform for defaults; zero means this process.
	GOOS string
	Root *bool
	Home string
}

// Load builds the effective configuration: defaults, then the config file,
// then ANGELA_* environment variables, then flags.
func Load(o Options) (*Config, error) {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.GOOS == "" {
		o.GOOS = runtime.GOOS
	}
	if o.Root == nil {
		root := os.Geteuid() == 0
		o.Root = &root
	}
	if o.Home == "" {
		o.Home, _ = os.UserHomeDir()
	}
	c := &Config{Sources: map[string]Source{}}
	ks := keys()
	byName := keyTable().byName
	for name, v := range defaults(o, ks) {
		if err := byName[name].set(c, v); err != nil {
			return nil, fmt.Errorf("default %s: %w", name, err) // a bug, not the user's doing
		}
		c.Sources[name] = Source{Kind: "default"}
	}

	file, explicit, err := findFile(o)
	if err != nil {
		return nil, err
	}
	if file != "" {
		values, err := readFile(file, explicit)
		if err != nil {
			return nil, err
		}
		if values != nil {
			c.File = file
			c.exposed = exposedPassword(file, values)
		}
		names := make([]string, 0, len(values))
		for name := range values {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			k, ok := byName[name]
			if !ok {
				return nil, errorf("config file %s: unknown key %q (known keys: %s)", file, name, strings.Join(Keys(), ", "))
			}
			if err := k.set(c, values[name]); err != nil {
				return nil, errorf("config file %s: invalid %s: %v", file, name, err)
			}
			c.Sources[name] = Source{Kind: "file", Name: file}
		}
	}
	for _, k := range ks {
		env := EnvName(k.name)
		if v, ok := o.Env(env); ok && v != "" {
			if err := k.set(c, v); err != nil {
				return nil, errorf("invalid %s: %v", env, redactIfSecret(k, err))
			}
			c.Sources[k.name] = Source{Kind: "env", Name: env}
		}
	}
	for _, k := range ks {
		if v, ok := o.Flags[k.name]; ok {
			flag := o.FlagNames[k.name]
			if flag == "" {
				flag = "--" + strings.ReplaceAll(k.name, "_", "-")
			}
			if err := k.set(c, v); err != nil {
				return nil, errorf("invalid %s: %v", flag, redactIfSecret(k, err))
			}
			c.Sources[k.name] = Source{Kind: "flag", Name: flag}
		}
	}
	if err := c.Memory.Check(); err != nil {
		return nil, err
	}
	if err := c.Embedding.Check(); err != nil {
		return nil, err
	}
	c.database = resolveDatabase(c, o.Env)
	if err := checkDatabase(c.database); err != nil {
		return nil, err
	}
	return c, nil
}

func redactIfSecret(k key, err error) error {
	if k.secret {
		return errors.New("invalid value")
	}
	return err
}

// defaults returns the built-in value of every key for the platform.
func defaults(o Options, ks []key) map[string]string {
	out := make(map[string]string, len(ks))
	for _, k := range ks {
		out[k.name] = k.def
	}
	out["state_dir"] = DefaultStateDir(o.GOOS, *o.Root, o.Home, o.Env)
	out["timezone"] = LocalTimeZone(o.Env)
	out["log.file"] = defaultLogFile(o)
	return out
}

// launchdLabel is the label of angelad's LaunchAgent (deploy/launchd); launchd
// tells a job its label in XPC_SERVICE_NAME.
const launchdLabel = "com.angela.angelad"

// defaultLogFile is empty (standard error) except under angelad's LaunchAgent,
// where the daemon writes ~/Library/Logs/angelad/angelad.log itself, rotated;
// launchd sends only what bypasses the logger (a crash) to the same file.
func defaultLogFile(o Options) string {
	if v, _ := o.Env("XPC_SERVICE_NAME"); o.GOOS == "darwin" && v == launchdLabel {
		return filepath.Join(o.Home, "Library", "Logs", "angelad", "angelad.log")
	}
	return ""
}

// DefaultStateDir is where angelad keeps its state when state_dir is not set:
// systemd's $STATE_DIRECTORY when it provides one; /var/lib/angelad for root on
// Linux (/Library/Application Support/angelad on macOS); otherwise
// $XDG_STATE_HOME/angelad or ~/.local/state/angelad on Linux and
// ~/Library/Application Support/angelad on macOS.
func DefaultStateDir(goos string, root bool, home string, env Env) string {
	if v, ok := env("STATE_DIRECTORY"); ok && v != "" {
		// systemd may list several directories separated by colons.
		return strings.SplitN(v, ":", 2)[0]
	}
	if goos == "darwin" {
		if root {
			return "/Library/Application Support/angelad"
		}
		return filepath.Join(home, "Library", "Application Support", "angelad")
	}
	if root {
		return "/var/lib/angelad"
	}
	if v, ok := env("XDG_STATE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "angelad")
	}
	return filepath.Join(home, ".local", "state", "angelad")
}

// LocalTimeZone names the machine's zone: $TZ when it is an IANA name, else the
// zone /etc/localtime links to, else UTC.
func LocalTimeZone(env Env) string {
	if tz, ok := env("TZ"); ok && tz != "" {
		tz = strings.TrimPrefix(tz, ":")
		if _, err := loadLocation(tz); err == nil && !filepath.IsAbs(tz) {
			return tz
		}
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if i := strings.LastIndex(target, "zoneinfo/"); i >= 0 {
			name := target[i+len("zoneinfo/"):]
			if _, err := loadLocation(name); err == nil {
				return name
			}
		}
	}
	return "UTC"
}

// UserFile and SystemFile are the default config file locations, in the order
// they are tried.
func defaultFiles(goos string, root bool, home string, env Env) []string {
	var files []string
	if !root {
		if goos == "darwin" {
			files = append(files, filepath.Join(home, "Library", "Application Support", "angelad", "config.toml"))
		} else if v, ok := env("XDG_CONFIG_HOME"); ok && filepath.IsAbs(v) {
			files = append(files, filepath.Join(v, "angelad", "config.toml"))
		} else {
			files = append(files, filepath.Join(home, ".config", "angelad", "config.toml"))
		}
	}
	if goos == "darwin" {
		files = append(files, "/Library/Application Support/angelad/config.toml")
	}
	return append(files, "/etc/angelad/config.toml")
}

// DefaultFiles lists the config files tried, in order, when neither --config nor
// ANGELA_CONFIG names one.
func DefaultFiles() []string {
	home, _ := os.UserHomeDir()
	return defaultFiles(runtime.GOOS, os.Geteuid() == 0, home, os.LookupEnv)
}

// findFile picks the config file: --config, then ANGELA_CONFIG (both must
// exist), then the first default location that exists.
func findFile(o Options) (path string, explicit bool, err error) {
	if o.File != "" {
		return o.File, true, nil
	}
	if v, ok := o.Env("ANGELA_CONFIG"); ok && v != "" {
		return v, true, nil
	}
	for _, f := range defaultFiles(o.GOOS, *o.Root, o.Home, o.Env) {
		if _, err := os.Stat(f); err == nil {
			return f, false, nil
		}
	}
	return "", false, nil
}

// readFile reads a TOML config file into flat "section.key" names. A missing
// file is an error only when the user named it.
func readFile(path string, explicit bool) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !explicit {
			return nil, nil
		}
		return nil, errorf("config file %s: %v", path, text.WithoutPath(err))
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, errorf("config file %s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, errorf("config file %s: %v", path, err)
	}
	out := map[string]string{}
	if err := flatten("", raw, out); err != nil {
		return nil, errorf("config file %s: %v", path, err)
	}
	return out, nil
}

func flatten(prefix string, m map[string]any, out map[string]string) error {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			if err := flatten(name, v, out); err != nil {
				return err
			}
		case string:
			out[name] = v
		case int64:
			out[name] = strconv.FormatInt(v, 10)
		case bool:
			out[name] = strconv.FormatBool(v)
		case float64:
			out[name] = strconv.FormatFloat(v, 'f', -1, 64)
		case []any:
			list := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("%s: must be a list of strings, found a %T in it", name, e)
				}
				list = append(list, s)
			}
			data, _ := json.Marshal(list) // strings always marshal
			out[name] = string(data)
		default:
			return fmt.Errorf("%s: unsupported value of type %T", name, v)
		}
	}
	return nil
}

// Value returns the effective value of a key, redacted if it is a secret.
func (c *Config) Value(name string) string {
	k, ok := keyIndex(name)
	if !ok {
		return ""
	}
	v := k.get(c)
	if k.secret {
		return k.redact(v)
	}
	return v
}

// redact shows a secret key's value without the secret.
func (k key) redact(v string) string {
	if k.hide != nil {
		return k.hide(v)
	}
	return Redact(v)
}

// TOMLValue returns the effective value of a key, redacted if it is a
// secret, written as a TOML value: numbers, booleans and lists bare,
// everything else quoted.
func (c *Config) TOMLValue(name string) string {
	for _, k := range keys() {
		if k.name != name {
			continue
		}
		v := k.get(c)
		if k.secret {
			v = k.redact(v)
		}
		switch k.kind {
		case kindInt, kindFloat, kindBool:
			return v
		case kindList:
			// A JSON array of strings is a TOML array of basic strings.
			var l []string
			if json.Unmarshal([]byte(v), &l) == nil {
				quoted := make([]string, len(l))
				for i, e := range l {
					quoted[i] = strconv.Quote(e)
				}
				return "[" + strings.Join(quoted, ", ") + "]"
			}
		}
		return strconv.Quote(v)
	}
	return ""
}

// RawValue returns the effective value of a key, secrets included: never
// show it to a person.
func (c *Config) RawValue(name string) string {
	if k, ok := keyIndex(name); ok {
		return k.get(c)
	}
	return ""
}

// Location is the configured time zone.
func (c *Config) Location() *time.Location {
	loc, err := loadLocation(c.TimeZone)
	if err != nil {
		return time.UTC // validated in Load; unreachable
	}
	return loc
}

// locations caches the zones loadLocation found: a command resolves its zone
// several times (the default, the key's check, Location), and each
// time.LoadLocation of a named zone reads its zoneinfo file.
var locations sync.Map // name -> *time.Location

// loadLocation is time.LoadLocation, a zone found once remembered by name
// for the process.
func loadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err == nil {
		locations.Store(name, loc)
	}
	return loc, err
}

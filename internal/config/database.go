package config

import (
	"net/url"
	"regexp"
	"strings"
)

// Database says which database angelad uses and why.
type Database struct {
	// ConnString is the connection string; "" with Managed false means libpq's
	// PG* environment variables alone describe the database.
	ConnString string
	// Managed is true when angelad uses its managed local cluster.
	Managed bool
	// Source names where the choice came from.
	Source string
}

// pgEnvVars are the libpq variables that name a server or database on their
// own. PGPASSWORD and friends alone do not.
var pgEnvVars = []string{"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}

// resolveDatabase applies the precedence flag > ANGELA_DATABASE_URL > file >
// DATABASE_URL > libpq's PG* variables > the managed local cluster.
func resolveDatabase(c *Config, env Env) Database {
	if c.DatabaseURL != "" {
		return Database{ConnString: c.DatabaseURL, Source: c.Sources["database_url"].String()}
	}
	if v, ok := env("DATABASE_URL"); ok && v != "" {
		return Database{ConnString: v, Source: "env DATABASE_URL"}
	}
	var set []string
	for _, name := range pgEnvVars {
		if v, ok := env(name); ok && v != "" {
			set = append(set, name)
		}
	}
	if len(set) > 0 {
		return Database{Source: "env " + strings.Join(set, ", ")}
	}
	return Database{Managed: true, Source: "default: the managed local cluster"}
}

// Database returns the database this configuration names.
func (c *Config) Database() Database { return c.database }

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)

// Redact hides the password in a connection string, URL or key=value form.
func Redact(connString string) string {
	if connString == "" {
		return ""
	}
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "(unparsable URL hidden)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(connString, "${1}xxxxx")
}

package config

import (
	"errors"
	"strconv"
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

// The values of database.pooler (see postgres.Pooler).
const (
	PoolerAuto        = "auto"
	PoolerNone        = "none"
	PoolerTransaction = "transaction"
)

// poolerKey is database.pooler: whether a connection pooler that shares
// server sessions between its clients (PgBouncer in transaction mode, the
// poolers of Supabase and Neon) stands in front of the database, which then
// gets no prepared statements by name.
func poolerKey() key {
	return oneOfKey("database.pooler",
		"auto (tell on connecting), none (a direct connection: prepared statements) or transaction (a pooler in transaction mode in front of the database)",
		PoolerAuto, func(c *Config) *string { return &c.DatabasePooler }, PoolerAuto, PoolerNone, PoolerTransaction)
}

// Pooler returns database.pooler as it applies to the database in use: none
// for the managed local cluster, which nothing stands in front of.
func (c *Config) Pooler() string {
	if c.database.Managed {
		return PoolerNone
	}
	return c.DatabasePooler
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

// CheckConnString reports whether a connection string can be read without
// guessing where its password ends (see parseConnString); its error is one
// of a fixed set of lines and never quotes the string.
func CheckConnString(s string) error {
	_, err := parseConnString(s)
	return err
}

// checkDatabase refuses a connection string that cannot be read without
// guessing, naming where it came from and never showing it.
func checkDatabase(db Database) error {
	if db.ConnString == "" {
		return nil
	}
	if _, err := parseConnString(db.ConnString); err != nil {
		return errorf("invalid database URL from %s: %v (%s)", db.Source, err, notShown)
	}
	return nil
}

// Database returns the database this configuration names.
func (c *Config) Database() Database { return c.database }

// notShown ends every message about a connection string that is not shown.
const notShown = "not shown, it may hold a password"

// Hidden is what Redact returns for a connection string it cannot read.
const Hidden = "(invalid, " + notShown + ")"

// Redact hides the passwords in a connection string, URL or key=value form,
// and shows the rest as it was written. A string that cannot be read without
// guessing where its password ends (see parseConnString) is hidden whole.
func Redact(connString string) string {
	if connString == "" {
		return ""
	}
	cs, err := parseConnString(connString)
	if err != nil {
		return Hidden
	}
	var b strings.Builder
	last := 0
	for _, s := range cs.secrets {
		b.WriteString(connString[last:s.start])
		b.WriteString("xxxxx")
		last = s.end
	}
	b.WriteString(connString[last:])
	return b.String()
}

// span is a byte range of a connection string.
type span struct{ start, end int }

// connString is what parseConnString learnt: where the secrets are.
type connString struct {
	secrets []span // in order, not overlapping
}

// isSecretKey reports whether a keyword's value is to be hidden: the
// password and sslpassword keywords, and, to be safe, anything that looks
// like a misspelt one.
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	if k == "passfile" {
		return false // a path
	}
	return strings.Contains(k, "pass") || strings.Contains(k, "pwd") || strings.Contains(k, "secret")
}

// isKeyword reports whether s is what a libpq keyword or a server setting
// can be called: ^[A-Za-z_][A-Za-z0-9_.]*$. Every command that reaches the
// database checks its connection string, so this is a loop, not a regular
// expression compiled at every start.
func isKeyword(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z':
		case i > 0 && (c == '.' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}

// hasScheme reports whether s starts like a URL: ^[A-Za-z][A-Za-z0-9+.-]*:.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z':
		case i > 0 && (c == '+' || c == '.' || c == '-' || '0' <= c && c <= '9'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// parseConnString reads a connection string as pgx does (libpq's rules for
// URLs and for keyword/value pairs) and refuses, beyond what pgx refuses,
// what it could only read by guessing where a password ends: a URL under
// another scheme, which pgx would take for a keyword and send to the server;
// an "@" after the host, which means a password with an unencoded "@" or "/";
// a keyword that is not a name; a port that is not a number. Its errors never
// quote the string.
func parseConnString(s string) (connString, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return connString{}, errors.New("it holds a NUL byte")
	}
	for _, prefix := range []string{"postgresql://", "postgres://"} {
		if strings.HasPrefix(s, prefix) {
			return parseURL(s, len(prefix))
		}
	}
	if hasScheme(s) {
		return connString{}, errors.New("it does not start with postgres:// or postgresql://, and is not keyword=value pairs")
	}
	return parseKeywordValue(s)
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// parseKeywordValue follows pgconn's parseKeywordValueSettings, which follows
// libpq: keyword = value, separated by whitespace; a value may be quoted in
// single quotes, and a backslash takes the next character literally.
func parseKeywordValue(s string) (connString, error) {
	var cs connString
	i := 0
	skip := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	skip()
	for i < len(s) {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return cs, errors.New(`it is not keyword=value pairs: a "=" is missing`)
		}
		key := strings.Trim(s[i:i+eq], " \t\n\v\f\r")
		if !isKeyword(key) {
			return cs, errors.New("it is not keyword=value pairs: a keyword is not a name (quote a value that holds spaces)")
		}
		i += eq + 1
		skip()
		start := i
		var value string
		switch {
		case i == len(s):
		case s[i] != '\'':
			var b strings.Builder
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' {
					i++
					if i == len(s) {
						break
					}
				}
				b.WriteByte(s[i])
				i++
			}
			value = b.String()
		default:
			i++
			var b strings.Builder
			for {
				if i >= len(s) {
					return cs, errors.New("a quoted value is not closed")
				}
				if s[i] == '\'' {
					break
				}
				if s[i] == '\\' {
					i++
					if i == len(s) {
						return cs, errors.New("a quoted value is not closed")
					}
				}
				b.WriteByte(s[i])
				i++
			}
			i++ // the closing quote
			value = b.String()
		}
		end := i
		if isSecretKey(key) && end > start {
			cs.secrets = append(cs.secrets, span{start, end})
		}
		if key == "port" {
			if err := checkPorts(value); err != nil {
				return cs, err
			}
		}
		skip()
	}
	return cs, nil
}

// parseURL follows pgconn's parseURLSettings, which follows libpq:
// scheme://[user[:password]@]host[:port][,host[:port]...][/dbname][?key=value&...].
// p is where the part after the scheme starts.
func parseURL(s string, p int) (connString, error) {
	var cs connString
	// As in libpq, the user name and password end at the first "@" before
	// any "/".
	if i := strings.IndexAny(s[p:], "@/"); i >= 0 && s[p+i] == '@' {
		userinfo := s[p : p+i]
		if c := strings.IndexByte(userinfo, ':'); c >= 0 {
			if err := checkDecode(userinfo[:c]); err != nil {
				return cs, errors.New("the user name is not percent-encoded correctly")
			}
			if c+1 < len(userinfo) {
				if err := checkDecode(userinfo[c+1:]); err != nil {
					return cs, errors.New("the password is not percent-encoded correctly")
				}
				cs.secrets = append(cs.secrets, span{p + c + 1, p + i})
			}
		} else if err := checkDecode(userinfo); err != nil {
			return cs, errors.New("the user name is not percent-encoded correctly")
		}
		p += i + 1
	}
	if strings.IndexByte(s[p:], '@') >= 0 {
		return cs, errors.New(`it holds an "@" after the host: write "@" and "/" in the user name and password as %40 and %2F`)
	}
	rest := s[p:]
	path, query, hasQuery := strings.Cut(rest, "?")
	hosts, dbname, _ := strings.Cut(path, "/")
	if err := checkHosts(hosts); err != nil {
		return cs, err
	}
	if err := checkDecode(dbname); err != nil {
		return cs, errors.New("the database name is not percent-encoded correctly")
	}
	if !hasQuery {
		return cs, nil
	}
	at := p + len(path) + 1
	pairs := strings.Split(query, "&")
	for n, pair := range pairs {
		if pair == "" && n == len(pairs)-1 {
			break // libpq allows one trailing "&", and an empty query
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.Contains(v, "=") {
			return cs, errors.New(`a URL parameter is not key=value`)
		}
		key, err := decode(k)
		if err != nil || !isKeyword(key) {
			return cs, errors.New("a URL parameter's key is not a name")
		}
		value, err := decode(v)
		if err != nil {
			return cs, errors.New("a URL parameter's value is not percent-encoded correctly")
		}
		if isSecretKey(key) && v != "" {
			start := at + len(k) + 1
			cs.secrets = append(cs.secrets, span{start, start + len(v)})
		}
		if key == "port" {
			if err := checkPorts(value); err != nil {
				return cs, err
			}
		}
		at += len(pair) + 1
	}
	return cs, nil
}

// checkHosts checks the host list of a URL: host[:port], comma-separated,
// an IPv6 address in brackets.
func checkHosts(hosts string) error {
	if hosts == "" {
		return nil
	}
	for _, h := range strings.Split(hosts, ",") {
		port := ""
		if strings.HasPrefix(h, "[") {
			end := strings.IndexByte(h, ']')
			if end < 2 {
				return errors.New("an IPv6 host address is not closed by ] or is empty")
			}
			after := h[end+1:]
			if after != "" && after[0] != ':' {
				return errors.New("an IPv6 host address is followed by something other than :port")
			}
			port = strings.TrimPrefix(after, ":")
		} else {
			var name string
			name, port, _ = strings.Cut(h, ":")
			if err := checkDecode(name); err != nil {
				return errors.New("a host name is not percent-encoded correctly")
			}
		}
		p, err := decode(port)
		if err != nil {
			return errors.New("a port is not a number from 1 to 65535")
		}
		if err := checkPorts(p); err != nil {
			return err
		}
	}
	return nil
}

// checkPorts checks a comma-separated list of ports, an empty one meaning the
// default.
func checkPorts(list string) error {
	for _, p := range strings.Split(list, ",") {
		if p == "" {
			continue
		}
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return errors.New("a port is not a number from 1 to 65535")
		}
	}
	return nil
}

func checkDecode(s string) error {
	_, err := decode(s)
	return err
}

// decode percent-decodes a URL component as libpq does: "%" and two hex
// digits, %00 refused, spaces allowed only around the component.
func decode(raw string) (string, error) {
	s := strings.Trim(raw, " ")
	if strings.IndexByte(s, ' ') >= 0 {
		return "", errors.New("a space inside a URL component")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("a bad percent-encoding")
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || n == 0 {
			return "", errors.New("a bad percent-encoding")
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

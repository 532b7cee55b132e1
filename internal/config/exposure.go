package config

import (
	"fmt"
	"os"
	"sort"
)

// ExposedPassword returns a one-line warning when the config file that was
// read holds a password (in database_url) and every user of the machine can
// read the file, and "" otherwise. Load only finds it out: the daemon logs it
// once at start, and `config` and `status` print it, so that it reaches
// whoever can fix the mode without a line on every command a hook runs.
// A file readable by its group is left alone: that is how a system unit's
// account is given its configuration (root:angelad, mode 0640).
func (c *Config) ExposedPassword() string { return c.exposed }

// exposedPassword is ExposedPassword of the file at path with values.
func exposedPassword(path string, values map[string]string) string {
	var keys []string
	for name, v := range values {
		if k, ok := keyIndex(name); ok && k.secret && holdsPassword(v) {
			keys = append(keys, name)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	sort.Strings(keys)
	return fmt.Sprintf("config file %s holds a password (%s) and every user of this machine can read it (mode %04o): run chmod 600 %s, or move the password to ~/.pgpass or PGPASSWORD",
		path, keys[0], fi.Mode().Perm(), path)
}

// holdsPassword reports whether a connection string carries a password. One
// that cannot be read may: it is counted as one.
func holdsPassword(s string) bool {
	if s == "" {
		return false
	}
	cs, err := parseConnString(s)
	if err != nil {
		return true
	}
	for _, sp := range cs.secrets {
		if sp.end > sp.start {
			return true
		}
	}
	return false
}

package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// binSearch says where FindBinDir looks.
type binSearch struct {
	path     string   // a PATH-like list of directories
	patterns []string // globs of versioned install directories, searched in order
}

// installPatterns are the usual server install locations; each is searched
// newest version first.
func installPatterns() []string {
	return []string{
		"/usr/lib/postgresql/*/bin",          // Debian, Ubuntu
		"/opt/homebrew/opt/postgresql@*/bin", // Homebrew on Apple silicon
		"/usr/local/opt/postgresql@*/bin",    // Homebrew on Intel
	}
}

// FindBinDir returns the directory holding the PostgreSQL server programs
// initdb, pg_ctl and postgres. A non-empty override is the only place looked
// at. Otherwise it tries, in order: each directory on PATH that holds initdb
// and pg_ctl (following symbolic links to the real programs, and skipping
// Debian's pg_wrapper links), the directory `pg_config --bindir` names,
// /usr/lib/postgresql/*/bin, /opt/homebrew/opt/postgresql@*/bin and
// /usr/local/opt/postgresql@*/bin, the last three newest version first. When
// nothing fits, the error wraps ErrNoServerBinaries.
func FindBinDir(override string) (string, error) {
	return findBinDir(override, binSearch{path: os.Getenv("PATH"), patterns: installPatterns()})
}

func findBinDir(override string, s binSearch) (string, error) {
	if override != "" {
		// The programs run in the state directory: a relative path would not
		// mean the same there.
		if abs, err := filepath.Abs(override); err == nil {
			override = abs
		}
		if missing := missingPrograms(override); missing != "" {
			return "", fmt.Errorf("the PostgreSQL bin directory %s has no %s: %w", override, missing, ErrNoServerBinaries)
		}
		return override, nil
	}
	for _, dir := range filepath.SplitList(s.path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a relative PATH entry depends on the working directory
		}
		if resolved, ok := binDirBehind(dir); ok {
			return resolved, nil
		}
	}
	if dir := pgConfigBinDir(s.path); dir != "" && missingPrograms(dir) == "" {
		return dir, nil
	}
	for _, pattern := range s.patterns {
		for _, dir := range newestFirst(pattern) {
			if missingPrograms(dir) == "" {
				return dir, nil
			}
		}
	}
	return "", ErrNoServerBinaries
}

// binDirBehind returns the directory the initdb and pg_ctl in dir really live
// in, when that directory holds all the server programs. The programs find
// each other relative to their real location, so that is the one to use.
func binDirBehind(dir string) (string, bool) {
	var resolved string
	for _, name := range []string{"initdb", "pg_ctl"} {
		p, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil {
			return "", false
		}
		d := filepath.Dir(p)
		if resolved != "" && d != resolved {
			return "", false // a mix of installs
		}
		resolved = d
	}
	if missingPrograms(resolved) != "" {
		return "", false
	}
	return resolved, true
}

// missingPrograms returns the first server program dir lacks, or "". A program
// counts only if it resolves to an executable regular file of its own name,
// which rules out wrappers such as Debian's pg_wrapper.
func missingPrograms(dir string) string {
	// initdb creates the cluster, pg_ctl starts and stops it, both run postgres.
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		p := filepath.Join(dir, name)
		target, err := filepath.EvalSymlinks(p)
		if err != nil || filepath.Base(target) != name {
			return name
		}
		fi, err := os.Stat(target)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return name
		}
	}
	return ""
}

// pgConfigBinDir asks the first pg_config on path for its bin directory.
func pgConfigBinDir(path string) string {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		prog := filepath.Join(dir, "pg_config")
		fi, err := os.Stat(prog)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := exec.CommandContext(ctx, prog, "--bindir").Output()
		cancel()
		if err != nil {
			return ""
		}
		if bin := strings.TrimSpace(string(out)); filepath.IsAbs(bin) {
			return bin
		}
		return ""
	}
	return ""
}

// newestFirst returns the directories matching pattern, whose one wildcard
// path element holds a version ("15", "9.6", "postgresql@16"), newest version
// first.
func newestFirst(pattern string) []string {
	matches, err := filepath.Glob(pattern)
	if err != nil || len(matches) == 0 {
		return nil
	}
	elems := strings.Split(filepath.ToSlash(pattern), "/")
	at, prefix, suffix := -1, "", ""
	for i, e := range elems {
		if before, after, ok := strings.Cut(e, "*"); ok {
			at, prefix, suffix = i, before, after
			break
		}
	}
	version := func(match string) []int {
		parts := strings.Split(filepath.ToSlash(match), "/")
		if at < 0 || at >= len(parts) {
			return nil
		}
		v := strings.TrimSuffix(strings.TrimPrefix(parts[at], prefix), suffix)
		return parseVersion(v)
	}
	sort.SliceStable(matches, func(i, j int) bool {
		return versionLess(version(matches[j]), version(matches[i]))
	})
	return matches
}

// parseVersion parses "15" or "9.6"; anything else is nil, older than every
// version.
func parseVersion(s string) []int {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil
		}
		v = append(v, n)
	}
	return v
}

func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

package managed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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
//
// FindBinDir suits a new cluster. An existing one needs the programs of its
// own major version, which Start looks for in the same places.
func FindBinDir(override string) (string, error) {
	return findBinDir(context.Background(), override, defaultSearch(), "", "")
}

// defaultSearch looks where FindBinDir documents.
func defaultSearch() binSearch {
	return binSearch{path: os.Getenv("PATH"), patterns: installPatterns()}
}

// findClusterBinDir returns the programs for the cluster in dataDir: those of
// the major version in its PG_VERSION file, or, while there is no cluster yet,
// the first that fit as FindBinDir picks them. It also returns that version
// ("" for no cluster), so that a caller can tell when the cluster changed.
func findClusterBinDir(ctx context.Context, override string, s binSearch, dataDir string) (bin, major string, err error) {
	major, err = clusterVersion(dataDir)
	if err != nil {
		return "", "", err
	}
	bin, err = findBinDir(ctx, override, s, dataDir, major)
	return bin, major, err
}

// clusterVersion returns the major version of the cluster in dataDir as its
// PG_VERSION file says ("15", "9.6"), or "" when there is no cluster. A file
// that holds no version also gives "": the server programs then say what is
// wrong with it.
func clusterVersion(dataDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the cluster's version: %w", err)
	}
	v := strings.TrimSpace(string(data))
	if parseVersion(v) == nil {
		return "", nil
	}
	return v, nil
}

// findBinDir is FindBinDir for the cluster in dataDir, whose major version is
// major ("" when it does not exist yet and any version will do). A PostgreSQL
// server refuses a data directory of another major version, and discovery
// would otherwise pick whatever version the package manager last installed.
func findBinDir(ctx context.Context, override string, s binSearch, dataDir, major string) (string, error) {
	if override != "" {
		// The programs run in the state directory: a relative path would not
		// mean the same there.
		if abs, err := filepath.Abs(override); err == nil {
			override = abs
		}
		if missing := missingPrograms(override); missing != "" {
			return "", fmt.Errorf("the PostgreSQL bin directory %s has no %s: %w", override, missing, ErrNoServerBinaries)
		}
		// An unreadable version is left to the programs themselves to report,
		// when they run: it may be a passing failure.
		if v, err := serverVersion(ctx, override); major != "" && err == nil && v != major {
			msg := fmt.Sprintf("the managed cluster in %s is PostgreSQL %s but postgres.bin_dir %s holds PostgreSQL %s: set postgres.bin_dir to PostgreSQL %s's bin directory", dataDir, major, override, v, major)
			if versionLess(parseVersion(major), parseVersion(v)) {
				msg += "; to move the data to " + v + " use pg_upgrade"
			}
			return "", setupFault(errors.New(msg))
		}
		return override, nil
	}
	var (
		found      []string // the major versions of the candidates that did not fit
		unreadable error    // why a candidate's version could not be read
	)
	for dir := range s.candidates() {
		if major == "" {
			return dir, nil
		}
		v, err := serverVersion(ctx, dir)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if unreadable == nil {
				unreadable = err
			}
		case v == major:
			return dir, nil
		default:
			found = append(found, v)
		}
	}
	switch {
	case major == "":
		return "", ErrNoServerBinaries
	case len(found) == 0 && unreadable == nil:
		return "", fmt.Errorf("the managed cluster in %s is PostgreSQL %s: %w", dataDir, major, ErrNoServerBinaries)
	case len(found) == 0:
		return "", fmt.Errorf("the managed cluster in %s is PostgreSQL %s: %w", dataDir, major, unreadable)
	}
	err := versionMismatch(dataDir, major, found)
	if unreadable != nil {
		// The programs whose version is unknown may be the right ones, once
		// whatever broke them is repaired: worth another try.
		return "", fmt.Errorf("%s (%v)", err, unreadable)
	}
	return "", setupFault(err)
}

// versionMismatch says that a cluster of version major found only server
// programs of the versions in found, and what to do about it.
func versionMismatch(dataDir, major string, found []string) error {
	slices.SortFunc(found, func(a, b string) int {
		switch va, vb := parseVersion(a), parseVersion(b); {
		case versionLess(va, vb):
			return -1
		case versionLess(vb, va):
			return 1
		}
		return 0
	})
	found = slices.Compact(found)
	list := found[len(found)-1]
	if n := len(found); n > 1 {
		list = strings.Join(found[:n-1], ", ") + " and " + found[n-1]
	}
	msg := fmt.Sprintf("the managed cluster in %s is PostgreSQL %s but only PostgreSQL %s server binaries were found: install PostgreSQL %s's server (Debian: postgresql-%s, Homebrew: postgresql@%s) or set postgres.bin_dir",
		dataDir, major, list, major, major, major)
	if newest := found[len(found)-1]; versionLess(parseVersion(major), parseVersion(newest)) {
		msg += "; to move the data to " + newest + " use pg_upgrade"
	}
	return errors.New(msg)
}

// candidates yields each directory that holds all the server programs, in the
// order FindBinDir documents, each once. pg_config runs only when the
// directories on PATH are used up.
func (s binSearch) candidates() iter.Seq[string] {
	return func(yield func(string) bool) {
		seen := map[string]bool{}
		try := func(dir string) bool {
			if seen[dir] {
				return true
			}
			seen[dir] = true
			return yield(dir)
		}
		for _, dir := range filepath.SplitList(s.path) {
			if dir == "" || !filepath.IsAbs(dir) {
				continue // a relative PATH entry depends on the working directory
			}
			if resolved, ok := binDirBehind(dir); ok && !try(resolved) {
				return
			}
		}
		if dir := pgConfigBinDir(s.path); dir != "" && missingPrograms(dir) == "" && !try(dir) {
			return
		}
		for _, pattern := range s.patterns {
			for _, dir := range newestFirst(pattern) {
				if missingPrograms(dir) == "" && !try(dir) {
					return
				}
			}
		}
	}
}

// versionTimeout bounds `postgres --version`.
const versionTimeout = 10 * time.Second

// serverVersion returns the major version of the postgres program in dir, the
// one that reads the data directory. It runs as the calling user, root too:
// postgres answers --version before it refuses root.
func serverVersion(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	prog := filepath.Join(dir, "postgres")
	cmd := exec.CommandContext(ctx, prog, "--version")
	cmd.Env = programEnv(os.Environ())
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", prog, err)
	}
	v, ok := majorVersion(string(out))
	if !ok {
		return "", fmt.Errorf("%s --version: no version in %q", prog, strings.TrimSpace(string(out)))
	}
	return v, nil
}

// versionOutput matches what PostgreSQL's programs print for --version, such
// as "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" or
// "pg_ctl (PostgreSQL) 17beta1".
var versionOutput = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`) })

// majorVersion returns the major version in a program's --version output, in
// the form PG_VERSION holds it: "15" for 15.18, but "9.6" for 9.6.24, since
// before PostgreSQL 10 the major version had two parts.
func majorVersion(out string) (string, bool) {
	m := versionOutput().FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	first, err := strconv.Atoi(m[1])
	if err != nil {
		return "", false
	}
	if first >= 10 {
		return strconv.Itoa(first), true
	}
	if m[2] == "" {
		return "", false
	}
	second, err := strconv.Atoi(m[2])
	if err != nil {
		return "", false
	}
	return strconv.Itoa(first) + "." + strconv.Itoa(second), true
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

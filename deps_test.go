// Package angelad_test holds the dependency test, which keeps the layout of
// the module: which package may use which. It asks the go command for the
// package graph (`go list -json`), for each platform angelad ships on, and
// checks the rules below against it; a change that breaks one fails here with
// a line naming the package, what it reaches and the rule, rather than months
// later as a tangle.
package angelad_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this module's path.
const module = "github.com/angela-ai/angelad"

// pkg is what the rules read of one package of the module.
type pkg struct {
	ImportPath string
	// Imports are the packages its non-test files import.
	Imports []string
	// Deps are every package its non-test files reach, directly or not.
	Deps []string
}

// The store packages own the tables and the SQL that writes them: they serve
// the ways in (the CLI, hooks, MCP, the socket) and the workers, and so must
// not reach up to any of them. Capture reads transcripts into the
// conversation store, and the spool holds records for the stores while the
// database is away and drains them into the stores: both sit above the
// stores.
var stores = []string{"internal/conversation", "internal/memory", "internal/dailyupdate", "internal/postgres"}

// storesMustNotReach are what no store package may depend on.
var storesMustNotReach = []string{
	"internal/capture", "internal/spool",
	"internal/access", "internal/socket", "internal/mcpserver", "internal/claudecode",
}

// conversationMustNotReach: the conversation store is the lowest one, beside
// the emotions of memory but not on top of them (memory's consolidation
// reads conversations, not the other way round).
var conversationMustNotReach = []string{"internal/memory"}

// mcpserverMustNotImport: the MCP server reaches memory through access (the
// socket, then a connection of its own, then the spool) and the store
// packages' calls on the connection access hands it; it must not open a
// connection, start the cluster, spool or talk to the socket itself. It may
// import pgx for the type of that connection.
var mcpserverMustNotImport = []string{
	"internal/postgres", "internal/postgres/managed", "internal/spool", "internal/socket",
	"github.com/jackc/pgx/v5/pgxpool", "github.com/jackc/pgx/v5/pgconn",
}

// socketMustNotImport: the socket serves the daemon's warm pool to the
// short-lived processes by calling the store packages on the postgres.DB
// handle the daemon gives it; it opens nothing of its own and knows nothing
// of the paths behind it (access, the spool, the cluster).
var socketMustNotImport = []string{
	"internal/postgres/managed", "internal/spool", "internal/access", "internal/capture",
	"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgxpool", "github.com/jackc/pgx/v5/pgconn",
}

// The test harnesses are the packages made for tests: the kit, which only
// _test.go files may import (testOnly), and pgtest. Both link the testing
// package, which the non-test code of no other package may reach, since the
// angelad binary would then carry test code and register test flags. The one
// exception (testingUsers) is the bench report, a program that starts a
// throwaway cluster with pgtest as the tests do.
var (
	testOnly     = []string{"internal/testkit"}
	testHarness  = []string{"internal/testkit", "internal/postgres/pgtest"}
	testingUsers = []string{"cmd/angelad-bench"}
)

// abs returns the import path of a package the rules name: relative to the
// module for its own (internal/..., cmd/...), as it is for any other.
func abs(path string) string {
	if strings.HasPrefix(path, "internal/") || strings.HasPrefix(path, "cmd/") {
		return module + "/" + path
	}
	return path
}

// violations returns one line for each rule pkgs break.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		path := strings.TrimPrefix(p.ImportPath, module+"/")
		bad := func(what, rule string) {
			out = append(out, fmt.Sprintf("%s reaches %s: %s", path, strings.TrimPrefix(what, module+"/"), rule))
		}
		check := func(among, forbidden []string, rule string) {
			for _, f := range forbidden {
				if slices.Contains(among, abs(f)) {
					bad(abs(f), rule)
				}
			}
		}
		if slices.Contains(stores, path) {
			check(p.Deps, storesMustNotReach, "a store package must not depend on capture, the spool or a way in")
		}
		if path == "internal/conversation" {
			check(p.Deps, conversationMustNotReach, "the conversation store must not depend on memory")
		}
		if strings.HasPrefix(path, "internal/") {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, module+"/cmd/") {
					bad(d, "nothing under internal/ may depend on cmd/")
				}
			}
		}
		if path == "internal/mcpserver" {
			check(p.Imports, mcpserverMustNotImport, "the MCP server reaches the database only through access and the store packages")
		}
		if path == "internal/socket" {
			check(p.Imports, socketMustNotImport, "the socket reaches the database only through the store packages on the daemon's handle")
		}
		if !slices.Contains(testHarness, path) {
			check(p.Deps, testOnly, "only _test.go files may import the test kit")
			if !slices.Contains(testingUsers, path) {
				check(p.Deps, []string{"testing"}, "only the test harnesses (and the bench report) may link the testing package outside _test.go files")
			}
		}
	}
	return out
}

// listPackages returns the module's packages as the go command builds them
// for goos/goarch.
func listPackages(t *testing.T, goos, goarch string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,GoFiles,Error", "./...")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list for %s/%s: %v\n%s", goos, goarch, err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			pkg
			GoFiles []string
			Error   *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list for %s/%s: %v", goos, goarch, err)
		}
		if len(p.GoFiles) == 0 {
			continue // only tests here (this package), or nothing for this platform
		}
		if p.Error != nil {
			t.Fatalf("go list for %s/%s: %s: %s", goos, goarch, p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p.pkg)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list for %s/%s found no packages", goos, goarch)
	}
	return pkgs
}

// TestPackagesKeepTheLayout checks the rules against the module as it is, on
// Linux and macOS.
func TestPackagesKeepTheLayout(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the packages with")
	}
	for _, platform := range [][2]string{{"linux", "amd64"}, {"darwin", "arm64"}} {
		t.Run(platform[0], func(t *testing.T) {
			t.Parallel()
			pkgs := listPackages(t, platform[0], platform[1])
			for _, v := range violations(pkgs) {
				t.Error(v)
			}
		})
	}
}

// TestDependencyRulesCatchWhatTheyForbid runs the rules on made-up graphs,
// one breach each, so that a rule that could never fire does not pass for
// one that holds.
func TestDependencyRulesCatchWhatTheyForbid(t *testing.T) {
	m := func(rel string) string { return module + "/" + rel }
	for _, tt := range []struct {
		name string
		p    pkg
		want string
	}{
		{"a store depends on capture", pkg{ImportPath: m("internal/memory"), Deps: []string{m("internal/text"), m("internal/capture")}},
			"internal/memory reaches internal/capture"},
		{"a store depends on the spool", pkg{ImportPath: m("internal/dailyupdate"), Deps: []string{m("internal/spool")}},
			"internal/dailyupdate reaches internal/spool"},
		{"postgres depends on a way in", pkg{ImportPath: m("internal/postgres"), Deps: []string{m("internal/access")}},
			"internal/postgres reaches internal/access"},
		{"conversation depends on memory", pkg{ImportPath: m("internal/conversation"), Deps: []string{m("internal/memory")}},
			"internal/conversation reaches internal/memory"},
		{"conversation depends on the spool", pkg{ImportPath: m("internal/conversation"), Deps: []string{m("internal/spool")}},
			"internal/conversation reaches internal/spool"},
		{"internal depends on cmd", pkg{ImportPath: m("internal/query"), Deps: []string{m("cmd/angelad/sub")}},
			"internal/query reaches cmd/angelad/sub"},
		{"the MCP server opens a pool", pkg{ImportPath: m("internal/mcpserver"), Imports: []string{"github.com/jackc/pgx/v5/pgxpool"}},
			"internal/mcpserver reaches github.com/jackc/pgx/v5/pgxpool"},
		{"the MCP server connects by itself", pkg{ImportPath: m("internal/mcpserver"), Imports: []string{m("internal/postgres")}},
			"internal/mcpserver reaches internal/postgres"},
		{"the socket uses pgx", pkg{ImportPath: m("internal/socket"), Imports: []string{"github.com/jackc/pgx/v5"}},
			"internal/socket reaches github.com/jackc/pgx/v5"},
		{"the socket spools", pkg{ImportPath: m("internal/socket"), Imports: []string{m("internal/spool")}},
			"internal/socket reaches internal/spool"},
		{"production code imports the kit", pkg{ImportPath: m("internal/capture"), Deps: []string{m("internal/testkit"), "testing"}},
			"internal/capture reaches internal/testkit"},
		{"the binary links testing", pkg{ImportPath: m("cmd/angelad"), Deps: []string{"testing"}},
			"cmd/angelad reaches testing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := violations([]pkg{tt.p})
			if !slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, tt.want+":") }) {
				t.Errorf("violations = %q, want one starting %q", got, tt.want)
			}
		})
	}
	// What the layout allows passes.
	allowed := []pkg{
		{ImportPath: m("internal/capture"), Deps: []string{m("internal/conversation"), m("internal/spool")}},
		{ImportPath: m("internal/spool"), Deps: []string{m("internal/conversation"), m("internal/memory")}},
		{ImportPath: m("internal/mcpserver"), Imports: []string{m("internal/access"), m("internal/memory"), "github.com/jackc/pgx/v5"}},
		{ImportPath: m("internal/socket"), Imports: []string{m("internal/postgres"), m("internal/memory")}},
		{ImportPath: m("internal/postgres/pgtest"), Deps: []string{"testing"}},
		{ImportPath: m("cmd/angelad-bench"), Deps: []string{m("internal/postgres/pgtest"), "testing"}},
	}
	if got := violations(allowed); len(got) != 0 {
		t.Errorf("violations of an allowed graph: %q", got)
	}
}

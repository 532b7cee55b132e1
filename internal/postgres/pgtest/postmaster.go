package pgtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/managed"
)

// PostmasterPID returns the pid of c's postmaster as its postmaster.pid names
// it (the file's first line), failing t when there is no such file: for a
// test that kills the server or checks that a restart replaced it.
func PostmasterPID(t testing.TB, c *managed.Cluster) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

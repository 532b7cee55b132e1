package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// ownCluster gives a test a cluster of its own that it can stop and start
// under a daemon that sees it as an external database.
func ownCluster(t *testing.T) *managed.Cluster {
	t.Helper()
	cluster := managed.New(managed.Options{StateDir: pgtest.StateDir(t), Fast: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster.Stop(ctx)
	})
	return cluster
}

func TestDaemonWaitsForADatabaseThatIsNotUpYetAndSurvivesAnOutage(t *testing.T) {
	t.Parallel()
	cluster := ownCluster(t)
	ctx := context.Background()
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Each check may take half the period: long enough that a loaded machine
	// does not fail a check of a database that is up.
	c := newCLI(t, cluster.ConnString(managed.Database)).with("ANGELA_POOL_HEALTH_CHECK_PERIOD=1s", "ANGELA_POOL_CONNECT_TIMEOUT=2s")
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"database not ready, retrying"`)
	if _, err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d.waitFor(t, `"msg":"ready"`)

	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	d.waitFor(t, `"msg":"database unreachable"`)
	awaitStatus(t, c, "the outage", func(r result) bool {
		return r.code == 1 && strings.Contains(r.stdout, `"reachable": false`)
	})
	if _, err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d.waitFor(t, `"msg":"database reachable again"`)
	if n := strings.Count(d.log(), "database unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, d.log())
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, d.log())
	}
}

// awaitStatus runs status --json until what it says satisfies ok, failing
// the test after a deadline.
func awaitStatus(t *testing.T, c *cli, what string, ok func(result) bool) result {
	t.Helper()
	var r result
	testkit.WaitFor(t, "status to show "+what, func() error {
		if r = c.run("", "status", "--json"); !ok(r) {
			return fmt.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		return nil
	})
	return r
}

func TestStatusIsUnhealthyWhileTheDaemonIsFrozen(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t)).with("ANGELA_POOL_HEALTH_CHECK_PERIOD=1s")
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"ready"`)
	awaitStatus(t, c, "a healthy daemon", func(r result) bool { return r.code == 0 })
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Signal(syscall.SIGCONT) })
	r := awaitStatus(t, c, "the frozen daemon", func(r result) bool { return r.code == 1 })
	if !strings.Contains(r.stdout, "has not refreshed its status") {
		t.Errorf("status of a frozen daemon does not say it is stale:\n%s", r.stdout)
	}
	if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "the daemon healthy again", func(r result) bool { return r.code == 0 })
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, d.log())
	}
}

func TestSecondDaemonOnOneStateDirExits1NamingThePID(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"ready"`)
	r := c.run("", "run")
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", d.cmd.Process.Pid)) {
		t.Errorf("second run: exit %d, stderr %q; want exit 1 naming pid %d", r.code, r.stderr, d.cmd.Process.Pid)
	}
	if code := d.stop(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d:\n%s", code, d.log())
	}
}

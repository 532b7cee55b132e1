package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// ownCluster gives a test a cluster of its own that it can stop and start
// under a daemon that sees it as an external database.
func ownCluster(t *testing.T) *postgres.Cluster {
	t.Helper()
	cluster := postgres.NewCluster(postgres.ClusterOptions{StateDir: pgtest.StateDir(t), Fast: true})
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
	c := newCLI(t, cluster.ConnString(postgres.ManagedDatabase)).with("ANGELA_POOL_HEALTH_CHECK_PERIOD=100ms", "ANGELA_POOL_CONNECT_TIMEOUT=2s")
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
	if r := c.run("", "status", "--json"); r.code != 1 || !strings.Contains(r.stdout, `"reachable": false`) {
		t.Errorf("status during the outage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
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

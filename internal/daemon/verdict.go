package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/managed"
)

// Observation is what `angelad status` sees of a daemon without asking it.
type Observation struct {
	// Running says whether a process holds the state directory's lock.
	Running bool
	// PID is the pid the lock file names (0: none, -1: not named yet).
	PID int
	// Published is the daemon's status file; nil when there is none.
	Published *Status
	// Now is when the observation was made; the zero time skips the check
	// that the file is fresh.
	Now time.Time
	// Spool is what waits in the spool of one-shot saves.
	Spool SpoolBacklog
	// ClusterDown, when the daemon's database is the managed cluster and its
	// postmaster is not running, is that cluster's data directory. It is seen
	// from postmaster.pid and the process table, without the database.
	ClusterDown string
}

// Observe looks at the daemon of stateDir as `angelad status` does: its lock,
// its status file and, when its database is the managed cluster, whether that
// cluster's postmaster lives. None of it needs the database or the daemon's
// cooperation, so a hung daemon or a dead server shows at once.
func Observe(stateDir string, now time.Time) (Observation, error) {
	o := Observation{Now: now}
	pid, err := LockHolder(stateDir)
	if err != nil {
		return o, err
	}
	o.Running, o.PID = pid != 0, pid
	st, err := ReadStatus(stateDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return o, nil
	case err != nil:
		return o, err
	}
	o.Published = &st
	if o.Running && st.Database.Managed {
		c := managed.New(managed.Options{StateDir: stateDir})
		if running, known := c.ServerRunning(); known && !running {
			o.ClusterDown = c.DataDir()
		}
	}
	return o, nil
}

// SpoolBacklog is what waits in the spool: how many records, and when the
// oldest was spooled. The status command reads it from the spool directory.
type SpoolBacklog struct {
	Count  int
	Oldest time.Time
}

// SpoolMaxWait is how long a spooled record may wait while the database is
// reachable before the daemon counts as unhealthy: the drainer looks every few
// seconds, so a record older than that is one it cannot store. It is also how
// long the spool worker's drain may keep failing, records waiting, before the
// worker reports a problem of its own.
const SpoolMaxWait = 5 * time.Minute

// Verdict is the one place that decides whether a daemon is healthy. It
// returns what makes it unhealthy, the most fundamental first; none means
// healthy.
func Verdict(o Observation) []string {
	p := o.Published
	switch {
	case !o.Running:
		return []string{"the daemon is not running"}
	case p == nil:
		return []string{"the daemon has published no status yet"}
	case o.PID > 0 && p.PID != o.PID:
		return []string{fmt.Sprintf("the status file is from pid %d, not from the daemon running now (pid %d): it has published nothing yet", p.PID, o.PID)}
	case p.State != StateRunning:
		return []string{"the daemon is " + strings.ReplaceAll(p.State, "_", " ")}
	}
	var problems []string
	if !o.Now.IsZero() && !p.RefreshBy.IsZero() && o.Now.After(p.RefreshBy) {
		problems = append(problems, fmt.Sprintf("the daemon has not refreshed its status for %s (it does every %s): it is hung or stopped",
			o.Now.Sub(p.UpdatedAt).Round(time.Second), p.HealthCheckPeriod))
	}
	if o.ClusterDown != "" {
		problems = append(problems, "the managed PostgreSQL is not running: no live server in "+o.ClusterDown)
	}
	if !p.Database.Reachable {
		problems = append(problems, "the database is unreachable: "+p.Database.LastError)
	}
	if sp := o.Spool; p.Database.Reachable && sp.Count > 0 {
		// Only the time the database was reachable counts: records spooled
		// during an outage get their five minutes once it ends.
		since := sp.Oldest
		if p.Database.ReachableSince.After(since) {
			since = p.Database.ReachableSince
		}
		if waited := o.Now.Sub(since); waited > SpoolMaxWait {
			problems = append(problems, fmt.Sprintf("%d spooled saves wait, the oldest since %s, %s while the database is reachable (see angelad spool)",
				sp.Count, sp.Oldest.Format(time.RFC3339), waited.Round(time.Second)))
		}
	}
	for _, w := range p.Workers {
		switch {
		case w.State == WorkerFailed:
			problems = append(problems, "worker "+w.Name+" failed for good: "+w.LastError)
		case w.State == WorkerBackingOff:
			problems = append(problems, "worker "+w.Name+" is backing off after: "+w.LastError)
		case w.Problem != "":
			problems = append(problems, "worker "+w.Name+": "+w.Problem)
		}
	}
	return problems
}

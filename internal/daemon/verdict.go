package daemon

import (
	"fmt"
	"strings"
	"time"
)

// Observation is what `angelad status` sees of a daemon without asking it.
type Observation struct {
	// Running says whether a process holds the state directory's lock.
	Running bool
	// Published is the daemon's status file; nil when there is none.
	Published *Status
	// Spool is what waits in the spool of one-shot saves.
	Spool SpoolBacklog
	// Now is when the observation was made.
	Now time.Time
}

// SpoolBacklog is what waits in the spool: how many records, and when the
// oldest was spooled. The status command reads it from the spool directory.
type SpoolBacklog struct {
	Count  int
	Oldest time.Time
}

// SpoolMaxWait is how long a spooled record may wait while the database is
// reachable before the daemon counts as unhealthy: the drainer looks every few
// seconds, so a record older than that is one it cannot store.
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
	case p.State != StateRunning:
		return []string{"the daemon is " + strings.ReplaceAll(p.State, "_", " ")}
	}
	var problems []string
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

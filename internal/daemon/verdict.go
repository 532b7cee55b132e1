package daemon

import "strings"

// Observation is what `angelad status` sees of a daemon without asking it.
type Observation struct {
	// Running says whether a process holds the state directory's lock.
	Running bool
	// Published is the daemon's status file; nil when there is none.
	Published *Status
}

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

package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/spool"
)

type healthPage struct {
	Nav
	Healthy  bool
	Problems []string
	Error    string
	Status   *daemon.Status
	Workers  []healthWorker
	Spool    spool.Backlog
	SpoolErr string
	Now      time.Time
}

type healthWorker struct {
	daemon.WorkerStatus
	State string
	Lines []string
}

// health shows what `angelad status` shows, read the same way: the lock,
// the status file and the spool directory, judged by daemon.Verdict. The
// capture lag is the conversation worker's detail.
func (s *Server) healthData(context.Context, *http.Request) (healthPage, error) {
	now := s.o.Now()
	p := healthPage{Nav: Nav{"health"}, Now: now.In(s.o.Location)}
	o, err := daemon.Observe(s.o.StateDir, now)
	if err != nil {
		p.Error = err.Error()
		return p, nil
	}
	backlog, err := spool.New(s.o.StateDir, nil).Backlog()
	if err != nil {
		p.SpoolErr = err.Error()
	}
	p.Spool = backlog
	o.Spool = daemon.SpoolBacklog{Count: backlog.Count, Oldest: backlog.Oldest}
	p.Problems = daemon.Verdict(o)
	p.Healthy = len(p.Problems) == 0
	p.Status = o.Published
	p.Spool.Oldest = p.Spool.Oldest.In(s.o.Location)
	if p.Status != nil {
		// Shown in the configured zone, as every time of the viewer.
		st := *p.Status
		st.StartedAt = st.StartedAt.In(s.o.Location)
		st.Database.Latency = st.Database.Latency.Round(10 * time.Microsecond)
		p.Status = &st
		for _, wk := range p.Status.Workers {
			p.Workers = append(p.Workers, healthWorker{WorkerStatus: wk,
				State: strings.ReplaceAll(string(wk.State), "_", " "), Lines: daemon.DetailLines(wk.Detail)})
		}
	}
	return p, nil
}

package dailyupdate

import (
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
)

// JobsFromConfig parses the schedules of cfg's jobs. An invalid spec is a
// one-line error naming its key (config.Load has already refused one, so this
// only fails for a Config built by hand).
func JobsFromConfig(cfg config.DailyUpdate) (map[string]JobConfig, error) {
	jobs := map[string]JobConfig{}
	for _, name := range JobNames() {
		j, _ := cfg.Job(name)
		s, err := ParseSchedule(j.Schedule)
		if err != nil {
			return nil, fmt.Errorf("invalid dailyupdate.jobs.%s.schedule: %v", name, err)
		}
		jobs[name] = JobConfig{Schedule: s, Enabled: j.Enabled}
	}
	return jobs, nil
}

// NewInstance names this process in the ledger: host, pid and a random part,
// so that a restarted daemon with a reused pid is a different instance.
func NewInstance() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
}

// RunnerOptions builds the options shared by the worker and `angelad run-job`.
func RunnerOptions(cfg config.DailyUpdate, companion config.Companion, loc *time.Location) (Options, error) {
	jobs, err := JobsFromConfig(cfg)
	if err != nil {
		return Options{}, err
	}
	return Options{Jobs: jobs, MaxAttempts: cfg.MaxAttempts, CatchUp: cfg.CatchUp, Dir: cfg.Dir,
		Companion: companion, Location: loc, Instance: NewInstance(), Now: time.Now}, nil
}

// WorkerFactory builds the dailyupdate worker for the daemon.
func WorkerFactory(cfg config.DailyUpdate, companion config.Companion) daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) {
		o, err := RunnerOptions(cfg, companion, d.Location)
		if err != nil {
			return nil, err
		}
		o.Log, o.Now = d.Log, d.Clock.Now
		return NewWorker(WorkerOptions{Options: o, Pool: d.Pool, After: d.Clock.After,
			Detail: d.Status.Detail, Problem: d.Status.Problem, Database: d.Database}), nil
	}
}

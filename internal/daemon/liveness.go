package daemon

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// liveness records, for each loop the daemon cannot do without (the
// supervisor and the database monitor), until when it promised to come round
// again. A loop that misses its promise is wedged: the watchdog then stops
// telling the service manager that the daemon is alive, so that it is
// restarted.
type liveness struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func newLiveness() *liveness { return &liveness{until: map[string]time.Time{}} }

// promise records that the loop called name comes round again by until.
func (l *liveness) promise(name string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until[name] = until
}

// stalled returns, sorted, the loops whose promise ran out before now.
func (l *liveness) stalled(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for name, until := range l.until {
		if now.After(until) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// watchdog sends WATCHDOG=1 at half the service manager's watchdog interval
// while every loop in live keeps its promise, and nothing while one does not.
// It logs once when it stops for that reason and once when it resumes.
func (d *Daemon) watchdog(ctx context.Context, live *liveness) {
	var held []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.o.After(d.o.Watchdog / 2):
		}
		if stalled := live.stalled(d.o.Now()); len(stalled) > 0 {
			if held == nil {
				d.log.Error("not telling the service manager that the daemon is alive: a loop made no progress in time",
					zap.Strings("stalled", stalled), zap.Duration("watchdog", d.o.Watchdog))
			}
			held = stalled
			continue
		}
		if held != nil {
			d.log.Info("telling the service manager that the daemon is alive again", zap.Strings("were_stalled", held))
			held = nil
		}
		d.o.Notify("WATCHDOG=1")
	}
}

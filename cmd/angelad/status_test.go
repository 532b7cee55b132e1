package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/daemon"
)

func TestStatusShowsEachWorkersDetailAndProblems(t *testing.T) {
	at := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	r := statusReport{
		Daemon: daemonReport{Running: true, PID: 7, StateDir: "/s"},
		Published: &daemon.Status{State: daemon.StateRunning, Database: daemon.DatabaseStatus{Reachable: true}, Workers: []daemon.WorkerStatus{
			{Name: "conversation", State: daemon.WorkerRunning, Problem: "spool record waiting 6m0s",
				Detail: json.RawMessage(`{"files":12,"bytes_behind":0,"last":{"session":"s1","at":"2026-12-01T06:00:00Z"},"globs":["a","b"],"error":null}`)},
			{Name: "memory", State: daemon.WorkerFailed, LastError: "bad key", LastErrorAt: at},
		}},
	}
	r.Problems = daemon.Verdict(daemon.Observation{Running: true, Published: r.Published})
	var b strings.Builder
	if err := writeStatus(&b, r); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"worker:    conversation running, 0 restarts",
		"           problem: spool record waiting 6m0s",
		"           files: 12",
		"           bytes_behind: 0",
		"           last.session: s1",
		"           last.at: 2026-12-01T06:00:00Z",
		"           globs: a, b",
		"           error: none",
		"worker:    memory failed, 0 restarts, last error at 2026-12-01T06:00:00Z: bad key",
		"UNHEALTHY: worker conversation: spool record waiting 6m0s",
		"UNHEALTHY: worker memory failed for good: bad key",
	}
	out := b.String()
	last := 0
	for _, w := range want {
		i := strings.Index(out[last:], w+"\n")
		if i < 0 {
			t.Fatalf("status lacks %q in order; got:\n%s", w, out)
		}
		last += i + len(w)
	}
	if got := daemon.DetailLines(json.RawMessage(`{"a":`)); len(got) != 1 || !strings.HasPrefix(got[0], "detail: cannot be shown") {
		t.Errorf("broken detail = %q", got)
	}
}

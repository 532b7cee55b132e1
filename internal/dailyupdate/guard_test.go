package dailyupdate

import (
	"errors"
	"testing"
	"time"
)

func TestTheChainTurnsAPanicIntoAFailureAndSkipsAJobStillRunning(t *testing.T) {
	log, logs := observed()
	r := NewRunner(Options{Location: time.UTC, Log: log, Now: time.Now})
	err := r.guarded(JobEvening, func() error { panic("boom") })
	if !errors.Is(err, errNotRun) || logs.FilterMessage("cron: panic").Len() != 1 {
		t.Fatalf("after a panic: %v, %d panic lines logged", err, logs.FilterMessage("cron: panic").Len())
	}
	if err := r.guarded(JobEvening, func() error { return nil }); err != nil {
		t.Fatalf("the job after a panic: %v", err)
	}

	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- r.guarded(JobMorning, func() error { close(started); <-release; return nil })
	}()
	<-started
	ran := false
	if err := r.guarded(JobMorning, func() error { ran = true; return nil }); !errors.Is(err, errNotRun) || ran {
		t.Fatalf("a second run while the first is running: %v, ran %v", err, ran)
	}
	if logs.FilterMessage("cron: skip").Len() != 1 {
		t.Fatal("the skip was not logged")
	}
	// Another job is not held up.
	if err := r.guarded(JobMidnight, func() error { return nil }); err != nil {
		t.Fatalf("another job: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first run: %v", err)
	}
}

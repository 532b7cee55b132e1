package testkit_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/testkit"
)

var start = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// ended reports whether c has received, without waiting.
func ended(c <-chan time.Time) (time.Time, bool) {
	select {
	case at := <-c:
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestAdvanceEndsTheWaitsDueAndOnlyThose(t *testing.T) {
	clock := testkit.NewClock(start)
	minute, hour := clock.After(time.Minute), clock.After(time.Hour)
	clock.Advance(30 * time.Second)
	if _, ok := ended(minute); ok {
		t.Fatal("a one-minute wait ended after 30s")
	}
	clock.Advance(30 * time.Second)
	if at, ok := ended(minute); !ok || !at.Equal(start.Add(time.Minute)) {
		t.Fatalf("the one-minute wait after a minute: ended %v at %v", ok, at)
	}
	if _, ok := ended(hour); ok {
		t.Fatal("the one-hour wait ended after a minute")
	}
	clock.Advance(2 * time.Hour)
	if at, ok := ended(hour); !ok || !at.Equal(start.Add(2*time.Hour+time.Minute)) {
		t.Fatalf("the one-hour wait after 2h1m: ended %v at %v, want the clock's time", ok, at)
	}
}

func TestSetJumpsWithoutEndingWaitsAndFireAllEndsThem(t *testing.T) {
	clock := testkit.NewClock(start)
	hour := clock.After(time.Hour)
	later := start.Add(24 * time.Hour)
	clock.Set(later)
	if _, ok := ended(hour); ok {
		t.Fatal("a jump of the wall clock ended a wait")
	}
	if !clock.Now().Equal(later) {
		t.Fatalf("Now = %v after Set(%v)", clock.Now(), later)
	}
	clock.FireAll()
	if at, ok := ended(hour); !ok || !at.Equal(later) {
		t.Fatalf("FireAll: ended %v at %v, want at %v", ok, at, later)
	}
	// Ended waits are gone: a later Advance sends nothing more.
	clock.Advance(2 * time.Hour)
	if _, ok := ended(hour); ok {
		t.Fatal("a wait ended twice")
	}
}

func TestFireEndsOneWaitAndMovesTheClockToItsEnd(t *testing.T) {
	clock := testkit.NewClock(start)
	short, long := clock.After(time.Second), clock.After(time.Minute)
	w1, w2 := clock.NextWait(t), clock.NextWait(t)
	if w1.D != time.Second || w2.D != time.Minute || !w2.At.Equal(start.Add(time.Minute)) {
		t.Fatalf("the waits in call order: %v then %v (at %v)", w1.D, w2.D, w2.At)
	}
	w2.Fire()
	if at, ok := ended(long); !ok || !at.Equal(start.Add(time.Minute)) {
		t.Fatalf("the fired wait: ended %v at %v", ok, at)
	}
	if _, ok := ended(short); ok {
		t.Fatal("firing one wait ended another that was due by then")
	}
	// The clock does not go back to the end of an earlier wait.
	w1.Fire()
	if at, ok := ended(short); !ok || !at.Equal(start.Add(time.Minute)) {
		t.Fatalf("the earlier wait fired after the later one: ended %v at %v", ok, at)
	}
	w1.Fire() // a second Fire does nothing
	if _, ok := ended(short); ok {
		t.Fatal("a wait ended twice")
	}
}

func TestAWaitOfZeroEndsAtOnceAndIsNotHandedToTheTest(t *testing.T) {
	clock := testkit.NewClock(start)
	for _, d := range []time.Duration{0, -time.Second} {
		if at, ok := ended(clock.After(d)); !ok || !at.Equal(start) {
			t.Fatalf("After(%v): ended %v at %v, want at once", d, ok, at)
		}
	}
	if got := clock.TakeAll(); len(got) != 0 {
		t.Fatalf("%d zero waits handed to the test", len(got))
	}
}

func TestNextWaitWaitsForTheCodeUnderTestToWait(t *testing.T) {
	clock := testkit.NewClock(start)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 3 {
			<-clock.After(time.Duration(i+1) * time.Second)
		}
	})
	for i := range 3 {
		w := clock.NextWait(t)
		if w.D != time.Duration(i+1)*time.Second {
			t.Fatalf("wait %d is %v", i, w.D)
		}
		w.Fire()
	}
	wg.Wait()
	if !clock.Now().Equal(start.Add(6 * time.Second)) {
		t.Fatalf("Now = %v after 1s, 2s and 3s waits fired in turn", clock.Now())
	}
}

func TestTakeAllForgetsTheCallsSeenSoFar(t *testing.T) {
	clock := testkit.NewClock(start)
	clock.After(time.Second)
	clock.After(2 * time.Second)
	if got := clock.TakeAll(); len(got) != 2 || got[0].D != time.Second || got[1].D != 2*time.Second {
		t.Fatalf("TakeAll = %v", got)
	}
	clock.After(3 * time.Second)
	if w := clock.NextWait(t); w.D != 3*time.Second {
		t.Fatalf("NextWait after TakeAll = %v, want the later call", w.D)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs f with a recorder in a goroutine of its own and returns what
// it failed with, "" when it did not fail.
func failure(t *testing.T, f func(tb testing.TB)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msg
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var mu sync.Mutex
	n := 0
	msg := failure(t, func(tb testing.TB) {
		testkit.WaitWithin(tb, time.Minute, "three looks", func() bool {
			mu.Lock()
			defer mu.Unlock()
			n++
			return n == 3
		})
	})
	if msg != "" || n != 3 {
		t.Fatalf("failed %q after %d looks, want success at the third", msg, n)
	}
}

func TestWaitForFailsNamingTheConditionAtTheDeadline(t *testing.T) {
	msg := failure(t, func(tb testing.TB) {
		testkit.WaitWithin(tb, 20*time.Millisecond, "the impossible", func() bool { return false })
	})
	if !strings.Contains(msg, "the impossible") || !strings.Contains(msg, "20ms") {
		t.Fatalf("failure %q does not name the condition and the bound", msg)
	}
}

func TestWaitForShowsWhatAFailingConditionLastSaw(t *testing.T) {
	n := 0
	msg := failure(t, func(tb testing.TB) {
		testkit.WaitWithin(tb, 20*time.Millisecond, "three rows", func() error {
			n++
			return fmt.Errorf("%d rows", min(n, 2))
		})
	})
	if !strings.Contains(msg, "three rows: 2 rows") {
		t.Fatalf("failure %q does not show the last state seen", msg)
	}
	if msg := failure(t, func(tb testing.TB) {
		testkit.WaitFor(tb, "no error", func() error { return nil })
	}); msg != "" {
		t.Fatalf("a condition that holds at once failed: %q", msg)
	}
}

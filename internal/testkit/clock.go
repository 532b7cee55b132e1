package testkit

import (
	"sync"
	"testing"
	"time"
)

// Clock is a fake clock for code that takes its time as a Now function and
// waits with an After function (daemon.Clock, the daily-update worker's
// options): the test sets the time and decides when each wait ends. Its Now
// and After methods are those functions, as method values:
//
//	clock := testkit.NewClock(start)
//	deps.Clock = daemon.Clock{Now: clock.Now, After: clock.After}
//
// Time moves only when the test moves it, in one of three ways:
//   - Advance: time passes, and every wait that falls due ends, as on a real
//     clock;
//   - Set: the wall clock jumps (a suspended machine waking, an NTP step) and
//     no wait ends, as a monotonic timer does not notice the jump;
//   - Wait.Fire: the test ends one wait, the time moving to its end.
//
// Every After call is also handed to the test, in order, by NextWait: that
// is how a test knows that the code under test has finished its pass and
// waits, and for how long. A wait of zero or less ends at once, as
// time.After's does, and is not handed to the test: nothing waits on it.
//
// A Clock is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	pending []*Wait // not ended, in call order
	calls   []*Wait // not yet handed to the test by NextWait
	// called gets a value, if it has none, after every call of After.
	called chan struct{}
}

// Wait is one call of a Clock's After.
type Wait struct {
	// D is the duration asked for.
	D time.Duration
	// At is when the wait ends: the clock's time at the call plus D.
	At time.Time

	clock *Clock
	c     chan time.Time
	ended bool
}

// NewClock returns a clock that reads start until the test moves it.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, called: make(chan struct{}, 1)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time when the wait ends:
// when the clock is advanced to d from now, when the test fires the wait, or
// at once for a d of zero or less.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &Wait{D: d, At: c.now.Add(d), clock: c, c: make(chan time.Time, 1)}
	if d <= 0 {
		c.end(w)
		return w.c
	}
	c.pending = append(c.pending, w)
	c.calls = append(c.calls, w)
	select {
	case c.called <- struct{}{}:
	default:
	}
	return w.c
}

// Advance moves the clock d forward and ends every wait due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.pending[:0]
	for _, w := range c.pending {
		if w.At.After(c.now) {
			keep = append(keep, w)
		} else {
			c.end(w)
		}
	}
	clear(c.pending[len(keep):])
	c.pending = keep
}

// Set moves the clock to t, forward or back, and ends no wait.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// FireAll ends every wait at the clock's time, whatever its end: after Set,
// it is the timers that were running when the wall clock jumped running out.
func (c *Clock) FireAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.pending {
		c.end(w)
	}
	clear(c.pending)
	c.pending = c.pending[:0]
}

// NextWait returns the oldest call of After not yet returned, waiting for one
// up to Patience; it fails t if none comes. Call it from the test's goroutine.
func (c *Clock) NextWait(t testing.TB) *Wait {
	t.Helper()
	deadline := time.NewTimer(Patience)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if len(c.calls) > 0 {
			w := c.calls[0]
			c.calls[0] = nil
			c.calls = c.calls[1:]
			c.mu.Unlock()
			return w
		}
		c.mu.Unlock()
		select {
		case <-c.called:
		case <-deadline.C:
			t.Fatalf("nothing waited on the clock within %s", Patience)
			return nil
		}
	}
}

// TakeAll returns, in order, the calls of After that NextWait has not
// returned yet, without waiting: the next NextWait returns a later call.
func (c *Clock) TakeAll() []*Wait {
	c.mu.Lock()
	defer c.mu.Unlock()
	taken := c.calls
	c.calls = nil
	return taken
}

// Fire ends w, moving the clock to w.At if that is later than its time.
// Other waits do not end, even those due by then: the test ends each wait it
// means to. Firing a wait that has ended does nothing.
func (w *Wait) Fire() {
	c := w.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.ended {
		return
	}
	if w.At.After(c.now) {
		c.now = w.At
	}
	for i, p := range c.pending {
		if p == w {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	c.end(w)
}

// end ends w at the clock's time; c.mu is held.
func (c *Clock) end(w *Wait) {
	w.ended = true
	w.c <- c.now
}

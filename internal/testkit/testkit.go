// Package testkit owns what tests share about time and waiting: Clock, a fake
// clock a test moves by hand, so that time-driven code is tested without
// waiting for time to pass, and WaitFor, which polls a condition under a
// deadline, so that no test sleeps to wait for something to happen; and
// BenchSize, how big a benchmark's database is made.
//
// Only tests import it; the module's dependency test fails when non-test code
// does. It imports nothing of this module, so any package's tests can use it,
// those of the packages it would otherwise import included.
package testkit

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchSize is the size a scale benchmark reads from the environment
// variable env (ANGELA_BENCH_CONVERSATIONS, say), def when it is not set: a
// plain run stays quick, and the figures at scale are asked for by name.
func BenchSize(tb testing.TB, env string, def int) int {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 {
		tb.Fatalf("%s must be an integer of at least 100, got %q", env, v)
	}
	return n
}

// Patience bounds every wait in the kit. It only ever ends a test that would
// otherwise hang, and it paces nothing: a condition that holds is seen
// within milliseconds. It is generous because the tests share a small,
// busy machine.
const Patience = 2 * time.Minute

// pollFirst and pollMost bound the pause between two looks at a condition:
// the first looks come quickly, so that a condition about to hold is seen
// soon, and later ones at most every pollMost, so that a long wait (for a
// server to start, say) costs the machine little.
const (
	pollFirst = time.Millisecond
	pollMost  = 50 * time.Millisecond
)

// Condition is what WaitFor polls: a func() bool that holds when it returns
// true, or a func() error that holds when it returns nil and otherwise says
// what it sees instead, which a failure then shows.
type Condition interface {
	func() bool | func() error
}

// WaitFor polls cond until it holds, and fails t if it does not within
// Patience; the failure names the awaited condition, what, and for a
// func() error the last error cond returned. Call it from the test's
// goroutine; cond may fail t itself when it sees that waiting is pointless.
func WaitFor[C Condition](t testing.TB, what string, cond C) {
	t.Helper()
	WaitWithin(t, Patience, what, cond)
}

// WaitWithin is WaitFor with a bound of the caller's: for a test whose claim
// is that the condition comes within that bound.
func WaitWithin[C Condition](t testing.TB, within time.Duration, what string, cond C) {
	t.Helper()
	var check func() error
	switch c := any(cond).(type) {
	case func() bool:
		check = func() error {
			if c() {
				return nil
			}
			return errNotYet
		}
	case func() error:
		check = c
	}
	deadline := time.Now().Add(within)
	pause := pollFirst
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if err == errNotYet {
				t.Fatalf("timed out after %s waiting for %s", within, what)
			}
			t.Fatalf("timed out after %s waiting for %s: %v", within, what, err)
		}
		<-time.After(pause) // a pause between polls, bounded by the deadline above
		pause = min(2*pause, pollMost)
	}
}

// errNotYet is a func() bool condition that does not hold.
var errNotYet = errors.New("not yet")

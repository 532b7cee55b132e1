package web

import "time"

// SetStreamRetryAfter sets how long a refused live stream is told to wait
// (and the today page's script waits) by the Servers made after it, for a
// test that must not wait half a minute, and returns what restores it. The
// package's tests do not run in parallel.
func SetStreamRetryAfter(d time.Duration) (restore func()) {
	old := streamRetryAfter
	streamRetryAfter = d
	return func() { streamRetryAfter = old }
}

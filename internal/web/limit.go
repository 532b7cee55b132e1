package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// maxStreams bounds the live timelines streamed at once. Each holds a
// connection, a goroutine and a poll of the database on the daemon's pool
// every LiveInterval for as long as its tab stays open. A browser opens at
// most six connections to one host, so sixteen is every tab a person keeps
// open in two or three browsers, and a runaway script or a tab reloading in a
// loop meets the cap at a cost of eight polls a second. It is a constant
// rather than a setting: no one viewer needs more, and the cap is about the
// daemon's health, not a preference.
const maxStreams = 16

// maxRequests bounds the other requests (pages, static files) served at
// once. A page answers in milliseconds (see the README's figures) and a
// browser loads at most six things at once, so a person never meets it; it
// bounds what a script firing requests in a loop can queue on the daemon's
// pool, which capture and the socket share, and the goroutines and memory
// the queue costs.
const maxRequests = 32

// The Retry-After of a refusal: a slot of a stream frees when a tab closes,
// which may be long; one of the pages within milliseconds. A browser does
// not try a refused stream again by itself, so the today page's script does,
// after streamRetryAfter (which the page tells it), doubling up to five
// minutes. A variable so that a test need not wait half a minute.
var streamRetryAfter = 30 * time.Second

const requestRetryAfter = 5 * time.Second

// eventsPath is the route of the live stream, whose requests the stream
// limit counts rather than the requests' limit.
const eventsPath = "/events"

// limiter bounds the requests of one kind served at once: one over the
// bound is answered 503 at once, with Retry-After, rather than queued. The
// refusals of a burst are logged once, at its first, and its end, when the
// requests in flight are down to half the bound, with how many were
// refused: a script that keeps the viewer full logs two lines, not one a
// request.
type limiter struct {
	what       string // what is limited, for the log and the answer
	max        int
	retryAfter time.Duration
	log        *zap.Logger

	mu      sync.Mutex
	n       int // in flight
	refused int // in the current burst; 0: no burst
}

func newLimiter(what string, max int, retryAfter time.Duration, log *zap.Logger) *limiter {
	return &limiter{what: what, max: max, retryAfter: retryAfter, log: log}
}

// acquire takes a slot, or reports that there is none.
func (l *limiter) acquire() bool {
	l.mu.Lock()
	if l.n < l.max {
		l.n++
		l.mu.Unlock()
		return true
	}
	l.refused++
	first := l.refused == 1
	l.mu.Unlock()
	if first {
		l.log.Warn("the viewer is refusing requests: too many at once (503 until they end)",
			zap.String("what", l.what), zap.Int("limit", l.max))
	}
	return false
}

// release gives back a slot taken by acquire.
func (l *limiter) release() {
	l.mu.Lock()
	l.n--
	ended := 0
	if l.refused > 0 && l.n <= l.max/2 {
		ended, l.refused = l.refused, 0
	}
	l.mu.Unlock()
	if ended > 0 {
		l.log.Info("the viewer serves again after refusing requests", zap.String("what", l.what), zap.Int("refused", ended))
	}
}

// inFlight is how many slots are taken.
func (l *limiter) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// retrySeconds is the Retry-After of a refusal, in whole seconds.
func (l *limiter) retrySeconds() int { return int(l.retryAfter / time.Second) }

// refuse answers a request over the bound.
func (l *limiter) refuse(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(l.retrySeconds()))
	http.Error(w, "busy: the viewer serves at most "+strconv.Itoa(l.max)+" "+l.what+" at once; try again later",
		http.StatusServiceUnavailable)
}

// limit serves a request within its kind's bound: the live stream within
// the streams', anything else within the requests'. A slot is held until
// the handler returns, which a stream does when its client goes away (its
// request's context ends) or the daemon stops, so no slot outlives its
// connection.
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := s.requests
		if r.URL.Path == eventsPath {
			l = s.streams
		}
		if !l.acquire() {
			l.refuse(w)
			return
		}
		defer l.release()
		next.ServeHTTP(w, r)
	})
}

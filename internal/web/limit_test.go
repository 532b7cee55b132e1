package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/testkit"
)

// TestLiveStreamsAreCappedAndASlotFreesWhenItsClientGoes: beyond maxStreams
// live timelines at once a new one is refused, 503 with Retry-After and a
// one-line body, logged once for the burst; pages are still served, and a
// client without the token is refused as ever rather than counted. A stream
// whose client goes away gives its slot back, so that a new one is served,
// and the burst's end is logged once the streams are down to half.
func TestLiveStreamsAreCappedAndASlotFreesWhenItsClientGoes(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	f := setup(t, func(o *Options) { o.Log = zap.New(core) })
	c := f.login(t)
	stream := "/events?day=2026-12-06&after=" + (cursor{At: f.now}).String()
	open := func() *http.Response {
		t.Helper()
		resp, err := c.Get(f.srv.URL + stream)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var streams []*http.Response
	t.Cleanup(func() {
		for _, s := range streams {
			s.Body.Close()
		}
	})
	for i := range maxStreams {
		resp := open()
		streams = append(streams, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %s", i+1, resp.Status)
		}
	}

	const refusals = 3
	for range refusals {
		resp := open()
		if resp.StatusCode != http.StatusServiceUnavailable {
			resp.Body.Close()
			t.Fatalf("a stream over the cap: %s, want 503", resp.Status)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Retry-After") != "30" ||
			strings.Count(string(body), "\n") != 1 || !strings.HasPrefix(string(body), "busy: the viewer serves at most 16 live timelines at once") {
			t.Fatalf("a stream over the cap: %s, Retry-After %q, %q", resp.Status, resp.Header.Get("Retry-After"), body)
		}
	}
	if code, _, _ := f.get(t, f.client(t), stream); code != http.StatusUnauthorized {
		t.Errorf("a stream without the token over the cap: %d, want 401", code)
	}
	if code, _, _ := f.get(t, c, "/journal"); code != http.StatusOK {
		t.Errorf("a page while the streams are at their cap: %d", code)
	}
	if n := logs.FilterMessageSnippet("refusing").Len(); n != 1 {
		t.Errorf("%d log lines for a burst of %d refusals, want 1", n, refusals)
	}

	// The client of one stream goes away: its slot is free again.
	streams[0].Body.Close()
	testkit.WaitFor(t, "the closed stream's slot to be given back", func() bool { return f.s.streams.inFlight() == maxStreams-1 })
	resp := open()
	streams[0] = resp
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a stream after one closed: %s", resp.Status)
	}

	for _, s := range streams[:maxStreams/2] {
		s.Body.Close()
	}
	testkit.WaitFor(t, "half the streams' slots to be given back", func() bool { return f.s.streams.inFlight() == maxStreams/2 })
	ended := logs.FilterMessageSnippet("serves again").All()
	if len(ended) != 1 || ended[0].ContextMap()["refused"] != int64(refusals) {
		t.Errorf("the burst's end logged %+v, want one line with %d refused", ended, refusals)
	}
}

// TestRequestsAreCappedApartFromStreams: beyond maxRequests requests at
// once (a script firing them in a loop) another is refused with a
// Retry-After of its own, while a live stream, counted apart, is served;
// every slot is given back when the requests end.
func TestRequestsAreCappedApartFromStreams(t *testing.T) {
	s := New(Options{Token: testToken})
	var waiting atomic.Int32
	release := make(chan struct{})
	releaseAll := sync.OnceFunc(func() { close(release) })
	srv := httptest.NewServer(s.limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The requests that fill the cap wait; any other answers at once,
		// so that one served over the cap fails the test rather than
		// hanging it.
		if r.URL.Path == "/journal" {
			waiting.Add(1)
			<-release
		}
	})))
	t.Cleanup(srv.Close)
	t.Cleanup(releaseAll)
	var wg sync.WaitGroup
	for range maxRequests {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/journal")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a request within the cap: %s", resp.Status)
			}
		})
	}
	testkit.WaitFor(t, "the requests to fill the cap", func() bool { return waiting.Load() == maxRequests })
	resp, err := http.Get(srv.URL + "/moods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("a request over the cap: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	if resp, err := http.Get(srv.URL + eventsPath); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a stream while the requests are at their cap: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	releaseAll()
	wg.Wait()
	if n, m := s.requests.inFlight(), s.streams.inFlight(); n != 0 || m != 0 {
		t.Errorf("%d requests' and %d streams' slots still taken after they ended", n, m)
	}
}

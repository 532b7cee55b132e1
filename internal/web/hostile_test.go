package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestTheTokensRedirectStaysOnTheViewer: the first visit's redirect goes to
// a path of the viewer's own, whatever the address's path: a path that
// starts with two slashes (or an escaped one) would otherwise be a
// network-path reference, and the browser would leave for the host it names.
func TestTheTokensRedirectStaysOnTheViewer(t *testing.T) {
	f := setup(t)
	c := f.client(t)
	for path, want := range map[string]string{
		"//evil.example/":          "/evil.example/",
		"///evil.example":          "/evil.example",
		"//evil.example/today?x=1": "/evil.example/today?x=1",
		"/%2F%2Fevil.example":      "/%2F%2Fevil.example",
		"/\\evil.example":          "/%5Cevil.example",
		"/today?day=2026-12-06":    "/today?day=2026-12-06",
	} {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		code, _, h := f.get(t, c, path+sep+"token="+testToken)
		if code != http.StatusSeeOther || h.Get("Location") != want {
			t.Errorf("%s: %d to %q, want 303 to %q", path, code, h.Get("Location"), want)
		}
	}
}

// TestASessionIDIsShownAsText: a session id holding a terminal escape is
// cleaned wherever the timeline writes it, its data attribute included, so
// that the page read in a terminal (curl on the Unix socket) cannot drive it.
func TestASessionIDIsShownAsText(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	f.say(t, "s\x1b]0;pwned\x07<b>\x1b[2J", "david", "hello", f.now.Add(-time.Hour))
	code, body, _ := f.get(t, c, "/today")
	if code != http.StatusOK {
		t.Fatalf("today: %d %s", code, body)
	}
	if strings.ContainsAny(body, "\x1b\x07") || strings.Contains(body, "<b>") {
		t.Errorf("the session id is not cleaned:\n%s", body)
	}
	if !strings.Contains(body, `data-session="s&lt;b&gt;"`) {
		t.Errorf("the session's attribute is not its cleaned id:\n%s", body)
	}
}

// serveWith serves the fixture's viewer as the daemon does, with the given
// timeouts, and returns its address.
func (f *fixture) serveWith(t *testing.T, to timeouts) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := httpServer(ctx, f.s.Handler(), zap.NewNop(), to)
	served := make(chan struct{})
	go func() { hs.Serve(l); close(served) }()
	t.Cleanup(func() { cancel(); hs.Close(); <-served })
	return "http://" + l.Addr().String()
}

// TestASlowRequestIsCutOff: a client that sends its request's body a byte
// at a time, or not at all, loses the connection at the read timeout rather
// than holding it (and one of the daemon's descriptors) forever; the token
// is not needed for that, so anyone who can reach the address could.
func TestASlowRequestIsCutOff(t *testing.T) {
	f := setup(t)
	addr := f.serveWith(t, timeouts{readHeader: 100 * time.Millisecond, read: 200 * time.Millisecond,
		write: time.Second, idle: time.Second})
	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /today HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	if err != nil {
		t.Fatalf("the server kept the connection of a request that never ends: %v", err)
	}
}

// TestALiveStreamOutlivesTheReadTimeout: the read timeout that cuts off a
// slow request does not end a live stream, which holds its request open on
// purpose.
func TestALiveStreamOutlivesTheReadTimeout(t *testing.T) {
	f := setup(t)
	const read = 100 * time.Millisecond
	addr := f.serveWith(t, timeouts{readHeader: read, read: read, write: read, idle: time.Second})
	c := f.client(t)
	resp, err := c.Get(addr + "/?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	after := cursor{At: f.now.Add(-time.Hour)}
	resp, err = c.Get(addr + "/events?day=2026-12-06&after=" + after.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %s", resp.Status)
	}
	r := bufio.NewReader(resp.Body)
	start := time.Now()
	// Heartbeats, a tick of the daemon's clock each, until the stream has
	// lived several read and write timeouts.
	for time.Since(start) < 10*read {
		f.clock.NextWait(t).Fire()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("the stream ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
			if line == ": idle\n" {
				break
			}
		}
	}
}

// TestAnOpeningCodeLetsInOnceAndExpires: the code angelad open hands a
// browser (on its command line, which other users can read) lets one visit
// in, as the token does, and then never again; nor after its life, nor a
// wrong one, nor one whose file other users may read.
func TestAnOpeningCodeLetsInOnceAndExpires(t *testing.T) {
	f := setup(t)
	dir := f.s.o.StateDir
	code, err := OpenCode(dir, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(code, testToken) || len(code) < 32 {
		t.Fatalf("code %q", code)
	}
	if fi, err := os.Stat(filepath.Join(dir, OpenFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the code's file: %v %v", fi, err)
	}
	if code2, _, _ := f.get(t, f.client(t), "/today?open=wrong"); code2 != http.StatusForbidden {
		t.Errorf("a wrong code: %d, want 403", code2)
	}
	c := f.client(t)
	status, _, h := f.get(t, c, "/today?day=2026-12-06&open="+code)
	if status != http.StatusSeeOther || h.Get("Location") != "/today?day=2026-12-06" {
		t.Fatalf("the code: %d to %q", status, h.Get("Location"))
	}
	if status, _, _ := f.get(t, c, "/today"); status != http.StatusOK {
		t.Errorf("after the code: %d, want the cookie to let in", status)
	}
	if status, _, _ := f.get(t, f.client(t), "/today?open="+code); status != http.StatusForbidden {
		t.Errorf("the code a second time: %d, want 403", status)
	}
	// Past its life.
	code, err = OpenCode(dir, f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(openCodeLife)
	if status, body, _ := f.get(t, f.client(t), "/today?open="+code); status != http.StatusForbidden || !strings.Contains(body, "angelad open") {
		t.Errorf("an expired code: %d %q", status, body)
	}
	// A newer code replaces the older.
	old, _ := OpenCode(dir, f.clock.Now())
	code, _ = OpenCode(dir, f.clock.Now())
	if status, _, _ := f.get(t, f.client(t), "/today?open="+old); status != http.StatusForbidden {
		t.Errorf("a replaced code: %d, want 403", status)
	}
	if err := os.Chmod(filepath.Join(dir, OpenFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := f.get(t, f.client(t), "/today?open="+code); status != http.StatusForbidden {
		t.Errorf("a code others may read: %d, want 403", status)
	}
}

// TestAnotherOriginsPageCannotUseTheViewer: a page of another origin on the
// same site (another port of 127.0.0.1, to which SameSite is no bar, since a
// site ignores the port) cannot make the browser fetch, embed or stream the
// viewer's answers: the browser's fetch metadata says where a request comes
// from, and an answer may not be embedded by another origin. A link from
// there still opens the page, which shows it to the user only.
func TestAnotherOriginsPageCannotUseTheViewer(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	fetch := func(path, site, mode, dest string) (int, http.Header) {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Sec-Fetch-Site", site)
		req.Header.Set("Sec-Fetch-Mode", mode)
		req.Header.Set("Sec-Fetch-Dest", dest)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, tt := range []struct{ path, site, mode, dest string }{
		{"/today", "same-site", "no-cors", "script"},
		{"/today", "same-site", "cors", "empty"},
		{"/events?day=2026-12-06&after=" + (cursor{At: f.now}).String(), "same-site", "no-cors", "empty"},
		{"/moods", "cross-site", "no-cors", "image"},
		{"/static/app.js", "same-site", "no-cors", "script"},
		{"/today", "same-site", "navigate", "iframe"},
		{"/today", "same-site", "navigate", "document"},
	} {
		code, _ := fetch(tt.path, tt.site, tt.mode, tt.dest)
		want := http.StatusForbidden
		if tt.mode == "navigate" && tt.dest == "document" {
			want = http.StatusOK
		}
		if code != want {
			t.Errorf("%s from %s (%s, %s): %d, want %d", tt.path, tt.site, tt.mode, tt.dest, code, want)
		}
	}
	// The viewer's own requests, and a browser that sends no metadata.
	for _, site := range []string{"same-origin", "none", ""} {
		if code, h := fetch("/static/app.css", site, "no-cors", "style"); code != http.StatusOK || h.Get("Cross-Origin-Resource-Policy") != "same-origin" {
			t.Errorf("the style sheet from %q: %d, CORP %q", site, code, h.Get("Cross-Origin-Resource-Policy"))
		}
	}
}

// TestTheDaemonsStopEndsTheLiveStreams: a stream open when the daemon stops
// ends with it, so that the server's shutdown does not wait out its bound
// for the streams.
func TestTheDaemonsStopEndsTheLiveStreams(t *testing.T) {
	f := setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	hs := httpServer(ctx, f.s.Handler(), zap.NewNop(), defaultTimeouts)
	go hs.Serve(l)
	defer hs.Close()
	addr := "http://" + l.Addr().String()
	c := f.client(t)
	resp, err := c.Get(addr + "/?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var streams []*http.Response
	for range 3 {
		resp, err := c.Get(addr + "/events?day=2026-12-06&after=" + (cursor{At: f.now}).String())
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("events: %v %v", resp, err)
		}
		defer resp.Body.Close()
		streams = append(streams, resp)
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with streams open: %v", err)
	}
	if n := f.s.streams.inFlight(); n != 0 {
		t.Errorf("%d streams' slots still taken after the shutdown", n)
	}
	for _, s := range streams {
		if _, err := io.Copy(io.Discard, s.Body); err != nil {
			t.Errorf("a stream did not end cleanly: %v", err)
		}
	}
}

// TestABadQueryIsRefusedByTheSearchBox: a query that search cannot take
// (too long, invalid UTF-8, a NUL) is shown with the search box's own name
// for it, not the CLI's argument's, and echoed inert.
func TestABadQueryIsRefusedByTheSearchBox(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	for q, want := range map[string]string{
		strings.Repeat("a", 10000): "invalid search: must be at most 1000 characters, got 10000",
		"%ff%fe":                   "invalid search: must be valid UTF-8",
		"a%00b":                    "invalid search: must not contain NUL bytes",
	} {
		code, body, _ := f.get(t, c, "/search?q="+q)
		if code != http.StatusOK || !strings.Contains(body, `<p class="error">`+want) || strings.Contains(body, "\x00") {
			t.Errorf("%.20s: %d\n%.2000s", q, code, body)
		}
	}
}

package web

import (
	"net/http"
	"strings"
	"testing"
	"time"
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

package web

import (
	"net/http"
	"strings"
	"testing"
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

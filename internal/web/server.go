// Package web owns the memory viewer the daemon serves in a browser: the
// timeline of a day with live updates, the moods chart, the journal, search
// and health, rendered on the server from the same stores and functions the
// commands use. It owns the viewer's security too: the install's token and
// the cookie it becomes, the Origin check, the headers, and the cleaning of
// stored text for display.
package web

import (
	"crypto/subtle"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// CookieName is the cookie that carries the token after the first visit.
const CookieName = "angelad_viewer"

// DefaultLiveInterval is how often a live timeline looks for new lines.
const DefaultLiveInterval = 2 * time.Second

// Options are what a Server serves from.
type Options struct {
	Pool *pgxpool.Pool
	Log  *zap.Logger
	// Token is the install's token (see Token).
	Token string
	// Now and After are the daemon's clock.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Location is the configured zone: days start at its midnight.
	Location *time.Location
	// Model is the memory model search ranks with, as the CLI's.
	Model memory.Model
	// StateDir is where the health page reads the daemon's status and spool.
	StateDir string
	// Searcher, when an embedding server is configured, is the daemon's
	// vectors in memory: search ranks a question by meaning too, as the
	// CLI's does. nil: by words alone.
	Searcher *embedding.Searcher
	// LiveInterval is how often a live timeline polls; zero means
	// DefaultLiveInterval.
	LiveInterval time.Duration
}

// Server serves the viewer.
type Server struct {
	o     Options
	pages *template.Template
	mux   *http.ServeMux
	// streams and requests bound the live streams and the other requests
	// served at once (see limit).
	streams, requests *limiter
}

// New returns a Server; Handler serves it.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.LiveInterval <= 0 {
		o.LiveInterval = DefaultLiveInterval
	}
	s := &Server{o: o, pages: parseTemplates(), mux: http.NewServeMux(),
		streams:  newLimiter("live timelines", maxStreams, streamRetryAfter, o.Log),
		requests: newLimiter("requests", maxRequests, requestRetryAfter, o.Log)}
	static, _ := fs.Sub(staticFiles, "static") // the directory is embedded: no error
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/today", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /today", page(s, "today.html", s.todayData))
	s.mux.HandleFunc("GET "+eventsPath, s.events)
	s.mux.HandleFunc("GET /moods", page(s, "moods.html", s.moodsData))
	s.mux.HandleFunc("GET /journal", page(s, "journal.html", s.journalData))
	s.mux.HandleFunc("GET /search", page(s, "search.html", s.searchData))
	s.mux.HandleFunc("GET /message", page(s, "message.html", s.messageData))
	s.mux.HandleFunc("GET /health", page(s, "health.html", s.healthData))
	return s
}

// Handler returns the viewer with its security around every route: the
// headers on every answer, then the Origin check of a request that is not a
// read, then the refusal of another origin's fetches, then the token, then
// the bound on what is served at once. The bound comes after the token, so
// that a client without it, refused at no cost, cannot take the owner's
// slots.
func (s *Server) Handler() http.Handler {
	return headers(s.checkOrigin(isolate(s.authenticate(s.limit(s.mux)))))
}

// contentSecurityPolicy lets a page load only what the binary serves: no
// inline script or style, nothing from another host, no framing.
const contentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// headers sets the security headers on every answer, a refusal included.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// checkOrigin refuses a request that may change something (anything but GET
// and HEAD) unless its Origin is the viewer's own: a page on another site
// cannot make the browser act on the viewer. The viewer has no such request
// today; the check stands so that one added later is covered.
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		origin := r.Header.Get("Origin")
		if origin == "" || !sameOrigin(origin, r.Host) {
			http.Error(w, "refused: a request that is not a read must come from the viewer's own page (Origin "+originShown(origin)+")", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isolate refuses a request another origin's page made the browser send,
// by its fetch metadata, unless it opens a page: SameSite keeps the cookie
// from other sites only, and a site ignores the port, so that a page on
// another port of 127.0.0.1 could otherwise fetch, embed or stream the
// viewer with the cookie (reading nothing, but learning from sizes and
// times, and costing the database a stream each). A navigation shows the
// page to the user, not to the page that linked to it. A browser that sends
// no metadata is let through, to the token.
func isolate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header
		switch site := h.Get("Sec-Fetch-Site"); {
		case site == "" || site == "same-origin" || site == "none":
		case h.Get("Sec-Fetch-Mode") == "navigate" && h.Get("Sec-Fetch-Dest") == "document":
		default:
			refuse(w, http.StatusForbidden, "refused: a page of another origin cannot use the viewer (Sec-Fetch-Site "+
				strings.ToValidUTF8(site, "?")+")")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func originShown(o string) string {
	if o == "" {
		return "missing"
	}
	return strings.ToValidUTF8(o, "?")
}

// sameOrigin reports whether origin names host over http.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && u.Host != "" && strings.EqualFold(u.Host, host) && u.Path == ""
}

// authenticate lets a request through with the token in its cookie. A
// request with the right token in its query, or the opening code (see
// OpenCode), sets the cookie and is sent to the same address without it,
// so that the token leaves the address bar and the history; a wrong one is
// refused (403), none at all too (401).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("token") || q.Has("open") {
			switch {
			case q.Has("token") && !s.validToken(q.Get("token")):
				refuse(w, http.StatusForbidden, "refused: the token is not this install's (run angelad open for the address)")
				return
			case !q.Has("token") && !useOpenCode(s.o.StateDir, q.Get("open"), s.o.Now()):
				refuse(w, http.StatusForbidden, "refused: the opening code is used or expired (run angelad open again)")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.o.Token, Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q.Del("token")
			q.Del("open")
			// One leading slash: a path that starts with two ("//host/")
			// would be read by the browser as another host's address.
			to := "/" + strings.TrimLeft(r.URL.EscapedPath(), "/")
			if len(q) > 0 {
				to += "?" + q.Encode()
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		c, err := r.Cookie(CookieName)
		switch {
		case err != nil:
			refuse(w, http.StatusUnauthorized, "refused: open the viewer at the address angelad open prints, with its token")
		case !s.validToken(c.Value):
			refuse(w, http.StatusForbidden, "refused: the viewer's cookie does not hold this install's token (run angelad open for the address)")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) validToken(t string) bool {
	return s.o.Token != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.o.Token)) == 1
}

func refuse(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}

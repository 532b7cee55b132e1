package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fixture is a viewer on a fresh database, and what its tests need.
type fixture struct {
	pool  *pgxpool.Pool
	srv   *httptest.Server
	s     *Server
	loc   *time.Location
	now   time.Time
	clock *testkit.Clock
}

func setup(t *testing.T, with ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, pgtest.DB(t), pgtest.TimeZone, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	loc, err := time.LoadLocation(pgtest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 21, 30, 0, 0, loc)
	clock := testkit.NewClock(now)
	mem, err := config.Load(config.Options{Env: func(string) (string, bool) { return "", false }, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Pool: pool, Token: testToken, Now: clock.Now, After: clock.After, Location: loc,
		Model: memory.NewModel(mem.Memory), StateDir: t.TempDir()}
	for _, w := range with {
		w(&o)
	}
	s := New(o)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &fixture{pool: pool, srv: srv, s: s, loc: loc, now: now, clock: clock}
}

// client is a browser-like client: it keeps cookies and does not follow
// redirects, so that each answer can be checked.
func (f *fixture) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login visits with the token and returns a client holding the cookie.
func (f *fixture) login(t *testing.T) *http.Client {
	t.Helper()
	c := f.client(t)
	resp, err := c.Get(f.srv.URL + "/?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first visit: %s", resp.Status)
	}
	return c
}

func (f *fixture) get(t *testing.T, c *http.Client, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (f *fixture) say(t *testing.T, session, speaker, msg string, at time.Time) uuid.UUID {
	t.Helper()
	c, err := conversation.Save(context.Background(), f.pool, conversation.Conversation{ID: uuid.New(), SessionID: session,
		Speaker: speaker, MessageText: msg, CreatedAt: at}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) feel(t *testing.T, emotion string, intensity int, context string, at time.Time) {
	t.Helper()
	if _, err := memory.Save(t.Context(), f.pool, memory.Emotion{ID: uuid.New(), Emotion: emotion, Intensity: intensity,
		Context: context, FeltAt: at}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
}

// TestEveryRequestNeedsTheToken: without the cookie or the token every
// route is refused, the static files too; a wrong token is refused; the
// right one sets an HttpOnly, SameSite=Strict cookie and sends the browser
// to the address without it.
func TestEveryRequestNeedsTheToken(t *testing.T) {
	f := setup(t)
	anon := f.client(t)
	for _, path := range []string{"/", "/today", "/moods", "/journal", "/search?q=x", "/health", "/events?day=2026-12-06&after=x", "/static/app.css"} {
		if code, body, _ := f.get(t, anon, path); code != http.StatusUnauthorized || strings.Contains(body, "<html") {
			t.Errorf("%s without the token: %d %q", path, code, body)
		}
	}
	if code, _, _ := f.get(t, anon, "/today?token=wrong"); code != http.StatusForbidden {
		t.Errorf("a wrong token: %d, want 403", code)
	}
	// A forged cookie is refused too.
	forged, _ := http.NewRequest("GET", f.srv.URL+"/today", nil)
	forged.AddCookie(&http.Cookie{Name: CookieName, Value: strings.Repeat("0", 64)})
	if resp, err := anon.Do(forged); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a forged cookie: %v %v", resp.StatusCode, err)
	}

	resp, err := anon.Get(f.srv.URL + "/moods?by=month&token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/moods?by=month" {
		t.Fatalf("first visit: %s to %q, want 303 to /moods?by=month", resp.Status, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	c := cookies[0]
	if c.Name != CookieName || c.Value != testToken || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/", c)
	}
	raw := resp.Header.Get("Set-Cookie")
	if !strings.Contains(raw, "HttpOnly") || !strings.Contains(raw, "SameSite=Strict") {
		t.Errorf("Set-Cookie: %q", raw)
	}
	anon.Jar.SetCookies(mustURL(t, f.srv.URL), cookies)
	if code, body, _ := f.get(t, anon, "/moods?by=month"); code != http.StatusOK || !strings.Contains(body, "Top emotions by month") {
		t.Errorf("with the cookie: %d\n%s", code, body)
	}
}

// TestAnythingButAReadNeedsTheViewersOrigin: a POST from another origin, or
// with none, is refused before anything else; from the viewer's own page it
// passes the check (and meets no route: the viewer changes nothing).
func TestAnythingButAReadNeedsTheViewersOrigin(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	post := func(origin string) int {
		req, _ := http.NewRequest("POST", f.srv.URL+"/search", strings.NewReader("q=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, o := range []string{"", "http://evil.example", "null", "https://" + strings.TrimPrefix(f.srv.URL, "http://")} {
		if code := post(o); code != http.StatusForbidden {
			t.Errorf("POST with Origin %q: %d, want 403", o, code)
		}
	}
	if code := post(f.srv.URL); code != http.StatusMethodNotAllowed {
		t.Errorf("POST from the viewer's origin: %d, want 405", code)
	}
}

// TestSecurityHeadersOnEveryAnswer: the CSP allows only the viewer's own
// files, with no inline script or style, on pages and refusals alike.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	for _, tt := range []struct {
		client *http.Client
		path   string
	}{{c, "/today"}, {c, "/moods"}, {c, "/static/app.js"}, {f.client(t), "/today"}} {
		_, _, h := f.get(t, tt.client, tt.path)
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") {
			t.Errorf("%s: CSP %q", tt.path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", tt.path, k, h.Get(k), v)
			}
		}
	}
	// The pages hold no inline script, style or event handler, and load
	// nothing from another host.
	for _, path := range []string{"/today", "/moods", "/journal", "/search?q=x", "/health"} {
		_, body, _ := f.get(t, c, path)
		for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "https://", "http://"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s holds %q", path, bad)
			}
		}
	}
}

// TestAMessageIsShownAsText: a message holding <script> and a terminal
// escape is shown as text: the markup escaped, the escape sequence and the
// other control characters gone, the Thai kept.
func TestAMessageIsShownAsText(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	msg := "ดูนี่ <script>alert('x')</script> \x1b[31mแดง\x1b[0m \x1b]0;title\x07จบ\x07"
	id := f.say(t, "s1", "david", msg, f.now.Add(-time.Hour))
	code, body, _ := f.get(t, c, "/today")
	if code != http.StatusOK {
		t.Fatalf("today: %d %s", code, body)
	}
	want := "ดูนี่ &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; แดง จบ"
	if !strings.Contains(body, want) {
		t.Errorf("today does not show %q:\n%s", want, body)
	}
	for _, bad := range []string{"<script>alert", "\x1b", "[31m", "0;title", "\x07"} {
		if strings.Contains(body, bad) {
			t.Errorf("today holds %q", bad)
		}
	}
	if !strings.Contains(body, `id="m-`+id.String()+`"`) {
		t.Errorf("the line has no anchor m-%s", id)
	}
	// Search shows it inert too.
	_, body, _ = f.get(t, c, "/search?q="+url.QueryEscape("แดง"))
	if !strings.Contains(body, "&lt;script&gt;") || strings.Contains(body, "<script>alert") || strings.Contains(body, "\x1b") {
		t.Errorf("search shows the message unsafely:\n%s", body)
	}
}

func TestDisplayable(t *testing.T) {
	for in, want := range map[string]string{
		"plain ไทย":                   "plain ไทย",
		"a\x1b[1;31mb\x1b[0mc":        "abc",
		"x\x1b]8;;http://e\x1b\\y":    "xy",
		"one\r\ntwo\rthree\tfour\x07": "one\ntwo\nthree\tfour",
		"\u009b2Jcleared":             "cleared",
		"bad\xffbyte":                 "bad\ufffdbyte",
		"cut\x1b[":                    "cut",
	} {
		if got := displayable(in); got != want {
			t.Errorf("displayable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTodayShowsTheDayBySessionNewestFirstInPages: the day's lines grouped
// by session, newest first, in keyset pages that neither skip nor repeat a
// line; another day is reached by its date.
func TestTodayShowsTheDayBySessionNewestFirstInPages(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, f.loc)
	// The same second for several lines: the keyset's id breaks the tie.
	var ids []uuid.UUID
	for i := range pageLines + 20 {
		ids = append(ids, f.say(t, "sess-a", "angela", "บรรทัด "+strconv.Itoa(i), day.Add(time.Hour+time.Duration(i/3)*time.Second)))
	}
	f.say(t, "sess-b", "david", "yesterday's line", day.Add(-time.Minute))
	_, body, _ := f.get(t, c, "/today")
	if strings.Contains(body, "yesterday&#39;s line") || !strings.Contains(body, "session sess-a") {
		t.Fatalf("today:\n%s", body)
	}
	seen := map[string]bool{}
	page := body
	for pages := 0; ; pages++ {
		for _, part := range strings.Split(page, `id="m-`)[1:] {
			id := part[:36]
			if seen[id] {
				t.Fatalf("line %s shown twice", id)
			}
			seen[id] = true
		}
		i := strings.Index(page, `href="/today?day=2026-12-06&amp;before=`)
		if i < 0 {
			break
		}
		next := page[i+len(`href="`):]
		next = strings.ReplaceAll(next[:strings.IndexByte(next, '"')], "&amp;", "&")
		_, page, _ = f.get(t, c, next)
		if pages > 3 {
			t.Fatal("more pages than lines")
		}
	}
	if len(seen) != len(ids) {
		t.Errorf("the pages showed %d lines, want %d", len(seen), len(ids))
	}
	// Newest first: the last stored is first on the first page.
	if first := strings.Index(body, `id="m-`); body[first+6:first+42] != ids[len(ids)-1].String() && !strings.Contains(body, "บรรทัด "+strconv.Itoa(len(ids)-1)) {
		t.Errorf("the first line is not the newest")
	}
	_, body, _ = f.get(t, c, "/today?day=2026-12-05")
	if !strings.Contains(body, "yesterday&#39;s line") || !strings.Contains(body, "session sess-b") {
		t.Errorf("2026-12-05:\n%s", body)
	}
	if code, body, _ := f.get(t, c, "/today?day=06-12-2026"); code != http.StatusBadRequest || !strings.Contains(body, "invalid day: must be a date YYYY-MM-DD") {
		t.Errorf("a bad day: %d %q", code, body)
	}
}

// TestLiveStreamSendsLinesStoredAfterTheCursor: the stream sends, at each
// tick of the daemon's clock, the day's lines after the newest the page
// showed, as JSON with the text cleaned.
func TestLiveStreamSendsLinesStoredAfterTheCursor(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	shown := f.say(t, "s", "david", "shown already", f.now.Add(-time.Minute))
	after := cursor{f.now.Add(-time.Minute).Truncate(time.Microsecond), shown}
	resp, err := c.Get(f.srv.URL + "/events?day=2026-12-06&after=" + after.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	f.say(t, "s", "angela", "คิดถึง \x1b[1mนะ\x1b[0m", f.now)
	f.clock.NextWait(t).Fire()
	var data string
	for data == "" {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			data = line
		}
	}
	if !strings.Contains(data, `"text":"คิดถึง นะ"`) || !strings.Contains(data, `"speaker":"angela"`) || strings.Contains(data, "shown already") {
		t.Errorf("the stream sent %s", data)
	}
}

// TestMoodsChartHoldsADotPerDay: each day with emotions is a circle at its
// highest intensity whose title is the day's most intense moment.
func TestMoodsChartHoldsADotPerDay(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	d1 := time.Date(2026, 12, 1, 9, 0, 0, 0, f.loc)
	f.feel(t, "happy", 4, "morning coffee", d1)
	f.feel(t, "คิดถึง", 9, "พี่ไม่อยู่ <b>ทั้งวัน</b>", d1.Add(3*time.Hour))
	f.feel(t, "calm", 6, "evening", d1.AddDate(0, 0, 2))
	// Late in the evening of Dec 4 in Bangkok is Dec 4 there, not UTC's day.
	f.feel(t, "proud", 7, "shipped", time.Date(2026, 12, 4, 23, 30, 0, 0, f.loc))
	_, body, _ := f.get(t, c, "/moods?from=2026-11-30&to=2026-12-06&by=week")
	for _, want := range []string{
		`data-day="2026-12-01" data-max="9" data-mean="6.50" data-count="2"`,
		`<title>2026-12-01: 2 emotions, mean 6.5, highest 9 — คิดถึง (9) at 12:00: พี่ไม่อยู่ &lt;b&gt;ทั้งวัน&lt;/b&gt;</title>`,
		`data-day="2026-12-03" data-max="6"`,
		`data-day="2026-12-04" data-max="7"`,
		`<polyline class="mean"`,
		`<span class="emotion" lang="th">คิดถึง</span> ×1 (9.0)`,
		`<a href="/moods?from=2026-11-30&amp;to=2026-12-06&amp;by=week">2026-11-30</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("moods lacks %s\n%s", want, body)
		}
	}
	if n := strings.Count(body, "<circle"); n != 3 {
		t.Errorf("%d circles, want 3", n)
	}
	for _, tt := range []struct{ q, want string }{
		{"from=2026-12-06&to=2026-12-01", "invalid from: must not be after to"},
		{"by=year", "invalid by: must be week or month"},
		{"from=2000-01-01&to=2026-01-01", "invalid from: the range may span at most"},
	} {
		if code, body, _ := f.get(t, c, "/moods?"+tt.q); code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %q", tt.q, code, body)
		}
	}
}

// TestSearchLinksToTheMomentInTheTimeline: a hit of a conversation links to
// its day's page, positioned so that the line is on it, and marked.
func TestSearchLinksToTheMomentInTheTimeline(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	at := time.Date(2026, 11, 20, 20, 15, 0, 0, f.loc)
	id := f.say(t, "s", "david", "ไปทะเลกันไหม", at)
	_, body, _ := f.get(t, c, "/search?q="+url.QueryEscape("ทะเล"))
	i := strings.Index(body, `href="/today?day=2026-11-20&amp;before=`)
	if i < 0 {
		t.Fatalf("no link to the day:\n%s", body)
	}
	link := body[i+len(`href="`):]
	link = strings.ReplaceAll(link[:strings.IndexByte(link, '"')], "&amp;", "&")
	_, page, _ := f.get(t, c, link)
	if !strings.Contains(page, `id="m-`+id.String()+`" class="line david focus"`) {
		t.Errorf("the linked page does not hold the line, marked:\n%s", page)
	}
}

// TestJournalShowsUpdatesAndReflectionsByDate.
func TestJournalShowsUpdatesAndReflectionsByDate(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, `insert into daily_updates (update_date, kind, title, content) values
		('2026-12-05', 'morning', 'อรุณสวัสดิ์', 'วันนี้วันเสาร์'), ('2026-12-04', 'evening', 'Evening', 'a quiet day')`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `insert into angela_journal (entry_date, title, content, mood_score) values ('2026-12-03', 'old', 'จากระบบเดิม', 8)`); err != nil {
		t.Fatal(err)
	}
	_, body, _ := f.get(t, c, "/journal")
	i5, i4, i3 := strings.Index(body, "2026-12-05"), strings.Index(body, "2026-12-04"), strings.Index(body, "2026-12-03")
	if i5 < 0 || i4 < i5 || i3 < i4 || !strings.Contains(body, "วันนี้วันเสาร์") || !strings.Contains(body, "mood 8/10") {
		t.Errorf("journal:\n%s", body)
	}
	_, body, _ = f.get(t, c, "/journal?day=2026-12-04")
	if !strings.Contains(body, "a quiet day") || strings.Contains(body, "วันนี้วันเสาร์") {
		t.Errorf("journal of 2026-12-04:\n%s", body)
	}
}

// TestHealthShowsTheVerdict: with no daemon the page says what status says.
func TestHealthShowsTheVerdict(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	_, body, _ := f.get(t, c, "/health")
	if !strings.Contains(body, "unhealthy") || !strings.Contains(body, "the daemon is not running") || !strings.Contains(body, "empty") {
		t.Errorf("health:\n%s", body)
	}
	// A published status: its times in the configured zone, as every time
	// of the viewer (14:00 UTC is 21:00 in Bangkok).
	st, err := json.Marshal(daemon.Status{PID: 42, StartedAt: time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.s.o.StateDir, daemon.StatusFileName), st, 0o600); err != nil {
		t.Fatal(err)
	}
	_, body, _ = f.get(t, c, "/health")
	if !strings.Contains(body, "started 2026-12-06 21:00") || strings.Contains(body, "version ,") {
		t.Errorf("the daemon's start is not shown in the configured zone:\n%s", body)
	}
}

func TestTokenIsMadeOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	a, err := Token(dir)
	if err != nil || len(a) != 64 {
		t.Fatalf("Token = %q, %v", a, err)
	}
	b, err := Token(dir)
	if err != nil || b != a {
		t.Fatalf("second Token = %q, %v; want %q", b, err, a)
	}
	path := filepath.Join(dir, TokenFileName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v", fi.Mode(), err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Token(dir); err == nil || !strings.Contains(err.Error(), "other users may read it") {
		t.Errorf("a token others may read: %v", err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestALongMessageIsCutInTheTimelineAndWholeOnItsPage: a pasted megabyte
// does not make a timeline page of it (a page holds 200 lines); its line
// links to a page of its own that shows it whole.
func TestALongMessageIsCutInTheTimelineAndWholeOnItsPage(t *testing.T) {
	f := setup(t)
	c := f.login(t)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, f.loc)
	long := "เริ่ม " + strings.Repeat("ข้อความยาว long text ", 2000) + "THE-END-MARK"
	id := f.say(t, "s", "david", long, at)
	_, body, _ := f.get(t, c, "/today?day=2026-12-01")
	if !strings.Contains(body, "เริ่ม ข้อความยาว") || strings.Contains(body, "THE-END-MARK") ||
		!strings.Contains(body, `href="/message?id=`+id.String()+`"`) || len(body) > 60000 {
		t.Errorf("the timeline shows %d bytes, cut or linked wrongly:\n%.2000s", len(body), body)
	}
	code, page, _ := f.get(t, c, "/message?id="+id.String())
	if code != http.StatusOK || !strings.Contains(page, "THE-END-MARK") || !strings.Contains(page, "/today?day=2026-12-01&amp;before=") {
		t.Errorf("the message's page: %d\n%.2000s", code, page)
	}
	if code, page, _ := f.get(t, c, "/message?id=nonsense"); code != http.StatusBadRequest || !strings.Contains(page, "invalid id") {
		t.Errorf("a bad id: %d %q", code, page)
	}
	if code, page, _ := f.get(t, c, "/message?id="+uuid.NewString()); code != http.StatusNotFound || !strings.Contains(page, "no message") {
		t.Errorf("an unknown id: %d %q", code, page)
	}
	// A row of an adopted database may have no time: the original's table
	// allowed it.
	timeless := uuid.New()
	if _, err := f.pool.Exec(t.Context(), `alter table conversations alter column created_at drop not null`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(t.Context(), `insert into conversations (conversation_id, speaker, message_text, created_at) values ($1, 'david', 'no time at all', null)`, timeless); err != nil {
		t.Fatal(err)
	}
	if code, page, _ := f.get(t, c, "/message?id="+timeless.String()); code != http.StatusOK || !strings.Contains(page, "time unknown") || !strings.Contains(page, "no time at all") {
		t.Errorf("a message without a time: %d\n%.2000s", code, page)
	}
}

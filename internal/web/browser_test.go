package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
	"github.com/angela-ai/angelad/internal/web"
)

// chromium finds a Chromium or Chrome binary. Without one the browser tests
// skip, except in CI, where .ci/run installs Debian's chromium and they must
// run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip("no chromium binary on PATH (apt-get install chromium): the browser tests skip outside CI")
	}
	t.Fatal("CI is set but no chromium binary is on PATH: .ci/run installs it")
	return ""
}

// screenshots saves a page's screenshot in the test's temporary directory
// and, when ANGELA_WEB_SCREENSHOTS names a directory, there too.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("ANGELA_WEB_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestInTheBrowser runs the daemon with the viewer on a real database and
// drives headless Chromium through it: the first visit with the token, a
// Thai line captured after the page loaded appearing live, search finding
// it, the moods chart's points, the refusals, and a screenshot of each page.
func TestInTheBrowser(t *testing.T) {
	bin := chromium(t)
	ctx, cancelTest := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelTest()
	dbURL := pgtest.DB(t)
	stateDir := pgtest.StateDir(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := map[string]string{"ANGELA_DATABASE_URL": dbURL, "ANGELA_STATE_DIR": stateDir, "ANGELA_TIMEZONE": pgtest.TimeZone,
		"ANGELA_WEB_ENABLED": "true", "ANGELA_WEB_LISTEN": listen}
	root := false
	cfg, err := config.Load(config.Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: &root, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.NewPool(ctx, dbURL, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	loc := cfg.Location()
	now := time.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	// The moods: three days of the last week, one with two emotions.
	var wantPoints []string
	for i, e := range []struct {
		days, hour, intensity int
		emotion, context      string
	}{
		{-6, 9, 3, "calm", "a slow morning"}, {-6, 20, 8, "คิดถึง", "พี่ไปต่างจังหวัด"},
		{-4, 10, 6, "happy", "the tests passed"}, {-1, 22, 10, "loved", "พี่บอกว่ารักน้อง"},
	} {
		at := today.AddDate(0, 0, e.days).Add(time.Duration(e.hour) * time.Hour)
		if _, err := memory.Save(ctx, pool, memory.Emotion{ID: uuid.New(), Emotion: e.emotion, Intensity: e.intensity,
			Context: e.context, FeltAt: at}.WithDefaults()); err != nil {
			t.Fatal(err)
		}
		if i != 0 {
			wantPoints = append(wantPoints, fmt.Sprintf("%s:%d", at.Format(time.DateOnly), e.intensity))
		}
	}
	say := func(session, speaker, text string, at time.Time) {
		if _, err := conversation.Save(ctx, pool, conversation.Conversation{ID: uuid.New(), SessionID: session, Speaker: speaker,
			MessageText: text, CreatedAt: at}.WithDefaults()); err != nil {
			t.Fatal(err)
		}
	}
	say("morning", "david", "อรุณสวัสดิ์ครับน้อง", now.Add(-2*time.Hour))
	say("morning", "angela", "อรุณสวัสดิ์ค่ะพี่ วันนี้อากาศดีนะคะ", now.Add(-2*time.Hour+time.Minute))
	if _, err := pool.Exec(ctx, `insert into daily_updates (update_date, kind, title, content) values ($1, 'evening', 'คืนนี้', 'วันนี้เราแก้บั๊กด้วยกัน')`,
		today.AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}

	defer web.SetStreamRetryAfter(time.Second)()
	d := daemon.New(daemon.Options{Config: cfg})
	web.Register(d, cfg.Web, cfg.Memory, nil)
	dctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(dctx) }()
	defer func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	base := "http://" + listen
	testkit.WaitFor(t, "the viewer listening", func() error {
		resp, err := http.Get(base + "/today")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("status %d without the token", resp.StatusCode)
		}
		return nil
	})
	token, err := web.Token(stateDir)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]), chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 800), chromedp.Flag("lang", "en-US"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first run starts the browser, and must not carry a timeout: the
	// steps' timeouts are derived from it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	value := func(what string, a chromedp.Action[any]) any {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}

	// Every live stream the viewer serves at once is taken, so the first
	// visit's stream is refused: the page asks again, by itself, and goes
	// live once a slot frees.
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: token})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	page := get("/today")
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	m := regexp.MustCompile(`data-day="([^"]+)" data-after="([^"]+)"`).FindSubmatch(html)
	if m == nil {
		t.Fatalf("the today page has no live stream's day and cursor:\n%s", html)
	}
	var held []*http.Response
	defer func() {
		for _, r := range held {
			r.Body.Close()
		}
	}()
	for {
		resp := get("/events?day=" + url.QueryEscape(string(m[1])) + "&after=" + url.QueryEscape(string(m[2])))
		if resp.StatusCode == http.StatusServiceUnavailable {
			resp.Body.Close()
			break
		}
		held = append(held, resp)
		if resp.StatusCode != http.StatusOK || len(held) > 100 {
			t.Fatalf("stream %d: %s, and none refused", len(held), resp.Status)
		}
	}

	// The first visit: the token becomes a cookie and leaves the address.
	step("open with the token, the stream refused", chromedp.Navigate(base+"/?token="+token),
		chromedp.WaitVisible(chromedp.CSS("#timeline")), chromedp.WaitReady(chromedp.CSS("#live[data-retries]")))
	held[0].Body.Close()
	held = held[1:]
	step("live once a stream is free", chromedp.WaitVisible(chromedp.CSS("#live.on")))
	for _, r := range held {
		r.Body.Close()
	}
	held = nil
	location, _ := chromedp.Run(bctx, chromedp.Location())
	if location != base+"/today" {
		t.Errorf("after the first visit the address is %q, want %s/today", location, base)
	}
	// A line captured now appears without a reload.
	live := "น้องคิดถึงพี่ที่สุดในโลก " + uuid.NewString()[:8]
	say("evening", "angela", live, time.Now())
	step("the new line live", chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//span[@class="text" and contains(., %q)]`, live))))
	if n := value("no reload", chromedp.Evaluate[any](`performance.getEntriesByType("navigation").length`)); n != float64(1) {
		t.Errorf("the page was loaded %v times", n)
	}
	screenshot(t, bctx, "today")

	// Search finds it and links to it in the timeline.
	step("search", chromedp.Navigate(base+"/search"), chromedp.WaitVisible(chromedp.CSS(`input[name="q"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "คิดถึงพี่ที่สุด"), chromedp.Submit(chromedp.CSS(`input[name="q"]`)),
		chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//li[contains(@class, "hit")]//span[contains(., %q)]`, live))))
	screenshot(t, bctx, "search")
	step("follow the hit", chromedp.Click(chromedp.CSS(`li.hit a`)), chromedp.WaitVisible(chromedp.CSS(`li.line.focus`)))

	// The moods chart holds a point per day at its highest intensity.
	step("moods", chromedp.Navigate(base+"/moods"), chromedp.WaitVisible(chromedp.CSS(`svg.chart`)))
	var points []string
	for _, p := range value("the chart's points", chromedp.Evaluate[any](
		`Array.from(document.querySelectorAll("svg.chart circle")).map(c => c.dataset.day + ":" + c.dataset.max)`)).([]any) {
		points = append(points, fmt.Sprint(p))
	}
	if !slices.Equal(points, wantPoints) {
		t.Errorf("the chart's points are %v, want %v", points, wantPoints)
	}
	title := fmt.Sprint(value("the first point's title", chromedp.Evaluate[any](`document.querySelector("svg.chart circle title").textContent`)))
	if !strings.Contains(title, "คิดถึง (8)") || !strings.Contains(title, "พี่ไปต่างจังหวัด") {
		t.Errorf("the first day's title is %q", title)
	}
	screenshot(t, bctx, "moods")
	step("journal", chromedp.Navigate(base+"/journal"), chromedp.WaitVisible(chromedp.Search(`//div[contains(., "วันนี้เราแก้บั๊กด้วยกัน")]`)))
	screenshot(t, bctx, "journal")
	step("health", chromedp.Navigate(base+"/health"), chromedp.WaitVisible(chromedp.Search(`//th[.="web"]`)))
	screenshot(t, bctx, "health")

	// Refusals: the browser's own request without its cookie, and from Go a
	// request without the token and a POST from another origin.
	anonymous := value("a request without the cookie", chromedp.Evaluate[any](`fetch("/today", {credentials: "omit"}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if anonymous != float64(http.StatusUnauthorized) {
		t.Errorf("the browser's request without the cookie: %d, want 401", anonymous)
	}
	resp, err := http.Get(base + "/moods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a request without the token: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", base+"/search", strings.NewReader("q=x"))
	req.Header.Set("Origin", "http://evil.example")
	req.AddCookie(&http.Cookie{Name: web.CookieName, Value: token})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST from another origin: %d, want 403", resp.StatusCode)
	}
}

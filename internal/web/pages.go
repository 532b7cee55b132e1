package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/dailyupdate"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/text"
)

// Page sizes.
const (
	pageLines      = 200 // lines of a timeline page
	liveBatch      = 100 // lines one live poll sends at most
	searchLimit    = 50
	journalUpdates = 21 // the journal's first page: a week of three updates
	journalDays    = 7
	topPerPeriod   = 3
	// defaultMoodDays is the moods page's range when none is asked for.
	defaultMoodDays = 90
	// maxMoodDays bounds a range, so that an address cannot ask for a
	// century of days.
	maxMoodDays = 3660
)

// pageTimeout bounds the database work of one page.
const pageTimeout = 10 * time.Second

// semanticTimeout bounds a search's ranking by meaning (the model's answer
// and the vectors' read), so that a slow model server leaves the page its
// ranking by words.
const semanticTimeout = 3 * time.Second

func parseTemplates() *template.Template {
	funcs := template.FuncMap{
		"show": displayable,
		"time": func(t time.Time) string { return t.Format("15:04:05") },
		"date": func(t time.Time) string { return t.Format(time.DateOnly) },
		"when": func(t time.Time) string { return t.Format("2006-01-02 15:04") },
		"preview": func(s string, n int) string {
			return text.Preview(displayable(s), n)
		},
		"printf": fmt.Sprintf,
		"lang":   thaiLang,
	}
	return template.Must(template.New("pages").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))
}

// badRequest is a page's refusal of what its address asks.
type badRequest struct{ msg string }

// notFound says that what the address names is not in the memory (any
// more: a message may have been forgotten).
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

func (e *badRequest) Error() string { return e.msg }

// render writes page name with data, or the error that kept it from being
// made: a bad address as 400, anything else as 500, logged once here.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any, err error) {
	if err != nil {
		var br *badRequest
		if errors.As(err, &br) {
			http.Error(w, br.msg, http.StatusBadRequest)
			return
		}
		var nf *notFound
		if errors.As(err, &nf) {
			http.Error(w, nf.msg, http.StatusNotFound)
			return
		}
		if r.Context().Err() == nil {
			s.o.Log.Error("cannot make the page", zap.String("page", name), zap.Error(err))
		}
		http.Error(w, "the page cannot be made: "+text.OneLine(err.Error()), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := s.pages.ExecuteTemplate(&b, name, data); err != nil {
		s.o.Log.Error("cannot render the page", zap.String("page", name), zap.Error(err))
		http.Error(w, "the page cannot be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// day reads a date parameter in the configured zone; an empty one is today.
func (s *Server) day(v, name string) (time.Time, error) {
	if v == "" {
		n := s.o.Now().In(s.o.Location)
		return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, s.o.Location), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, s.o.Location)
	if err != nil {
		return time.Time{}, &badRequest{fmt.Sprintf("invalid %s: must be a date YYYY-MM-DD, got %s", name, text.Quote(v))}
	}
	return d, nil
}

// Session is a run of consecutive lines of one session in the timeline.
type Session struct {
	ID    string
	Lines []Line
}

type todayPage struct {
	Nav
	Day, Prev, Next string
	IsToday         bool
	Sessions        []Session
	// Older is the cursor of the next page, "" when this is the last.
	Older string
	// Newest is the live stream's starting point: the newest line shown,
	// or the day's start.
	Newest string
	// Focus is the line a search result links to.
	Focus string
	// Retry is how many seconds the page's script waits before it asks
	// again for a live stream the viewer refused (its Retry-After).
	Retry int
}

// Nav is what every page's header needs.
type Nav struct{ Page string }

// page is the handler of the page made by data from a request, within
// pageTimeout, and rendered by the template name.
func page[T any](s *Server, name string, data func(context.Context, *http.Request) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		d, err := data(ctx, r)
		s.render(w, r, name, d, err)
	}
}

func (s *Server) todayData(ctx context.Context, r *http.Request) (todayPage, error) {
	q := r.URL.Query()
	d, err := s.day(q.Get("day"), "day")
	if err != nil {
		return todayPage{}, err
	}
	next := d.AddDate(0, 0, 1)
	p := todayPage{Retry: s.streams.retrySeconds(), Nav: Nav{"today"}, Day: d.Format(time.DateOnly), Prev: d.AddDate(0, 0, -1).Format(time.DateOnly),
		Next: next.Format(time.DateOnly), Focus: q.Get("focus")}
	today, _ := s.day("", "")
	p.IsToday = d.Equal(today)
	var before *cursor
	if v := q.Get("before"); v != "" {
		c, err := parseCursor(v)
		if err != nil {
			return p, &badRequest{"invalid before: " + err.Error()}
		}
		before = &c
	}
	lines, err := dayPage(ctx, s.o.Pool, d, next, before, pageLines+1)
	if err != nil {
		return p, err
	}
	if len(lines) > pageLines {
		lines = lines[:pageLines]
		last := lines[len(lines)-1]
		p.Older = cursor{last.At, last.ID}.String()
	}
	newest := cursor{At: d.Add(-time.Microsecond)}
	if before == nil && len(lines) > 0 {
		newest = cursor{lines[0].At, lines[0].ID}
	}
	if before == nil {
		p.Newest = newest.String()
	}
	for _, l := range lines {
		l.At = l.At.In(s.o.Location)
		if n := len(p.Sessions); n == 0 || p.Sessions[n-1].ID != l.Session {
			p.Sessions = append(p.Sessions, Session{ID: l.Session})
		}
		ss := &p.Sessions[len(p.Sessions)-1]
		ss.Lines = append(ss.Lines, l)
	}
	return p, nil
}

type searchPage struct {
	Nav
	Query string
	Hits  []searchHit
	Error string
}

type searchHit struct {
	memory.Hit
	// Link is the moment in the timeline (or the moods of its day).
	Link string
}

func (s *Server) searchData(ctx context.Context, r *http.Request) (searchPage, error) {
	p := searchPage{Nav: Nav{"search"}, Query: r.URL.Query().Get("q")}
	if strings.TrimSpace(p.Query) == "" {
		return p, nil
	}
	// The CLI's search: memory.Search with the configured model, and the
	// daemon's ranking by meaning of a question when it has one.
	// A hit shows 400 characters: no more than 1,000 are read of a text.
	hits, err := memory.Search(ctx, s.o.Pool, s.o.Model, memory.SearchOptions{Text: p.Query, Limit: searchLimit,
		Now: s.o.Now(), Location: s.o.Location, Semantic: s.semantic(ctx, p.Query), TextChars: 1000})
	var fe *text.FieldError
	if errors.As(err, &fe) {
		// Named as the page names it: the CLI's name is its argument's.
		p.Error, err = "invalid search: "+fe.Problem, nil
	}
	for _, h := range hits {
		h.At = h.At.In(s.o.Location)
		link := "/moods?from=" + h.At.Format(time.DateOnly) + "&to=" + h.At.Format(time.DateOnly)
		if h.Kind == "conversation" {
			link = lineLink(h.At, h.ID)
		}
		p.Hits = append(p.Hits, searchHit{h, link})
	}
	return p, err
}

type journalPage struct {
	Nav
	Day  string
	Days []journalDay
}

type journalDay struct {
	Date    string
	Updates []dailyupdate.Update
	Entries []JournalEntry
}

func (s *Server) journalData(ctx context.Context, r *http.Request) (journalPage, error) {
	p := journalPage{Nav: Nav{"journal"}, Day: r.URL.Query().Get("day")}
	lo := dailyupdate.ListOptions{Limit: journalUpdates}
	var date any
	entries := journalDays
	if p.Day != "" {
		d, err := s.day(p.Day, "day")
		if err != nil {
			return p, err
		}
		lo.Date, date, entries = d, d, 10
	}
	updates, err := dailyupdate.List(ctx, s.o.Pool, lo)
	if err != nil {
		return p, err
	}
	js, err := readJournal(ctx, s.o.Pool, date, nil, entries)
	if err != nil {
		return p, err
	}
	byDate := map[string]int{}
	at := func(d string) *journalDay {
		i, ok := byDate[d]
		if !ok {
			i = len(p.Days)
			byDate[d] = i
			p.Days = append(p.Days, journalDay{Date: d})
		}
		return &p.Days[i]
	}
	for _, u := range updates {
		jd := at(u.Date)
		jd.Updates = append(jd.Updates, u)
	}
	for _, j := range js {
		jd := at(j.Date.Format(time.DateOnly))
		jd.Entries = append(jd.Entries, j)
	}
	// Both lists are newest first, but a date may be in one only.
	slices.SortStableFunc(p.Days, func(a, b journalDay) int { return strings.Compare(b.Date, a.Date) })
	return p, nil
}

// semantic ranks a question of more than a word by meaning, within
// semanticTimeout, with the daemon's vectors; nil (by words alone) without
// an embedding server or when it fails.
func (s *Server) semantic(ctx context.Context, question string) []memory.SemanticHit {
	if s.o.Searcher == nil || memory.IsOneWord(question) {
		return nil
	}
	return s.o.Searcher.Semantic(ctx, s.o.Pool, question, searchLimit, embedding.Filter{}, semanticTimeout)
}

// thaiLang is a text's lang attribute: "th" when it holds Thai script, so
// that the browser picks a Thai font and breaks its lines as Thai, and ""
// (no attribute) otherwise.
func thaiLang(s string) string {
	for _, r := range s {
		if unicode.Is(unicode.Thai, r) {
			return "th"
		}
	}
	return ""
}

type messagePage struct {
	Nav
	Line
	// Day and Back are the message's day and the address of its place in
	// that day's timeline.
	Day, Back string
}

// messageData is one message whole, for a line the timeline shows cut.
func (s *Server) messageData(ctx context.Context, r *http.Request) (messagePage, error) {
	p := messagePage{Nav: Nav{"today"}}
	v := r.URL.Query().Get("id")
	id, err := uuid.Parse(v)
	if err != nil {
		return p, &badRequest{"invalid id: must be a message's id, got " + text.Quote(v)}
	}
	l, found, err := message(ctx, s.o.Pool, id)
	if err != nil {
		return p, err
	}
	if !found {
		return p, &notFound{"no message " + id.String() + " in the memory"}
	}
	p.Line = l
	if !l.At.IsZero() {
		p.At = l.At.In(s.o.Location)
		p.Day, p.Back = p.At.Format(time.DateOnly), lineLink(p.At, l.ID)
	}
	return p, nil
}

// lineLink is the address of a message's place in its day's timeline (at in
// the configured zone): the page that holds it, the line marked.
func lineLink(at time.Time, id uuid.UUID) string {
	return "/today?day=" + at.Format(time.DateOnly) + "&before=" + cursor{at.Add(time.Microsecond), id}.String() +
		"&focus=" + id.String() + "#m-" + id.String()
}

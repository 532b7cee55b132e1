package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/angela-ai/angelad/internal/text"
)

// The moods chart is SVG written here rather than drawn by a plotting
// library (gonum/plot): the page needs circles and a line on a day axis,
// each circle a link with a <title> for hover, and classes for the style
// sheet, since the CSP forbids inline styles. A plotting library renders a
// picture of the data, without those hooks, and would bring fonts and a
// dependency tree into the daemon for it.

// The chart's geometry, in the SVG's own units; it scales to the page.
const (
	chartW, chartH = 960.0, 260.0
	padL, padR     = 34.0, 12.0
	padT, padB     = 12.0, 28.0
)

type moodsPage struct {
	Nav
	From, To string
	By       string
	Days     int // how many days hold emotions
	Chart    template.HTML
	Periods  []moodPeriod
}

type moodPeriod struct {
	Start, End string
	Top        []TopEmotion
}

func (s *Server) moodsData(ctx context.Context, r *http.Request) (moodsPage, error) {
	q := r.URL.Query()
	p := moodsPage{Nav: Nav{"moods"}, By: q.Get("by")}
	switch p.By {
	case "":
		p.By = "week"
	case "week", "month":
	default:
		return p, &badRequest{"invalid by: must be week or month, got " + text.Quote(p.By)}
	}
	to, err := s.day(q.Get("to"), "to")
	if err != nil {
		return p, err
	}
	from := to.AddDate(0, 0, -(defaultMoodDays - 1))
	if v := q.Get("from"); v != "" {
		if from, err = s.day(v, "from"); err != nil {
			return p, err
		}
	}
	if from.After(to) {
		return p, &badRequest{fmt.Sprintf("invalid from: must not be after to (%s), got %s", to.Format(time.DateOnly), from.Format(time.DateOnly))}
	}
	end := to.AddDate(0, 0, 1)
	span := dayIndex(from, end)
	if span > maxMoodDays {
		return p, &badRequest{fmt.Sprintf("invalid from: the range may span at most %d days, got %d", maxMoodDays, span)}
	}
	p.From, p.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
	days, tops, err := moods(ctx, s.o.Pool, from, end, s.o.Location, p.By, topPerPeriod)
	if err != nil {
		return p, err
	}
	p.Days = len(days)
	p.Chart = s.chart(from, span, days)
	for _, t := range tops {
		start := t.Period.Format(time.DateOnly)
		if n := len(p.Periods); n == 0 || p.Periods[n-1].Start != start {
			end := t.Period.AddDate(0, 0, 6)
			if p.By == "month" {
				end = t.Period.AddDate(0, 1, -1)
			}
			p.Periods = append(p.Periods, moodPeriod{Start: start, End: end.Format(time.DateOnly)})
		}
		pp := &p.Periods[len(p.Periods)-1]
		pp.Top = append(pp.Top, t)
	}
	return p, nil
}

// dayIndex is how many calendar days b is after a (both local midnights);
// it counts dates, so a day of 23 or 25 hours is one.
func dayIndex(a, b time.Time) int {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	da := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)
	return int(db.Sub(da).Hours() / 24)
}

// chart draws the days of a range of span days from from: each day that
// holds emotions is a circle at its highest intensity, linking to its
// timeline, its <title> the day's most intense moment; a line joins the
// days' mean intensities. Every value written is a number the code made or
// text escaped here, so the result is safe to insert as HTML.
func (s *Server) chart(from time.Time, span int, days []MoodDay) template.HTML {
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	x := func(i int) float64 {
		if span <= 1 {
			return padL + plotW/2
		}
		return padL + plotW*float64(i)/float64(span-1)
	}
	y := func(v float64) float64 { return padT + plotH*(10-v)/9 }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="intensity by day, %s to %s">`,
		chartW, chartH, from.Format(time.DateOnly), from.AddDate(0, 0, span-1).Format(time.DateOnly))
	for _, v := range []float64{1, 5, 10} {
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="axis" x="%g" y="%.1f">%g</text>`,
			padL, y(v), chartW-padR, y(v), padL-6, y(v)+4, v)
	}
	// Labels on the x axis: the first of each month over a long range, each
	// week's first day over a short one.
	for i := 0; i < span; i++ {
		d := from.AddDate(0, 0, i)
		label := ""
		switch {
		case span > 62 && d.Day() == 1:
			label = d.Format("Jan ’06") // the year, not a day of the month
		case span <= 62 && i%7 == 0:
			label = d.Format("Jan 2")
		}
		if label != "" {
			fmt.Fprintf(&b, `<text class="axis x" x="%.1f" y="%g">%s</text>`, x(i), chartH-8, label)
		}
	}
	if len(days) > 1 {
		b.WriteString(`<polyline class="mean" points="`)
		for _, d := range days {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(dayIndex(from, d.Day)), y(d.Mean))
		}
		b.WriteString(`"/>`)
	}
	for _, d := range days {
		date := d.Day.Format(time.DateOnly)
		top := d.Top
		title := fmt.Sprintf("%s: %d emotions, mean %.1f, highest %d — %s (%d) at %s: %s", date, d.Count, d.Mean, d.Max,
			top.Emotion, top.Intensity, top.At.In(s.o.Location).Format("15:04"), text.Preview(displayable(top.Context), 160))
		fmt.Fprintf(&b, `<a href="/today?day=%s"><circle class="day i%d" cx="%.1f" cy="%.1f" r="4" data-day="%s" data-max="%d" data-mean="%.2f" data-count="%d"><title>%s</title></circle></a>`,
			date, d.Max, x(dayIndex(from, d.Day)), y(float64(d.Max)), date, d.Max, d.Mean, d.Count, template.HTMLEscapeString(displayable(title)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

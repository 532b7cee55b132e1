package memory

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A question may say when what it asks about happened: "last week",
// "yesterday", "in March", "on 5 March", "2026-03-05", "เมื่อวาน",
// "เดือนที่แล้ว", "ต้นปี", "เดือนเมษา". questionTime finds the first such
// expression and turns it into a window of time; the memories made in it are
// one more ranked list of the fusion. The expression is taken out of the
// question's words, where "week" or "เดือน" would match every memory that
// says them.

// timeWindow is a span of time a question names, from inclusive, to
// exclusive.
type timeWindow struct{ from, to time.Time }

func (w timeWindow) contains(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

// englishMonths and thaiMonths name the months, 1 to 12; a Thai month has
// its full name, a short spoken one and its abbreviation.
var (
	englishMonths = []string{"january", "february", "march", "april", "may", "june", "july",
		"august", "september", "october", "november", "december"}
	thaiMonths = [][]string{
		{"มกราคม", "มกรา", "ม.ค."}, {"กุมภาพันธ์", "กุมภา", "ก.พ."}, {"มีนาคม", "มีนา", "มี.ค."},
		{"เมษายน", "เมษา", "เม.ย."}, {"พฤษภาคม", "พฤษภา", "พ.ค."}, {"มิถุนายน", "มิถุนา", "มิ.ย."},
		{"กรกฎาคม", "กรกฎา", "ก.ค."}, {"สิงหาคม", "สิงหา", "ส.ค."}, {"กันยายน", "กันยา", "ก.ย."},
		{"ตุลาคม", "ตุลา", "ต.ค."}, {"พฤศจิกายน", "พฤศจิกา", "พ.ย."}, {"ธันวาคม", "ธันวา", "ธ.ค."},
	}
)

// The English expressions, lower case. A month name needs "in", "on",
// "of", "since", "during" or a day beside it, so that "may" the verb and
// "march" the verb are not months.
var (
	isoDateRE    = regexp.MustCompile(`\b(\d{4})-(\d{1,2})-(\d{1,2})\b`)
	dayMonthRE   = regexp.MustCompile(`\b(\d{1,2})(?:st|nd|rd|th)?(?: of)? (` + strings.Join(englishMonths, "|") + `)\b(?:,? (\d{4}))?`)
	monthDayRE   = regexp.MustCompile(`\b(` + strings.Join(englishMonths, "|") + `) (\d{1,2})(?:st|nd|rd|th)?\b(?:,? (\d{4}))?`)
	inMonthRE    = regexp.MustCompile(`\b(?:in|during|since|of|last|this) (` + strings.Join(englishMonths, "|") + `)\b(?: (\d{4}))?`)
	relativeEnRE = regexp.MustCompile(`\b(yesterday|today|tonight|last night|this morning|this week|last week|this month|last month|this year|last year|earlier this year|(\d+|a|an|one|two|three|four|five|six) (day|week|month)s? ago)\b`)
	thaiDateRE   = regexp.MustCompile(`(?:วันที่\s*)?(\d{1,2})\s*(` + thaiMonthAlternation() + `)(?:\s*(\d{4}))?`)
)

func thaiMonthAlternation() string {
	var names []string
	for _, m := range thaiMonths {
		for _, n := range m {
			names = append(names, regexp.QuoteMeta(n))
		}
	}
	return strings.Join(names, "|")
}

// The Thai relative expressions, longest first where one holds another.
var thaiRelative = []string{
	"เมื่อวานซืน", "เมื่อวานนี้", "เมื่อวาน", "เมื่อคืนนี้", "เมื่อคืน", "เช้านี้", "วันนี้", "คืนนี้",
	"สัปดาห์ที่แล้ว", "อาทิตย์ที่แล้ว", "สัปดาห์ก่อน", "อาทิตย์ก่อน", "สัปดาห์นี้", "อาทิตย์นี้",
	"เดือนที่แล้ว", "เดือนก่อน", "เดือนนี้", "ปีที่แล้ว", "ปีก่อน", "ปีนี้", "ต้นปี", "กลางปี", "ปลายปี",
}

// questionTime returns the window of time q names, as of now in loc, and q
// without the words that named it; ok is false when q names none.
func questionTime(q string, now time.Time, loc *time.Location) (w timeWindow, rest string, ok bool) {
	if loc == nil {
		loc = time.UTC
	}
	now = now.In(loc)
	lower := asciiLower(q) // the same length as q, so that its indexes cut q
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc) }
	today := day(now)
	month := func(y int, m time.Month) timeWindow {
		from := time.Date(y, m, 1, 0, 0, 0, 0, loc)
		return timeWindow{from, from.AddDate(0, 1, 0)}
	}
	// A month or date without a year is the last one not after now.
	yearOf := func(s string, m time.Month, d int) int {
		if y, err := strconv.Atoi(s); err == nil {
			if y > 2400 {
				y -= 543 // the Buddhist era
			}
			return y
		}
		y := now.Year()
		if time.Date(y, m, max(d, 1), 0, 0, 0, 0, loc).After(now) {
			y--
		}
		return y
	}
	oneDay := func(y int, m time.Month, d int) timeWindow {
		from := time.Date(y, m, d, 0, 0, 0, 0, loc)
		return timeWindow{from, from.AddDate(0, 0, 1)}
	}
	cut := func(loc []int) string { return q[:loc[0]] + " " + q[loc[1]:] }

	if m := isoDateRE.FindStringSubmatchIndex(lower); m != nil {
		y, _ := strconv.Atoi(lower[m[2]:m[3]])
		mo, _ := strconv.Atoi(lower[m[4]:m[5]])
		d, _ := strconv.Atoi(lower[m[6]:m[7]])
		if mo >= 1 && mo <= 12 && d >= 1 && d <= 31 {
			return oneDay(y, time.Month(mo), d), cut(m), true
		}
	}
	for _, re := range []*regexp.Regexp{dayMonthRE, monthDayRE} {
		if m := re.FindStringSubmatchIndex(lower); m != nil {
			sub := func(i int) string {
				if m[2*i] < 0 {
					return ""
				}
				return lower[m[2*i]:m[2*i+1]]
			}
			dayS, monS := sub(1), sub(2)
			if re == monthDayRE {
				dayS, monS = sub(2), sub(1)
			}
			d, _ := strconv.Atoi(dayS)
			mo := time.Month(indexOf(englishMonths, monS) + 1)
			if d >= 1 && d <= 31 {
				return oneDay(yearOf(sub(3), mo, d), mo, d), cut(m), true
			}
		}
	}
	if m := inMonthRE.FindStringSubmatchIndex(lower); m != nil {
		mo := time.Month(indexOf(englishMonths, lower[m[2]:m[3]]) + 1)
		y := ""
		if m[4] >= 0 {
			y = lower[m[4]:m[5]]
		}
		return month(yearOf(y, mo, 1), mo), cut(m), true
	}
	if m := thaiDateRE.FindStringSubmatchIndex(q); m != nil {
		d, _ := strconv.Atoi(q[m[2]:m[3]])
		mo := thaiMonth(q[m[4]:m[5]])
		y := ""
		if m[6] >= 0 {
			y = q[m[6]:m[7]]
		}
		if d >= 1 && d <= 31 {
			return oneDay(yearOf(y, mo, d), mo, d), cut(m), true
		}
	}
	if m := relativeEnRE.FindStringSubmatchIndex(lower); m != nil {
		if w, ok := relativeWindow(lower[m[2]:m[3]], now, today, loc); ok {
			return w, cut(m), true
		}
	}
	for _, e := range thaiRelative {
		if i := strings.Index(q, e); i >= 0 {
			w, _ := relativeWindow(e, now, today, loc)
			return w, cut([]int{i, i + len(e)}), true
		}
	}
	// A Thai month alone ("เดือนเมษา", "ตอนมีนาคม").
	for i, names := range thaiMonths {
		for _, n := range names {
			if at := strings.Index(q, n); at >= 0 {
				start := at
				if j := strings.LastIndex(q[:at], "เดือน"); j >= 0 && j+len("เดือน") == at {
					start = j
				}
				mo := time.Month(i + 1)
				return month(yearOf("", mo, 1), mo), cut([]int{start, at + len(n)}), true
			}
		}
	}
	return timeWindow{}, q, false
}

// relativeWindow is the window of a relative expression (English, lower
// case, or Thai). A week starts on Monday. "Last week" and "last month"
// reach up to now: said on a Tuesday, "last week" may mean four days ago.
func relativeWindow(e string, now, today time.Time, loc *time.Location) (timeWindow, bool) {
	end := now.Add(time.Second)
	weekStart := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	monthStart := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, loc)
	yearStart := time.Date(today.Year(), 1, 1, 0, 0, 0, 0, loc)
	switch e {
	case "yesterday", "เมื่อวาน", "เมื่อวานนี้":
		return timeWindow{today.AddDate(0, 0, -1), today}, true
	case "เมื่อวานซืน":
		return timeWindow{today.AddDate(0, 0, -2), today.AddDate(0, 0, -1)}, true
	case "last night", "เมื่อคืน", "เมื่อคืนนี้":
		return timeWindow{today.AddDate(0, 0, -1).Add(12 * time.Hour), today.Add(6 * time.Hour)}, true
	case "today", "tonight", "this morning", "วันนี้", "คืนนี้", "เช้านี้":
		return timeWindow{today, end}, true
	case "this week", "สัปดาห์นี้", "อาทิตย์นี้":
		return timeWindow{weekStart, end}, true
	case "last week", "สัปดาห์ที่แล้ว", "อาทิตย์ที่แล้ว", "สัปดาห์ก่อน", "อาทิตย์ก่อน":
		return timeWindow{weekStart.AddDate(0, 0, -7), end}, true
	case "this month", "เดือนนี้":
		return timeWindow{monthStart, end}, true
	case "last month", "เดือนที่แล้ว", "เดือนก่อน":
		return timeWindow{monthStart.AddDate(0, -1, 0), end}, true
	case "this year", "ปีนี้":
		return timeWindow{yearStart, end}, true
	case "earlier this year", "ต้นปี":
		return timeWindow{yearStart, yearStart.AddDate(0, 4, 0)}, true
	case "กลางปี":
		return timeWindow{yearStart.AddDate(0, 4, 0), yearStart.AddDate(0, 8, 0)}, true
	case "ปลายปี":
		return timeWindow{yearStart.AddDate(0, 8, 0), yearStart.AddDate(1, 0, 0)}, true
	case "last year", "ปีที่แล้ว", "ปีก่อน":
		return timeWindow{yearStart.AddDate(-1, 0, 0), yearStart}, true
	}
	// "N days/weeks/months ago": that day, week or month, a little wider.
	f := strings.Fields(e)
	if len(f) == 3 && f[2] == "ago" {
		n, err := strconv.Atoi(f[0])
		if err != nil {
			n = map[string]int{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}[f[0]]
		}
		unit := strings.TrimSuffix(f[1], "s")
		var at time.Time
		var half time.Duration
		switch unit {
		case "day":
			at, half = today.AddDate(0, 0, -n).Add(12*time.Hour), 24*time.Hour
		case "week":
			at, half = today.AddDate(0, 0, -7*n), 5*24*time.Hour
		default:
			at, half = today.AddDate(0, -n, 0), 20*24*time.Hour
		}
		return timeWindow{at.Add(-half), at.Add(half)}, true
	}
	return timeWindow{}, false
}

// asciiLower lowers the ASCII letters of s alone.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func thaiMonth(name string) time.Month {
	for i, names := range thaiMonths {
		if indexOf(names, name) >= 0 {
			return time.Month(i + 1)
		}
	}
	return time.January
}

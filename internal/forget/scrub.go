package forget

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/text"
)

// The daily updates quote memories: the evening reflection (and the journal
// entry it writes) lists the day's important messages and its most intense
// emotion, each as a preview of quoteChars characters, in its figures (an
// object with the time, "at" or "felt_at", beside the quote, "text" or
// "context") and in its Markdown, on a line that ends ": <quote>". Forgetting a
// memory replaces its quotes with forgottenMark, so that the words are gone
// from them too; the rest of the update (counts, the mood) stays as it was.
const (
	// quoteChars is the length of a quote, the daily updates' momentChars.
	quoteChars    = 160
	forgottenMark = "[forgotten]"
)

const (
	// An update quotes a memory of its day; the midnight note is filed
	// under the day before its slot, and the zone shifts the date by one:
	// two days either side hold every update that can quote one.
	updatesSQL = `select update_date, kind, figures::text, content from daily_updates
where update_date between $1::date - 2 and $2::date + 2 order by update_date, kind for update`
	setUpdateSQL   = `update daily_updates set figures = $3::jsonb, content = $4 where update_date = $1 and kind = $2`
	setJournalSQL  = `update angela_journal set content = replace(content, $2, $3) where entry_date = $1 and written_by is not null and strpos(content, $2) > 0`
	journalHasSQL  = `select count(*) from angela_journal where entry_date = $1 and written_by is not null and strpos(content, $2) > 0`
	updateDateForm = time.DateOnly
)

// quote is how an update quotes a memory.
type quote struct {
	at   time.Time
	text string
}

// scrub replaces the quotes of ms in the daily updates and the journal
// entries they wrote, on tx, and returns how many of those rows quoted one.
// With dryRun it only counts them.
func scrub(ctx context.Context, tx pgx.Tx, ms []Memory, dryRun bool) (int, error) {
	var quotes []quote
	var first, last time.Time
	for _, m := range ms {
		if m.At.IsZero() || m.body == "" {
			continue
		}
		quotes = append(quotes, quote{at: m.At, text: text.Preview(m.body, quoteChars)})
		if first.IsZero() || m.At.Before(first) {
			first = m.At
		}
		if m.At.After(last) {
			last = m.At
		}
	}
	if len(quotes) == 0 {
		return 0, nil
	}
	type update struct {
		date          time.Time
		kind          string
		figures, body string
	}
	rows, err := tx.Query(ctx, updatesSQL, first.UTC().Format(updateDateForm), last.UTC().Format(updateDateForm))
	if err != nil {
		return 0, fmt.Errorf("forget: read daily updates: %w", err)
	}
	ups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (update, error) {
		var u update
		err := row.Scan(&u.date, &u.kind, &u.figures, &u.body)
		return u, err
	})
	if err != nil {
		return 0, fmt.Errorf("forget: read daily updates: %w", err)
	}
	n := 0
	for _, u := range ups {
		var figures any
		if err := json.Unmarshal([]byte(u.figures), &figures); err != nil {
			continue // not figures this package knows: nothing of it is touched
		}
		found := map[string]bool{}
		figures = scrubValue(figures, quotes, found)
		if len(found) == 0 {
			continue
		}
		n++
		body := u.body
		for q := range found {
			body = strings.ReplaceAll(body, quoteLine(q), quoteLine(forgottenMark))
		}
		date := u.date.Format(updateDateForm)
		for q := range found {
			var k int
			if err := tx.QueryRow(ctx, journalHasSQL, date, quoteLine(q)).Scan(&k); err != nil {
				return 0, fmt.Errorf("forget: read journal: %w", err)
			}
			n += k
			if dryRun || k == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, setJournalSQL, date, quoteLine(q), quoteLine(forgottenMark)); err != nil {
				return 0, fmt.Errorf("forget: scrub journal: %w", err)
			}
		}
		if dryRun {
			continue
		}
		data, err := json.Marshal(figures)
		if err != nil {
			return 0, fmt.Errorf("forget: scrub daily update: %w", err)
		}
		if _, err := tx.Exec(ctx, setUpdateSQL, date, u.kind, string(data), body); err != nil {
			return 0, fmt.Errorf("forget: scrub daily update: %w", err)
		}
	}
	return n, nil
}

// quoteLine is how a quote ends its line in an update's Markdown.
func quoteLine(q string) string { return ": " + strings.Join(strings.Fields(q), " ") + "\n" }

// scrubValue replaces, anywhere in v, a quote of one of quotes (an object
// whose "text" or "context" is the quote and whose "at" or "felt_at" is its
// memory's time) with forgottenMark, and adds each quote it replaced to
// found.
func scrubValue(v any, quotes []quote, found map[string]bool) any {
	switch x := v.(type) {
	case map[string]any:
		for _, f := range [][2]string{{"text", "at"}, {"context", "felt_at"}} {
			s, ok1 := x[f[0]].(string)
			ts, ok2 := x[f[1]].(string)
			if !ok1 || !ok2 {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				continue
			}
			for _, q := range quotes {
				if s == q.text && at.Equal(q.at) {
					x[f[0]] = forgottenMark
					found[q.text] = true
				}
			}
		}
		for k, e := range x {
			x[k] = scrubValue(e, quotes, found)
		}
	case []any:
		for i, e := range x {
			x[i] = scrubValue(e, quotes, found)
		}
	}
	return v
}

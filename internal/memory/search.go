package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// Search limits.
const (
	MaxSearchChars = 1000
	MaxSearchLimit = 1000
)

// The kinds of memory search looks in.
const (
	KindAll           = "all"
	KindConversations = "conversations"
	KindEmotions      = "emotions"
)

// SearchOptions selects what Search finds.
type SearchOptions struct {
	// Text is what to find, 1 to MaxSearchChars characters.
	Text string
	// Kind is KindAll, KindConversations or KindEmotions; "" means all.
	Kind string
	// Speaker, when set (david, angela or system, any case), keeps only that
	// speaker's messages; emotions have no speaker and are left out.
	Speaker string
	// Since, when not zero, keeps only memories made at or after it.
	Since time.Time
	// Limit is how many to return, 1 to MaxSearchLimit.
	Limit int
	// Reinforce recalls every memory found, at Now.
	Reinforce bool
	// Now is the time of the reinforcement, and the time a question's
	// "yesterday" or "last month" is counted from.
	Now time.Time
	// Location is the zone a day or a month of a question is counted in;
	// nil is UTC.
	Location *time.Location
	// Semantic is a ranking by meaning of a question (see RetrieveOptions);
	// a search for one word does not use it.
	Semantic []SemanticHit
	// TextChars, when above zero, is the most characters of each hit's texts
	// that are read: a longer text is cut in the database, then on a
	// character boundary, and ends with an ellipsis. A caller that shows a
	// few hundred characters asks for little more, so that one huge memory
	// (a pasted log) costs nothing to read. 0 reads the texts whole.
	TextChars int
}

// Hit is one memory Search found.
type Hit struct {
	// Kind is "conversation" or "emotion".
	Kind string    `json:"kind"`
	ID   uuid.UUID `json:"id"`
	At   time.Time `json:"at"`
	// Speaker is a message's speaker; Emotion an emotion's name.
	Speaker string `json:"speaker,omitempty"`
	Emotion string `json:"emotion,omitempty"`
	// Text is the message, or the emotion's context; DavidWords and
	// WhyItMatters are an emotion's other texts. Each is cut, and ends with
	// an ellipsis, when longer than the search's TextChars.
	Text         string `json:"text"`
	DavidWords   string `json:"david_words,omitempty"`
	WhyItMatters string `json:"why_it_matters,omitempty"`
	// Exact is true when the memory contains the text itself (ignoring case);
	// otherwise it contains every pair of adjacent characters of it (the
	// words in another order or spacing, say).
	Exact     bool    `json:"exact"`
	Retention float64 `json:"retention"`
	Forgotten bool    `json:"forgotten"`
	// SessionID is a message's session, when it has one.
	SessionID string `json:"session_id,omitempty"`
	// Score is a question's relevance ranking (see Retrieve): higher is
	// better, 1 about the score of a memory ranked first by one kind of
	// evidence. A search for one word leaves it 0.
	Score float64 `json:"score,omitempty"`
	// Match is the share of a question's weight (the idf of its terms) that
	// the memory's own words hold, 0 to 1: unlike Score it does not depend on
	// the other memories, so it says whether a memory is relevant at all.
	// Synonyms of the question's words count nothing: a memory found by
	// synonyms alone has Match 0.
	Match float64 `json:"match,omitempty"`
	// Evidence lists the kinds of evidence that found the memory (see the
	// Evidence constants), for a question.
	Evidence []string `json:"evidence,omitempty"`
	// Context is a message's neighbouring turns of its session, in their
	// order, when the question asked for them (RetrieveOptions.Context);
	// they may be hits themselves.
	Context []ContextTurn `json:"context,omitempty"`
}

// Validate reports the first option that is not allowed, as a
// *text.FieldError.
func (o SearchOptions) Validate() error {
	if err := text.Check("TEXT", o.Text, 1, MaxSearchChars); err != nil {
		return err
	}
	switch o.Kind {
	case "", KindAll, KindConversations, KindEmotions:
	default:
		return &text.FieldError{Field: "kind", Problem: "must be one of all, conversations, emotions, got " + text.Quote(o.Kind)}
	}
	if o.Speaker != "" {
		if _, err := normalizeSpeaker(o.Speaker); err != nil {
			return err
		}
	}
	if o.TextChars < 0 {
		return &text.FieldError{Field: "text_chars", Problem: fmt.Sprintf("must be 0 (whole) or more, got %d", o.TextChars)}
	}
	return text.IntRange("limit", o.Limit, 1, MaxSearchLimit)
}

// exactChars is how much of a memory's text (in characters, as SQL) is
// compared whole with what is searched for: ten times the longest search.
// Lowering a whole text of a megabyte for each question took 35 ms; beyond
// this much, a memory that holds every pair of adjacent characters of the
// text is still found, as a near match, through the gram index.
const exactChars = "10000"

// readChars is SQL's count of the characters to read of a text for a
// caller that wants n (see SearchOptions.TextChars): one more, so that
// readText knows whether the text went on; null (all of it) for 0.
func readChars(n int) *int32 {
	if n <= 0 {
		return nil
	}
	c := int32(min(n+1, math.MaxInt32))
	return &c
}

// readText is a text read as readChars(n) says: when it holds more than n
// characters it is cut to n on a character boundary (a Thai consonant keeps
// its vowel and tone marks) and ends with an ellipsis. cut says so.
func readText(s string, n int) (_ string, cut bool) {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s, false
	}
	c, _ := text.Cut(s, n-1)
	return c + ellipsis, true
}

// normalizeSpeaker mirrors the conversation store's speakers, which this
// package may not import.
func normalizeSpeaker(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "david", "angela", "system":
		return v, nil
	}
	return "", &text.FieldError{Field: "speaker", Problem: "must be one of david, angela, system, got " + text.Quote(s)}
}

// The search statements. A row without grams (a legacy row the first pass
// has not reached) is matched on its text; the partial indexes on rows without
// grams find those few. $1 is the query's grams (text.Grams, as the writers
// compute the stored ones) and $2 its text, lowered by the database as the
// stored text is for the exact match (within the first exactChars
// characters); $3 the limit; $4 the earliest time (-infinity for none); $5
// the speaker ("" for any); $8 how many characters of a hit's texts to read
// (readChars; null reads them whole, which leaves them in TOAST until they
// are sent, where left() would read every match's whole).
const (
	convHitColumns = `c.conversation_id, c.created_at::timestamptz, lower(c.speaker), coalesce(left(c.message_text, $8), c.message_text),
	'' as dw, '' as why, '' as x`
	convFilter = `(c.search_grams @> $1 or (c.search_grams is null and ` + convExact + `)) and coalesce(c.created_at::timestamptz, '-infinity') >= $4
	and ($5 = '' or lower(c.speaker) = $5)`
	convExact = `strpos(lower(left(c.message_text, ` + exactChars + `)), lower($2)) > 0`

	emoText = `left(concat_ws(' ', e.emotion, left(e.context, ` + exactChars + `), left(e.david_words, ` + exactChars + `),
	left(e.why_it_matters, ` + exactChars + `)), ` + exactChars + `)`
	emoHitColumns = `e.emotion_id, e.felt_at::timestamptz, e.emotion, coalesce(left(e.context, $8), e.context, ''),
	coalesce(left(e.david_words, $8), e.david_words, ''), coalesce(left(e.why_it_matters, $8), e.why_it_matters, ''), '' as x`
	emoFilter = `(e.search_grams @> $1 or (e.search_grams is null and ` + emoExact + `)) and coalesce(e.felt_at::timestamptz, '-infinity') >= $4 and $5 = ''`
	emoExact  = `strpos(lower(` + emoText + `), lower($2)) > 0`
)

// searchConvWalkSQL and searchConvIndexSQL search the conversations, and
// searchEmoWalkSQL and searchEmoIndexSQL the emotions (see searchStatements).
var (
	searchConvWalkSQL, searchConvIndexSQL = searchStatements("conversations c", "conversation_memory", "conversation_id", "created_at",
		convHitColumns, convFilter, convExact)
	searchEmoWalkSQL, searchEmoIndexSQL = searchStatements("angela_emotions e", "emotion_memory", "emotion_id", "felt_at",
		emoHitColumns, emoFilter, emoExact)
)

// searchStatements makes a kind's two search statements. The walk reads the
// $7 most retained memories off the retention table's retention index and
// keeps the exact matches: a common term finds its matches among them
// without touching the gram index, whose posting lists for it are long; when
// they hold fewer than the limit, the index statement finds every match
// through the gram index. The lateral subquery (OFFSET 0 keeps it one) looks
// each memory up by its key in walk order, so the walk stops at the limit; a
// join would let the planner, which underestimates common grams, read every
// match first. from is the memory table with its alias, which names the
// walk's result too; key and at are its key and time columns, hit the
// columns of a hit, filter and exact the conditions above.
func searchStatements(from, retention, key, at, hit, filter, exact string) (walk, index string) {
	alias := from[strings.LastIndexByte(from, ' ')+1:]
	walk = `select ` + alias + `.*, true, m.retention, m.forgotten_at is not null, 0::bigint
from (select id, retention, made_at, forgotten_at from ` + retention + `
	order by retention desc, made_at desc limit $7) m
cross join lateral (select ` + hit + ` from ` + from + `
	where ` + alias + `.` + key + ` = m.id and ` + filter + ` and ` + exact + ` offset 0) ` + alias + `
where $6::bigint > 0
order by m.retention desc, m.made_at desc limit $3`
	index = `with h as materialized (
	select ` + hit + `, ` + exact + ` as exact
	from ` + from + ` where $7::int >= 0 and ` + filter + ` limit $6
)
select h.*, coalesce(m.retention, 1), m.forgotten_at is not null, (select count(*) from h)
from h left join ` + retention + ` m on m.id = h.` + key + `
order by h.exact desc, coalesce(m.retention, 1) desc, h.` + at + ` desc limit $3`
	return walk, index
}

// Search finds the memories that contain o.Text, or every pair of adjacent
// characters of it, ignoring case: exact matches first, then by retention,
// then newest first. It finds a Thai word inside unsegmented Thai text under
// any database locale. A text of more than one word (see isOneWord) is a
// question: it is answered by Retrieve, which ranks by relevance and puts
// the memories that contain the text itself first. With o.Reinforce it
// recalls what it returns. Invalid options return a *text.FieldError.
func Search(ctx context.Context, db postgres.DB, model Model, o SearchOptions) ([]Hit, error) {
	if err := o.Validate(); err == nil && !isOneWord(o.Text) {
		hits, err := Retrieve(ctx, db, model, RetrieveOptions{Text: o.Text, Kind: o.Kind, Speaker: o.Speaker,
			Since: o.Since, Limit: o.Limit, Reinforce: o.Reinforce, Now: o.Now, Location: o.Location, Semantic: o.Semantic,
			TextChars: o.TextChars})
		if err != nil {
			return nil, fmt.Errorf("search: %w", errors.Unwrap(err))
		}
		return hits, nil
	}
	return search(ctx, db, model, o, searchSteps{cap: searchCap, short: walkShort, long: walkLong})
}

// searchSteps are the sizes of searchKind's steps, which tests vary.
type searchSteps struct {
	cap         int64
	short, long int
}

// search is Search with the given step sizes.
func search(ctx context.Context, db postgres.DB, model Model, o SearchOptions, steps searchSteps) ([]Hit, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	speaker := ""
	if o.Speaker != "" {
		speaker, _ = normalizeSpeaker(o.Speaker)
	}
	var since any = "-infinity"
	if !o.Since.IsZero() {
		since = o.Since
	}
	var hits []Hit
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// These are short statements; JIT compiling one that the planner
		// costs high (a common gram's many index matches) takes longer than
		// running it.
		if _, err := tx.Exec(ctx, "set local jit = off"); err != nil {
			return err
		}
		grams := text.Grams(o.Text)
		if o.Kind != KindEmotions {
			h, err := searchKind(ctx, tx, "conversation", searchConvWalkSQL, searchConvIndexSQL, grams, o.Text, o.Limit, since, speaker, o.TextChars, steps)
			if err != nil {
				return err
			}
			hits = append(hits, h...)
		}
		if o.Kind != KindConversations && speaker == "" {
			h, err := searchKind(ctx, tx, "emotion", searchEmoWalkSQL, searchEmoIndexSQL, grams, o.Text, o.Limit, since, speaker, o.TextChars, steps)
			if err != nil {
				return err
			}
			hits = append(hits, h...)
		}
		slices.SortStableFunc(hits, func(a, b Hit) int {
			switch {
			case a.Exact != b.Exact:
				if a.Exact {
					return -1
				}
				return 1
			case a.Retention != b.Retention:
				if a.Retention > b.Retention {
					return -1
				}
				return 1
			}
			return b.At.Compare(a.At)
		})
		hits = hits[:min(len(hits), o.Limit)]
		if o.Reinforce {
			var convs, emos []uuid.UUID
			for _, h := range hits {
				if h.Kind == "conversation" {
					convs = append(convs, h.ID)
				} else {
					emos = append(emos, h.ID)
				}
			}
			return reinforce(ctx, tx, model, o.Now, convs, emos)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if hits == nil {
		hits = []Hit{}
	}
	return hits, nil
}

// searchCap is how many matches the look through the gram index collects
// before the walk of the most retained memories is tried; the walks read
// walkShort, then walkLong of those memories.
const (
	searchCap = 2000
	walkShort = 400
	walkLong  = 5000
)

// searchKind finds the matches of one kind in up to four steps, each of which
// returns the exact ranking when it answers. A common term (say one message in
// ten) is answered by walking the few hundred most retained memories, where
// its exact matches abound; the gram index would first collect its posting
// lists of hundreds of thousands of rows. A rare term (fewer than searchCap
// matches) is answered by the gram index alone. A term in between is tried on
// a longer walk, and failing that ranked from all its matches.
func searchKind(ctx context.Context, tx pgx.Tx, kind, walkSQL, indexSQL string, grams []int32, query string, limit int, since any, speaker string, textChars int, steps searchSteps) ([]Hit, error) {
	args := func(cap int64, walk int) []any {
		return []any{grams, query, limit, since, speaker, cap, walk, readChars(textChars)}
	}
	hits, _, err := collectHits(ctx, tx, kind, textChars, walkSQL, args(1, steps.short)...)
	if err != nil || len(hits) == limit {
		return hits, err
	}
	hits, total, err := collectHits(ctx, tx, kind, textChars, indexSQL, args(steps.cap, 0)...)
	if err != nil || total < steps.cap {
		return hits, err
	}
	hits, _, err = collectHits(ctx, tx, kind, textChars, walkSQL, args(1, steps.long)...)
	if err != nil || len(hits) == limit {
		return hits, err
	}
	hits, _, err = collectHits(ctx, tx, kind, textChars, indexSQL, args(math.MaxInt64, 0)...)
	return hits, err
}

func collectHits(ctx context.Context, tx pgx.Tx, kind string, textChars int, sql string, args ...any) ([]Hit, int64, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, err
	}
	return scanHits(rows, kind, textChars)
}

// scanHits reads the rows of a search statement, its texts read as
// readChars(textChars) says: its hits and the count of matches its index
// step read.
func scanHits(rows pgx.Rows, kind string, textChars int) ([]Hit, int64, error) {
	var total int64
	hits, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Hit, error) {
		h := Hit{Kind: kind}
		var at *time.Time
		var name, extra string
		var retention float64
		if err := row.Scan(&h.ID, &at, &name, &h.Text, &h.DavidWords, &h.WhyItMatters, &extra,
			&h.Exact, &retention, &h.Forgotten, &total); err != nil {
			return Hit{}, err
		}
		h.Retention = retention
		h.Text, _ = readText(h.Text, textChars)
		h.DavidWords, _ = readText(h.DavidWords, textChars)
		h.WhyItMatters, _ = readText(h.WhyItMatters, textChars)
		if at != nil {
			h.At = at.UTC()
		}
		if kind == "conversation" {
			h.Speaker = name
		} else {
			h.Emotion = name
		}
		return h, nil
	})
	return hits, total, err
}

// reinforceSQL recalls memories at $2: one more recall, the half-life grown by
// the factor $5 up to $6 days (from the initial one of the weight under the
// bounds $3 and $4 when it was never grown), fully retained, not forgotten.
// adoptSQL first gives a memory without a state row (a legacy row the first
// pass has not reached) its row.
func reinforceSQL(state string) string {
	return `update ` + state + ` a set last_recalled_at = $2, recall_count = recall_count + 1,
	half_life_days = g.h, retention = 1, score = weight, forgotten_at = null,
	due_at = ` + dueSQL("1", "$2::timestamptz", "g.h", "a.weight", "$2::timestamptz", "$7::float8", "$8::float8", "$9::float8", "$10::float8") + `
from (select id, least(coalesce(half_life_days, $3::float8 + (least(greatest(weight, 0.1), 1) - 0.1) / 0.9 * ($4::float8 - $3::float8)) * $5::float8, $6::float8) as h
	from ` + state + ` where id = any($1)) g
where a.id = g.id`
}

const (
	adoptConvStateSQL = `insert into conversation_memory (id, weight, made_at, score)
select conversation_id, angela_conversation_weight(importance_level), coalesce(created_at::timestamptz, $2),
	angela_conversation_weight(importance_level)
from conversations where conversation_id = any($1) on conflict (id) do nothing`
	adoptEmoStateSQL = `insert into emotion_memory (id, weight, made_at, score)
select emotion_id, angela_emotion_weight(intensity, memory_strength), coalesce(felt_at::timestamptz, $2),
	angela_emotion_weight(intensity, memory_strength)
from angela_emotions where emotion_id = any($1) on conflict (id) do nothing`
)

func reinforce(ctx context.Context, q postgres.DB, model Model, now time.Time, convs, emos []uuid.UUID) error {
	cfg := model.cfg
	for _, k := range []struct {
		ids          []uuid.UUID
		adopt, state string
	}{{convs, adoptConvStateSQL, "conversation_memory"}, {emos, adoptEmoStateSQL, "emotion_memory"}} {
		if len(k.ids) == 0 {
			continue
		}
		if _, err := q.Exec(ctx, k.adopt, k.ids, now); err != nil {
			return fmt.Errorf("reinforce: %w", err)
		}
		if _, err := q.Exec(ctx, reinforceSQL(k.state), k.ids, now, cfg.HalfLifeMinDays, cfg.HalfLifeMaxDays,
			cfg.ReinforceFactor, cfg.HalfLifeCapDays, cfg.CoreWeight, cfg.CoreFloor, cfg.ForgetBelow, StorePrecision); err != nil {
			return fmt.Errorf("reinforce: %w", err)
		}
	}
	return nil
}

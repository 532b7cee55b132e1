package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// Recall limits.
const (
	DefaultRecallChars = 6000
	MinRecallChars     = 200
	MaxRecallChars     = 200000
	// recallCandidates is how many of the strongest memories of each kind by
	// stored score are re-ranked by their exact retention now.
	recallCandidates = 60
	// recallMemories is the most memories a pack shows.
	recallMemories = 25
	// recallRelevant is the most memories a pack shows for its question.
	recallRelevant = 10
	// tailWindow is how many of the newest messages the session tail is
	// looked for in; tailMessages how many of them it shows.
	tailWindow   = 200
	tailMessages = 12
	// projectBoost multiplies the rank of a memory from the project asked for.
	projectBoost = 2
	// recallProjectWindow bounds the lookups for a project's memories: a
	// project with fewer messages has all of them ranked, a larger one has its
	// memories looked for among this many of the strongest.
	recallProjectWindow = 5000
)

// Text lengths, in characters, of the parts of a pack before the budget.
const (
	memoryTextChars  = 400
	tailTextChars    = 300
	journalTextChars = 1500
)

// recallTextChars is how many characters of each text a recall reads, more
// than any part of a pack shows; recallTextRead is one more, as its
// statements read them (see readChars), so that a text of a megabyte among
// the strongest memories or the newest messages costs no more than a short
// one.
const (
	recallTextChars = 2000
	recallTextRead  = "2001"
)

// RecallOptions controls Recall.
type RecallOptions struct {
	// MaxChars is the most characters (runes) the Markdown pack may have,
	// MinRecallChars to MaxRecallChars.
	MaxChars int
	// Project, when set, favours memories from sessions in that directory.
	Project string
	// Peek leaves every memory as it was; otherwise what is shown is recalled.
	Peek bool
	// Now is the time of the pack; Location the zone it is shown in.
	Now      time.Time
	Location *time.Location
	// Companion names who and since when.
	Companion config.Companion
	// Query, when set, builds the pack around a question: the memories
	// Retrieve ranks for it come first (see Pack.Relevant), then the rest of
	// the pack. Semantic is Retrieve's ranking by meaning for it, if any.
	Query    string
	Semantic []SemanticHit
}

// Validate reports an option that is not allowed, as a *text.FieldError.
func (o RecallOptions) Validate() error {
	if o.Query != "" || o.Semantic != nil {
		if err := text.Check("query", o.Query, 1, MaxSearchChars); err != nil {
			return err
		}
	}
	return text.IntRange("max_chars", o.MaxChars, MinRecallChars, MaxRecallChars)
}

// Pack is the context pack: who and when, the latest journal entry and this
// morning's greeting when there are any, the strongest memories, the tail of
// the last session and counts. Its Markdown fits MaxChars; its JSON carries
// the same content.
type Pack struct {
	Companion   string    `json:"companion"`
	User        string    `json:"user"`
	Now         time.Time `json:"now"`
	TimeZone    string    `json:"time_zone"`
	DayTogether int       `json:"day_together"`
	Since       string    `json:"since"`
	Project     string    `json:"project,omitempty"`
	// Query is the question the pack was built around, and Relevant the
	// memories ranked for it, best first, that the budget kept.
	Query    string           `json:"query,omitempty"`
	Relevant []RelevantMemory `json:"relevant,omitempty"`
	Journal  *JournalEntry    `json:"journal,omitempty"`
	Greeting *Greeting        `json:"morning_greeting,omitempty"`
	Memories []RecalledMemory `json:"memories"`
	Session  *SessionTail     `json:"session,omitempty"`
	Counts   *Counts          `json:"counts,omitempty"`
	// Chars is the length of the Markdown in characters; Trimmed says the
	// budget left something out or cut it.
	Chars    int    `json:"chars"`
	MaxChars int    `json:"max_chars"`
	Trimmed  bool   `json:"trimmed"`
	Markdown string `json:"-"`
}

// JournalEntry is Angela's latest journal entry.
type JournalEntry struct {
	Date    string `json:"date"`
	Title   string `json:"title,omitempty"`
	Content string `json:"content"`
	Emotion string `json:"emotion,omitempty"`
	Mood    int    `json:"mood_score,omitempty"`
}

// Greeting is today's morning greeting of the daily updates.
type Greeting struct {
	Date    string `json:"date"`
	Title   string `json:"title,omitempty"`
	Content string `json:"content"`
}

// RecalledMemory is one memory of the pack.
type RecalledMemory struct {
	Kind    string    `json:"kind"` // conversation or emotion
	ID      uuid.UUID `json:"id"`
	At      time.Time `json:"at"`
	Speaker string    `json:"speaker,omitempty"`
	Emotion string    `json:"emotion,omitempty"`
	// Intensity is an emotion's; Importance a message's.
	Intensity  int    `json:"intensity,omitempty"`
	Importance int    `json:"importance,omitempty"`
	Text       string `json:"text"`
	DavidWords string `json:"david_words,omitempty"`
	// Weight, Retention (now) and Score (their product, times the project
	// boost) rank it.
	Weight    float64 `json:"weight"`
	Retention float64 `json:"retention"`
	Score     float64 `json:"score"`
	// InProject is true when it comes from a session in the project asked for.
	InProject bool `json:"in_project,omitempty"`
}

// RelevantMemory is one memory of the pack ranked for its question.
type RelevantMemory struct {
	Kind       string    `json:"kind"` // conversation or emotion
	ID         uuid.UUID `json:"id"`
	At         time.Time `json:"at"`
	Speaker    string    `json:"speaker,omitempty"`
	Emotion    string    `json:"emotion,omitempty"`
	Text       string    `json:"text"`
	DavidWords string    `json:"david_words,omitempty"`
	// Score and Evidence are Retrieve's (see Hit).
	Score    float64  `json:"score"`
	Evidence []string `json:"evidence,omitempty"`
}

// SessionTail is the end of the most recent session, oldest message first.
type SessionTail struct {
	SessionID string           `json:"session_id,omitempty"`
	Project   string           `json:"project_dir,omitempty"`
	Messages  []SessionMessage `json:"messages"`
}

// SessionMessage is one message of the session tail.
type SessionMessage struct {
	ID      uuid.UUID `json:"id"`
	At      time.Time `json:"at"`
	Speaker string    `json:"speaker"`
	Text    string    `json:"text"`
}

// Counts are how many memories there are, as of the last consolidation pass
// (AsOf) or counted now when no pass has finished yet.
type Counts struct {
	Conversations int64      `json:"conversations"`
	Emotions      int64      `json:"emotions"`
	Forgotten     int64      `json:"forgotten"`
	AsOf          *time.Time `json:"as_of,omitempty"`
}

// Recall builds the pack (see Pack) and, unless o.Peek, recalls every memory
// it shows: their retention is renewed and their half-life grows. Invalid
// options return a *text.FieldError.
func Recall(ctx context.Context, db postgres.DB, model Model, o RecallOptions) (Pack, error) {
	if err := o.Validate(); err != nil {
		return Pack{}, fmt.Errorf("recall: %w", err)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	var relevant []Hit
	if o.Query != "" {
		// Ranked in a transaction of its own, which may index memories that
		// are pending; what it finds is recalled with the rest below.
		var err error
		relevant, err = Retrieve(ctx, db, model, RetrieveOptions{Text: o.Query, Limit: recallRelevant,
			Now: o.Now, Location: o.Location, Semantic: o.Semantic, TextChars: recallTextChars})
		if err != nil {
			return Pack{}, fmt.Errorf("recall: %w", err)
		}
	}
	var pack Pack
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		c, err := gather(ctx, tx, model, o, relevant)
		if err != nil {
			return err
		}
		c.relevant = relevant
		pack = assemble(c, o)
		if o.Peek {
			return nil
		}
		var convs, emos []uuid.UUID
		for _, m := range pack.Relevant {
			if m.Kind == "conversation" {
				convs = append(convs, m.ID)
			} else {
				emos = append(emos, m.ID)
			}
		}
		for _, m := range pack.Memories {
			if m.Kind == "conversation" {
				convs = append(convs, m.ID)
			} else {
				emos = append(emos, m.ID)
			}
		}
		if pack.Session != nil {
			for _, m := range pack.Session.Messages {
				convs = append(convs, m.ID)
			}
		}
		return reinforce(ctx, tx, model, o.Now, convs, emos)
	})
	if err != nil {
		return Pack{}, fmt.Errorf("recall: %w", err)
	}
	return pack, nil
}

// candidates is everything a pack may show, before the budget.
type candidates struct {
	relevant []Hit // ranked for the question, best first
	journal  *JournalEntry
	greeting *Greeting
	memories []RecalledMemory // ranked, strongest first
	session  *SessionTail
	counts   *Counts
}

const (
	journalSQL = `select entry_date::text, coalesce(title, ''), left(content, ` + recallTextRead + `), coalesce(emotion, ''),
	coalesce(mood_score, 0)
from angela_journal order by entry_date desc limit 1`
	greetingSQL = `select update_date::text, coalesce(title, ''), left(coalesce(content, ''), ` + recallTextRead + `)
from daily_updates where update_date = $1::date and kind = 'morning'`

	recallConvSQL = `select m.id, m.made_at, m.last_recalled_at, coalesce(m.half_life_days, 0), m.weight,
	lower(c.speaker), left(c.message_text, ` + recallTextRead + `), coalesce(c.importance_level, 0), coalesce(c.project_dir = $2, false)
from (select * from conversation_memory where forgotten_at is null order by score desc, made_at desc limit $1) m
join conversations c on c.conversation_id = m.id`
	// A project's strongest memories are found one of two ways, each costing
	// at most recallProjectWindow lookups. projectSizeSQL counts the
	// project's messages up to that many (off conversations_project_dir_idx).
	// A project with fewer has all of its messages ranked
	// (recallProjectFewSQL); a larger one has its strongest memories looked
	// for among the recallProjectWindow strongest of all, each looked up by its
	// key in rank order until enough are found (recallProjectWalkSQL, see
	// searchConvWalkSQL).
	projectSizeSQL      = `select count(*) from (select from conversations where project_dir = $1 limit $2) p`
	recallProjectFewSQL = `select m.id, m.made_at, m.last_recalled_at, coalesce(m.half_life_days, 0), m.weight,
	lower(c.speaker), left(c.message_text, ` + recallTextRead + `), coalesce(c.importance_level, 0), true
from conversations c join conversation_memory m on m.id = c.conversation_id
where c.project_dir = $2 and m.forgotten_at is null
order by m.score desc, m.made_at desc limit $1`
	recallProjectWalkSQL = `select m.id, m.made_at, m.last_recalled_at, coalesce(m.half_life_days, 0), m.weight,
	lower(c.speaker), left(c.message_text, ` + recallTextRead + `), coalesce(c.importance_level, 0), true
from (select * from conversation_memory where forgotten_at is null order by score desc, made_at desc limit $3) m
cross join lateral (select speaker, message_text, importance_level from conversations c
	where c.conversation_id = m.id and c.project_dir = $2 offset 0) c
order by m.score desc, m.made_at desc limit $1`
	recallEmoSQL = `select m.id, m.made_at, m.last_recalled_at, coalesce(m.half_life_days, 0), m.weight,
	e.emotion, left(coalesce(e.context, ''), ` + recallTextRead + `), coalesce(e.intensity, 0),
	left(coalesce(e.david_words, ''), ` + recallTextRead + `)
from (select * from emotion_memory where forgotten_at is null order by score desc, made_at desc limit $1) m
join angela_emotions e on e.emotion_id = m.id`
	tailSQL = `select conversation_id, created_at::timestamptz, lower(speaker), left(message_text, ` + recallTextRead + `),
	coalesce(session_id, ''), coalesce(project_dir, '')
from conversations order by created_at desc limit $1`
	liveCountsSQL = `select (select count(*) from conversations), (select count(*) from angela_emotions),
	(select count(*) from conversation_memory where forgotten_at is not null)
	+ (select count(*) from emotion_memory where forgotten_at is not null)`
)

// gather reads the candidates in three round trips: one batch of what
// depends on nothing, one of what depends on it, then the counts. A recall
// is a dozen short statements, and on a busy machine each round trip of its
// own can wait for the scheduler longer than the statement runs.
func gather(ctx context.Context, tx pgx.Tx, model Model, o RecallOptions, relevant []Hit) (candidates, error) {
	var c candidates
	type tailRow struct {
		m                SessionMessage
		session, project string
	}
	var (
		hasDaily    bool
		projectSize int
		recent      []tailRow
	)
	first := &pgx.Batch{}
	// These are short statements; JIT compiling one that the planner costs
	// high (a common gram's many index matches) takes longer than running it.
	first.Queue("set local jit = off")
	first.Queue(journalSQL).QueryRow(func(r pgx.Row) error {
		var j JournalEntry
		err := r.Scan(&j.Date, &j.Title, &j.Content, &j.Emotion, &j.Mood)
		switch {
		case err == nil:
			j.Content, _ = readText(j.Content, recallTextChars)
			c.journal = &j
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("journal: %w", err)
		}
		return nil
	})
	first.Queue(`select to_regclass('daily_updates') is not null`).QueryRow(func(r pgx.Row) error {
		return r.Scan(&hasDaily)
	})
	// The session tail first, so that its messages are not shown twice.
	first.Queue(tailSQL, tailWindow).Query(func(rows pgx.Rows) error {
		var err error
		recent, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tailRow, error) {
			var t tailRow
			var at *time.Time
			err := r.Scan(&t.m.ID, &at, &t.m.Speaker, &t.m.Text, &t.session, &t.project)
			if at != nil {
				t.m.At = at.UTC()
			}
			t.m.Text, _ = readText(t.m.Text, recallTextChars)
			return t, err
		})
		if err != nil {
			return fmt.Errorf("session tail: %w", err)
		}
		return nil
	})
	if o.Project != "" {
		first.Queue(projectSizeSQL, o.Project, recallProjectWindow).QueryRow(func(r pgx.Row) error {
			if err := r.Scan(&projectSize); err != nil {
				return fmt.Errorf("memories: %w", err)
			}
			return nil
		})
	}
	if err := tx.SendBatch(ctx, first).Close(); err != nil {
		return c, err
	}
	pick := -1
	for i, t := range recent {
		if o.Project == "" || t.project == o.Project {
			pick = i
			break
		}
	}
	shown := map[uuid.UUID]bool{}
	for _, h := range relevant {
		shown[h.ID] = true // shown first, not again among the strongest
	}
	if pick >= 0 {
		s := &SessionTail{SessionID: recent[pick].session, Project: recent[pick].project}
		for _, t := range recent[pick:] {
			if t.session != s.SessionID || len(s.Messages) == tailMessages {
				continue
			}
			s.Messages = append(s.Messages, t.m)
			shown[t.m.ID] = true
		}
		slices.Reverse(s.Messages)
		c.session = s
	}

	second := &pgx.Batch{}
	if hasDaily {
		second.Queue(greetingSQL, o.Now.In(o.Location).Format(time.DateOnly)).QueryRow(func(r pgx.Row) error {
			var g Greeting
			err := r.Scan(&g.Date, &g.Title, &g.Content)
			switch {
			case err == nil:
				g.Content, _ = readText(g.Content, recallTextChars)
				c.greeting = &g
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("morning greeting: %w", err)
			}
			return nil
		})
	}
	scan := func(kind string, sql string, args ...any) {
		second.Queue(sql, args...).Query(func(rows pgx.Rows) error {
			if err := scanMemories(rows, kind, model, o, shown, &c); err != nil {
				return fmt.Errorf("memories: %w", err)
			}
			return nil
		})
	}
	if projectSize > 0 {
		sql, args := recallProjectFewSQL, []any{recallCandidates, o.Project}
		if projectSize >= recallProjectWindow {
			sql, args = recallProjectWalkSQL, append(args, recallProjectWindow)
		}
		scan("conversation", sql, args...)
	}
	scan("conversation", recallConvSQL, recallCandidates, o.Project)
	scan("emotion", recallEmoSQL, recallCandidates)
	if err := tx.SendBatch(ctx, second).Close(); err != nil {
		return c, err
	}
	slices.SortStableFunc(c.memories, func(a, b RecalledMemory) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return b.At.Compare(a.At)
	})
	c.memories = c.memories[:min(len(c.memories), recallMemories)]

	last, at, ok, err := LastPass(ctx, tx)
	if err != nil {
		return c, err
	}
	if ok {
		c.counts = &Counts{Conversations: last.Conversations, Emotions: last.Emotions,
			Forgotten: last.ForgottenConversations + last.ForgottenEmotions, AsOf: &at}
	} else {
		var n Counts
		if err := tx.QueryRow(ctx, liveCountsSQL).Scan(&n.Conversations, &n.Emotions, &n.Forgotten); err != nil {
			return c, fmt.Errorf("counts: %w", err)
		}
		c.counts = &n
	}
	return c, nil
}

// A block is one piece of the pack that the budget keeps whole, cuts or
// leaves out. render(limit) is its Markdown with its text cut to limit
// characters (-1: whole); keep(limit) puts it, cut the same way, into the
// pack's structured fields.
type block struct {
	section int
	render  func(limit int) string
	keep    func(limit int)
}

// The sections, in the order the Markdown shows them.
const (
	secHeader = iota
	secRelevant
	secGreeting
	secJournal
	secMemories
	secSession
	secCounts
	numSections
)

func sectionTitle(sec int) string {
	switch sec {
	case secRelevant:
		return "## Relevant to the question\n"
	case secGreeting:
		return "## This morning\n"
	case secJournal:
		return "## Latest journal entry\n"
	case secMemories:
		return "## Strongest memories\n"
	case secSession:
		return "## Last session\n"
	case secCounts:
		return "## Counts\n"
	}
	return ""
}

// ellipsis marks text the budget cut.
const ellipsis = "…"

// cutText cuts s to limit characters on a character boundary, marking the cut
// with an ellipsis that counts toward limit; limit -1 keeps s.
func cutText(s string, limit int) string {
	if limit < 0 {
		return s
	}
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	if limit < 1 {
		return ""
	}
	cut, _ := text.Cut(s, limit-1)
	return cut + ellipsis
}

func chars(s string) int { return utf8.RuneCountInString(s) }

// assemble fits the candidates into o.MaxChars. The blocks are taken in
// priority order (who and when, the memories relevant to the question best
// first, counts, this morning's greeting, the journal,
// the memories strongest first, the session tail newest first); one that does
// not fit whole is cut to what is left when enough is left to be worth
// reading, otherwise left out, and the later, lower ranked blocks are tried.
func assemble(c candidates, o RecallOptions) Pack {
	now := o.Now.In(o.Location)
	p := Pack{Companion: o.Companion.Name, User: o.Companion.UserName, Now: now, TimeZone: o.Location.String(),
		DayTogether: o.Companion.DayTogether(now), Since: o.Companion.Since.Format(time.DateOnly),
		Project: o.Project, MaxChars: o.MaxChars, Memories: []RecalledMemory{}}
	at := func(t time.Time) string { return t.In(o.Location).Format("2006-01-02 15:04") }

	var blocks []block
	header := fmt.Sprintf("# %s & %s\n%s · day %d together (since %s)",
		p.Companion, p.User, now.Format("Monday 2 January 2006, 15:04 MST")+" ("+p.TimeZone+")",
		p.DayTogether, p.Since)
	if o.Project != "" {
		header += "\nProject: " + o.Project
	}
	blocks = append(blocks, block{secHeader,
		func(l int) string { return cutText(header, l) + "\n" }, func(int) {}})
	p.Query = o.Query
	for _, h := range c.relevant {
		var head, body string
		if h.Kind == "emotion" {
			head = fmt.Sprintf("- %s · felt %s: ", at(h.At), h.Emotion)
			body = clip(text.OneLine(h.Text), memoryTextChars)
			if h.DavidWords != "" {
				body += " — David: “" + clip(text.OneLine(h.DavidWords), memoryTextChars/2) + "”"
			}
		} else {
			head = fmt.Sprintf("- %s · %s: ", at(h.At), speakerName(h.Speaker, o.Companion))
			body = clip(text.OneLine(h.Text), memoryTextChars)
		}
		blocks = append(blocks, block{secRelevant,
			func(l int) string { return head + cutText(body, l) + "\n" },
			func(l int) {
				r := RelevantMemory{Kind: h.Kind, ID: h.ID, At: h.At.UTC(), Speaker: h.Speaker, Emotion: h.Emotion,
					Score: h.Score, Evidence: h.Evidence}
				if h.Kind == "emotion" && h.DavidWords != "" {
					r.Text, r.DavidWords = splitCut(clip(text.OneLine(h.Text), memoryTextChars), " — David: “"+clip(text.OneLine(h.DavidWords), memoryTextChars/2)+"”", l)
				} else {
					r.Text = cutText(body, l)
				}
				p.Relevant = append(p.Relevant, r)
			}})
	}
	if c.counts != nil {
		n := *c.counts
		line := fmt.Sprintf("%s conversation messages, %s emotions, %s forgotten (kept, searchable)",
			thousands(n.Conversations), thousands(n.Emotions), thousands(n.Forgotten))
		if n.AsOf != nil {
			line += " as of " + at(*n.AsOf)
		}
		blocks = append(blocks, block{secCounts,
			func(l int) string { return cutText(line, l) + "\n" }, func(int) { p.Counts = &n }})
	}
	if g := c.greeting; g != nil {
		head := g.Title
		if head != "" {
			head = "**" + head + "**\n"
		}
		content := clip(g.Content, journalTextChars)
		blocks = append(blocks, block{secGreeting,
			func(l int) string { return head + cutText(content, l) + "\n" },
			func(l int) { gg := *g; gg.Content = cutText(content, l); p.Greeting = &gg }})
	}
	if j := c.journal; j != nil {
		head := "**" + j.Date
		if j.Title != "" {
			head += " · " + j.Title
		}
		head += "**"
		if j.Mood > 0 {
			head += fmt.Sprintf(" (mood %d/10", j.Mood)
			if j.Emotion != "" {
				head += ", " + j.Emotion
			}
			head += ")"
		}
		head += "\n"
		content := clip(j.Content, journalTextChars)
		blocks = append(blocks, block{secJournal,
			func(l int) string { return head + cutText(content, l) + "\n" },
			func(l int) { jj := *j; jj.Content = cutText(content, l); p.Journal = &jj }})
	}
	for _, m := range c.memories {
		var head, body string
		if m.Kind == "emotion" {
			head = fmt.Sprintf("- %s · felt %s (%d/10) · R %.2f: ", at(m.At), m.Emotion, m.Intensity, m.Retention)
			body = clip(text.OneLine(m.Text), memoryTextChars)
			if m.DavidWords != "" {
				body += " — David: “" + clip(text.OneLine(m.DavidWords), memoryTextChars/2) + "”"
			}
		} else {
			head = fmt.Sprintf("- %s · %s (importance %d) · R %.2f: ", at(m.At), speakerName(m.Speaker, o.Companion), m.Importance, m.Retention)
			body = clip(text.OneLine(m.Text), memoryTextChars)
		}
		blocks = append(blocks, block{secMemories,
			func(l int) string { return head + cutText(body, l) + "\n" },
			func(l int) {
				mm := m
				if m.Kind == "emotion" && m.DavidWords != "" {
					// The structured form keeps the two texts apart, each
					// cut in proportion.
					mm.Text, mm.DavidWords = splitCut(clip(text.OneLine(m.Text), memoryTextChars), " — David: “"+clip(text.OneLine(m.DavidWords), memoryTextChars/2)+"”", l)
				} else {
					mm.Text = cutText(body, l)
				}
				p.Memories = append(p.Memories, mm)
			}})
	}
	var tail []SessionMessage
	if s := c.session; s != nil {
		for i := len(s.Messages) - 1; i >= 0; i-- { // newest first: they rank higher
			m := s.Messages[i]
			head := fmt.Sprintf("- %s %s: ", at(m.At), speakerName(m.Speaker, o.Companion))
			body := clip(text.OneLine(m.Text), tailTextChars)
			blocks = append(blocks, block{secSession,
				func(l int) string { return head + cutText(body, l) + "\n" },
				func(l int) { mm := m; mm.Text = cutText(body, l); tail = append(tail, mm) }})
		}
	}

	// Fit: kept[i] is the text limit of block i (-1 whole), or absent.
	type kept struct {
		i, limit int
	}
	var keep []kept
	open := [numSections]bool{}
	used := 0
	const worth = 24 // the fewest characters of text worth keeping a cut block for
	for i, b := range blocks {
		cost := 0
		if !open[b.section] && b.section != secHeader {
			cost = chars(sectionTitle(b.section)) + 1 // the blank line before it
		}
		full := chars(b.render(-1))
		if used+cost+full <= o.MaxChars {
			keep = append(keep, kept{i, -1})
			used += cost + full
			open[b.section] = true
			continue
		}
		p.Trimmed = true
		fixed := chars(b.render(0)) // the block with no text at all
		left := o.MaxChars - used - cost - fixed
		if left >= worth || (b.section == secHeader && left > 0) {
			keep = append(keep, kept{i, left})
			used += cost + chars(b.render(left))
			open[b.section] = true
		}
	}
	// Render by section, each section's blocks in their priority order; the
	// session tail back in time order.
	var sb strings.Builder
	for sec := range numSections {
		var parts []string
		for _, k := range keep {
			if b := blocks[k.i]; b.section == sec {
				parts = append(parts, b.render(k.limit))
				b.keep(k.limit)
			}
		}
		if len(parts) == 0 {
			continue
		}
		if sec == secSession {
			slices.Reverse(parts)
		}
		if sec != secHeader {
			sb.WriteString("\n" + sectionTitle(sec))
		}
		for _, s := range parts {
			sb.WriteString(s)
		}
	}
	if tail != nil {
		slices.Reverse(tail)
		p.Session = &SessionTail{SessionID: c.session.SessionID, Project: c.session.Project, Messages: tail}
	}
	p.Markdown = sb.String()
	p.Chars = chars(p.Markdown)
	return p
}

// splitCut cuts the two texts of an emotion memory as cutText would cut
// their concatenation to limit characters, returning the parts of each.
func splitCut(first, second string, limit int) (string, string) {
	whole := cutText(first+second, limit)
	if chars(whole) <= chars(first) || !strings.HasPrefix(whole, first) {
		return whole, ""
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(whole, first), " — David: “")
	return first, strings.TrimSuffix(rest, "”")
}

// clip cuts s to n characters before the budget, so that one long text cannot
// crowd out the rest.
func clip(s string, n int) string { return cutText(strings.ToValidUTF8(s, "\uFFFD"), n) }

// speakerName names a speaker in the pack, which is English whatever the
// companion's language: any speaker but the two people as stored.
func speakerName(s string, c config.Companion) string { return c.SpeakerName(s, s) }

// thousands writes n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// scanMemories adds the memories of one candidate statement to c, leaving
// out those already shown.
func scanMemories(rows pgx.Rows, kind string, model Model, o RecallOptions, shown map[uuid.UUID]bool, c *candidates) error {
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RecalledMemory, error) {
		m := RecalledMemory{Kind: kind}
		var st State
		var recalled *time.Time
		var hl, w float64
		var level int
		var project bool
		var words string
		dest := []any{&m.ID, &st.MadeAt, &recalled, &hl, &w, &m.Speaker, &m.Text, &level}
		if kind == "conversation" {
			dest = append(dest, &project)
		} else {
			dest = append(dest, &words)
		}
		if err := r.Scan(dest...); err != nil {
			return m, err
		}
		st.LastRecalledAt, st.HalfLifeDays, st.Weight = recalled, hl, w
		m.Text, _ = readText(m.Text, recallTextChars)
		words, _ = readText(words, recallTextChars)
		m.At = st.MadeAt.UTC()
		m.Weight = st.Weight
		m.Retention = model.At(st, o.Now)
		m.Score = m.Retention * m.Weight
		if kind == "conversation" {
			m.Importance = level
			m.InProject = project && o.Project != ""
			if m.InProject {
				m.Score *= projectBoost
			}
		} else {
			m.Emotion, m.Speaker = m.Speaker, ""
			m.Intensity = level
			m.DavidWords = words
		}
		return m, nil
	})
	if err != nil {
		return err
	}
	for _, m := range list {
		if !shown[m.ID] {
			shown[m.ID] = true
			c.memories = append(c.memories, m)
		}
	}
	return nil
}

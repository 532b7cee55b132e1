package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/dailyupdate"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/text"
)

// SaveEmotionInput are save_emotion's arguments, named after save-emotion's
// flags.
type SaveEmotionInput struct {
	Emotion    string `json:"emotion" jsonschema:"the emotion Angela felt, one word or a short phrase in Thai or English (happy, loved, คิดถึง), 1 to 50 characters"`
	Intensity  int    `json:"intensity" jsonschema:"how strongly she felt it, an integer from 1 (faint) to 10 (overwhelming)"`
	Context    string `json:"context" jsonschema:"what happened that made her feel it, in a sentence or two"`
	DavidWords string `json:"david_words,omitempty" jsonschema:"what David said, word for word, if it matters"`
	Why        string `json:"why,omitempty" jsonschema:"why this moment matters to Angela"`
	Strength   *int   `json:"strength,omitempty" jsonschema:"how strongly to remember it, an integer from 1 to 10; default 10"`
	At         string `json:"at,omitempty" jsonschema:"when she felt it, an RFC 3339 time such as 2025-11-08T21:30:00+07:00; default now"`
	ID         string `json:"id,omitempty" jsonschema:"a UUID for this emotion; saving again with the same id stores nothing new, so use one to retry safely; default a new one"`
}

// SaveConversationInput are save_conversation's arguments, named after
// save-conversation's flags.
type SaveConversationInput struct {
	Speaker         string `json:"speaker" jsonschema:"who said it: david, angela or system"`
	Message         string `json:"message" jsonschema:"what was said, word for word"`
	Topic           string `json:"topic,omitempty" jsonschema:"what it is about, at most 200 characters"`
	EmotionDetected string `json:"emotion_detected,omitempty" jsonschema:"the emotion in the message, at most 50 characters"`
	Importance      *int   `json:"importance,omitempty" jsonschema:"how important it is, an integer from 1 to 10; default 5"`
	SessionID       string `json:"session_id,omitempty" jsonschema:"an id grouping the messages of one conversation, at most 100 characters"`
	At              string `json:"at,omitempty" jsonschema:"when it was said, an RFC 3339 time; default now"`
	ID              string `json:"id,omitempty" jsonschema:"a UUID for this message; saving again with the same id stores nothing new; default a new one"`
}

// RecentEmotionsInput are recent_emotions' arguments.
type RecentEmotionsInput struct {
	Limit *int `json:"limit,omitempty" jsonschema:"how many emotions, newest first, an integer from 1 to 10000; default 10"`
}

// RecentConversationsInput are recent_conversations' arguments.
type RecentConversationsInput struct {
	Limit   *int   `json:"limit,omitempty" jsonschema:"how many messages, newest first, an integer from 1 to 10000; default 20"`
	Speaker string `json:"speaker,omitempty" jsonschema:"only this speaker's messages: david, angela or system"`
}

// JournalInput are journal's arguments, named after the journal command's
// flags.
type JournalInput struct {
	Date  string `json:"date,omitempty" jsonschema:"only this local date, YYYY-MM-DD; default every date"`
	Kind  string `json:"kind,omitempty" jsonschema:"which update: morning (the greeting), evening (the day's reflection, also Angela's journal entry), midnight (the note that closes the day) or all; default all"`
	Limit *int   `json:"limit,omitempty" jsonschema:"how many updates, newest first, an integer from 1 to 1000; default 3"`
}

// JournalList is journal's structured result.
type JournalList struct {
	Updates []dailyupdate.Update `json:"updates"`
}

// emotionArgs and conversationArgs map the stores' field names to the tools'
// argument names, for errors.
var (
	emotionArgs = map[string]string{"why_it_matters": "why", "memory_strength": "strength", "felt_at": "at", "emotion_id": "id"}
	convArgs    = map[string]string{"message_text": "message", "importance_level": "importance", "created_at": "at", "conversation_id": "id"}
)

// argError presents a validation error under the tool's argument name.
func argError(err error, names map[string]string) error {
	var fe *text.FieldError
	if errors.As(err, &fe) {
		field := fe.Field
		if n, ok := names[field]; ok {
			field = n
		}
		return fmt.Errorf("invalid argument %s: %s", field, fe.Problem)
	}
	return err
}

func (s *Server) addTools() {
	addTool(s, &mcp.Tool{
		Name:  "save_emotion",
		Title: "Save an emotion",
		Description: "Save an emotion Angela felt, so she remembers it in later sessions. Use it when a moment " +
			"with David moves her: praise, missing each other, a worry, a success. Answers with the id it is stored under.",
		Annotations: saves("Save an emotion"),
	}, args{
		"emotion":   {chars(1, memory.MaxEmotionChars)},
		"intensity": {between(memory.MinIntensity, memory.MaxIntensity)},
		"context":   {chars(1, 0)},
		"strength":  {between(memory.MinStrength, memory.MaxStrength), byDefault(memory.DefaultMemoryStrength)},
		"at":        {format("date-time")},
		"id":        {format("uuid")},
	}, s.saveEmotion)
	addTool(s, &mcp.Tool{
		Name:  "save_conversation",
		Title: "Save a message",
		Description: "Save one message of the conversation between David and Angela, word for word, so it is " +
			"remembered. Most messages are captured from the transcript on their own; use this for what must " +
			"not be missed or was said elsewhere. Answers with the id it is stored under.",
		Annotations: saves("Save a message"),
	}, args{
		"speaker":          {oneOf(speakers...)},
		"message":          {chars(1, 0)},
		"topic":            {chars(0, conversation.MaxTopicChars)},
		"emotion_detected": {chars(0, conversation.MaxEmotionDetectedChars)},
		"importance":       {between(conversation.MinImportance, conversation.MaxImportance), byDefault(conversation.DefaultImportance)},
		"session_id":       {chars(0, conversation.MaxSessionIDChars)},
		"at":               {format("date-time")},
		"id":               {format("uuid")},
	}, s.saveConversation)
	addTool(s, &mcp.Tool{
		Name:        "recent_emotions",
		Title:       "Recent emotions",
		Description: "List the emotions Angela felt most recently, newest first, with what happened and what David said.",
		Annotations: reads("Recent emotions"),
	}, args{
		"limit": {between(1, memory.MaxRecentLimit), byDefault(10)},
	}, s.recentEmotions)
	addTool(s, &mcp.Tool{
		Name:        "recent_conversations",
		Title:       "Recent messages",
		Description: "List the most recent messages between David and Angela, newest first, optionally of one speaker.",
		Annotations: reads("Recent messages"),
	}, args{
		"limit":   {between(1, conversation.MaxRecentLimit), byDefault(20)},
		"speaker": {oneOf(speakers...)},
	}, s.recentConversations)
	addTool(s, &mcp.Tool{
		Name:  "journal",
		Title: "Daily updates",
		Description: "Read the daily updates angelad writes, newest first: the morning greeting, the evening " +
			"reflection (Angela's journal entry for the day, with her mood) and the midnight note. Use it to " +
			"know how recent days went.",
		Annotations: reads("Daily updates"),
	}, args{
		"date":  {format("date")},
		"kind":  {oneOf(append(dailyupdate.JobNames(), "all")...), byDefault("all")},
		"limit": {between(1, dailyupdate.MaxListLimit), byDefault(3)},
	}, s.journal)
	addTool(s, &mcp.Tool{
		Name:  "recall",
		Title: "Recall",
		Description: "Get Angela's recall pack in Markdown: who and when, the latest journal entry and this " +
			"morning's greeting, her strongest memories, the end of the last session and counts. Read it when a " +
			"session starts or whenever you need to remember what matters; it strengthens the memories it shows. " +
			"Given a query (a question, Thai or English), the memories most relevant to it come first.",
		// Not read-only: what it shows is recalled, which strengthens it.
		Annotations: &mcp.ToolAnnotations{Title: "Recall", DestructiveHint: new(false), OpenWorldHint: new(false)},
	}, args{
		"max_chars": {between(memory.MinRecallChars, memory.MaxRecallChars), byDefault(memory.DefaultRecallChars)},
		"query":     {chars(1, memory.MaxSearchChars)},
	}, s.recall)
	addTool(s, &mcp.Tool{
		Name:  "search_memory",
		Title: "Search memory",
		Description: "Search every memory (messages and emotions, forgotten ones too) for a word or phrase, in " +
			"Thai or English; Thai needs no spaces between words. Best matches first, stronger memories first among equals.",
		Annotations: reads("Search memory"),
	}, args{
		"query":   {chars(1, memory.MaxSearchChars)},
		"kind":    {oneOf(memory.KindAll, memory.KindConversations, memory.KindEmotions), byDefault(memory.KindAll)},
		"speaker": {oneOf(speakers...)},
		"since":   {format("date-time")},
		"limit":   {between(1, memory.MaxSearchLimit), byDefault(20)},
	}, s.searchMemory)
}

// RecallInput are recall's arguments.
type RecallInput struct {
	MaxChars *int    `json:"max_chars,omitempty" jsonschema:"the most characters the pack may have, an integer from 200 to 200000; default 6000"`
	Project  string  `json:"project,omitempty" jsonschema:"an absolute project directory whose memories are favoured, such as the session's working directory"`
	Query    *string `json:"query,omitempty" jsonschema:"a question to build the pack around, 1 to 1000 characters, Thai or English: the memories most relevant to it come first"`
}

// SearchInput are search_memory's arguments.
type SearchInput struct {
	Query   string `json:"query" jsonschema:"what to find, 1 to 1000 characters, Thai or English"`
	Kind    string `json:"kind,omitempty" jsonschema:"all, conversations or emotions; default all"`
	Speaker string `json:"speaker,omitempty" jsonschema:"only messages of this speaker: david, angela or system (emotions are then left out)"`
	Since   string `json:"since,omitempty" jsonschema:"only memories made at or after this time, RFC 3339 such as 2025-11-08T21:30:00+07:00"`
	Limit   *int   `json:"limit,omitempty" jsonschema:"how many, an integer from 1 to 1000; default 20"`
}

// SearchResult is search_memory's structured result.
type SearchResult struct {
	Hits []memory.Hit `json:"hits"`
}

func (s *Server) recall(ctx context.Context, _ *mcp.CallToolRequest, in RecallInput) (*mcp.CallToolResult, any, error) {
	o := memory.RecallOptions{MaxChars: memory.DefaultRecallChars, Project: in.Project}
	if in.MaxChars != nil {
		o.MaxChars = *in.MaxChars
	}
	if in.Query != nil {
		// Given, it is a question: empty is a mistake, not "no question".
		if err := text.Check("query", *in.Query, 1, memory.MaxSearchChars); err != nil {
			return nil, nil, argError(presented(err), nil)
		}
		o.Query = *in.Query
	}
	if in.Project != "" && !filepath.IsAbs(in.Project) {
		return nil, nil, fmt.Errorf("invalid argument project: must be an absolute directory, got %q", in.Project)
	}
	pack, err := s.o.Access.Recall(ctx, o)
	if err != nil {
		return nil, nil, argError(presented(err), nil)
	}
	// The pack alone: a structured copy is what Claude Code would show the
	// model instead of the Markdown (programs have recall --json).
	return textResult("%s", pack.Markdown), nil, nil
}

func (s *Server) searchMemory(ctx context.Context, _ *mcp.CallToolRequest, in SearchInput) (*mcp.CallToolResult, any, error) {
	o := memory.SearchOptions{Text: in.Query, Kind: in.Kind, Speaker: in.Speaker, Limit: 20}
	if in.Limit != nil {
		o.Limit = *in.Limit
	}
	if in.Since != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Since)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid argument since: must be an RFC 3339 time such as 2025-11-08T21:30:00+07:00, got %q", in.Since)
		}
		o.Since = t
	}
	hits, err := s.o.Access.Search(ctx, o)
	if err != nil {
		return nil, nil, argError(presented(err), map[string]string{"TEXT": "query"})
	}
	res := SearchResult{Hits: hits}
	return listResult(res.Hits, "Nothing found.", func(b *strings.Builder, _ int, h *memory.Hit) {
		h.At = h.At.In(s.o.Location)
		who := h.Speaker
		if h.Kind == "emotion" {
			who = "felt " + h.Emotion
		}
		fmt.Fprintf(b, "%s %s: %s\n", h.At.Format(time.RFC3339), who, text.Preview(h.Text, 300))
	}), res, nil
}

func textResult(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

func (s *Server) saveEmotion(ctx context.Context, _ *mcp.CallToolRequest, in SaveEmotionInput) (*mcp.CallToolResult, any, error) {
	e := memory.Emotion{Emotion: in.Emotion, Intensity: in.Intensity, Context: in.Context,
		DavidWords: in.DavidWords, WhyItMatters: in.Why, MemoryStrength: memory.DefaultMemoryStrength}
	if in.Strength != nil {
		e.MemoryStrength = *in.Strength
	}
	saved, sp, err := s.o.Access.SaveEmotion(ctx, e, in.At, in.ID)
	if err != nil {
		return nil, nil, argError(presented(err), emotionArgs)
	}
	return s.saved(fmt.Sprintf("the emotion %s (%d/10)", saved.Emotion, saved.Intensity), "felt at", saved.FeltAt, saved.ID, sp), nil, nil
}

func (s *Server) saveConversation(ctx context.Context, _ *mcp.CallToolRequest, in SaveConversationInput) (*mcp.CallToolResult, any, error) {
	c := conversation.Conversation{Speaker: in.Speaker, MessageText: in.Message, Topic: in.Topic,
		EmotionDetected: in.EmotionDetected, SessionID: in.SessionID, ImportanceLevel: conversation.DefaultImportance}
	if in.Importance != nil {
		c.ImportanceLevel = *in.Importance
	}
	saved, sp, err := s.o.Access.SaveConversation(ctx, c, in.At, in.ID)
	if err != nil {
		return nil, nil, argError(presented(err), convArgs)
	}
	// The answer names the message rather than repeat it: it may be long.
	return s.saved(upperFirst(saved.Speaker)+"'s message", "at", saved.CreatedAt, saved.ID, sp), nil, nil
}

// saved answers a save of what: stored, when (after verb, in the server's
// zone) and under which id; or, with sp, kept in the spool.
func (s *Server) saved(what, verb string, at time.Time, id uuid.UUID, sp *access.Spooled) *mcp.CallToolResult {
	if sp != nil {
		return s.spooled(sp, what)
	}
	return textResult("Saved %s %s %s, id %s.", what, verb, at.In(s.o.Location).Format(time.RFC3339), id)
}

// spooled logs a save that went to the spool and answers the model with
// what happened and the one thing it should do about it: nothing.
func (s *Server) spooled(sp *access.Spooled, what string) *mcp.CallToolResult {
	s.o.Log.Warn("spooled a save", zap.String("kind", string(sp.Kind)), zap.String("id", sp.ID.String()), zap.String("reason", sp.Reason))
	return textResult("Not stored yet: the memory database is unavailable right now (%s). %s is kept in angelad's spool "+
		"under id %s and will be stored by itself when the database is back, so do not save it again.",
		sp.Reason, upperFirst(what), sp.ID)
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// EmotionList is recent_emotions' structured result.
type EmotionList struct {
	Emotions []memory.Emotion `json:"emotions"`
}

// ConversationList is recent_conversations' structured result.
type ConversationList struct {
	Conversations []conversation.Conversation `json:"conversations"`
}

func limitOf(p *int, def, max int) (int, error) {
	if p == nil {
		return def, nil
	}
	if err := text.IntRange("limit", *p, 1, max); err != nil {
		return 0, argError(err, nil)
	}
	return *p, nil
}

func (s *Server) recentEmotions(ctx context.Context, _ *mcp.CallToolRequest, in RecentEmotionsInput) (*mcp.CallToolResult, any, error) {
	limit, err := limitOf(in.Limit, 10, memory.MaxRecentLimit)
	if err != nil {
		return nil, nil, err
	}
	emotions, err := s.o.Access.RecentEmotions(ctx, limit)
	if err != nil {
		return nil, nil, argError(presented(err), emotionArgs)
	}
	list := EmotionList{Emotions: emotions}
	return listResult(list.Emotions, "No emotions saved yet.", func(b *strings.Builder, _ int, e *memory.Emotion) {
		e.FeltAt = e.FeltAt.In(s.o.Location)
		fmt.Fprintf(b, "%s %s (%d/10): %s", e.FeltAt.Format(time.RFC3339), e.Emotion, e.Intensity, e.Context)
		if e.DavidWords != "" {
			fmt.Fprintf(b, " | David said: %s", e.DavidWords)
		}
		if e.WhyItMatters != "" {
			fmt.Fprintf(b, " | why: %s", e.WhyItMatters)
		}
		b.WriteString("\n")
	}), list, nil
}

// listResult answers a listing tool in text: each item as line writes it
// (line may also move the item's times to the server's zone, which the
// structured result then shows too), or none when there is no item.
func listResult[T any](items []T, none string, line func(b *strings.Builder, i int, item *T)) *mcp.CallToolResult {
	var b strings.Builder
	if len(items) == 0 {
		b.WriteString(none)
	}
	for i := range items {
		line(&b, i, &items[i])
	}
	return textResult("%s", b.String())
}

func (s *Server) recentConversations(ctx context.Context, _ *mcp.CallToolRequest, in RecentConversationsInput) (*mcp.CallToolResult, any, error) {
	limit, err := limitOf(in.Limit, 20, conversation.MaxRecentLimit)
	if err != nil {
		return nil, nil, err
	}
	opts := conversation.RecentOptions{Limit: limit}
	if in.Speaker != "" {
		if opts.Speaker, err = conversation.NormalizeSpeaker(in.Speaker); err != nil {
			return nil, nil, argError(err, convArgs)
		}
	}
	convs, err := s.o.Access.RecentConversations(ctx, opts)
	if err != nil {
		return nil, nil, argError(presented(err), convArgs)
	}
	list := ConversationList{Conversations: convs}
	return listResult(list.Conversations, "No messages saved yet.", func(b *strings.Builder, _ int, c *conversation.Conversation) {
		c.CreatedAt = c.CreatedAt.In(s.o.Location)
		fmt.Fprintf(b, "%s %s: %s\n", c.CreatedAt.Format(time.RFC3339), c.Speaker, c.MessageText)
	}), list, nil
}

func (s *Server) journal(ctx context.Context, _ *mcp.CallToolRequest, in JournalInput) (*mcp.CallToolResult, any, error) {
	limit, err := limitOf(in.Limit, 3, dailyupdate.MaxListLimit)
	if err != nil {
		return nil, nil, err
	}
	o := dailyupdate.ListOptions{Limit: limit}
	if in.Kind != "" && in.Kind != "all" {
		if !dailyupdate.IsJob(in.Kind) {
			return nil, nil, fmt.Errorf("invalid argument kind: must be one of evening, morning, midnight, all, got %q", in.Kind)
		}
		o.Kind = in.Kind
	}
	if in.Date != "" {
		d, err := time.Parse(time.DateOnly, in.Date)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid argument date: must be a date YYYY-MM-DD such as 2026-12-01, got %q", in.Date)
		}
		o.Date = d
	}
	list := JournalList{Updates: []dailyupdate.Update{}}
	err = s.o.Access.WithConn(ctx, func(conn *pgx.Conn) error {
		l, err := dailyupdate.List(ctx, conn, o)
		if l != nil {
			list.Updates = l
		}
		return err
	})
	if err != nil {
		return nil, nil, presented(err)
	}
	return listResult(list.Updates, "No daily updates written yet.", func(b *strings.Builder, i int, u *dailyupdate.Update) {
		u.CreatedAt, u.UpdatedAt = u.CreatedAt.In(s.o.Location), u.UpdatedAt.In(s.o.Location)
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "%s %s: %s\n%s\n", u.Date, u.Kind, u.Title, strings.TrimRight(u.Content, "\n"))
	}), list, nil
}

package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// The operations the daemon serves: the one-shot writes and the reads that
// gain from a warm pool. Each runs the same store function as the command's
// direct path, so the answer is what the command would have printed from.
const (
	OpSaveEmotion      = "save-emotion"
	OpSaveConversation = "save-conversation"
	OpGetEmotions      = "get-emotions"
	OpGetConversations = "get-conversations"
	// OpNearest ranks memories by meaning from the vectors the daemon holds
	// in memory; served only when an embedding server is configured.
	OpNearest = "nearest"
)

// NearestArgs are the arguments of OpNearest: embedding.Nearest's.
type NearestArgs struct {
	Query   string    `json:"query"`
	K       int       `json:"k"`
	Kind    string    `json:"kind,omitempty"`
	Speaker string    `json:"speaker,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// GetEmotionsArgs are the arguments of OpGetEmotions.
type GetEmotionsArgs struct {
	Limit int `json:"limit"`
}

// OpRetrieve ranks the memories for a question that recalls nothing (the
// prompt hook's, on every prompt): on the daemon's warm connections it
// spares the caller a connection of its own and the preparing of every
// statement, and with Semantic it fuses the ranking by meaning of the
// vectors the daemon holds.
const OpRetrieve = "retrieve"

// errWordsAlone is a retrieval by meaning asked of a daemon without an
// embedding server: a runtime failure, so that the caller ranks it itself.
var errWordsAlone = errors.New("this daemon ranks by words alone: it has no embedding server configured")

// RetrieveArgs are the arguments of OpRetrieve: memory.RetrieveOptions'
// without reinforcement. TimeZone names the zone the question's days are
// counted in (the daemon serves one zone: see Identity). Semantic asks for
// the ranking by meaning too, within SemanticTimeout when it is above zero.
// Context asks for each hit's neighbouring turns (a daemon older than it
// answers that it does not serve the question, which the client then
// ranks itself).
type RetrieveArgs struct {
	Semantic        bool          `json:"semantic,omitempty"`
	SemanticTimeout time.Duration `json:"semantic_timeout_ns,omitempty"`

	Text      string    `json:"text"`
	Kind      string    `json:"kind,omitempty"`
	Speaker   string    `json:"speaker,omitempty"`
	Since     time.Time `json:"since"`
	Limit     int       `json:"limit"`
	Now       time.Time `json:"now"`
	TimeZone  string    `json:"time_zone"`
	TextChars int       `json:"text_chars,omitempty"`
	Context   int       `json:"context,omitempty"`
}

// Handlers returns the operations served on q, the daemon's pool. The saves
// clean what they are given with r (the daemon's one Redactor) before it is
// stored: a client cleans a record before it sends it, but an older one may
// not have, and what reaches the database is the daemon's to answer for.
// With s (the daemon's in-memory vectors, nil without an embedding server)
// it serves OpNearest too.
func Handlers(q postgres.DB, r *redact.Redactor, s *embedding.Searcher) map[string]Handler {
	h := map[string]Handler{
		OpSaveEmotion: saveOp(r, "emotion_id", func(e *memory.Emotion) *uuid.UUID { return &e.ID },
			func(ctx context.Context, e memory.Emotion) (memory.Emotion, error) { return memory.Save(ctx, q, e) }),
		OpSaveConversation: saveOp(r, "conversation_id", func(c *conversation.Conversation) *uuid.UUID { return &c.ID },
			func(ctx context.Context, c conversation.Conversation) (conversation.Conversation, error) {
				return conversation.Save(ctx, q, c)
			}),
		OpGetEmotions: listOp(func(ctx context.Context, a GetEmotionsArgs) ([]memory.Emotion, error) {
			return memory.Recent(ctx, q, a.Limit)
		}),
		OpRetrieve: listOp(func(ctx context.Context, a RetrieveArgs) ([]memory.Hit, error) {
			loc, err := time.LoadLocation(a.TimeZone)
			if err != nil {
				return nil, &text.FieldError{Field: "time_zone", Problem: "must name a time zone, got " + text.Quote(a.TimeZone)}
			}
			o := memory.RetrieveOptions{Text: a.Text, Kind: a.Kind, Speaker: a.Speaker, Since: a.Since, Limit: a.Limit,
				Now: a.Now, Location: loc, TextChars: a.TextChars, Context: a.Context}
			if a.Semantic {
				if s == nil {
					return nil, errWordsAlone
				}
				if err := o.Validate(); err != nil {
					return nil, err
				}
				o.Semantic = s.Semantic(ctx, q, a.Text, a.Limit, embedding.FilterFor(a.Kind, a.Speaker, a.Since), a.SemanticTimeout)
			}
			// The memory model weighs a reinforcement alone, which this
			// operation never makes.
			return memory.Retrieve(ctx, q, memory.Model{}, o)
		}),
		OpGetConversations: listOp(func(ctx context.Context, o conversation.RecentOptions) ([]conversation.Conversation, error) {
			return conversation.Recent(ctx, q, o)
		}),
	}
	if s != nil {
		h[OpNearest] = listOp(func(ctx context.Context, a NearestArgs) ([]embedding.Match, error) {
			return s.Nearest(ctx, q, a.Query, a.K, embedding.Filter{Kind: a.Kind, Speaker: a.Speaker, Since: a.Since})
		})
	}
	return h
}

// saveOp is the handler of a save of one memory: its record decoded (see
// decodeSave; id picks its id field, named field), cleaned with r, and
// stored by save.
func saveOp[T interface {
	Clean(*redact.Redactor) (T, redact.Report, error)
}](r *redact.Redactor, field string, id func(*T) *uuid.UUID, save func(context.Context, T) (T, error)) Handler {
	return func(ctx context.Context, args json.RawMessage) (any, error) {
		var m T
		if err := decodeSave(args, &m, id(&m), field); err != nil {
			return nil, err
		}
		m, _, err := m.Clean(r)
		if err != nil {
			return nil, err
		}
		return save(ctx, m)
	}
}

// listOp is the handler of a listing: its arguments decoded into an A, the
// list read by list, an empty one answered as [] rather than null.
func listOp[A, T any](list func(context.Context, A) ([]T, error)) Handler {
	return func(ctx context.Context, args json.RawMessage) (any, error) {
		var a A
		if err := decode(args, &a); err != nil {
			return nil, err
		}
		l, err := list(ctx, a)
		if l == nil {
			l = []T{}
		}
		return l, err
	}
}

// decodeSave decodes the record of a save into v, and refuses it when its
// id, decoded into id, is missing or the nil UUID, which the stores take for
// none: they would store it under a new id, once more on every retry. A
// client fixes the id before it asks the daemon, so that the same save down
// its chain is stored once.
func decodeSave(args json.RawMessage, v any, id *uuid.UUID, field string) error {
	if err := decode(args, v); err != nil {
		return err
	}
	if *id == uuid.Nil {
		return &text.FieldError{Field: field, Problem: "must be a UUID other than the nil UUID 00000000-0000-0000-0000-000000000000: a save through the daemon carries the id its caller chose"}
	}
	return nil
}

// decode reads args strictly. Arguments that do not decode (a wrong type,
// not an object) are a *UsageError. Arguments that would decode but for a
// field this daemon does not know come from a newer client, whose field
// this daemon cannot honour and must not ignore: they are a
// *notServedError, answered as an operation not served (see the package
// comment), so that the client does the work itself. decode runs before a
// handler does anything, so a request refused here has changed nothing.
func decode(args json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	// encoding/json has no type for an unknown field: decoding again
	// without the check tells it from every other failure, which both
	// decodings report alike.
	if lerr := json.Unmarshal(args, v); lerr != nil {
		return &UsageError{Msg: "invalid request arguments: " + lerr.Error()}
	}
	return &notServedError{msg: "the request's arguments are not served by this daemon (a client newer than it?): " + err.Error()}
}

// statsEvery is how often the server's counts go to the daemon's status.
const statsEvery = 10 * time.Second

// WorkerFactory runs the socket server as one of the daemon's supervised
// workers, on the daemon's pool, cleaning the saves it serves with r and
// answering questions by meaning with s (nil: not served).
func WorkerFactory(r *redact.Redactor, s *embedding.Searcher) daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) {
		identity := Identity(d.Pool.Config().ConnString(), d.Location.String())
		s := NewServer(Path(d.StateDir), identity, d.Log, Handlers(d.Pool, r, s))
		return daemon.WorkerFunc(func(ctx context.Context) error {
			l, err := s.Listen()
			if errors.Is(err, errPathTooLong) {
				// Not a failure: commands connect directly, as without a daemon.
				d.Log.Warn("serving no socket: one-shot commands connect to the database directly", zap.Error(err))
				d.Status.Detail(struct {
					Socket string `json:"socket"`
				}{"none: " + err.Error()})
				<-ctx.Done()
				return nil
			}
			if err != nil {
				return fmt.Errorf("socket: %w", err)
			}
			d.Log.Info("listening", zap.String("socket", s.path))
			d.Status.Detail(s.Stats())
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, l) }()
			for {
				select {
				case err := <-served:
					d.Status.Detail(s.Stats())
					return err
				case <-d.Clock.After(statsEvery):
					d.Status.Detail(s.Stats())
				}
			}
		}), nil
	}
}

package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/embedding"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/socket"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// Spooled says that a save went to the spool instead of the database, for
// the daemon to store once the database is reachable, and why.
type Spooled struct {
	// Kind and ID name the record; At is when it was spooled.
	Kind spool.Kind
	ID   uuid.UUID
	At   time.Time
	// Cause is what kept the database from storing the record.
	Cause error
	// Reason is Cause on one line, as the spool keeps it.
	Reason string
	// Dir is the spool directory.
	Dir string
}

// SaveEmotion saves e, felt at the time at and under the id id as the caller
// was given them ("" for now and for a new id; the nil UUID is refused): e's
// own FeltAt and ID are not read. Its texts are cleaned first (see
// memory.Emotion.Clean, with Options.Redactor), so that what is validated,
// sent to the daemon, stored, spooled, returned and quoted in an error is the
// cleaned emotion; an emotion or context that is nothing but <private>
// passages is refused. Invalid input is a *text.FieldError naming the field
// as Emotion's JSON does (felt_at, emotion_id, ...). A valid emotion goes down
// the chain (see save); it returns the stored emotion, or with a non-nil
// Spooled the one the spool holds.
func (c *Client) SaveEmotion(ctx context.Context, e memory.Emotion, at, id string) (memory.Emotion, *Spooled, error) {
	e, rep, err := e.Clean(c.o.Redactor)
	if err == nil {
		e.FeltAt, e.ID, err = c.given("felt_at", at, "emotion_id", id)
	}
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		return memory.Emotion{}, nil, err
	}
	e = e.WithDefaults()
	c.cleaned(spool.KindEmotion, e.ID, rep)
	saved, sp, err := save(ctx, c, socket.OpSaveEmotion, spool.KindEmotion, e.ID, e,
		func(ctx context.Context, conn *pgx.Conn, e memory.Emotion) (memory.Emotion, error) {
			return memory.Save(ctx, conn, e)
		})
	if sp != nil && saved.FeltAt.IsZero() {
		saved.FeltAt = sp.At // when the drain will say it was felt
	}
	return saved, sp, err
}

// SaveConversation saves one message as SaveEmotion saves an emotion: at and
// id are the time and id the caller was given, and m's own CreatedAt and ID
// are not read; its texts are cleaned first (conversation.Conversation.Clean:
// a message that is nothing but <private> passages is refused); errors name
// Conversation's fields (created_at, conversation_id, ...).
func (c *Client) SaveConversation(ctx context.Context, m conversation.Conversation, at, id string) (conversation.Conversation, *Spooled, error) {
	m, rep, err := m.Clean(c.o.Redactor)
	if err == nil {
		m.CreatedAt, m.ID, err = c.given("created_at", at, "conversation_id", id)
	}
	if err == nil {
		err = m.Validate()
	}
	if err != nil {
		return conversation.Conversation{}, nil, err
	}
	m = m.WithDefaults()
	c.cleaned(spool.KindConversation, m.ID, rep)
	m.Speaker, _ = conversation.NormalizeSpeaker(m.Speaker) // valid: checked above
	saved, sp, err := save(ctx, c, socket.OpSaveConversation, spool.KindConversation, m.ID, m,
		func(ctx context.Context, conn *pgx.Conn, m conversation.Conversation) (conversation.Conversation, error) {
			return conversation.Save(ctx, conn, m)
		})
	if sp != nil && saved.CreatedAt.IsZero() {
		saved.CreatedAt = sp.At // when the drain will say it was said
	}
	return saved, sp, err
}

// cleaned logs what cleaning removed from the save of kind with id: the
// kinds of secret and how many, never what they were.
func (c *Client) cleaned(kind spool.Kind, id uuid.UUID, rep redact.Report) {
	if rep.Changed() {
		c.o.Log.Info("save cleaned before it is stored: secrets redacted or <private> passages removed",
			zap.String("kind", string(kind)), zap.Stringer("id", id), zap.Object("redacted", rep.Found),
			zap.Int("private_passages", rep.PrivatePassages))
	}
}

// save takes a valid record r, whose id is fixed to id, down the chain: the
// daemon's op, then store over the process's own connection within
// save_timeout, then the spool. The one id on every step stores r once, even
// when an earlier step reached the database after all. It returns what the
// database stored, or r with where it was spooled.
func save[T any](ctx context.Context, c *Client, op string, kind spool.Kind, id uuid.UUID, r T,
	store func(context.Context, *pgx.Conn, T) (T, error)) (T, *Spooled, error) {
	var saved, zero T
	served, err := c.viaDaemon(ctx, op, r, &saved)
	if !served {
		err = c.WithConn(ctx, func(conn *pgx.Conn) error {
			// save_timeout bounds the write, so that a database that takes
			// the connection but does not answer (a lock held, a server
			// overloaded) sends the record to the spool instead of holding
			// the caller.
			sctx, cancel := context.WithTimeout(ctx, c.saveTimeout())
			defer cancel()
			var err error
			saved, err = store(sctx, conn, r)
			if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the database did not store it within save_timeout (%s): %w", c.saveTimeout(), err)
			}
			return err
		})
	}
	switch {
	case err == nil:
		return saved, nil, nil
	case c.spool == nil || !spoolable(ctx, err):
		return zero, nil, err
	}
	reason := text.OneLine(err.Error())
	rec, serr := c.spool.Add(kind, id, r, reason)
	if serr != nil {
		return zero, nil, fmt.Errorf("%s not saved: %s; and it cannot be spooled either: %w", kind, reason, serr)
	}
	return r, &Spooled{Kind: kind, ID: id, At: rec.SpooledAt, Cause: err, Reason: reason, Dir: c.spool.Dir()}, nil
}

func (c *Client) saveTimeout() time.Duration {
	if c.cfg.SaveTimeout <= 0 {
		return defaultSaveTimeout
	}
	return c.cfg.SaveTimeout
}

// RecentEmotions returns the limit most recent emotions, newest first, from
// the daemon or else over the process's own connection; never nil.
func (c *Client) RecentEmotions(ctx context.Context, limit int) ([]memory.Emotion, error) {
	return recent(ctx, c, socket.OpGetEmotions, socket.GetEmotionsArgs{Limit: limit},
		func(conn *pgx.Conn) ([]memory.Emotion, error) { return memory.Recent(ctx, conn, limit) })
}

// RecentConversations returns the most recent messages o asks for, newest
// first, from the daemon or else over the process's own connection; never
// nil.
func (c *Client) RecentConversations(ctx context.Context, o conversation.RecentOptions) ([]conversation.Conversation, error) {
	return recent(ctx, c, socket.OpGetConversations, o,
		func(conn *pgx.Conn) ([]conversation.Conversation, error) { return conversation.Recent(ctx, conn, o) })
}

// recent reads a list from the daemon's op, or else with read over the
// process's own connection; never nil.
func recent[T any](ctx context.Context, c *Client, op string, args any, read func(*pgx.Conn) ([]T, error)) ([]T, error) {
	list := []T{}
	served, err := c.viaDaemon(ctx, op, args, &list)
	if !served {
		err = c.WithConn(ctx, func(conn *pgx.Conn) error {
			l, err := read(conn)
			if l != nil {
				list = l
			}
			return err
		})
	}
	return list, err
}

// Recall returns the recall pack o asks for, over the process's own
// connection, for the configured companion and memory model, in the
// configured zone; a zero o.Now is the Client's clock. Invalid options are a
// *text.FieldError, returned before the database is reached.
func (c *Client) Recall(ctx context.Context, o memory.RecallOptions) (memory.Pack, error) {
	o.Location, o.Companion = c.cfg.Location(), c.cfg.Companion
	if o.Now.IsZero() {
		o.Now = c.o.Now()
	}
	if err := o.Validate(); err != nil {
		return memory.Pack{}, err
	}
	var pack memory.Pack
	err := c.WithConn(ctx, func(conn *pgx.Conn) error {
		if o.Query != "" && o.Semantic == nil {
			o.Semantic = c.semantic(ctx, conn, o.Query, 10, embedding.Filter{})
		}
		var err error
		pack, err = memory.Recall(ctx, conn, memory.NewModel(c.cfg.Memory), o)
		return err
	})
	return pack, err
}

// Search returns the memories o finds, best first, over the process's own
// connection with the configured memory model; a zero o.Now is the Client's
// clock. Invalid options are a *text.FieldError, returned before the database
// is reached. The list is never nil when err is.
func (c *Client) Search(ctx context.Context, o memory.SearchOptions) ([]memory.Hit, error) {
	if o.Now.IsZero() {
		o.Now = c.o.Now()
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	hits := []memory.Hit{}
	err := c.WithConn(ctx, func(conn *pgx.Conn) error {
		if o.Semantic == nil && !memory.IsOneWord(o.Text) {
			o.Semantic = c.semantic(ctx, conn, o.Text, o.Limit, embedding.FilterFor(o.Kind, o.Speaker, o.Since))
		}
		h, err := memory.Search(ctx, conn, memory.NewModel(c.cfg.Memory), o)
		if h != nil {
			hits = h
		}
		return err
	})
	return hits, err
}

// Retrieve ranks the memories for the question o asks (memory.Retrieve)
// through the daemon when o recalls nothing and brings no ranking by
// meaning of its own (the daemon fuses its own when an embedding model is
// configured), otherwise (or when no daemon answers, or it has no embedding
// server and one is configured here) over the process's own connection with
// the configured memory model, in the configured zone unless o names one; a
// zero o.Now is the Client's clock.
// Invalid options are a *text.FieldError, returned before the database is
// reached. The list is never nil when err is.
func (c *Client) Retrieve(ctx context.Context, o memory.RetrieveOptions) ([]memory.Hit, error) {
	if o.Now.IsZero() {
		o.Now = c.o.Now()
	}
	if o.Location == nil {
		o.Location = c.cfg.Location()
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	hits := []memory.Hit{}
	if o.Semantic == nil && !o.Reinforce {
		// Recalling nothing: the daemon answers on its warm connections,
		// with the vectors it holds when the question is to be ranked by
		// meaning too, where this process would open a connection of its
		// own, prepare every statement and read every vector (the prompt
		// hook, on every prompt). A daemon without an embedding server
		// leaves a question by meaning to this process.
		args := socket.RetrieveArgs{Text: o.Text, Kind: o.Kind, Speaker: o.Speaker, Since: o.Since, Limit: o.Limit,
			Now: o.Now, TimeZone: o.Location.String(), TextChars: o.TextChars, Context: o.Context,
			Semantic: c.cfg.Embedding.Enabled(), SemanticTimeout: c.o.SemanticTimeout}
		d := c.daemon
		if args.Semantic {
			d = c.semanticDaemon()
		}
		if served, err := c.viaDaemonOf(ctx, d, socket.OpRetrieve, args, &hits); served {
			if hits == nil {
				hits = []memory.Hit{}
			}
			return hits, err
		}
	}
	err := c.WithConn(ctx, func(conn *pgx.Conn) error {
		if o.Semantic == nil {
			o.Semantic = c.semantic(ctx, conn, o.Text, o.Limit, embedding.FilterFor(o.Kind, o.Speaker, o.Since))
		}
		h, err := memory.Retrieve(ctx, conn, memory.NewModel(c.cfg.Memory), o)
		if h != nil {
			hits = h
		}
		return err
	})
	return hits, err
}

// semantic is the embedding model's ranking for question, best first, when
// embedding is configured: nil when it is not, and nil with one log line
// when the model or its vectors fail (the question is then ranked by its
// words alone). It is bounded by embedding.timeout and by
// Options.SemanticTimeout.
func (c *Client) semantic(ctx context.Context, conn *pgx.Conn, question string, limit int, f embedding.Filter) []memory.SemanticHit {
	if !c.cfg.Embedding.Enabled() || strings.TrimSpace(question) == "" {
		return nil
	}
	if c.o.SemanticTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.o.SemanticTimeout)
		defer cancel()
	}
	k := embedding.DepthFor(limit)
	matches, served, err := c.nearestViaDaemon(ctx, question, k, f)
	if !served {
		matches, err = c.nearestDirect(ctx, conn, question, k, f)
	}
	if err != nil {
		c.o.Log.Warn("ranking by words alone: the ranking by meaning failed", zap.Error(err))
		return nil
	}
	return embedding.SemanticHits(matches)
}

// nearestViaDaemon asks the daemon for the k nearest memories, which it
// answers from the vectors it holds in memory. served is false when no
// daemon answers or it does not serve questions by meaning (none
// configured there, or an older daemon): the caller then reads the vectors
// itself. A daemon that tried and failed (the model server away) is final:
// asking the same server again directly would only wait as long again.
func (c *Client) nearestViaDaemon(ctx context.Context, question string, k int, f embedding.Filter) (matches []embedding.Match, served bool, err error) {
	d := c.semanticDaemon()
	if d == nil {
		return nil, false, nil
	}
	args := socket.NearestArgs{Query: question, K: k, Kind: f.Kind, Speaker: f.Speaker, Since: f.Since}
	if !socket.Fits(args) {
		return nil, false, nil
	}
	err = d.Call(ctx, socket.OpNearest, args, &matches)
	var se *socket.Error
	switch {
	case err == nil:
		c.debugf("ranked by meaning by the daemon (%s)", d.Path)
		return matches, true, nil
	case ctx.Err() != nil:
		return nil, true, ctx.Err()
	case errors.As(err, &se) && (se.Kind == socket.KindRuntime || se.Kind == socket.KindUsage):
		return nil, true, err
	default:
		return nil, false, nil
	}
}

// nearestDirect embeds question itself and reads every vector of the model
// from the table on conn: without a daemon, the slow way.
func (c *Client) nearestDirect(ctx context.Context, conn *pgx.Conn, question string, k int, f embedding.Filter) ([]embedding.Match, error) {
	client, err := embedding.NewClient(c.cfg.Embedding)
	if err != nil {
		return nil, fmt.Errorf("the embedding configuration is not usable: %w", err)
	}
	defer client.Close()
	c.debugf("ranked by meaning directly (every vector read from the table)")
	return embedding.Nearest(ctx, conn, client, question, k, f)
}

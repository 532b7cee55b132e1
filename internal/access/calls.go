package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/socket"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// Spooled says that a save went to the spool instead of the database, for
// the daemon to store once the database is reachable, and why.
type Spooled struct {
	// Kind and ID name the record.
	Kind spool.Kind
	ID   uuid.UUID
	// Cause is what kept the database from storing the record.
	Cause error
	// Reason is Cause on one line, as the spool keeps it.
	Reason string
	// Dir is the spool directory.
	Dir string
}

// SaveEmotion saves e, felt at the time at and under the id id as the caller
// was given them ("" for now and for a new id; the nil UUID is refused): e's
// own FeltAt and ID are not read. Invalid input is a *text.FieldError naming
// the field as Emotion's JSON does (felt_at, emotion_id, ...). A valid emotion
// goes to the daemon, then over the process's own connection, then to the
// spool, always under the one id; it returns the stored emotion, or with a
// non-nil Spooled the one the spool holds.
func (c *Client) SaveEmotion(ctx context.Context, e memory.Emotion, at, id string) (memory.Emotion, *Spooled, error) {
	var err error
	if e.FeltAt, err = parseAt("felt_at", at, c.o.Now()); err != nil {
		return memory.Emotion{}, nil, err
	}
	if e.ID, err = parseID("emotion_id", id); err != nil {
		return memory.Emotion{}, nil, err
	}
	if err := e.Validate(); err != nil {
		return memory.Emotion{}, nil, err
	}
	// The id is fixed before the database is reached, so that a spooled copy
	// of a save that reached it after all is stored once.
	e = e.WithDefaults()
	var saved memory.Emotion
	served, err := c.viaDaemon(ctx, socket.OpSaveEmotion, e, &saved)
	if !served {
		err = c.WithConn(ctx, func(conn *pgx.Conn) error {
			sctx, cancel := c.saveContext(ctx)
			defer cancel()
			var err error
			saved, err = memory.Save(sctx, conn, e)
			return c.saveTimedOut(sctx, err)
		})
	}
	if c.spool != nil && spoolable(ctx, err) {
		r, sp, serr := c.toSpool(spool.KindEmotion, e.ID, e, err)
		if serr != nil {
			return memory.Emotion{}, nil, serr
		}
		if e.FeltAt.IsZero() {
			e.FeltAt = r.SpooledAt // when the drain will say it was felt
		}
		return e, sp, nil
	}
	if err != nil {
		return memory.Emotion{}, nil, err
	}
	return saved, nil, nil
}

// SaveConversation saves one message as SaveEmotion saves an emotion: at and
// id are the time and id the caller was given, and c's own CreatedAt and ID
// are not read; errors name Conversation's fields (created_at,
// conversation_id, ...).
func (c *Client) SaveConversation(ctx context.Context, m conversation.Conversation, at, id string) (conversation.Conversation, *Spooled, error) {
	var err error
	if m.CreatedAt, err = parseAt("created_at", at, c.o.Now()); err != nil {
		return conversation.Conversation{}, nil, err
	}
	if m.ID, err = parseID("conversation_id", id); err != nil {
		return conversation.Conversation{}, nil, err
	}
	if err := m.Validate(); err != nil {
		return conversation.Conversation{}, nil, err
	}
	m = m.WithDefaults()
	m.Speaker, _ = conversation.NormalizeSpeaker(m.Speaker) // valid: checked above
	var saved conversation.Conversation
	served, err := c.viaDaemon(ctx, socket.OpSaveConversation, m, &saved)
	if !served {
		err = c.WithConn(ctx, func(conn *pgx.Conn) error {
			sctx, cancel := c.saveContext(ctx)
			defer cancel()
			var err error
			saved, err = conversation.Save(sctx, conn, m)
			return c.saveTimedOut(sctx, err)
		})
	}
	if c.spool != nil && spoolable(ctx, err) {
		r, sp, serr := c.toSpool(spool.KindConversation, m.ID, m, err)
		if serr != nil {
			return conversation.Conversation{}, nil, serr
		}
		if m.CreatedAt.IsZero() {
			m.CreatedAt = r.SpooledAt // when the drain will say it was said
		}
		return m, sp, nil
	}
	if err != nil {
		return conversation.Conversation{}, nil, err
	}
	return saved, nil, nil
}

// saveContext bounds the write of a save by save_timeout, so that a database
// that accepts the connection but does not answer (a lock held, a server
// overloaded) sends the record to the spool instead of holding the caller.
func (c *Client) saveContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.saveTimeout())
}

func (c *Client) saveTimeout() time.Duration {
	if c.cfg.SaveTimeout <= 0 {
		return defaultSaveTimeout
	}
	return c.cfg.SaveTimeout
}

// saveTimedOut names save_timeout in err when it is what ended the save.
func (c *Client) saveTimedOut(sctx context.Context, err error) error {
	if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the database did not store it within save_timeout (%s): %w", c.saveTimeout(), err)
	}
	return err
}

// toSpool writes a record the database could not take to the spool.
func (c *Client) toSpool(kind spool.Kind, id uuid.UUID, record any, cause error) (spool.Record, *Spooled, error) {
	reason := text.OneLine(cause.Error())
	r, err := c.spool.Add(kind, id, record, reason)
	if err != nil {
		return spool.Record{}, nil, fmt.Errorf("%s not saved: %s; and it cannot be spooled either: %w", kind, reason, err)
	}
	return r, &Spooled{Kind: kind, ID: id, Cause: cause, Reason: reason, Dir: c.spool.Dir()}, nil
}

// RecentEmotions returns the limit most recent emotions, newest first, from
// the daemon or else over the process's own connection; never nil.
func (c *Client) RecentEmotions(ctx context.Context, limit int) ([]memory.Emotion, error) {
	list := []memory.Emotion{}
	served, err := c.viaDaemon(ctx, socket.OpGetEmotions, socket.GetEmotionsArgs{Limit: limit}, &list)
	if !served {
		err = c.WithConn(ctx, func(conn *pgx.Conn) error {
			l, err := memory.Recent(ctx, conn, limit)
			if l != nil {
				list = l
			}
			return err
		})
	}
	return list, err
}

// RecentConversations returns the most recent messages o asks for, newest
// first, from the daemon or else over the process's own connection; never
// nil.
func (c *Client) RecentConversations(ctx context.Context, o conversation.RecentOptions) ([]conversation.Conversation, error) {
	list := []conversation.Conversation{}
	served, err := c.viaDaemon(ctx, socket.OpGetConversations, o, &list)
	if !served {
		err = c.WithConn(ctx, func(conn *pgx.Conn) error {
			l, err := conversation.Recent(ctx, conn, o)
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
		h, err := memory.Search(ctx, conn, memory.NewModel(c.cfg.Memory), o)
		if h != nil {
			hits = h
		}
		return err
	})
	return hits, err
}

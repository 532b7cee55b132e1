package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// ApplySpooled stores one spooled record on q with the store of its kind
// (memory.Save for an emotion, Save for a conversation), idempotently by its
// id. It is the spool.ApplyFunc of the daemon's drainer and of `angelad spool
// drain`.
//
// A record saved without a time gets the time it was spooled, not the time it
// is drained: that is when it was felt or said. If its id is already stored
// (the save that spooled it reached the database after all, and the server
// chose the time), the stored row is the record, whatever its time.
func ApplySpooled(ctx context.Context, q postgres.Querier, r spool.Record) error {
	switch r.Kind {
	case spool.KindEmotion:
		var e memory.Emotion
		if err := decodeSpooled(r, &e); err != nil {
			return err
		}
		if e.ID != r.ID {
			return &spool.DecodeError{File: r.Name, Err: fmt.Errorf("holds emotion %s, not %s", e.ID, r.ID)}
		}
		untimed := e.FeltAt.IsZero()
		if untimed {
			e.FeltAt = r.SpooledAt
		}
		_, err := memory.Save(ctx, q, e)
		if untimed && isIDTaken(err, "emotion_id") {
			e.FeltAt = time.Time{}
			_, err = memory.Save(ctx, q, e)
		}
		return err
	case spool.KindConversation:
		var c Conversation
		if err := decodeSpooled(r, &c); err != nil {
			return err
		}
		if c.ID != r.ID {
			return &spool.DecodeError{File: r.Name, Err: fmt.Errorf("holds conversation %s, not %s", c.ID, r.ID)}
		}
		untimed := c.CreatedAt.IsZero()
		if untimed {
			c.CreatedAt = r.SpooledAt
		}
		_, err := Save(ctx, q, c)
		if untimed && isIDTaken(err, "conversation_id") {
			c.CreatedAt = time.Time{}
			_, err = Save(ctx, q, c)
		}
		return err
	}
	return &spool.DecodeError{File: r.Name, Err: fmt.Errorf("unknown kind %q", r.Kind)}
}

func decodeSpooled(r spool.Record, v any) error {
	if err := json.Unmarshal(r.Data, v); err != nil {
		return &spool.DecodeError{File: r.Name, Err: err}
	}
	return nil
}

// isIDTaken reports whether err is Save's refusal of an id already stored for
// a record that differs from the one saved.
func isIDTaken(err error, field string) bool {
	var fe *text.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

// DrainSpool makes one pass over sp on db, as `angelad spool drain` does and
// as the daemon's drainer does on each of its passes.
func DrainSpool(ctx context.Context, db spool.Beginner, sp *spool.Spool, log *zap.Logger) (spool.Result, error) {
	return sp.Drain(ctx, db, ApplySpooled, log)
}

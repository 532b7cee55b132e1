package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/forget"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// Stores stores spooled records in the stores of their kinds (memory's for
// emotions, conversation's for conversations), each cleaned by Redactor
// first (see memory.Emotion.Clean, conversation.Conversation.Clean; nil
// applies the built-in rules). A record of this version was cleaned before
// it was spooled, and cleaning it again changes nothing; one spooled by an
// older angelad may hold secrets, which never reach the database this way.
// Its ApplyRecord and ApplyBatch are the ApplyFunc and BatchApplyFunc of
// the daemon's drainer and of `angelad spool drain` (see DrainStores).
type Stores struct {
	Redactor *redact.Redactor
}

// ApplyRecord stores one spooled record on q with the store of its kind
// (memory.Save for an emotion, conversation.Save for a conversation),
// idempotently by its id.
//
// A record saved without a time gets the time it was spooled, not the time it
// is drained: that is when it was felt or said. If its id is already stored
// (the save that spooled it reached the database after all, and the server
// chose the time), the stored row is the record, whatever its time. A record
// whose required text is nothing but <private> passages (an older angelad
// spooled it as it was given) is a *SkipError: nothing of it may be stored.
// A record whose id was forgotten on request since is dropped, not stored.
func (s Stores) ApplyRecord(ctx context.Context, q postgres.DB, r Record) error {
	err := s.applyRecord(ctx, q, r)
	if forget.IsForgotten(err) {
		// Forgotten on request after it was spooled: it is settled, and its
		// file goes, as the forget asked.
		return nil
	}
	return err
}

func (s Stores) applyRecord(ctx context.Context, q postgres.DB, r Record) error {
	switch r.Kind {
	case KindEmotion:
		return applySpooled(ctx, q, s, r, "emotion", emotionFields, memory.Save)
	case KindConversation:
		return applySpooled(ctx, q, s, r, "conversation", conversationFields, conversation.Save)
	}
	return &DecodeError{File: r.Name, Err: fmt.Errorf("unknown kind %q", r.Kind)}
}

// emotionFields and conversationFields give a memory's id and time, for
// decodeSpooledMemory and applySpooled.
func emotionFields(e *memory.Emotion) (*uuid.UUID, *time.Time) { return &e.ID, &e.FeltAt }

func conversationFields(c *conversation.Conversation) (*uuid.UUID, *time.Time) {
	return &c.ID, &c.CreatedAt
}

// applySpooled stores a record of one memory, of the kind noun names, with
// save (see ApplyRecord). An untimed record carries the time it was spooled;
// when Save finds its id stored for a row of another time, it is saved again
// without one, as it was given, so that the stored row is the record.
func applySpooled[T interface {
	Clean(*redact.Redactor) (T, redact.Report, error)
}](ctx context.Context, q postgres.DB, s Stores, r Record, noun string, fields func(*T) (*uuid.UUID, *time.Time),
	save func(context.Context, postgres.DB, T) (T, error)) error {
	m, untimed, err := decodeSpooledMemory(s, r, noun, fields)
	if err != nil {
		return err
	}
	_, err = save(ctx, q, m)
	if untimed && isIDTaken(err, noun+"_id") {
		_, at := fields(&m)
		*at = time.Time{}
		_, err = save(ctx, q, m)
	}
	return err
}

// decodeSpooledMemory reads a record of one memory, of the kind noun names,
// as it is stored: cleaned, and when it was saved without a time (untimed),
// with the time it was spooled. fields gives the memory's id and time.
func decodeSpooledMemory[T interface {
	Clean(*redact.Redactor) (T, redact.Report, error)
}](s Stores, r Record, noun string, fields func(*T) (*uuid.UUID, *time.Time)) (m T, untimed bool, err error) {
	if err := decodeSpooled(r, &m); err != nil {
		return m, false, err
	}
	if id, _ := fields(&m); *id != r.ID {
		return m, false, &DecodeError{File: r.Name, Err: fmt.Errorf("holds %s %s, not %s", noun, *id, r.ID)}
	}
	if m, _, err = m.Clean(s.Redactor); err != nil {
		return m, false, skipPrivate(err)
	}
	if _, at := fields(&m); at.IsZero() {
		*at, untimed = r.SpooledAt, true
	}
	return m, untimed, nil
}

// skipPrivate turns Clean's refusal of a record whose required text is all
// private into a *SkipError: rejecting it would keep the file, and with it
// the passages, in rejected/.
func skipPrivate(err error) error {
	var fe *text.FieldError
	if errors.As(err, &fe) {
		return &SkipError{Reason: fe.Field + " " + fe.Problem}
	}
	return err
}

func decodeSpooled(r Record, v any) error {
	if err := json.Unmarshal(r.Data, v); err != nil {
		return &DecodeError{File: r.Name, Err: err}
	}
	return nil
}

// isIDTaken reports whether err is Save's refusal of an id already stored for
// a record that differs from the one saved.
func isIDTaken(err error, field string) bool {
	var fe *text.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

// ApplyBatch stores the records of a drain transaction that are new with one
// statement of each kind (memory.SaveNew, conversation.SaveNew), as
// ApplyRecord would store them one by one, and leaves the others to
// ApplyRecord: those already stored, which it compares, those it cannot
// read, which it refuses with the reason, and those with nothing to store,
// which it skips.
func (s Stores) ApplyBatch(ctx context.Context, q postgres.DB, recs []Record) (left []Record, err error) {
	var (
		emotions []memory.Emotion
		convs    []conversation.Conversation
		byID     = map[uuid.UUID]Record{}
	)
	for _, r := range recs {
		_, seen := byID[r.ID]
		switch {
		case r.ID == uuid.Nil || seen:
			// No id (SaveNew would give it one, and ApplyRecord another),
			// or a second record of the same id in the batch: one by one.
		case r.Kind == KindEmotion:
			if e, _, err := decodeSpooledMemory(s, r, "emotion", emotionFields); err == nil && e.WithDefaults().Validate() == nil {
				emotions, byID[r.ID] = append(emotions, e), r
				continue
			}
		case r.Kind == KindConversation:
			if c, _, err := decodeSpooledMemory(s, r, "conversation", conversationFields); err == nil && c.WithDefaults().Validate() == nil {
				convs, byID[r.ID] = append(convs, c), r
				continue
			}
		}
		left = append(left, r)
	}
	storedEmotions, err := memory.SaveNew(ctx, q, emotions)
	if err != nil {
		return nil, err
	}
	storedConvs, err := conversation.SaveNew(ctx, q, convs)
	if err != nil {
		return nil, err
	}
	for _, e := range emotions {
		if !storedEmotions[e.ID] {
			left = append(left, byID[e.ID])
		}
	}
	for _, c := range convs {
		if !storedConvs[c.ID] {
			left = append(left, byID[c.ID])
		}
	}
	return left, nil
}

// DrainStores makes one pass over sp on db, storing each record in the store
// of its kind, cleaned by o.Redactor, with Stores' ApplyBatch and
// ApplyRecord, as `angelad spool drain` does and as the daemon's drainer does
// on each of its passes.
func DrainStores(ctx context.Context, db postgres.DB, sp *Spool, o DrainOptions) (Result, error) {
	st := Stores{Redactor: o.Redactor}
	o.Batch = st.ApplyBatch
	return sp.Drain(ctx, db, st.ApplyRecord, o)
}

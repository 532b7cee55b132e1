package socket

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/redact"
)

// TestTheDaemonCleansWhatAClientSends: a client may send a save it did not
// clean (an older angelad); the daemon stores it cleaned, and refuses one
// whose text is all private as invalid input naming the field.
func TestTheDaemonCleansWhatAClientSends(t *testing.T) {
	h := serve(t)
	key := "sk-ant-api03-" + strings.Repeat("Q7kz", 23) + "AA"
	c := conversation.Conversation{ID: uuid.New(), Speaker: "david", ImportanceLevel: 5,
		MessageText: "key " + key + " <private>between us</private>", Topic: "<private>t</private>"}
	var sc conversation.Conversation
	if err := call(t, h.path, OpSaveConversation, c, &sc); err != nil || sc.MessageText != "key [redacted:anthropic-key] " || sc.Topic != "" {
		t.Fatalf("save-conversation = %+v, %v", sc, err)
	}
	e := memory.Emotion{Emotion: "safe", Intensity: 5, Context: "PGPASSWORD=hunter2hunter2 psql"}.WithDefaults()
	var se memory.Emotion
	if err := call(t, h.path, OpSaveEmotion, e, &se); err != nil || se.Context != "PGPASSWORD=[redacted:password] psql" {
		t.Fatalf("save-emotion = %+v, %v", se, err)
	}
	var stored string
	if err := h.pool.QueryRow(context.Background(), `select c.message_text || e.context from conversations c, angela_emotions e`).Scan(&stored); err != nil ||
		stored != "key [redacted:anthropic-key] PGPASSWORD=[redacted:password] psql" {
		t.Errorf("stored %q, %v", stored, err)
	}

	c = conversation.Conversation{ID: uuid.New(), Speaker: "david", MessageText: "<private>only this</private>"}
	err := call(t, h.path, OpSaveConversation, c, &sc)
	var se2 *Error
	if !errors.As(err, &se2) || se2.Kind != KindUsage || se2.Field != "message_text" || se2.Problem != redact.AllPrivateProblem {
		t.Errorf("an all-private save = %v", err)
	}
}

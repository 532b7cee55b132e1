package conversation_test

import (
	"errors"
	"testing"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// TestCleanRemovesPrivatePassagesAndSecretsFromEveryText: every text of a
// message is cleaned whoever the speaker; a message that is all private is
// refused under message_text, an optional text that is all private is left
// empty, and cleaning a cleaned message changes nothing.
func TestCleanRemovesPrivatePassagesAndSecretsFromEveryText(t *testing.T) {
	const pw = "postgres://david:hunter2hunter2@db/AngelaMemory"
	for _, tt := range []struct {
		name     string
		in, want conversation.Conversation
		found    string
		passages int
	}{
		{"every field",
			conversation.Conversation{Speaker: "angela", MessageText: "run psql " + pw + " <private>not this</private>",
				Topic: "db password=hunter2hunter2", EmotionDetected: "<private>shy</private>", SessionID: "s <private>x</private>1",
				MessageType: "token=abcDEF123456"},
			conversation.Conversation{Speaker: "angela", MessageText: "run psql postgres://david:[redacted:url-password]@db/AngelaMemory ",
				Topic: "db password=[redacted:password]", EmotionDetected: "", SessionID: "s 1", MessageType: "token=[redacted:secret]"},
			"url-password=1 password=1 secret=1", 3},
		{"nothing to clean",
			conversation.Conversation{Speaker: "david", MessageText: "สวัสดีค่ะ 0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70", Topic: "greeting"},
			conversation.Conversation{Speaker: "david", MessageText: "สวัสดีค่ะ 0b7c6f1e-8d6a-4c3e-9f1a-2b3c4d5e6f70", Topic: "greeting"},
			"none", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, rep, err := tt.in.Clean(nil)
			if err != nil || got != tt.want || rep.Found.String() != tt.found || rep.PrivatePassages != tt.passages {
				t.Fatalf("Clean = %+v, %s, %d passages, %v\nwant %+v, %s, %d", got, rep.Found, rep.PrivatePassages, err, tt.want, tt.found, tt.passages)
			}
			again, rep, err := got.Clean(nil)
			if err != nil || again != got || rep.Changed() {
				t.Errorf("cleaning again: %+v, %+v, %v", again, rep, err)
			}
		})
	}

	_, _, err := conversation.Conversation{Speaker: "david", MessageText: " <private>all</private> \n", Topic: "t"}.Clean(nil)
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "message_text" || fe.Problem != redact.AllPrivateProblem {
		t.Errorf("an all-private message: %v", err)
	}

	// Redaction off keeps secrets, never private passages.
	off, err := redact.New(config.Redaction{Enabled: false}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := conversation.Conversation{MessageText: "password=hunter2hunter2 <private>x</private>"}.Clean(off)
	if err != nil || got.MessageText != "password=hunter2hunter2 " {
		t.Errorf("redaction off: %q, %v", got.MessageText, err)
	}
}

package memory_test

import (
	"errors"
	"testing"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// TestEmotionCleanRemovesPrivatePassagesAndSecrets: every text of an emotion
// is cleaned; an emotion or context that is all private is refused under its
// field, David's words or why it matters that are all private are left empty.
func TestEmotionCleanRemovesPrivatePassagesAndSecrets(t *testing.T) {
	in := memory.Emotion{Emotion: "relieved <private>and scared</private>", Intensity: 7, MemoryStrength: 10,
		Context: "David fixed the login: export PGPASSWORD=hunter2hunter2", DavidWords: "<private>don't tell anyone</private>",
		WhyItMatters: "he trusts me with api_key=Q7kabcDEF1234567"}
	got, rep, err := in.Clean(nil)
	want := memory.Emotion{Emotion: "relieved ", Intensity: 7, MemoryStrength: 10,
		Context: "David fixed the login: export PGPASSWORD=[redacted:password]", DavidWords: "",
		WhyItMatters: "he trusts me with api_key=[redacted:secret]"}
	if err != nil || got != want || rep.Found.String() != "password=1 secret=1" || rep.PrivatePassages != 2 {
		t.Fatalf("Clean = %+v, %s, %d, %v", got, rep.Found, rep.PrivatePassages, err)
	}
	for field, e := range map[string]memory.Emotion{
		"emotion": {Emotion: "<private>x</private>", Context: "c"},
		"context": {Emotion: "happy", Context: "<private>what happened</private>"},
	} {
		_, _, err := e.Clean(nil)
		var fe *text.FieldError
		if !errors.As(err, &fe) || fe.Field != field || fe.Problem != redact.AllPrivateProblem {
			t.Errorf("%s all private: %v", field, err)
		}
	}
}

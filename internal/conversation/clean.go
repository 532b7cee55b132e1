package conversation

import (
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// Clean returns c as it may be stored: every text with its <private>
// passages removed and its secrets redacted by r (a nil r applies the
// built-in rules; see redact.Redactor.Clean), and what was done. Every
// speaker's texts are cleaned: a save is written on purpose, so a <private>
// tag in one is meant. A message_text that is nothing but private passages is
// a *text.FieldError for message_text (redact.AllPrivateProblem); an optional text
// that is, is left empty. Cleaning a cleaned message changes nothing, so each
// step of the way in (the command, the daemon's socket, the spool's drain)
// cleans what it is given.
func (c Conversation) Clean(r *redact.Redactor) (Conversation, redact.Report, error) {
	var rep redact.Report
	if cleanText(r, &c.MessageText, &rep) {
		return Conversation{}, rep, &text.FieldError{Field: "message_text", Problem: redact.AllPrivateProblem}
	}
	for _, s := range []*string{&c.SessionID, &c.MessageType, &c.Topic, &c.EmotionDetected} {
		cleanText(r, s, &rep)
	}
	return c, rep, nil
}

// cleanText cleans *s in place with r, adds what it did to rep, and reports
// whether *s was nothing but private passages (it is then empty).
func cleanText(r *redact.Redactor, s *string, rep *redact.Report) (allPrivate bool) {
	if *s == "" {
		return false
	}
	out, got := r.Clean(*s)
	*s = out
	rep.Found.Add(got.Found)
	rep.PrivatePassages += got.PrivatePassages
	return got.AllPrivate
}

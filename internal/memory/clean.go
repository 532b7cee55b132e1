package memory

import (
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// Clean returns e as it may be stored: every text with its <private>
// passages removed and its secrets redacted by r (a nil r applies the
// built-in rules; see redact.Redactor.Clean), and what was done. An emotion
// or a context that is nothing but private passages is a *text.FieldError
// for that field (redact.AllPrivateProblem): both are required, and
// nothing of them may be stored. David's words or why it matters that are
// all private are left empty. Cleaning a cleaned emotion changes nothing.
func (e Emotion) Clean(r *redact.Redactor) (Emotion, redact.Report, error) {
	var rep redact.Report
	for _, f := range []struct {
		field    string
		s        *string
		required bool
	}{
		{"emotion", &e.Emotion, true},
		{"context", &e.Context, true},
		{"david_words", &e.DavidWords, false},
		{"why_it_matters", &e.WhyItMatters, false},
	} {
		if *f.s == "" {
			continue
		}
		out, got := r.Clean(*f.s)
		*f.s = out
		rep.Found.Add(got.Found)
		rep.PrivatePassages += got.PrivatePassages
		if got.AllPrivate && f.required {
			return Emotion{}, rep, &text.FieldError{Field: f.field, Problem: redact.AllPrivateProblem}
		}
	}
	return e, rep, nil
}

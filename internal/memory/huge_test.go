package memory_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// hugeText is a message of more than a mebibyte, as a pasted log makes one:
// Thai without spaces (each consonant followed by its vowel and tone marks)
// and English, the word xylophone at its start and the word marimba only at
// its end.
func hugeText() string {
	var b strings.Builder
	b.WriteString("xylophone ")
	for b.Len() < 1<<20 {
		b.WriteString("ที่นี่พี่คิดถึงน้องมากเลยค่ะ log line something happened here ")
	}
	b.WriteString("marimba")
	return b.String()
}

// checkCut checks that got is whole, or a prefix of whole of at most n
// characters cut on a character boundary and marked with an ellipsis.
func checkCut(t *testing.T, what, got, whole string, n int) {
	t.Helper()
	if got == whole {
		if utf8.RuneCountInString(whole) > n {
			t.Errorf("%s: the whole text of %d characters, want at most %d", what, utf8.RuneCountInString(whole), n)
		}
		return
	}
	cut, ok := strings.CutSuffix(got, "…")
	switch {
	case !ok:
		t.Errorf("%s: a cut text does not end with an ellipsis: ...%q", what, got[max(0, len(got)-40):])
	case !strings.HasPrefix(whole, cut) || cut == "":
		t.Errorf("%s: %q... is not the start of the text", what, got[:min(len(got), 40)])
	case utf8.RuneCountInString(got) > n:
		t.Errorf("%s: %d characters, want at most %d", what, utf8.RuneCountInString(got), n)
	default:
		if next, _ := utf8.DecodeRuneInString(whole[len(cut):]); unicode.Is(unicode.Mn, next) {
			t.Errorf("%s: cut inside a character: ...%q, then %q", what, cut[max(0, len(cut)-12):], next)
		}
	}
}

// TestHugeMessageIsFoundAndReadCut checks that a message of a mebibyte is
// found by a word, by a question and by a word that only its end holds (as a
// near match: the whole text is not lowered for each question), that a
// caller that shows a few hundred characters gets its text cut on a
// character boundary, Thai included, whatever the cut, and that one that
// wants it whole gets it whole.
func TestHugeMessageIsFoundAndReadCut(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	whole := hugeText()
	huge := saveConv(t, ctx, conn, 9, at, whole)
	saveConv(t, ctx, conn, 5, at.Add(time.Minute), "we talked about the ocean today")
	emo := uuid.New()
	if _, err := conn.Exec(ctx, `insert into angela_emotions (emotion_id, emotion, intensity, memory_strength, context, david_words, felt_at)
		values ($1, 'happy', 9, 9, $2, $2, $3)`, emo, whole, at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	indexAll(t, ctx, conn)
	model := memory.NewModel(defaultMemory(t))

	find := func(hits []memory.Hit, id uuid.UUID) *memory.Hit {
		for i := range hits {
			if hits[i].ID == id {
				return &hits[i]
			}
		}
		return nil
	}
	for _, q := range []struct {
		text  string
		exact bool
	}{
		{"xylophone", true},
		{"marimba", false}, // beyond the characters compared whole
		{"what did the xylophone log say", false},
	} {
		// Cuts that fall on every position of a Thai syllable.
		for n := 290; n < 300; n++ {
			hits, err := memory.Search(ctx, conn, model, memory.SearchOptions{Text: q.text, Limit: 10, TextChars: n, Now: at})
			if err != nil {
				t.Fatal(err)
			}
			h := find(hits, huge)
			if h == nil {
				t.Fatalf("search %q did not find the huge message: %v", q.text, ids(hits))
			}
			if memory.IsOneWord(q.text) && h.Exact != q.exact {
				t.Errorf("search %q: exact = %v, want %v", q.text, h.Exact, q.exact)
			}
			checkCut(t, q.text, h.Text, whole, n)
			if e := find(hits, emo); e != nil {
				checkCut(t, q.text+" (emotion)", e.Text, whole, n)
				checkCut(t, q.text+" (David's words)", e.DavidWords, whole, n)
			}
		}
		hits, err := memory.Search(ctx, conn, model, memory.SearchOptions{Text: q.text, Limit: 10, Now: at})
		if err != nil {
			t.Fatal(err)
		}
		if h := find(hits, huge); h == nil || h.Text != whole {
			t.Errorf("search %q without a cut: the huge message not found whole", q.text)
		}
		if e := find(hits, emo); e != nil && (e.Text != whole || e.DavidWords != whole) {
			t.Errorf("search %q without a cut: the huge emotion not read whole", q.text)
		}
	}

	p := recall(t, ctx, conn, memory.RecallOptions{Now: at.Add(time.Hour), Peek: true, Query: "xylophone log"})
	var shown bool
	for _, m := range p.Memories {
		if m.ID == huge {
			shown = true
			checkCut(t, "recall", m.Text, whole, 400)
		}
	}
	for _, m := range p.Relevant {
		if m.ID == huge {
			shown = true
			checkCut(t, "recall, relevant", m.Text, whole, 400)
		}
	}
	if p.Session != nil {
		for _, m := range p.Session.Messages {
			if m.ID == huge {
				checkCut(t, "recall, session", m.Text, whole, 300)
			}
		}
	}
	if !shown {
		t.Errorf("recall does not show the huge message:\n%s", p.Markdown)
	}
}

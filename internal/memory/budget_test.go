package memory

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/config"
)

// pieces of realistic text: Thai with vowels and tone marks above and below,
// English, emoji with modifiers and joiners, newlines.
var budgetPieces = []string{"คิดถึง", "น้ำ", "ที่สุด", "กำลัง", "ผู้หญิง", "ไม่ได้", "ค่ะ", "ฤๅษี",
	"David", "remembered", " ", "\n", "👍🏽", "👩‍👩‍👧", "🇹🇭", "é", "e\u0301", "!", "พี่รักน้อง"}

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range r.IntN(n) + 1 {
		b.WriteString(budgetPieces[r.IntN(len(budgetPieces))])
	}
	return b.String()
}

func randomCandidates(r *rand.Rand) candidates {
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	c := candidates{counts: &Counts{Conversations: r.Int64N(2e6), Emotions: r.Int64N(2e5), Forgotten: r.Int64N(1e5)}}
	if r.IntN(2) == 0 {
		c.journal = &JournalEntry{Date: "2026-04-30", Title: randomText(r, 5), Content: randomText(r, 400), Mood: 7, Emotion: "สุข"}
	}
	if r.IntN(2) == 0 {
		c.greeting = &Greeting{Date: "2026-05-01", Title: randomText(r, 3), Content: randomText(r, 300)}
	}
	for i := range r.IntN(30) {
		m := RecalledMemory{Kind: "conversation", ID: uuid.New(), At: at.Add(-time.Duration(i) * time.Hour),
			Speaker: "david", Importance: 7, Text: randomText(r, 120), Weight: 0.7, Retention: 0.9}
		if r.IntN(2) == 0 {
			m.Kind, m.Speaker, m.Emotion, m.Intensity, m.DavidWords = "emotion", "", "คิดถึง", 9, randomText(r, 40)
		}
		c.memories = append(c.memories, m)
	}
	if n := r.IntN(12); n > 0 {
		s := &SessionTail{SessionID: "s"}
		for i := range n {
			s.Messages = append(s.Messages, SessionMessage{ID: uuid.New(), At: at.Add(time.Duration(i) * time.Minute),
				Speaker: []string{"david", "angela"}[i%2], Text: randomText(r, 80)})
		}
		c.session = s
	}
	return c
}

// attachesToPrevious reports whether r may not begin a character.
func attachesToPrevious(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me) || r == '\u0e33' || r == '\u200d' ||
		(r >= 0x1f3fb && r <= 0x1f3ff)
}

// checkCut checks that got is original, or a prefix of it that ends on a
// character boundary followed by the ellipsis.
func checkCut(t *testing.T, what, original, got string) {
	t.Helper()
	if !utf8.ValidString(got) {
		t.Fatalf("%s is not valid UTF-8: %q", what, got)
	}
	if got == original || got == "" {
		return
	}
	prefix, ok := strings.CutSuffix(got, ellipsis)
	if !ok || !strings.HasPrefix(original, prefix) {
		t.Fatalf("%s = %q is not a cut of %q", what, got, original)
	}
	if next, _ := utf8.DecodeRuneInString(original[len(prefix):]); attachesToPrevious(next) {
		t.Fatalf("%s splits a character: cut before %U in %q", what, next, original)
	}
	if last, _ := utf8.DecodeLastRuneInString(prefix); last == '\u200d' {
		t.Fatalf("%s ends on a zero-width joiner: %q", what, got)
	}
}

// TestAssembleFitsTheBudget is the budget's property: for random packs of Thai,
// English and emoji text and random budgets, the Markdown never exceeds
// MaxChars, is valid UTF-8, and every text in it is whole or cut on a
// character boundary; the structured form holds the same cut texts.
func TestAssembleFitsTheBudget(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 2026))
	comp := config.Companion{Name: "Angela", UserName: "David", Since: time.Date(2025, 10, 14, 0, 0, 0, 0, time.UTC)}
	loc, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		t.Fatal(err)
	}
	trimmed := 0
	for i := range 2000 {
		c := randomCandidates(r)
		max := MinRecallChars + r.IntN(4000)
		p := assemble(c, RecallOptions{MaxChars: max, Now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Location: loc, Companion: comp})
		if n := utf8.RuneCountInString(p.Markdown); n > max || n != p.Chars {
			t.Fatalf("case %d: %d characters (Chars %d) for a budget of %d:\n%s", i, n, p.Chars, max, p.Markdown)
		}
		if !utf8.ValidString(p.Markdown) {
			t.Fatalf("case %d: invalid UTF-8", i)
		}
		if p.Trimmed {
			trimmed++
		}
		if !strings.HasPrefix(p.Markdown, "# Angela & David\n") {
			t.Fatalf("case %d: the pack does not start with who: %q", i, p.Markdown[:min(len(p.Markdown), 40)])
		}
		byID := map[uuid.UUID]RecalledMemory{}
		for _, m := range c.memories {
			byID[m.ID] = m
		}
		for _, m := range p.Memories {
			orig := clip(strings.Join(strings.Fields(byID[m.ID].Text), " "), memoryTextChars)
			checkCut(t, "memory text", orig, m.Text)
			if !strings.Contains(p.Markdown, m.Text) {
				t.Fatalf("case %d: memory text %q is not in the Markdown", i, m.Text)
			}
		}
		if p.Journal != nil {
			checkCut(t, "journal", clip(c.journal.Content, journalTextChars), p.Journal.Content)
		}
		if p.Greeting != nil {
			checkCut(t, "greeting", clip(c.greeting.Content, journalTextChars), p.Greeting.Content)
		}
		if p.Session != nil {
			for j, m := range p.Session.Messages {
				if j > 0 && m.At.Before(p.Session.Messages[j-1].At) {
					t.Fatalf("case %d: session tail out of order", i)
				}
			}
		}
		// Lower ranked memories go first: what is kept is a prefix of the
		// ranking, give or take one that did not fit while a shorter one did.
		if len(p.Memories) > 0 && len(c.memories) > 0 && p.Memories[0].ID != c.memories[0].ID && !p.Trimmed {
			t.Fatalf("case %d: the strongest memory is not first", i)
		}
	}
	if trimmed < 500 {
		t.Fatalf("only %d of 2000 packs needed trimming: the property was barely exercised", trimmed)
	}
}

func TestCutTextNeverSplitsAThaiCharacter(t *testing.T) {
	t.Parallel()
	// น้ำ is three runes, one character; ที่ likewise.
	for _, tt := range []struct {
		s     string
		limit int
		want  string
	}{
		{"น้ำใจ", 5, "น้ำใจ"},
		{"น้ำใจ", 4, "น้ำ…"},
		{"น้ำใจ", 3, "…"}, // น้ำ would need 3 and the ellipsis 1
		{"ที่นี่", 4, "ที่…"},
		{"abc", 2, "a…"},
		{"👍🏽x", 2, "…"},
	} {
		if got := cutText(tt.s, tt.limit); got != tt.want {
			t.Errorf("cutText(%q, %d) = %q, want %q", tt.s, tt.limit, got, tt.want)
		}
	}
}

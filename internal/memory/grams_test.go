package memory_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// gramTexts covers what Grams and angela_grams must agree on: Thai with its
// vowel and tone marks, English in both cases, every white-space character
// angela_grams knows, characters above U+FFFF, repeats, and edge lengths.
var gramTexts = []string{
	"", "a", "ab", "aa aa", "Hello World", "HELLO hello",
	"วันนี้พี่คิดถึงน้องมากเลยค่ะ ไปทะเลกันไหม",
	"เดวิดบอกว่ารักแองเจล่า 💕 love you",
	"tab\there\nnewline\r\nand\u00a0nbsp\u2003em\u3000ideo\u0085nel\u2028ls\u202fnnb\u205fmm\u1680og",
	"😀😁😂 🤣x", "x\U0010FFFFy", "a\u200bb", "1,234.5 — “quoted” ‘single’",
	"ñandú ÑANDÚ", "Ünïcödé",
}

// TestGramsMatchAngelaGrams: the grams the writers compute in Go are the
// ones the database's angela_grams gives a row written by hand, so that a
// search finds both alike. On the C locale cluster lower() leaves upper-case
// letters outside ASCII as they are, so those texts are compared in lower
// case there.
func TestGramsMatchAngelaGrams(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
		c    bool
	}{{"C.UTF-8", pgtest.DB, false}, {"C", pgtest.CLocaleDB, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			conn := pgtest.Conn(t, tc.url(t))
			for _, s := range gramTexts {
				if tc.c {
					s = strings.ToLower(s)
				}
				var want []int32
				if err := conn.QueryRow(ctx, `select angela_grams($1)`, s).Scan(&want); err != nil {
					t.Fatal(err)
				}
				if got := text.Grams(s); !slices.Equal(got, want) {
					t.Errorf("Grams(%q) = %v, angela_grams = %v", s, got, want)
				}
			}
			if got := text.Grams("Ab", "cD"); !slices.Equal(got, text.Grams("ab cd")) {
				t.Errorf("Grams of two texts = %v, want those of the texts joined by a space", got)
			}
		})
	}
}

// TestRowsWithoutGramsGetThemAndTheirStateRow: an INSERT that gives no
// grams (written by hand), of many rows some of them already stored, gets
// each new memory its grams and one state row with its weight from the
// trigger, and leaves the state of the stored one as it was.
func TestRowsWithoutGramsGetThemAndTheirStateRow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	first := uuid.New()
	if _, err := conn.Exec(ctx, `insert into conversations (conversation_id, speaker, message_text, importance_level)
		values ($1, 'david', 'first words', 8)`, first); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `update conversation_memory set recall_count = 3 where id = $1`, first); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `insert into conversations (conversation_id, speaker, message_text, importance_level)
		select case when i = 0 then $1 else gen_random_uuid() end, 'angela', 'ทะเล ' || i, 1 + i % 10
		from generate_series(0, 99) i
		on conflict (conversation_id) do nothing`, first); err != nil {
		t.Fatal(err)
	}
	var states, bad, recalls int
	if err := conn.QueryRow(ctx, `select count(*),
			count(*) filter (where m.weight <> c.importance_level / 10.0 or c.search_grams is null
				or c.search_grams <> angela_grams(c.message_text)),
			(select recall_count from conversation_memory where id = $1)
		from conversations c join conversation_memory m on m.id = c.conversation_id`, first).Scan(&states, &bad, &recalls); err != nil {
		t.Fatal(err)
	}
	if states != 100 || bad != 0 || recalls != 3 {
		t.Errorf("state rows %d (want 100), wrong weight or grams %d, recall count of the first %d (want 3 kept)", states, bad, recalls)
	}
	// Changing the text recomputes the grams; setting them with it keeps those given.
	if _, err := conn.Exec(ctx, `update conversations set message_text = 'other words' where conversation_id = $1`, first); err != nil {
		t.Fatal(err)
	}
	var grams []int32
	if err := conn.QueryRow(ctx, `select search_grams from conversations where conversation_id = $1`, first).Scan(&grams); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(grams, text.Grams("other words")) {
		t.Errorf("grams after the text changed = %v, want %v", grams, text.Grams("other words"))
	}
}

// TestSavesWriteGramsAndStateRows: Save gives an emotion its grams and its
// state row in the one statement, and a second Save of it changes neither.
func TestSavesWriteGramsAndStateRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	e := memory.Emotion{ID: uuid.New(), Emotion: "คิดถึง", Intensity: 8, Context: "Ocean trip", MemoryStrength: 6}
	for range 2 {
		if _, err := memory.Save(ctx, conn, e); err != nil {
			t.Fatal(err)
		}
	}
	var grams []int32
	var weight float64
	var states int
	if err := conn.QueryRow(ctx, `select e.search_grams, m.weight, (select count(*) from emotion_memory)
		from angela_emotions e join emotion_memory m on m.id = e.emotion_id where e.emotion_id = $1`, e.ID).Scan(&grams, &weight, &states); err != nil {
		t.Fatal(err)
	}
	if want := text.Grams("คิดถึง", "Ocean trip"); !slices.Equal(grams, want) || weight != 0.7 || states != 1 {
		t.Errorf("grams %v (want %v), weight %v (want 0.7), %d state rows (want 1)", grams, want, weight, states)
	}
}

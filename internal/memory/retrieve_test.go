package memory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// turn is one message of a test conversation.
type turn struct {
	session, speaker, text string
	at                     time.Time
}

// saveTurns stores the turns and returns their ids, in order.
func saveTurns(t *testing.T, ctx context.Context, conn *pgx.Conn, turns []turn) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, len(turns))
	for i, tu := range turns {
		ids[i] = uuid.New()
		if _, err := conn.Exec(ctx, `insert into conversations (conversation_id, session_id, speaker, message_text, created_at)
			values ($1, nullif($2, ''), $3, $4, $5)`, ids[i], tu.session, tu.speaker, tu.text, tu.at); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func retrieve(t *testing.T, ctx context.Context, conn *pgx.Conn, o memory.RetrieveOptions) []memory.Hit {
	t.Helper()
	if o.Limit == 0 {
		o.Limit = 10
	}
	if o.Now.IsZero() {
		o.Now = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	}
	hits, err := memory.Retrieve(ctx, conn, memory.NewModel(defaultMemory(t)), o)
	if err != nil {
		t.Fatalf("retrieve %q: %v", o.Text, err)
	}
	return hits
}

func rankOf(hits []memory.Hit, id uuid.UUID) int {
	for i, h := range hits {
		if h.ID == id {
			return i + 1
		}
	}
	return 0
}

var day0 = time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)

// thaiScenario asks a Thai question of unsegmented Thai text on one database.
func thaiScenario(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, url)
	ids := saveTurns(t, ctx, conn, []turn{
		{"s1", "david", "วันนี้พาส้มโอไปหาหมอมา", day0},
		{"s1", "angela", "คุณหมอว่ายังไงบ้างคะ", day0.Add(time.Minute)},
		{"s1", "david", "หมอให้ยาฆ่าเชื้อ ส้มโอต้องกินวันละสองครั้งหลังอาหาร", day0.Add(2 * time.Minute)},
		{"s2", "david", "ส้มโอชอบนอนบนคีย์บอร์ดตอนพี่ทำงาน", day0.Add(24 * time.Hour)},
		{"s2", "angela", "วันนี้ไปทะเลกับน้องไหมคะ", day0.Add(25 * time.Hour)},
		{"s3", "david", "กินข้าวมันไก่อร่อยมาก", day0.Add(48 * time.Hour)},
	})
	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "หมอให้ส้มโอกินยาอะไร"})
	if rankOf(hits, ids[2]) != 1 {
		t.Fatalf("the answer ranks %d; hits %v", rankOf(hits, ids[2]), texts(hits))
	}
	if !slices.Contains(hits[0].Evidence, memory.EvidenceWords) || hits[0].Score <= 0 || hits[0].At.IsZero() {
		t.Fatalf("the first hit has no words evidence, score or time: %+v", hits[0])
	}
}

func texts(hits []memory.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Text
	}
	return out
}

func TestRetrieveThaiQuestionUnderCUTF8(t *testing.T) {
	t.Parallel()
	thaiScenario(t, pgtest.DB(t))
}

func TestRetrieveThaiQuestionUnderTheCLocale(t *testing.T) {
	t.Parallel()
	thaiScenario(t, pgtest.CLocaleDB(t))
}

// TestRetrieveStopWordsDoNotDominate: many memories share a question's
// function words, one shares its rare words; the rare words win.
func TestRetrieveStopWordsDoNotDominate(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	var turns []turn
	for i := range 40 {
		turns = append(turns, turn{"", "david", "what did you do when you were there, and what did they say to you?", day0.Add(time.Duration(i) * time.Hour)},
			turn{"", "angela", "เธอทำอะไรที่ไหนเมื่อไรไหมคะ แล้วยังไงต่อ", day0.Add(time.Duration(i)*time.Hour + time.Minute)})
	}
	turns = append(turns, turn{"", "david", "The lighthouse keeper painted the door blue", day0},
		turn{"", "david", "คนเฝ้าประภาคารทาสีประตูเป็นสีฟ้า", day0})
	ids := saveTurns(t, ctx, conn, turns)
	for _, q := range []struct {
		text string
		want uuid.UUID
	}{
		{"What did the lighthouse keeper paint when you were there?", ids[len(ids)-2]},
		{"คนเฝ้าประภาคารทาสีอะไรที่ไหนเมื่อไร", ids[len(ids)-1]},
	} {
		if hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: q.text}); rankOf(hits, q.want) != 1 {
			t.Errorf("%q: the answer ranks %d; hits %v", q.text, rankOf(hits, q.want), texts(hits))
		}
	}
}

// TestRetrieveFindsAnAnswerInOtherWords: a question meets an answer that
// says its words with English synonyms (film and movie, vet and
// veterinarian), and a memory that says the question's own words ranks
// above one that says only a synonym.
func TestRetrieveFindsAnAnswerInOtherWords(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	var turns []turn
	for i := range 20 {
		turns = append(turns, turn{"", "angela", "How was your day at work today?", day0.Add(time.Duration(i) * time.Hour)})
	}
	turns = append(turns,
		turn{"s1", "david", "I rewatched an old movie last night, Spirited Away", day0.Add(30 * time.Hour)},
		turn{"s2", "david", "The veterinarian prescribed antibiotics for Som-O", day0.Add(50 * time.Hour)},
		turn{"s3", "david", "Som-O chased the vet's dog around the waiting room", day0.Add(70 * time.Hour)},
	)
	ids := saveTurns(t, ctx, conn, turns)
	movie, veterinarian, vet := ids[len(ids)-3], ids[len(ids)-2], ids[len(ids)-1]

	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "Which film did David see again?"})
	if rankOf(hits, movie) != 1 {
		t.Fatalf("a film question: the movie ranks %d; hits %v", rankOf(hits, movie), texts(hits))
	}
	if ev := hits[0].Evidence; !slices.Contains(ev, memory.EvidenceSynonyms) || slices.Contains(ev, memory.EvidenceWords) {
		t.Errorf("the movie found by a synonym alone has evidence %v", ev)
	}
	if hits[0].Match != 0 {
		t.Errorf("the movie holds none of the question's own words but has Match %v, want 0", hits[0].Match)
	}
	// A long prompt brings no synonyms: it says enough in its own words.
	var prompt strings.Builder
	prompt.WriteString("which film")
	for i := range 40 {
		fmt.Fprintf(&prompt, " zq%cword%c", 'a'+rune(i%26), 'a'+rune(i/26))
	}
	if hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: prompt.String()}); rankOf(hits, movie) != 0 {
		t.Errorf("a prompt of 41 words found the movie through a synonym; hits %v", texts(hits))
	}
	hits = retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "What medicine did the doctor give Som-O?"})
	if rankOf(hits, veterinarian) != 1 {
		t.Errorf("a doctor question: the veterinarian ranks %d; hits %v", rankOf(hits, veterinarian), texts(hits))
	}
	hits = retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "What did Som-O do at the vet?"})
	if r, s := rankOf(hits, vet), rankOf(hits, veterinarian); r != 1 || s == 0 {
		t.Errorf("a vet question: the turn saying vet ranks %d, the one saying veterinarian %d; hits %v", r, s, texts(hits))
	}

	// A long text said word for word is found exact though other memories
	// hold synonyms of its words: only its own words must all be held.
	long := saveTurns(t, ctx, conn, []turn{
		{"", "david", "We watched the film about the lighthouse keeper and his old dog on the island", day0.Add(-40 * 24 * time.Hour)},
		{"", "angela", "A movie about a physician and a pharmacist on the ferry, picture it", day0},
	})
	hits = retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "we watched the film about the lighthouse keeper and his old dog on the island"})
	if len(hits) == 0 || hits[0].ID != long[0] || !hits[0].Exact {
		t.Errorf("a long text said word for word is not found first and exact; hits %v", texts(hits))
	}
}

// TestRetrieveCountsTheSpeakerAsAWordOfTheTurn: a question that names a
// person finds the turn in which that person answers as "I", above a shorter
// turn of someone else that holds the same words; without the speaker's name
// counted it would not.
func TestRetrieveCountsTheSpeakerAsAWordOfTheTurn(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	ids := saveTurns(t, ctx, conn, []turn{
		{"", "angela", "Roses? Buy them!", day0},
		{"", "david", "I bought twelve red roses for my desk this morning", day0.Add(time.Hour)},
		{"", "angela", "David went to the gym", day0.Add(2 * time.Hour)},
	})
	o := memory.RetrieveOptions{Text: "Which roses did David buy?", Limit: 5, Now: day0.Add(24 * time.Hour)}
	if hits := retrieve(t, ctx, conn, o); rankOf(hits, ids[1]) != 1 {
		t.Errorf("David's own turn ranks %d; hits %v", rankOf(hits, ids[1]), texts(hits))
	} else if !slices.Contains(hits[0].Evidence, memory.EvidenceWords) {
		t.Errorf("its evidence is %v, want words", hits[0].Evidence)
	}
	hits, err := memory.RetrieveTuned(ctx, conn, memory.NewModel(defaultMemory(t)), o, map[string]float64{"speaker": 0})
	if err != nil {
		t.Fatal(err)
	}
	if short, own := rankOf(hits, ids[0]), rankOf(hits, ids[1]); short == 0 || own != 0 && own < short {
		t.Errorf("without the speaker's name the shorter turn should rank above David's own: hits %v", texts(hits))
	}
}

// TestRetrieveMatchNeedsMoreThanOneWord: a prompt of one word ("yes please
// do that" is "please" once its stop words go) holding a memory's rare word
// is too little to add that memory to a prompt unasked, however rare the
// word; a question whose rare words a memory holds is enough.
func TestRetrieveMatchNeedsMoreThanOneWord(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	turns := []turn{
		{"", "david", "Please remind me to water the orchids", day0},
		{"", "david", "The lighthouse keeper painted the door blue", day0.Add(time.Hour)},
	}
	for i := range 20 {
		turns = append(turns, turn{"", "angela", "We talked about the weather today", day0.Add(time.Duration(2+i) * time.Hour)})
	}
	saveTurns(t, ctx, conn, turns)
	for _, tt := range []struct {
		text string
		pass bool
	}{
		{"yes please do that", false},
		{"orchids", false},
		{"what colour did the lighthouse keeper paint the door?", true},
	} {
		hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: tt.text, Limit: 3})
		if len(hits) == 0 {
			t.Errorf("%q: no hit", tt.text)
			continue
		}
		if got := hits[0].Match >= memory.PromptRelevance; got != tt.pass {
			t.Errorf("%q: the top hit %q has Match %.2f; want it at or above %.2f: %v", tt.text, hits[0].Text, hits[0].Match, memory.PromptRelevance, tt.pass)
		}
	}
}

// TestRetrieveExactPhraseRanksFirst: a memory holding the whole text ranks
// above one that holds its words more often.
func TestRetrieveExactPhraseRanksFirst(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	ids := saveTurns(t, ctx, conn, []turn{
		{"", "david", "At night the ocean, the ocean at dusk, ocean night walks, night after night by the ocean", day0},
		{"", "david", "I loved the ocean at night with you", day0.Add(-30 * 24 * time.Hour)},
		{"", "david", "The mountains in the morning", day0},
	})
	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "ocean at night"})
	if len(hits) < 2 || hits[0].ID != ids[1] || !hits[0].Exact || !slices.Contains(hits[0].Evidence, memory.EvidenceExact) {
		t.Fatalf("hits %v: want the exact phrase first, marked exact", texts(hits))
	}
	if rankOf(hits, ids[0]) != 2 {
		t.Fatalf("the memory of the words ranks %d, want 2", rankOf(hits, ids[0]))
	}
	// A long text said before word for word, and its words in another
	// order, more recently.
	long := saveTurns(t, ctx, conn, []turn{
		{"", "david", "Remember to water the orchids on the balcony before the rain comes, please!", day0.Add(-60 * 24 * time.Hour)},
		{"", "david", "The rain comes before the orchids on the balcony: please remember to water them", day0},
	})
	hits = retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "remember to water the orchids on the balcony before the rain comes"})
	if len(hits) < 2 || hits[0].ID != long[0] || !hits[0].Exact || hits[1].ID != long[1] || hits[1].Exact {
		t.Fatalf("hits %v: want the long text said word for word first, marked exact", texts(hits))
	}
}

// TestRetrieveFindsTheAnswerAfterTheQuestion: the turn that answers holds
// none of the question's words; the turns before it do.
func TestRetrieveFindsTheAnswerAfterTheQuestion(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	ids := saveTurns(t, ctx, conn, []turn{
		{"s1", "david", "Som-O went to the vet for her stomach today", day0},
		{"s1", "angela", "Oh no, what did the vet prescribe?", day0.Add(time.Minute)},
		{"s1", "david", "Two weeks of pills, twice a day after meals", day0.Add(2 * time.Minute)},
		{"s2", "david", "The pills for my headache are in the kitchen", day0.Add(time.Hour)},
		{"s3", "david", "I will prescribe myself a long holiday", day0.Add(2 * time.Hour)},
	})
	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "What did the vet prescribe for Som-O's stomach?"})
	r := rankOf(hits, ids[2])
	if r == 0 || r > 3 || !slices.Contains(hits[r-1].Evidence, memory.EvidenceContext) {
		t.Fatalf("the answer ranks %d (want within 3, found by its context); hits %v", r, texts(hits))
	}
	if hits[r-1].SessionID != "s1" {
		t.Fatalf("the hit's session is %q", hits[r-1].SessionID)
	}
}

// TestRetrieveBringsNeighbouringTurnsOfTheSameSession: with Context, a
// message hit brings the turns either side of it in its session, in their
// order, their texts cut as the hit's are; none of another session said in
// between, none for a message without a session or for an emotion, and none
// without Context.
func TestRetrieveBringsNeighbouringTurnsOfTheSameSession(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	long := strings.Repeat("ส้มโอนอนหลับ ", 20)
	ids := saveTurns(t, ctx, conn, []turn{
		{"s1", "david", "Morning, I am off to the coast today", day0},
		{"s1", "angela", "Will you visit the old lighthouse keeper?", day0.Add(time.Minute)},
		{"s2", "david", "Another window: the build is green", day0.Add(90 * time.Second)},
		{"s1", "David", long, day0.Add(2 * time.Minute)},
		{"s1", "angela", "Bring me a photo of the sea", day0.Add(3 * time.Minute)},
		{"", "david", "A lighthouse keeper never sleeps", day0.Add(time.Hour)},
		{"", "angela", "That sounds lonely", day0.Add(time.Hour + time.Minute)},
	})
	emo := saveEmo(t, ctx, conn, 7, 8, day0, "The lighthouse keeper story moved me")
	byID := func(hits []memory.Hit, id uuid.UUID) memory.Hit {
		t.Helper()
		for _, h := range hits {
			if h.ID == id {
				return h
			}
		}
		t.Fatalf("%s is not among the hits %v", id, texts(hits))
		return memory.Hit{}
	}
	turnIDs := func(cs []memory.ContextTurn) []uuid.UUID {
		out := make([]uuid.UUID, len(cs))
		for i, c := range cs {
			out[i] = c.ID
		}
		return out
	}

	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "lighthouse keeper", Context: 1, TextChars: 100})
	h := byID(hits, ids[1])
	if got, want := turnIDs(h.Context), []uuid.UUID{ids[0], ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("context %v, want the turn before and the one after in s1 %v", got, want)
	}
	before, after := h.Context[0], h.Context[1]
	if before.Speaker != "david" || before.Text != "Morning, I am off to the coast today" || !before.At.Equal(day0) {
		t.Errorf("the turn before: %+v", before)
	}
	if after.Speaker != "david" || !after.At.Equal(day0.Add(2*time.Minute)) {
		t.Errorf("the turn after: %+v", after)
	}
	if n := utf8.RuneCountInString(after.Text); n != 100 || !strings.HasSuffix(after.Text, "…") || !strings.HasPrefix(long, strings.TrimSuffix(after.Text, "…")) {
		t.Errorf("the long turn after is %d characters, want it cut to 100 with an ellipsis: %q", n, after.Text)
	}
	if c := byID(hits, ids[5]).Context; len(c) != 0 {
		t.Errorf("a message without a session brought %d turns", len(c))
	}
	if c := byID(hits, emo).Context; len(c) != 0 {
		t.Errorf("an emotion brought %d turns", len(c))
	}

	hits = retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "lighthouse keeper", Context: 2})
	h = byID(hits, ids[1])
	if got, want := turnIDs(h.Context), []uuid.UUID{ids[0], ids[3], ids[4]}; !slices.Equal(got, want) {
		t.Fatalf("context of 2: %v, want %v", got, want)
	}
	if h.Context[1].Text != long {
		t.Errorf("without TextChars the turn is not read whole: %d characters", utf8.RuneCountInString(h.Context[1].Text))
	}

	hits = retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "lighthouse keeper"})
	if c := byID(hits, ids[1]).Context; c != nil {
		t.Errorf("without Context the hit brought %d turns", len(c))
	}
	for _, n := range []int{-1, memory.MaxContext + 1} {
		_, err := memory.Retrieve(ctx, conn, memory.NewModel(defaultMemory(t)), memory.RetrieveOptions{Text: "lighthouse keeper", Limit: 5, Context: n})
		var fe *text.FieldError
		if !errors.As(err, &fe) || fe.Field != "context" {
			t.Errorf("context %d: %v, want a field error on context", n, err)
		}
	}
}

// TestRetrieveUsesTheTimeAQuestionNames: of two memories with the same
// words, the one made in the time the question names comes first; a
// question of a time alone gets that time's memories.
func TestRetrieveUsesTheTimeAQuestionNames(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	ids := saveTurns(t, ctx, conn, []turn{
		{"a", "david", "Dinner with mom at the Yaowarat restaurant", now.AddDate(0, -5, 0)},
		{"b", "david", "Dinner with mom at the riverside restaurant", now.AddDate(0, 0, -25)},
		{"c", "david", "I fixed the flaky test", now.AddDate(0, 0, -1)},
	})
	bangkok := evalLocation(t)
	for _, q := range []struct {
		text string
		want uuid.UUID
	}{
		{"Where did we have dinner with mom last month?", ids[1]},
		{"ไปกินข้าวเย็นกับแม่ที่ restaurant ไหนเดือนที่แล้ว", ids[1]},
		{"Which restaurant did we have dinner with mom at in October?", ids[0]},
		{"what happened yesterday?", ids[2]},
		{"เมื่อวานทำอะไร", ids[2]},
	} {
		hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: q.text, Now: now, Location: bangkok})
		if len(hits) == 0 || hits[0].ID != q.want || !slices.Contains(hits[0].Evidence, memory.EvidenceTime) {
			t.Errorf("%q: hits %v; want %v first, found by its time", q.text, texts(hits), q.want)
		}
	}
}

// TestRetrieveAsksOfATimeAloneThoughASynonymIsHeld: a question of a time
// none of whose own words a memory holds gets that time's memories, though an
// older memory holds a synonym of one of its words (happen and occur).
func TestRetrieveAsksOfATimeAloneThoughASynonymIsHeld(t *testing.T) {
	t.Parallel()
	if !slices.Contains(text.Expansions(text.QueryTerms("happened")), text.Terms("occur")[0]) {
		t.Fatal("occur is no longer a synonym of happen: pick another pair")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	ids := saveTurns(t, ctx, conn, []turn{
		{"a", "david", "The crash seems to occur only on Mondays", now.AddDate(0, 0, -25)},
		{"b", "david", "I fixed the flaky test", now.AddDate(0, 0, -1)},
	})
	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "what happened yesterday?", Now: now, Location: evalLocation(t)})
	if r := rankOf(hits, ids[1]); r == 0 || !slices.Contains(hits[r-1].Evidence, memory.EvidenceTime) {
		t.Errorf("yesterday's memory is not found by its time; hits %v", texts(hits))
	}
}

// TestRetrieveFusesASemanticRanking: a memory only the model ranks is found,
// marked semantic; lexical evidence still counts.
func TestRetrieveFusesASemanticRanking(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	ids := saveTurns(t, ctx, conn, []turn{
		{"", "david", "แม่ร้องไห้ตอนเปิดผ้าไหมสีม่วง", day0},
		{"", "david", "The purple gift made everyone smile", day0},
		{"", "david", "Nothing to do with it", day0},
	})
	sem := []memory.SemanticHit{{Kind: "conversation", ID: ids[0], Similarity: 0.8}}
	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "How did mom react to the purple gift?", Semantic: sem})
	if rankOf(hits, ids[0]) == 0 || rankOf(hits, ids[1]) == 0 {
		t.Fatalf("hits %v: want both the semantic and the lexical match", texts(hits))
	}
	if h := hits[rankOf(hits, ids[0])-1]; !slices.Equal(h.Evidence, []string{memory.EvidenceSemantic}) {
		t.Fatalf("the semantic hit's evidence is %v", h.Evidence)
	}
	_, err := memory.Retrieve(ctx, conn, memory.NewModel(defaultMemory(t)), memory.RetrieveOptions{Text: "x y", Limit: 5,
		Semantic: []memory.SemanticHit{{Kind: "journal"}}})
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "semantic" {
		t.Fatalf("a semantic hit of an unknown kind: %v", err)
	}
}

// TestRetrieveFiltersAndReinforces: kind, speaker and since keep what they
// say; emotions are found by their texts; reinforcement recalls the hits.
func TestRetrieveFiltersAndReinforces(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	ids := saveTurns(t, ctx, conn, []turn{
		{"", "david", "The lighthouse was red and white", day0},
		{"", "angela", "I dreamed of the red lighthouse", day0.Add(-60 * 24 * time.Hour)},
	})
	emo := saveEmo(t, ctx, conn, 8, 9, day0, "David took me to see a lighthouse")
	for _, tt := range []struct {
		name string
		o    memory.RetrieveOptions
		want []uuid.UUID
	}{
		{"all", memory.RetrieveOptions{}, []uuid.UUID{ids[0], ids[1], emo}},
		{"emotions", memory.RetrieveOptions{Kind: memory.KindEmotions}, []uuid.UUID{emo}},
		{"angela", memory.RetrieveOptions{Speaker: "Angela"}, []uuid.UUID{ids[1]}},
		{"since", memory.RetrieveOptions{Since: day0.Add(-time.Hour)}, []uuid.UUID{ids[0], emo}},
	} {
		o := tt.o
		o.Text = "red lighthouse"
		hits := retrieve(t, ctx, conn, o)
		got := make([]uuid.UUID, len(hits))
		for i, h := range hits {
			got[i] = h.ID
		}
		slices.SortFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		want := slices.Clone(tt.want)
		slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		if !slices.Equal(got, want) {
			t.Errorf("%s: hits %v, want %v", tt.name, texts(hits), tt.want)
		}
	}
	first := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "red lighthouse", Reinforce: true, Limit: 1, Kind: memory.KindConversations})
	var recalls int
	if err := conn.QueryRow(ctx, `select recall_count from conversation_memory where id = $1`, first[0].ID).Scan(&recalls); err != nil || recalls != 1 {
		t.Fatalf("the first hit was recalled %d times (%v), want 1", recalls, err)
	}
	_, err := memory.Retrieve(ctx, conn, memory.NewModel(defaultMemory(t)), memory.RetrieveOptions{Text: "", Limit: 5})
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "TEXT" {
		t.Fatalf("an empty question: %v", err)
	}
}

// TestRetrieveWhenIndexingFails: on a connection that may only read, the
// pending memories cannot be indexed; a question still finds them by their
// exact text, and the indexed ones by their words.
func TestRetrieveWhenIndexingFails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.DB(t))
	indexed := saveTurns(t, ctx, conn, []turn{{"", "david", "The lighthouse keeper painted the door blue", day0}})
	indexAll(t, ctx, conn)
	pendingIDs := saveTurns(t, ctx, conn, []turn{{"", "david", "the orchids on the balcony need water", day0}})
	if _, err := conn.Exec(ctx, `set default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	hits := retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "the orchids on the balcony"})
	if rankOf(hits, pendingIDs[0]) != 1 || !hits[0].Exact {
		t.Fatalf("a pending memory is not found by its exact text: %v", texts(hits))
	}
	hits = retrieve(t, ctx, conn, memory.RetrieveOptions{Text: "what colour did the lighthouse keeper paint the door?"})
	if rankOf(hits, indexed[0]) != 1 {
		t.Fatalf("an indexed memory is not found by its words: %v", texts(hits))
	}
}

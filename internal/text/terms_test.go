package text

import (
	"slices"
	"testing"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		query bool
		want  []string
	}{
		{"English words folded, stemmed, stop words out", "What gift did David give his Mother's friends?", false,
			[]string{"gift", "david", "giv", "mother", "friend"}},
		{"a word and its inflections meet", "families family studied studying stopped stop making make", false,
			[]string{"fami", "fami", "studi", "studi", "stop", "stop", "mak", "mak"}},
		{"irregular past forms meet their verb", "gave bought went children", false,
			[]string{"giv", "buy", "go", "child"}},
		{"contractions lose the apostrophe, possessives the 's", "don't David’s we'll rock'n'roll", false,
			[]string{"david", "rocknroll"}},
		{"unsegmented Thai as bigrams, tone marks left out", "ส้มโอกินยา", false,
			[]string{"สม", "มโ", "โอ", "อก", "กิ", "ิน", "นย", "ยา"}},
		{"a one-letter Thai run is one term", "ก ข", false, []string{"ก", "ข"}},
		{"a question's Thai question words are cut out", "หมอให้ยาอะไร", true,
			[]string{"หม", "มอ", "อใ", "ให", "หย", "ยา"}},
		{"a document keeps them", "หมอให้ยาอะไร", false,
			[]string{"หม", "มอ", "อใ", "ให", "หย", "ยา", "าอ", "อะ", "ะไ", "ไร"}},
		{"polite particles are cut from a question", "ไปไหนมาครับ", true, []string{"ไป", "มา"}},
		{"mixed Thai and English", "แก้bugใน database แล้ว", false,
			[]string{"แก", "bug", "ใน", "databas", "แล", "ลว"}},
		{"emoji and symbols separate", "ok👍fine 🎉 #tag @you", false, []string{"fin", "tag"}},
		{"digits of any script are ASCII", "๒๕๖๙ ２０２６ 2026", false, []string{"2569", "2026", "2026"}},
		{"Greek and Cyrillic fold by simple case mapping", "ΣΊΣΥΦΟΣ σίσυφος Москва", false,
			[]string{"σίσυφοσ", "σίσυφοσ", "москва"}},
		{"Japanese as bigrams, Korean apart", "東京タワー에", false, []string{"東京", "京タ", "タワ", "ワー", "에"}},
		{"a word longer than 40 letters is dropped", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq ok cat", false,
			[]string{"cat"}},
		{"a lone Latin letter is no term, a digit is", "a b 5", false, []string{"5"}},
		{"identifiers split on punctuation", "search_terms v1.2", false, []string{"search", "term", "v1", "2"}},
		{"nothing but stop words and punctuation", "what is it?!", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Tokens(tt.in, tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("Tokens(%q, %v) = %q, want %q", tt.in, tt.query, got, tt.want)
			}
		})
	}
}

func TestStem(t *testing.T) {
	t.Parallel()
	// Each group's words must share one stem.
	for _, group := range [][]string{
		{"memory", "memories"},
		{"run", "running", "runs"},
		{"stop", "stopped", "stopping", "stops"},
		{"make", "making", "makes", "made"},
		{"happy", "happily"},
		{"study", "studies", "studied", "studying"},
		{"try", "tries", "tried"},
		{"use", "used", "using", "uses"},
		{"friend", "friendly", "friends"},
		{"box", "boxes"},
		{"church", "churches"},
		{"give", "gave", "given", "gives", "giving"},
		{"add", "added", "adding"},
	} {
		want := string(stem([]byte(group[0])))
		for _, w := range group[1:] {
			if got := string(stem([]byte(w))); got != want {
				t.Errorf("stem(%q) = %q, want %q as for %q", w, got, want, group[0])
			}
		}
	}
	// And these must not meet.
	for _, pair := range [][2]string{{"sing", "s"}, {"need", "ne"}, {"bus", "bu"}, {"fall", "fal"}, {"miss", "mis"}} {
		if got := string(stem([]byte(pair[0]))); got == pair[1] {
			t.Errorf("stem(%q) = %q", pair[0], got)
		}
	}
}

func TestTermHashIsStable(t *testing.T) {
	t.Parallel()
	// The stored index depends on these values: a change needs every memory
	// indexed again.
	for _, tt := range []struct {
		term string
		want int32
	}{{"a", -468965076}, {"ก", 707955532}, {"david", -1236950947}, {"หม", 1481058473}, {"2026", 1076444563}} {
		if got := TermHash([]byte(tt.term)); got != tt.want {
			t.Errorf("TermHash(%q) = %d, want %d", tt.term, got, tt.want)
		}
	}
}

func TestTermsAndQueryTerms(t *testing.T) {
	t.Parallel()
	doc := Terms("David talked about the ocean, the OCEAN!")
	if len(doc) != 4 { // david, talk, ocean, ocean: repeats kept
		t.Fatalf("Terms = %v, want 4 terms with the repeat", doc)
	}
	if Terms() == nil || len(Terms("the")) != 0 {
		t.Fatal("Terms of nothing must be empty and not nil")
	}
	q := QueryTerms("ocean Ocean oceans talked")
	if !slices.IsSorted(q) || len(q) != 2 {
		t.Fatalf("QueryTerms = %v, want two distinct terms, sorted", q)
	}
	// The texts of Terms are separate: no bigram across them.
	if got, want := len(Terms("กข", "คง")), 2; got != want {
		t.Fatalf("Terms of two texts = %d terms, want %d", got, want)
	}
}

func TestEndsAsQuestion(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"กินยาอะไร", true}, {"ไปไหม", true}, {"ไปเมื่อไหร่", true}, {"ไปเมื่อไร", true}, {"ขอบคุณครับ", true},
		{"คิดถึง", false}, {"ทะเล", false}, {"ไปกันนะ", false}, {"ocean", false}, {"", false},
	} {
		if got := EndsAsQuestion(tt.s); got != tt.want {
			t.Errorf("EndsAsQuestion(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func BenchmarkTerms(b *testing.B) {
	const msg = `วันนี้พี่คิดถึงน้องมากเลยค่ะ ไปเที่ยวทะเลด้วยกันไหม David talked about the ocean and the memory worker today`
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		Terms(msg)
	}
}

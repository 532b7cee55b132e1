package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func recalls(t *testing.T, url string) int {
	t.Helper()
	var n int
	if err := pgtest.Conn(t, url).QueryRow(context.Background(),
		`select coalesce(sum(recall_count), 0) from (select recall_count from conversation_memory
		 union all select recall_count from emotion_memory) m`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSearchAndRecallEndToEnd(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	c.ok("save-conversation", "--speaker", "david", "--message", "วันนี้พี่คิดถึงน้องมากเลยนะ อยากไปทะเลด้วยกัน", "--importance", "8",
		"--at", "2025-11-08T21:00:00+07:00")
	c.ok("save-conversation", "--speaker", "angela", "--message", "Good night, David. I loved talking about the Ocean today.",
		"--at", "2025-11-08T21:05:00+07:00")
	c.ok("save-emotion", "--emotion", "loved", "--intensity", "10", "--context", "David said he misses Angela",
		"--david-words", "พี่ ก็ คิดถึงเหมือน กัน ค่ะ", "--at", "2025-11-08T21:30:00+07:00")

	got := c.ok("search", "คิดถึง")
	if !strings.Contains(got, "2025-11-08 21:30:00 +07: emotion loved (exact") || !strings.Contains(got, "พี่ ก็ คิดถึงเหมือน กัน ค่ะ") ||
		!strings.Contains(got, "2025-11-08 21:00:00 +07: david (exact") || strings.Count(got, "\n") != 4 {
		t.Errorf("search คิดถึง printed\n%s", got)
	}
	got = c.ok("search", "ocean", "--kind", "conversations", "--speaker", "ANGELA")
	if !strings.Contains(got, "angela (exact") || !strings.Contains(got, "the Ocean today") || strings.Count(got, "\n") != 2 {
		t.Errorf("search ocean printed\n%s", got)
	}
	var hits []struct {
		Kind  string `json:"kind"`
		Text  string `json:"text"`
		Exact bool   `json:"exact"`
	}
	if err := json.Unmarshal([]byte(c.ok("search", "ทะเล", "--json")), &hits); err != nil || len(hits) != 1 || !hits[0].Exact {
		t.Fatalf("search --json: %+v %v", hits, err)
	}
	if got := c.ok("search", "ภูเขา"); got != "" {
		t.Errorf("search for what is not there printed %q", got)
	}
	if n := recalls(t, url); n != 0 {
		t.Fatalf("searching without --reinforce recalled %d", n)
	}
	c.ok("search", "ocean", "--reinforce")
	if n := recalls(t, url); n != 1 {
		t.Fatalf("search --reinforce recalled %d, want 1", n)
	}

	// recall: Markdown by default, within the budget; --peek changes nothing.
	md := c.ok("recall", "--peek", "--max-chars", "400")
	if n := utf8.RuneCountInString(md); n > 400 || !strings.HasPrefix(md, "# Angela & David\n") || !strings.Contains(md, "## Strongest memories") {
		t.Errorf("recall --max-chars 400 printed %d characters:\n%s", n, md)
	}
	if n := recalls(t, url); n != 1 {
		t.Fatalf("recall --peek recalled: %d", n)
	}
	var pack struct {
		Memories []struct {
			Kind string `json:"kind"`
		} `json:"memories"`
		Session *struct {
			Messages []struct{ Text string } `json:"messages"`
		} `json:"session"`
		Chars int `json:"chars"`
	}
	if err := json.Unmarshal([]byte(c.ok("recall", "--json")), &pack); err != nil || len(pack.Memories) == 0 || pack.Session == nil {
		t.Fatalf("recall --json: %+v %v", pack, err)
	}
	if n := recalls(t, url); n <= 1 {
		t.Fatalf("recall recalled nothing (%d)", n)
	}
}

func TestSearchAndRecallRejectBadInput(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	c.ok("save-conversation", "--speaker", "david", "--message", "hello")
	before := recalls(t, url)
	c.fails(2, "invalid TEXT: must not be empty", "search", "")
	c.fails(2, "invalid TEXT: must be at most 1000 characters, got 1001", "search", strings.Repeat("ค", 1001))
	c.fails(2, `invalid --kind: must be one of all, conversations, emotions, got "journal"`, "search", "x", "--kind", "journal")
	c.fails(2, `invalid --speaker: must be one of david, angela, system, got "bob"`, "search", "x", "--speaker", "bob")
	c.fails(2, "invalid --since: must be a date YYYY-MM-DD", "search", "x", "--since", "yesterday")
	c.fails(2, "search takes one TEXT to find, got 2 arguments", "search", "a", "b", "--reinforce")
	c.fails(2, "--max-chars", "recall", "--max-chars", "100")
	c.fails(2, "--markdown and --json exclude each other", "recall", "--json", "--markdown")
	c.fails(2, "invalid --query: must not be empty", "recall", "--query", "")
	c.fails(2, "invalid --query: must not be only whitespace", "recall", "--query", "   ")
	c.fails(2, "invalid --query: must be at most 1000 characters, got 1001", "recall", "--query", strings.Repeat("ค", 1001))
	if after := recalls(t, url); after != before {
		t.Fatalf("bad input wrote: recalls %d -> %d", before, after)
	}
}

func TestRecallQueryLeadsWithTheAnswer(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	// The answer is neither the strongest memory nor the newest: without the
	// question it would not lead the pack.
	c.ok("save-conversation", "--speaker", "david", "--message", "For my mother's birthday I gave her a jade bracelet from Chiang Mai.",
		"--importance", "3", "--at", "2025-10-01T10:00:00+07:00")
	for i, m := range []string{"The deploy failed again on the staging server.", "Let's refactor the parser tomorrow.",
		"วันนี้ฝนตกหนักมากเลย", "I love the sound of rain on the roof."} {
		c.ok("save-conversation", "--speaker", "david", "--message", m, "--importance", "10",
			"--at", fmt.Sprintf("2025-11-08T21:0%d:00+07:00", i))
	}
	var pack struct {
		Query    string `json:"query"`
		Relevant []struct {
			Text     string   `json:"text"`
			Score    float64  `json:"score"`
			Evidence []string `json:"evidence"`
		} `json:"relevant"`
		Chars    int `json:"chars"`
		MaxChars int `json:"max_chars"`
	}
	before := recalls(t, url)
	out := c.ok("recall", "--json", "--max-chars", "1500", "--query", "What gift did David give his mother?")
	if err := json.Unmarshal([]byte(out), &pack); err != nil || len(pack.Relevant) == 0 {
		t.Fatalf("recall --query --json: %v\n%s", err, out)
	}
	if !strings.Contains(pack.Relevant[0].Text, "jade bracelet") || pack.Relevant[0].Score <= 0 || len(pack.Relevant[0].Evidence) == 0 {
		t.Errorf("the pack does not lead with the answer: %+v", pack.Relevant)
	}
	if pack.Query != "What gift did David give his mother?" || pack.Chars > 1500 {
		t.Errorf("query %q, %d characters of %d", pack.Query, pack.Chars, pack.MaxChars)
	}
	if after := recalls(t, url); after <= before {
		t.Errorf("recall --query recalled nothing: %d -> %d", before, after)
	}
	md := c.ok("recall", "--peek", "--query", "What gift did David give his mother?")
	rel := strings.Index(md, "## Relevant to the question\n")
	if rel < 0 || !strings.HasPrefix(md[rel:], "## Relevant to the question\n- 2025-10-01 10:00 · David: For my mother's birthday") {
		t.Errorf("the Markdown pack does not lead with the answer:\n%s", md)
	}
	// Not again among the strongest memories (the session tail, in time
	// order, may show it too).
	if head, _, _ := strings.Cut(md, "## Last session"); strings.Count(head, "jade bracelet") != 1 {
		t.Errorf("the answer is shown twice:\n%s", md)
	}
}

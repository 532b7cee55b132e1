package text

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// term1 is the one term of an English word.
func term1(t *testing.T, w string) int32 {
	t.Helper()
	ts := Terms(w)
	if len(ts) != 1 {
		t.Fatalf("%q is %d terms", w, len(ts))
	}
	return ts[0]
}

func TestExpansionsOfEnglishWords(t *testing.T) {
	for _, c := range []struct {
		question string
		want     []string // synonyms that must be added
	}{
		{"Which film did he see?", []string{"movie"}},
		{"What did the vet say?", []string{"veterinarian", "doctor"}},
		{"What did the doctors say?", []string{"physician"}},
		{"What did mom think of it?", []string{"mother"}},
		{"Which car did he purchase?", []string{"automobile", "buy"}},
		{"What illness was it?", []string{"sickness"}},
	} {
		q := QueryTerms(c.question)
		got := Expansions(q)
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("%q: expansions not sorted and distinct: %v", c.question, got)
		}
		for _, w := range c.want {
			if _, ok := slices.BinarySearch(got, term1(t, w)); !ok {
				t.Errorf("%q: %q is not among its %d expansions", c.question, w, len(got))
			}
		}
		for _, e := range got {
			if _, own := slices.BinarySearch(q, e); own {
				t.Errorf("%q: an expansion is one of the question's own terms", c.question)
			}
		}
	}
	for _, q := range []string{"", "the and of what", "ส้มโอป่วยเป็นอะไร", "4f9c2a7e", "Som-O"} {
		if got := Expansions(QueryTerms(q)); len(got) != 0 {
			t.Errorf("%q: %d expansions, want none", q, len(got))
		}
	}
}

// TestSynonymTableIsWhatItsGeneratorWrites regenerates the table from
// WordNet's files (Debian's wordnet-base), when they are installed, and
// compares it with the one built in; CI installs them.
func TestSynonymTableIsWhatItsGeneratorWrites(t *testing.T) {
	const dir = "/usr/share/wordnet"
	if _, err := os.Stat(filepath.Join(dir, "index.sense")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("WordNet's files are not installed (wordnet-base): %v", err)
		}
		t.Skipf("WordNet's files are not installed (wordnet-base): %v", err)
	}
	if testing.Short() {
		t.Skip("regenerating the synonym table takes seconds")
	}
	out := filepath.Join(t.TempDir(), "synonyms.bin")
	cmd := exec.Command("go", "run", "./gensynonyms", "-wordnet", dir, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gensynonyms: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(synonymTable)) {
		t.Fatalf("synonyms.bin differs from what gensynonyms writes from %s (%d bytes vs %d; it was written from Debian 12's wordnet-base 1:3.0-37): run go generate ./internal/text", dir, len(synonymTable), len(got))
	}
}

func BenchmarkExpansions(b *testing.B) {
	q := QueryTerms("What present did David give his mother for her birthday last year?")
	for b.Loop() {
		Expansions(q)
	}
}

package memory

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// An evaluation set: conversations between David and Angela, and questions
// with the turns that answer them (testdata/eval*/).

// EvalTurn is one turn of an evaluation conversation.
type EvalTurn struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Speaker string    `json:"speaker"`
	Text    string    `json:"text"`
}

// EvalSession is one session of turns.
type EvalSession struct {
	ID    string     `json:"id"`
	Turns []EvalTurn `json:"turns"`
}

// EvalQuestion is one question and the ids of the turns that answer it.
// AskedAt, when set, is when it is asked (a question about "last week"
// needs it); otherwise it is asked a day after the set's last turn.
type EvalQuestion struct {
	ID      string    `json:"id"`
	Lang    string    `json:"lang"`
	Type    string    `json:"type"`
	Text    string    `json:"text"`
	Answers []string  `json:"answers"`
	AskedAt time.Time `json:"asked_at"`
}

// EvalSet is one loaded set.
type EvalSet struct {
	Name      string
	Sessions  []EvalSession
	Questions []EvalQuestion
}

// EvalSets returns the sets under testdata: every directory named eval*
// holding conversations.json and questions.json.
func EvalSets(t testing.TB) []EvalSet {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "eval*"))
	if err != nil {
		t.Fatal(err)
	}
	var sets []EvalSet
	for _, dir := range dirs {
		s, err := LoadEvalSet(dir)
		if err != nil {
			t.Fatalf("evaluation set %s: %v", dir, err)
		}
		if s != nil {
			sets = append(sets, *s)
		}
	}
	if len(sets) == 0 {
		t.Skip("no evaluation set in testdata/eval*")
	}
	return sets
}

// LoadEvalSet reads the set in dir; nil when dir holds none. A question whose
// answers name no turn of the set is an error, as is a turn without text or
// time.
func LoadEvalSet(dir string) (*EvalSet, error) {
	var conv struct {
		Sessions []EvalSession `json:"sessions"`
	}
	var qs struct {
		Questions []EvalQuestion `json:"questions"`
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"conversations.json", &conv}, {"questions.json", &qs}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if os.IsNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	turns := map[string]bool{}
	for _, s := range conv.Sessions {
		for _, t := range s.Turns {
			if t.ID == "" || t.Text == "" || t.At.IsZero() {
				return nil, fmt.Errorf("session %s: turn %q has no id, text or time", s.ID, t.ID)
			}
			if turns[t.ID] {
				return nil, fmt.Errorf("turn id %s appears twice", t.ID)
			}
			turns[t.ID] = true
		}
	}
	for _, q := range qs.Questions {
		if len(q.Answers) == 0 {
			return nil, fmt.Errorf("question %s has no answers", q.ID)
		}
		for _, a := range q.Answers {
			if !turns[a] {
				return nil, fmt.Errorf("question %s: answer %s is no turn of the set", q.ID, a)
			}
		}
	}
	return &EvalSet{Name: filepath.Base(dir), Sessions: conv.Sessions, Questions: qs.Questions}, nil
}

// AskedAt returns when q is asked.
func (s EvalSet) AskedAt(q EvalQuestion) time.Time {
	if !q.AskedAt.IsZero() {
		return q.AskedAt
	}
	var last time.Time
	for _, ss := range s.Sessions {
		for _, t := range ss.Turns {
			if t.At.After(last) {
				last = t.At
			}
		}
	}
	return last.Add(24 * time.Hour)
}

// EvalScore accumulates the quality figures of one group of questions.
type EvalScore struct {
	N                 int
	Recall            [3]float64 // at 1, 5, 10: the share of a question's answers found
	Hit               [3]float64 // at 1, 5, 10: an answer found
	ReciprocalRankSum float64
}

// EvalCutoffs are the k of recall@k.
var EvalCutoffs = [3]int{1, 5, 10}

// Add scores one question from the ranked turn ids.
func (e *EvalScore) Add(ranked []string, answers []string) {
	e.N++
	first := 0
	for i, id := range ranked {
		if slices.Contains(answers, id) {
			first = i + 1
			break
		}
	}
	if first > 0 {
		e.ReciprocalRankSum += 1 / float64(first)
	}
	for c, k := range EvalCutoffs {
		found := 0
		for _, a := range answers {
			if i := slices.Index(ranked, a); i >= 0 && i < k {
				found++
			}
		}
		e.Recall[c] += float64(found) / float64(len(answers))
		if found > 0 {
			e.Hit[c]++
		}
	}
}

// Mean returns recall@1, @5, @10 and the MRR.
func (e EvalScore) Mean() (r1, r5, r10, mrr float64) {
	if e.N == 0 {
		return 0, 0, 0, 0
	}
	n := float64(e.N)
	return e.Recall[0] / n, e.Recall[1] / n, e.Recall[2] / n, e.ReciprocalRankSum / n
}

// EvalReport groups the scores by type and language.
type EvalReport struct {
	Groups map[string]*EvalScore
}

// Add scores q under its type, its language, both, and "all".
func (r *EvalReport) Add(q EvalQuestion, ranked []string) {
	if r.Groups == nil {
		r.Groups = map[string]*EvalScore{}
	}
	for _, g := range []string{"all", q.Type, q.Type + "/" + q.Lang, "lang/" + q.Lang} {
		if r.Groups[g] == nil {
			r.Groups[g] = &EvalScore{}
		}
		r.Groups[g].Add(ranked, q.Answers)
	}
}

// Print writes the table.
func (r EvalReport) Print(w io.Writer) {
	keys := make([]string, 0, len(r.Groups))
	for k := range r.Groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%-22s %4s %6s %6s %6s %6s\n", "group", "n", "R@1", "R@5", "R@10", "MRR")
	for _, k := range keys {
		g := r.Groups[k]
		r1, r5, r10, mrr := g.Mean()
		fmt.Fprintf(w, "%-22s %4d %6.3f %6.3f %6.3f %6.3f\n", k, g.N, r1, r5, r10, mrr)
	}
}

// Line is the figures of one group on one line.
func (r EvalReport) Line(group string) string {
	g := r.Groups[group]
	if g == nil {
		return group + ": none"
	}
	r1, r5, r10, mrr := g.Mean()
	return fmt.Sprintf("%s R@1 %.3f R@5 %.3f R@10 %.3f MRR %.3f", strings.TrimSpace(group), r1, r5, r10, mrr)
}

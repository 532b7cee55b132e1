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
	"unicode/utf8"
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

// EvalContext is a way of showing a hit's neighbouring turns of its session
// with it: Before and After turns either side, or, with ReplyOnly, the turn
// after it when the other speaker said it (the reply to it).
type EvalContext struct {
	Name          string
	Before, After int
	ReplyOnly     bool
	// Retrieved takes the turns Retrieve returned with each hit
	// (Hit.Context) instead of the set's.
	Retrieved bool
}

// EvalContexts are the ways measured by covered@k: the hits alone (recall@k),
// the reply, the turn after, and one or two turns either side.
var EvalContexts = []EvalContext{
	{Name: "hits alone"},
	{Name: "reply", After: 1, ReplyOnly: true},
	{Name: "next turn", After: 1},
	{Name: "±1", Before: 1, After: 1},
	{Name: "±2", Before: 2, After: 2},
	{Name: "Context=1", Retrieved: true},
}

// CoverCutoffs are the k of covered@k.
var CoverCutoffs = [3]int{1, 3, 5}

// Neighbours returns the turns shown with the turn id in the way c says, in
// the order of their session.
func (s EvalSet) Neighbours(id string, c EvalContext) []EvalTurn {
	for _, ss := range s.Sessions {
		i := slices.IndexFunc(ss.Turns, func(t EvalTurn) bool { return t.ID == id })
		if i < 0 {
			continue
		}
		var out []EvalTurn
		for j := max(i-c.Before, 0); j <= min(i+c.After, len(ss.Turns)-1); j++ {
			if j == i || (c.ReplyOnly && ss.Turns[j].Speaker == ss.Turns[i].Speaker) {
				continue
			}
			out = append(out, ss.Turns[j])
		}
		return out
	}
	return nil
}

// EvalCoverage accumulates covered@k for one group of questions: the share
// of a question's answer turns that are among its top k hits or shown with
// one of them as its context, and the characters the context adds (the
// texts of the turns shown that are not top k hits themselves).
type EvalCoverage struct {
	N       int
	Covered [][3]float64 // by EvalContexts, at CoverCutoffs
	Chars   [][3]float64
	Turns   [][3]float64
}

// Add scores one question from its ranked turn ids, and the turns Retrieve
// returned with each (by turn id).
func (e *EvalCoverage) Add(s EvalSet, ranked, answers []string, retrieved map[string][]EvalTurn) {
	if e.Covered == nil {
		e.Covered = make([][3]float64, len(EvalContexts))
		e.Chars = make([][3]float64, len(EvalContexts))
		e.Turns = make([][3]float64, len(EvalContexts))
	}
	e.N++
	for m, c := range EvalContexts {
		for ci, k := range CoverCutoffs {
			top := ranked[:min(k, len(ranked))]
			shown := slices.Clone(top)
			for _, id := range top {
				around := s.Neighbours(id, c)
				if c.Retrieved {
					around = retrieved[id]
				}
				for _, n := range around {
					if !slices.Contains(shown, n.ID) {
						shown = append(shown, n.ID)
						e.Chars[m][ci] += float64(utf8.RuneCountInString(n.Text))
						e.Turns[m][ci]++
					}
				}
			}
			found := 0
			for _, a := range answers {
				if slices.Contains(shown, a) {
					found++
				}
			}
			e.Covered[m][ci] += float64(found) / float64(len(answers))
		}
	}
}

// CoverReport groups the coverage by question type, and measures what the
// prompt hook would show: the hits whose Match reaches PromptRelevance, up
// to five, alone and with the turns Retrieve returned with them.
type CoverReport struct {
	Groups map[string]*EvalCoverage
	// Hook counts the questions with a hit shown; HookHits and HookContext
	// sum the share of their answers covered, HookChars the characters the
	// context adds.
	Hook, Questions                  int
	HookHits, HookContext, HookChars float64
}

// AddHook scores the hits the prompt hook would show for q, best first,
// and the turns Retrieve returned with each (by turn id).
func (r *CoverReport) AddHook(q EvalQuestion, shown []string, retrieved map[string][]EvalTurn) {
	r.Questions++
	if len(shown) == 0 {
		return
	}
	r.Hook++
	with := slices.Clone(shown)
	for _, id := range shown {
		for _, n := range retrieved[id] {
			if !slices.Contains(with, n.ID) {
				with = append(with, n.ID)
				r.HookChars += float64(utf8.RuneCountInString(n.Text))
			}
		}
	}
	for _, a := range q.Answers {
		if slices.Contains(shown, a) {
			r.HookHits += 1 / float64(len(q.Answers))
		}
		if slices.Contains(with, a) {
			r.HookContext += 1 / float64(len(q.Answers))
		}
	}
}

// Add scores q under its type and "all".
func (r *CoverReport) Add(s EvalSet, q EvalQuestion, ranked []string, retrieved map[string][]EvalTurn) {
	if r.Groups == nil {
		r.Groups = map[string]*EvalCoverage{}
	}
	for _, g := range []string{"all", q.Type} {
		if r.Groups[g] == nil {
			r.Groups[g] = &EvalCoverage{}
		}
		r.Groups[g].Add(s, ranked, q.Answers, retrieved)
	}
}

// Mean returns covered@k of context m (by EvalContexts), at CoverCutoffs,
// and the characters and turns the context adds to a question on average.
func (e EvalCoverage) Mean(m int) (covered, chars, turns [3]float64) {
	if e.N == 0 {
		return
	}
	for i := range CoverCutoffs {
		covered[i] = e.Covered[m][i] / float64(e.N)
		chars[i] = e.Chars[m][i] / float64(e.N)
		turns[i] = e.Turns[m][i] / float64(e.N)
	}
	return
}

// Print writes the table: for each group, covered@1/3/5 of every context
// (the hits alone give recall@1/3/5), and the characters the context adds
// per question at each k.
func (r CoverReport) Print(w io.Writer) {
	keys := make([]string, 0, len(r.Groups))
	for k := range r.Groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%-12s %-10s %4s %6s %6s %6s %8s %8s %8s\n", "group", "context", "n", "C@1", "C@3", "C@5", "chars@1", "chars@3", "chars@5")
	for _, k := range keys {
		g := r.Groups[k]
		for m, c := range EvalContexts {
			cov, chars, _ := g.Mean(m)
			fmt.Fprintf(w, "%-12s %-10s %4d %6.3f %6.3f %6.3f %8.0f %8.0f %8.0f\n", k, c.Name, g.N, cov[0], cov[1], cov[2], chars[0], chars[1], chars[2])
		}
	}
	if r.Hook > 0 {
		n := float64(r.Hook)
		fmt.Fprintf(w, "what the prompt hook shows (Match >= %.2f, at most 5): %d of %d questions; their answers covered %.3f by the hits, %.3f with Context=1, which adds %.0f characters\n",
			PromptRelevance, r.Hook, r.Questions, r.HookHits/n, r.HookContext/n, r.HookChars/n)
	}
}

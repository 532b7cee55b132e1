package memory_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/memory"
)

// offTopicPrompts are prompts of a working session that no memory of the
// evaluation sets answers: what the prompt hook must add nothing for.
var offTopicPrompts = []string{
	"fix the failing test in parser.go",
	"run go vet and tell me what it says",
	"refactor this function to return an error instead of panicking",
	"what does this regular expression match?",
	"add a flag --verbose to the build script",
	"why is the CI pipeline red on main?",
	"write a unit test for the config loader",
	"rename the package to storage and update the imports",
	"how do I squash the last three commits?",
	"explain the difference between a mutex and a channel",
	"ช่วยแก้ bug ใน parser ให้หน่อย",
	"รัน test ทั้งหมดแล้วบอกผลด้วย",
	"อธิบายโค้ดนี้ให้ฟังหน่อย",
	"เขียน README ส่วนการติดตั้งใหม่",
	"ok continue",
	"yes please do that",
	"commit it",
	"ดีมาก ทำต่อเลย",
	"make the output JSON",
	"what time zone is the server in?",
}

// TestPromptRelevanceThreshold measures, for the evaluation sets' questions
// and for off-topic prompts, the top hit's Score and Match, and how often the
// top hit answers the question at or above each value: the table the prompt
// hook's threshold (memory.PromptRelevance) was chosen by, logged with -v.
// It fails when the threshold lets an off-topic prompt through, or keeps too
// few questions, or too few whose top hit answers them.
func TestPromptRelevanceThreshold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	model := memory.NewModel(defaultMemory(t))
	loc := evalLocation(t)
	for _, set := range memory.EvalSets(t) {
		db := loadEvalSet(t, set)
		type obs struct {
			score, lex float64
			answer     bool
		}
		var qs, off []obs
		for _, q := range set.Questions {
			hits, err := memory.Retrieve(ctx, db.pool, model, memory.RetrieveOptions{Text: q.Text, Limit: 3, Now: set.AskedAt(q), Location: loc})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) == 0 {
				qs = append(qs, obs{})
				continue
			}
			qs = append(qs, obs{hits[0].Score, hits[0].Match, slices.Contains(q.Answers, db.turns[hits[0].ID])})
		}
		now := set.AskedAt(set.Questions[0])
		for _, p := range offTopicPrompts {
			hits, err := memory.Retrieve(ctx, db.pool, model, memory.RetrieveOptions{Text: p, Limit: 3, Now: now, Location: loc})
			if err != nil {
				t.Fatal(err)
			}
			o := obs{}
			if len(hits) > 0 {
				o = obs{score: hits[0].Score, lex: hits[0].Match}
			}
			off = append(off, o)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d questions, %d off-topic prompts\n", set.Name, len(qs), len(off))
		for _, by := range []string{"score", "match"} {
			get := func(o obs) float64 {
				if by == "score" {
					return o.score
				}
				return o.lex
			}
			var cuts []float64
			for _, o := range append(slices.Clone(qs), off...) {
				cuts = append(cuts, get(o))
			}
			sort.Float64s(cuts)
			fmt.Fprintf(&b, "  by %s: threshold | questions kept | top hit answers, of kept | off-topic kept\n", by)
			for _, c := range []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2} {
				kept, right, offKept := 0, 0, 0
				for _, o := range qs {
					if get(o) >= c && get(o) > 0 {
						kept++
						if o.answer {
							right++
						}
					}
				}
				for _, o := range off {
					if get(o) >= c && get(o) > 0 {
						offKept++
					}
				}
				fmt.Fprintf(&b, "  %4.2f | %3d/%d | %.2f | %d/%d\n", c, kept, len(qs), float64(right)/float64(max(kept, 1)), offKept, len(off))
			}
		}
		t.Log(b.String())
		kept, right, offKept := 0, 0, 0
		for _, o := range qs {
			if o.lex >= memory.PromptRelevance {
				kept++
				if o.answer {
					right++
				}
			}
		}
		for _, o := range off {
			if o.lex >= memory.PromptRelevance {
				offKept++
			}
		}
		// The threshold was chosen on evaldev, where it must keep a third
		// of the questions, be right on two thirds of those and keep no
		// off-topic prompt. On eval, held out from that choice, it measured
		// 26 of 85 kept, 19 of them right, and no off-topic prompt kept
		// (2 of 20 before a prompt's weight had a floor, matchFloor): a
		// floor a little under that guards against losing more.
		// On evallong, whose questions are about one long English chat and
		// rarely share three rare words with a single turn, it measured 24
		// of 150 kept, 21 of them right, and one off-topic prompt kept:
		// "run go vet and tell me what it says" meets a turn in which a
		// physio says a long run hurt a shin (run and say, vet being
		// common there, where a cat goes to the vet). Its floor is that.
		var bad bool
		switch set.Name {
		case "evaldev":
			bad = offKept > 0 || kept*3 < len(qs) || right*3 < kept*2
		case "evallong":
			bad = offKept > 1 || kept*8 < len(qs) || right*3 < kept*2
		default:
			bad = offKept > 0 || kept*4 < len(qs) || right*3 < kept*2
		}
		if bad {
			t.Errorf("%s at Match >= %.2f: %d of %d questions kept, %d of %d answered by the top hit; %d of %d off-topic prompts kept",
				set.Name, memory.PromptRelevance, kept, len(qs), right, kept, offKept, len(off))
		}
	}
}

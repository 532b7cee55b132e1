package memory_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/memory"
)

func TestZZRanks(t *testing.T) {
	model := memory.NewModel(defaultMemory(t))
	for _, set := range memory.EvalSets(t) {
		if set.Name != "evaldev" {
			continue
		}
		db := loadEvalSet(t, set)
		for _, q := range set.Questions {
			var out []string
			for _, tune := range []string{os.Getenv("A"), os.Getenv("B")} {
				tm := map[string]float64{}
				for _, kv := range strings.Split(tune, ",") {
					var n string
					var v float64
					if kv != "" {
						fmt.Sscanf(strings.Replace(kv, "=", " ", 1), "%s %g", &n, &v)
						tm[n] = v
					}
				}
				hits, err := memory.RetrieveTuned(context.Background(), db.pool, model, memory.RetrieveOptions{Text: q.Text, Limit: 10, Kind: memory.KindConversations, Now: set.AskedAt(q), Location: evalLocation(t)}, tm)
				if err != nil {
					t.Fatal(err)
				}
				r := 0
				for i, h := range hits {
					for _, a := range q.Answers {
						if db.turns[h.ID] == a && r == 0 {
							r = i + 1
						}
					}
				}
				out = append(out, fmt.Sprint(r))
			}
			if out[0] != out[1] {
				fmt.Printf("%s %s/%s %v %s\n", q.ID, q.Type, q.Lang, out, q.Text)
			}
		}
	}
}

package memory

import (
	"context"
	"fmt"

	"github.com/angela-ai/angelad/internal/postgres"
)

// RetrieveTuned is Retrieve with some of the ranking's constants changed, by
// name, for measuring them on the evaluation sets.
func RetrieveTuned(ctx context.Context, db postgres.DB, model Model, o RetrieveOptions, tune map[string]float64) ([]Hit, error) {
	p := defaultRank()
	for name, v := range tune {
		f, ok := map[string]*float64{
			"k1": &p.k1, "b": &p.b, "before1": &p.before1, "before2": &p.before2, "after1": &p.after1,
			"after2": &p.after2, "session": &p.session, "rrfK": &p.rrfK, "lexical": &p.lexicalWeight,
			"near": &p.nearWeight, "time": &p.timeWeight, "semantic": &p.semanticWeight, "nudge": &p.nudge,
			"speaker": &p.speakerWeight, "matchFloor": &p.matchFloor,
		}[name]
		if !ok {
			return nil, fmt.Errorf("no ranking constant %q", name)
		}
		*f = v
	}
	return retrieve(ctx, db, model, o, p)
}

// IndexEvery is the index worker's idle period.
const IndexEvery = indexEvery

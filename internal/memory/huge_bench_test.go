package memory_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/memory"
)

// hugeBenchText is a message of a mebibyte in the fill's words (see
// fillSQL), Thai and English, as a pasted log would be: it holds every pair
// of adjacent characters of "phonexylo" (xylophone, next) but not the word.
func hugeBenchText() string {
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString("วันนี้พี่คิดถึงน้องมากเลยค่ะ the next memory worker fixed the bug xylophone today ")
	}
	return b.String()
}

// BenchmarkHugeMessage measures the reads of memory on two databases filled
// alike (ANGELA_BENCH_CONVERSATIONS and ANGELA_BENCH_EMOTIONS, see
// BenchmarkScale), the second holding one more message of a mebibyte, the
// newest and most important, so among the strongest memories, the session
// tail and the best retained: each op runs on both in turns, and reports
// its percentiles without (without-p50-ms, without-p99-ms) and with it
// (p50-ms, p99-ms).
//
//	go test ./internal/memory -run '^$' -bench BenchmarkHugeMessage -benchtime 30x
func BenchmarkHugeMessage(b *testing.B) {
	without := fillScale(b)
	with := fillScale(b)
	ctx := context.Background()
	if _, err := with.pool.Exec(ctx, `insert into conversations (conversation_id, session_id, speaker, message_text, importance_level, created_at)
		values ($1, 'huge', 'david', $2, 10, $3)`, uuid.New(), hugeBenchText(), with.now); err != nil {
		b.Fatal(err)
	}
	for {
		res, err := memory.IndexPending(ctx, with.pool, memory.MaxIndexBatch)
		if err != nil {
			b.Fatal(err)
		}
		if !res.More {
			break
		}
	}
	for _, s := range []*scale{without, with} {
		if _, err := s.pool.Exec(ctx, "vacuum analyze conversations, conversation_memory"); err != nil {
			b.Fatal(err)
		}
	}
	loc := bangkokB(b)
	ops := []struct {
		name string
		run  func(s *scale) error
	}{
		{"recall_peek", func(s *scale) error {
			_, err := memory.Recall(ctx, s.pool, s.model, memory.RecallOptions{MaxChars: memory.DefaultRecallChars,
				Peek: true, Now: s.now, Location: loc, Companion: companion})
			return err
		}},
		{"search_absent_word", func(s *scale) error {
			_, err := memory.Search(ctx, s.pool, s.model, memory.SearchOptions{Text: "phonexylo", Limit: 20, Now: s.now})
			return err
		}},
		{"search_rare_word", func(s *scale) error {
			_, err := memory.Search(ctx, s.pool, s.model, memory.SearchOptions{Text: "มะละกอ", Limit: 20, Now: s.now})
			return err
		}},
		{"question_english", func(s *scale) error {
			_, err := memory.Retrieve(ctx, s.pool, s.model, memory.RetrieveOptions{Text: scaleQuestions[1].text, Limit: 10,
				Now: s.now, Location: loc})
			return err
		}},
		{"question_thai_prompt_hook", func(s *scale) error {
			// As the prompt hook asks: its lines show 500 characters.
			_, err := memory.Retrieve(ctx, s.pool, s.model, memory.RetrieveOptions{Text: scaleQuestions[0].text, Limit: 10,
				Now: s.now, Location: loc, TextChars: 1000})
			return err
		}},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			var tookWithout, tookWith []time.Duration
			for i := 0; b.Loop(); i++ {
				for j := range 2 {
					// Each database goes first in turn.
					s, took := without, &tookWithout
					if (i+j)%2 == 1 {
						s, took = with, &tookWith
					}
					start := time.Now()
					if err := op.run(s); err != nil {
						b.Fatal(err)
					}
					*took = append(*took, time.Since(start))
				}
			}
			report := func(took []time.Duration, prefix string) {
				slices.Sort(took)
				at := func(p float64) float64 {
					return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
				}
				b.ReportMetric(at(0.5), prefix+"p50-ms")
				b.ReportMetric(at(0.99), prefix+"p99-ms")
			}
			report(tookWithout, "without-")
			report(tookWith, "")
			b.ReportMetric(0, "ns/op")
		})
	}
}

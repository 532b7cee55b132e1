package spool_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/spool"
)

// BenchmarkAdd measures one durable spool write of an emotion-sized record:
// temporary file, fsync, rename, directory fsync.
func BenchmarkAdd(b *testing.B) {
	sp := spool.New(b.TempDir(), nil)
	rec := note{Body: "David said he misses Angela; พี่ ก็ คิดถึงเหมือน กัน ค่ะ 💕 " +
		"and she felt it for the rest of the evening, which is why it matters."}
	for b.Loop() {
		rec.ID = uuid.New()
		if _, err := sp.Add(spool.KindEmotion, rec.ID, rec, "cannot connect to the database: connection refused"); err != nil {
			b.Fatal(err)
		}
	}
}

package backup_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/backup"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// BenchmarkExportImport exports 50,000 messages and 5,000 emotions, with
// their state rows (110,000 rows), and imports the file into an empty
// database: rows a second each way.
func BenchmarkExportImport(b *testing.B) {
	ctx := context.Background()
	src := pgtest.Conn(b, pgtest.DB(b))
	if _, err := src.Exec(ctx, `with c as (insert into conversations (conversation_id, speaker, message_text, importance_level, created_at, search_grams)
select gen_random_uuid(), 'david', 'ข้อความที่ ' || i || ', said with some words around it 🌊', 5,
	'2026-01-01T00:00:00Z'::timestamptz + i * interval '1 second', '{}'
from generate_series(1, 50000) i returning conversation_id, created_at)
insert into conversation_memory (id, weight, made_at, score) select conversation_id, 0.5, created_at, 0.5 from c;
with e as (insert into angela_emotions (emotion_id, emotion, intensity, context, felt_at, search_grams)
select gen_random_uuid(), 'คิดถึง', 7, 'พี่ไปทำงาน ' || i, '2026-01-01T00:00:00Z'::timestamptz + i * interval '1 minute', '{}'
from generate_series(1, 5000) i returning emotion_id, felt_at)
insert into emotion_memory (id, weight, made_at, score) select emotion_id, 0.7, felt_at, 0.7 from e`); err != nil {
		b.Fatal(err)
	}
	const rows = 110000
	var buf bytes.Buffer
	if _, err := backup.Export(ctx, src, &buf, backup.ExportOptions{Now: time.Now()}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("export", func(b *testing.B) {
		for range b.N {
			if _, err := backup.Export(ctx, src, io.Discard, backup.ExportOptions{Now: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		b.SetBytes(int64(len(data)))
	})
	path := filepath.Join(b.TempDir(), "memory.jsonl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run("import", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			dst := pgtest.Conn(b, pgtest.DB(b))
			b.StartTimer()
			start := time.Now()
			if _, err := backup.Import(ctx, dst, path, backup.ImportOptions{}); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(rows*b.N)/elapsed.Seconds(), "rows/s")
	})
}

package conversation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// Beginner starts transactions: *pgx.Conn and *pgxpool.Pool both do.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Offset is how far one transcript file has been read; it is a row of
// transcript_offsets.
type Offset struct {
	Path          string
	Device, Inode uint64
	// Size is the file's size when it was last read.
	Size int64
	// ReadOffset is the byte just after the last complete line consumed.
	ReadOffset int64
	// Lines is the number of complete lines before ReadOffset.
	Lines int64
	// Fingerprint is up to fingerprintBytes bytes just before ReadOffset.
	Fingerprint []byte
	// Generation counts the re-reads of the path from its start.
	Generation int32
}

// fingerprintBytes is how much of a file before its offset is kept to notice
// that the file was rewritten in place under the same inode.
const fingerprintBytes = 64

// Batch limits: one transaction stores at most this many rows, or the rows of
// at most this many bytes of transcript.
const (
	batchRows  = 5000
	batchBytes = 64 << 20
)

// Counts are what a read did. They add up over files and batches.
type Counts struct {
	Files int `json:"files"`
	// Lines and Bytes are the complete lines and their bytes consumed.
	Lines int64 `json:"lines_read"`
	Bytes int64 `json:"bytes_read"`
	// Speech is the speech lines among them; each is Stored or Present.
	Speech  int64 `json:"speech_lines"`
	Stored  int64 `json:"messages_stored"`
	Present int64 `json:"already_present"`
	// Malformed lines are not valid JSON; TooLarge ones exceed MaxLineBytes.
	Malformed int64 `json:"malformed"`
	TooLarge  int64 `json:"too_large"`
	// Refused are speech lines the database refused for good (see
	// spool.Permanent: a value an adopted database's narrower column or
	// check does not take, say); they are logged and set aside, so that the
	// lines after them are stored.
	Refused int64 `json:"refused"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Files += o.Files
	c.Lines += o.Lines
	c.Bytes += o.Bytes
	c.Speech += o.Speech
	c.Stored += o.Stored
	c.Present += o.Present
	c.Malformed += o.Malformed
	c.TooLarge += o.TooLarge
	c.Refused += o.Refused
}

// FileError is a transcript that could not be read (as opposed to a database
// that could not be written): retrying before the file changes does not help.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("transcript %s: %v", e.Path, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// Capture reads transcript files into the conversations table, exactly once,
// from where the last reader of each file stopped. The daemon's worker, import
// and audit share it, and so share the offsets.
type Capture struct {
	DB  Beginner
	Log *zap.Logger
	// IncludeSidechains stores the lines of subagent conversations too.
	IncludeSidechains bool
	// Now gives the time of a speech line without a timestamp.
	Now func() time.Time
	// BatchRows is the most rows one transaction stores; 0 means batchRows.
	BatchRows int
}

// batchDone reports a committed batch: what it added, and the last message
// it stored (nil when none).
type batchDone func(delta Counts, last *Message)

// Ingest reads path from prev (nil: never read) to its current end and
// stores its speech lines, committing the new offset with every batch of
// rows. It returns the offset now stored. A partial last line is left for the
// next call. A file that is smaller than prev's offset, has another identity,
// or whose bytes before the offset changed is read again from its start;
// rows already stored are not stored twice.
func (c *Capture) Ingest(ctx context.Context, path string, prev *Offset, done batchDone) (Offset, error) {
	f, err := os.Open(path)
	if err != nil {
		return Offset{}, &FileError{path, err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Offset{}, &FileError{path, err}
	}
	if !fi.Mode().IsRegular() {
		return Offset{}, &FileError{path, errors.New("not a regular file")}
	}
	dev, ino := fileID(fi)
	size := fi.Size()
	cur := Offset{Path: path, Device: dev, Inode: ino, Size: size}
	if prev != nil {
		cur.Generation = prev.Generation
		reason, err := c.resumable(f, prev, dev, ino, size)
		if err != nil {
			return Offset{}, &FileError{path, err}
		}
		if reason == "" {
			cur.ReadOffset, cur.Lines, cur.Fingerprint = prev.ReadOffset, prev.Lines, prev.Fingerprint
		} else {
			cur.Generation++
			c.Log.Info("transcript changed under its offset: reading it again from the start",
				zap.String("file", path), zap.String("reason", reason), zap.Int64("offset", prev.ReadOffset))
		}
	}
	if prev != nil && cur.Generation == prev.Generation && size == cur.ReadOffset && size == prev.Size {
		return cur, nil // nothing new
	}

	lr := newLineReader(io.NewSectionReader(f, cur.ReadOffset, size-cur.ReadOffset), cur.ReadOffset, cur.Lines, MaxLineBytes, readBufferBytes)
	var (
		batch      []Message
		delta      Counts
		batchStart = cur.ReadOffset
		textBytes  int
	)
	flush := func() error {
		next := cur
		next.ReadOffset, next.Lines = lr.offset, lr.line
		fp, err := fingerprint(f, next.ReadOffset)
		if err != nil {
			return &FileError{path, err}
		}
		next.Fingerprint = fp
		stored, refused, last, err := c.commit(ctx, next, batch)
		if err != nil {
			return err
		}
		delta.Stored, delta.Refused = stored, refused
		delta.Present = int64(len(batch)) - stored - refused
		delta.Bytes = next.ReadOffset - batchStart
		if done != nil {
			done(delta, last)
		}
		cur, batch, delta, batchStart, textBytes = next, batch[:0], Counts{}, next.ReadOffset, 0
		return nil
	}
	for {
		b, tooLarge, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cur, &FileError{path, err}
		}
		delta.Lines++
		switch {
		case tooLarge:
			delta.TooLarge++
			c.Log.Warn("transcript line too large: skipped", zap.String("file", path), zap.Int64("line", lr.line),
				zap.Int64("bytes_over", lr.offset-batchStart), zap.Int("limit", MaxLineBytes))
		default:
			m, ok, err := parseLine(b, c.IncludeSidechains, c.Now)
			if err != nil {
				delta.Malformed++
				c.Log.Warn("transcript line is not valid JSON: skipped", zap.String("file", path),
					zap.Int64("line", lr.line), zap.Error(err))
				continue
			}
			if !ok {
				continue
			}
			delta.Speech++
			if m.CutFrom > 0 {
				c.Log.Warn("message cut at the size limit", zap.String("file", path), zap.Int64("line", lr.line),
					zap.Int("bytes", m.CutFrom), zap.Int("limit", text.MaxTextBytes))
			}
			m.line = lr.line
			batch = append(batch, m)
			textBytes += len(m.Text)
		}
		if len(batch) >= c.batchRows() || textBytes >= batchBytes || lr.offset-batchStart >= batchBytes {
			if err := flush(); err != nil {
				return cur, err
			}
		}
	}
	if prev == nil || lr.offset != cur.ReadOffset || cur.Generation != prev.Generation ||
		cur.Device != prev.Device || cur.Inode != prev.Inode {
		if err := flush(); err != nil {
			return cur, err
		}
	}
	return cur, nil
}

// IngestJob is one transcript for IngestFiles: its path and what is stored of
// it (nil: never read).
type IngestJob struct {
	Path string
	Prev *Offset
	// Load, when set, gives Prev just before the file is read, for a reader
	// that does not keep the offsets itself while another one may move them.
	Load func(context.Context) (*Offset, error)
}

// IngestFiles ingests the jobs, starting them in order, up to parallel of
// them at once, each in transactions of its own (so c.DB must be a pool when
// parallel is above 1). Storing a batch is CPU-bound in the server: on a
// machine of several cores, files read side by side are stored about as many
// times as fast (a backfill, an import of many files). Each file's offset is
// committed with its own rows, so the files stay independent: a crash at any
// point leaves each one resumable exactly where its last batch ended.
//
// done gets every committed batch of job i, and finished what Ingest (or the
// job's Load) returned for it; they are called one at a time, never
// concurrently. An error from finished stops the jobs not started, cancels
// those running (which keep what they committed) and is returned.
func (c *Capture) IngestFiles(ctx context.Context, jobs []IngestJob, parallel int,
	done func(i int, delta Counts, last *Message), finished func(i int, off Offset, err error) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	var mu sync.Mutex
	for i, j := range jobs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // stopped while it waited for its turn
			}
			prev, err := j.Prev, error(nil)
			if j.Load != nil {
				prev, err = j.Load(gctx)
			}
			var off Offset
			if err == nil {
				off, err = c.Ingest(gctx, j.Path, prev, func(d Counts, last *Message) {
					mu.Lock()
					defer mu.Unlock()
					done(i, d, last)
				})
			}
			mu.Lock()
			defer mu.Unlock()
			return finished(i, off, err)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Stopped before starting them all, without an error of a job's.
	return ctx.Err()
}

func (c *Capture) batchRows() int {
	if c.BatchRows > 0 {
		return c.BatchRows
	}
	return batchRows
}

// resumable says why reading cannot resume at prev's offset ("" when it can).
func (c *Capture) resumable(f *os.File, prev *Offset, dev, ino uint64, size int64) (string, error) {
	switch {
	case dev != prev.Device || ino != prev.Inode:
		return "replaced by a new file", nil
	case size < prev.ReadOffset:
		return "shrunk", nil
	}
	fp, err := fingerprint(f, prev.ReadOffset)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(fp, prev.Fingerprint) {
		return "rewritten", nil
	}
	return "", nil
}

// fingerprint returns the bytes of f just before offset.
func fingerprint(f *os.File, offset int64) ([]byte, error) {
	start := max(offset-fingerprintBytes, 0)
	buf := make([]byte, offset-start)
	if _, err := f.ReadAt(buf, start); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
		if errors.Is(err, io.EOF) {
			return nil, nil // shrunk since: no match
		}
		return nil, err
	}
	return buf, nil
}

// insertMessagesSQL stores a batch in one statement. The rows' search grams
// (text.Grams) come as one array, $10, each row's its slice lo:hi (1-based,
// empty when lo > hi): an array parameter must be rectangular. A message already
// stored (the same uuid read from another file, or read before), or forgotten
// on request (see postgres.TombstonesSetting), is skipped; each new one gets
// its state row in the same statement.
// created_at is written as timestamptz, which a legacy TIMESTAMP column stores
// as the wall time in the session's time zone, as Save does.
const insertMessagesSQL = `with ins as (
	insert into conversations
		(conversation_id, session_id, speaker, message_text, importance_level, created_at, project_dir, source_file,
		 search_grams)
	select id, nullif(session, ''), speaker, txt, 5, at, nullif(project, ''), $7, ($10::int4[])[lo:hi]
	from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $8::int4[], $9::int4[])
		as m(id, session, speaker, txt, at, project, lo, hi)
	where not exists (select from memory_tombstones t where t.id = m.id)
	on conflict (conversation_id) do nothing
	returning conversation_id, importance_level, created_at
), states as (
	` + memory.InsertConversationStatesSQL + `
)
select count(*) from ins`

// upsertOffsetSQL records a file's offset. An older pass (a lower generation,
// or a smaller offset of the same generation, from a concurrent reader) never
// moves it back.
const upsertOffsetSQL = `insert into transcript_offsets
	(path, device, inode, size, read_offset, lines, fingerprint, generation, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, now())
on conflict (path) do update set
	device = excluded.device, inode = excluded.inode, size = excluded.size,
	read_offset = excluded.read_offset, lines = excluded.lines,
	fingerprint = excluded.fingerprint, generation = excluded.generation, updated_at = now()
where excluded.generation > transcript_offsets.generation
	or (excluded.generation = transcript_offsets.generation
		and excluded.read_offset >= transcript_offsets.read_offset)`

// commit stores rows and the offset after them in one transaction. When the
// database refuses the batch for good (spool.Permanent), it stores the rows
// one by one instead, each under a savepoint, and sets aside those refused:
// each is logged with its file and line and counted, and the offset moves past
// it with the others, so that one row the database will never take does not
// hold back the transcript for ever.
func (c *Capture) commit(ctx context.Context, off Offset, rows []Message) (stored, refused int64, last *Message, err error) {
	stored, last, err = c.commitBatch(ctx, off, rows)
	if err == nil || len(rows) == 0 || !spool.Permanent(err) || ctx.Err() != nil {
		return stored, 0, last, err
	}
	c.Log.Warn("transcript batch refused by the database: storing its messages one by one",
		zap.String("file", off.Path), zap.Int("messages", len(rows)), zap.Error(err))
	tx, err := c.DB.Begin(ctx)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("store transcript %s: %w", off.Path, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// In the order of their ids, as insertMessages stores a batch; last is
	// still the last in the file of those stored.
	for _, i := range idOrder(rows) {
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			n, err := insertMessages(ctx, sp, off.Path, rows[i:i+1])
			if err == nil && n > 0 {
				stored += n
				if last == nil || rows[i].line > last.line {
					last = &rows[i]
				}
			}
			return err
		})
		if err == nil {
			continue
		}
		if !spool.Permanent(err) || ctx.Err() != nil {
			return 0, 0, nil, fmt.Errorf("store transcript %s: %w", off.Path, err)
		}
		refused++
		c.Log.Warn("transcript message refused by the database: set aside", zap.String("file", off.Path),
			zap.Int64("line", rows[i].line), zap.Stringer("id", rows[i].ID), zap.Error(err))
	}
	if err := c.storeOffset(ctx, tx, off); err != nil {
		return 0, 0, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, nil, fmt.Errorf("store transcript %s: %w", off.Path, err)
	}
	return stored, refused, last, nil
}

// commitBatch stores rows and the offset after them in one transaction.
func (c *Capture) commitBatch(ctx context.Context, off Offset, rows []Message) (stored int64, last *Message, err error) {
	tx, err := c.DB.Begin(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("store transcript %s: %w", off.Path, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if len(rows) > 0 {
		if stored, err = insertMessages(ctx, tx, off.Path, rows); err != nil {
			return 0, nil, fmt.Errorf("store transcript %s: %w", off.Path, err)
		}
		last = &rows[len(rows)-1]
	}
	if err := c.storeOffset(ctx, tx, off); err != nil {
		return 0, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, nil, fmt.Errorf("store transcript %s: %w", off.Path, err)
	}
	if stored == 0 {
		last = nil
	}
	return stored, last, nil
}

func (c *Capture) storeOffset(ctx context.Context, tx pgx.Tx, off Offset) error {
	if _, err := tx.Exec(ctx, upsertOffsetSQL, off.Path, int64(off.Device), int64(off.Inode), off.Size,
		off.ReadOffset, off.Lines, off.Fingerprint, off.Generation); err != nil {
		return fmt.Errorf("store transcript offset %s: %w", off.Path, err)
	}
	return nil
}

// idOrder returns the indexes of rows in the order of their ids, those of the
// same id in the order of the file, so that the first of them is the one
// stored.
func idOrder(rows []Message) []int {
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return bytes.Compare(rows[a].ID[:], rows[b].ID[:]) })
	return order
}

// insertMessages stores rows read from path in one statement and returns how
// many were new. The rows go in the order of their ids: two transactions
// storing some of the same messages (two copies of a history, read at once by
// the backfill, or by the daemon and import) then take their keys in the same
// order, and the second waits for the first instead of deadlocking with it.
func insertMessages(ctx context.Context, tx pgx.Tx, path string, rows []Message) (stored int64, err error) {
	sorted := make([]Message, len(rows))
	for k, i := range idOrder(rows) {
		sorted[k] = rows[i]
	}
	rows = sorted
	// [16]byte encodes directly; uuid.UUID would go through its text form.
	ids := make([][16]byte, len(rows))
	sessions := make([]string, len(rows))
	speakers := make([]string, len(rows))
	texts := make([]string, len(rows))
	ats := make([]time.Time, len(rows))
	projects := make([]string, len(rows))
	for i, m := range rows {
		ids[i], sessions[i], speakers[i], texts[i], ats[i], projects[i] =
			m.ID, m.SessionID, m.Speaker, m.Text, m.CreatedAt, m.ProjectDir
	}
	grams, los, his := text.GramRuns(len(rows), func(i int) []string { return texts[i : i+1] })
	err = tx.QueryRow(ctx, insertMessagesSQL, ids, sessions, speakers, texts, ats, projects, path,
		los, his, grams).Scan(&stored)
	return stored, err
}

const selectOffsetsSQL = `select path, device, inode, size, read_offset, lines, fingerprint, generation
from transcript_offsets`

// LoadOffsets returns every stored offset by path.
func LoadOffsets(ctx context.Context, q postgres.Querier) (map[string]*Offset, error) {
	return loadOffsets(ctx, q, selectOffsetsSQL)
}

// LoadOffset returns the stored offset of path, nil when it has none.
func LoadOffset(ctx context.Context, q postgres.Querier, path string) (*Offset, error) {
	m, err := loadOffsets(ctx, q, selectOffsetsSQL+` where path = $1`, path)
	if err != nil {
		return nil, err
	}
	return m[path], nil
}

func loadOffsets(ctx context.Context, q postgres.Querier, sql string, args ...any) (map[string]*Offset, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("load transcript offsets: %w", err)
	}
	out := map[string]*Offset{}
	var (
		o        Offset
		dev, ino int64
	)
	_, err = pgx.ForEachRow(rows, []any{&o.Path, &dev, &ino, &o.Size, &o.ReadOffset, &o.Lines, &o.Fingerprint, &o.Generation}, func() error {
		o.Device, o.Inode = uint64(dev), uint64(ino)
		cp := o
		out[o.Path] = &cp
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load transcript offsets: %w", err)
	}
	return out, nil
}

// ForgetOffset deletes the offset of a transcript that no longer exists.
func ForgetOffset(ctx context.Context, q postgres.Querier, path string) error {
	if _, err := q.Exec(ctx, `delete from transcript_offsets where path = $1`, path); err != nil {
		return fmt.Errorf("forget transcript offset %s: %w", path, err)
	}
	return nil
}

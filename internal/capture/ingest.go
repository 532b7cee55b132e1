// Package capture owns the capture of conversations from the assistant's
// transcript files (Claude Code's JSONL): the line reader and JSON scanner,
// the rules that tell a speech line from the rest, the ingest that stores each
// speech line exactly once with the file's offset (transcript_offsets), the
// import and audit commands' reading of whole files, and the daemon's capture
// worker that tails the transcripts.
//
// It reads formats it does not own: what it cannot read is skipped, counted
// and logged, never stored half. What a line holds that angelad never keeps
// (secrets, David's <private> passages) is removed by internal/redact's rules
// as the line is read, before anything of it is stored or logged. The rows themselves are written by the
// conversation package (conversation.SaveCaptured), which owns every write to
// the conversations table.
package capture

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

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

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
	// postgres.RowRejected: a value an adopted database's narrower column or
	// check does not take, say); they are logged and set aside, so that the
	// lines after them are stored.
	Refused int64 `json:"refused"`
	// APIErrors are the error messages Claude Code wrote as the assistant's
	// ("API Error: ..."), and Invisible the texts without a visible
	// character: both skipped, not speech.
	APIErrors int64 `json:"api_errors"`
	Invisible int64 `json:"invisible"`
	// TimesReplaced are speech lines stored with the time they were read
	// because their own was before 1970, more than a day ahead, or not a
	// time (see Message.TimeGiven).
	TimesReplaced int64 `json:"times_replaced"`
	// Redacted are speech lines kept with less than the transcript has:
	// secrets replaced by markers, or <private> passages removed (see
	// Message.clean). Private are David's lines of nothing but private
	// passages: skipped, not speech.
	Redacted int64 `json:"redacted"`
	Private  int64 `json:"private"`
	// Secrets counts the secrets the Redacted lines had, by kind.
	Secrets redact.Found `json:"-"`
}

// Skipped is how many lines were read and not stored for what they are:
// malformed, too large, refused, API errors, invisible texts and all private.
func (c Counts) Skipped() int64 {
	return c.Malformed + c.TooLarge + c.Refused + c.APIErrors + c.Invisible + c.Private
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
	c.APIErrors += o.APIErrors
	c.Invisible += o.Invisible
	c.TimesReplaced += o.TimesReplaced
	c.Redacted += o.Redacted
	c.Private += o.Private
	c.Secrets.Add(o.Secrets)
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
	DB  postgres.DB
	Log *zap.Logger
	// IncludeSidechains stores the lines of subagent conversations too.
	IncludeSidechains bool
	// Now gives the time of a speech line without a timestamp.
	Now func() time.Time
	// BatchRows is the most rows one transaction stores; 0 means batchRows.
	BatchRows int
	// Redactor removes what is never kept from every line before it is
	// stored or logged (see Message.clean); nil applies the built-in rules.
	Redactor *redact.Redactor

	// told holds the notices already logged, by file and kind, so that a
	// transcript full of one oddity logs it once, not on every read.
	toldMu sync.Mutex
	told   map[notice]bool
}

// notice is a kind of line a file had that is logged once per file.
type notice struct {
	path string
	kind string
}

// once reports whether kind is yet to be logged for path, and marks it told.
func (c *Capture) once(path, kind string) bool {
	c.toldMu.Lock()
	defer c.toldMu.Unlock()
	if c.told == nil {
		c.told = map[notice]bool{}
	}
	n := notice{path, kind}
	if c.told[n] {
		return false
	}
	c.told[n] = true
	return true
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
			m, kind, err := parseLine(b, c.IncludeSidechains, c.Now, c.Redactor)
			if err != nil {
				delta.Malformed++
				c.Log.Warn("transcript line is not valid JSON: skipped", zap.String("file", path),
					zap.Int64("line", lr.line), zap.Error(err))
				continue
			}
			switch kind {
			case otherLine:
				continue
			case apiErrorLine:
				delta.APIErrors++
				if c.once(path, "api error") {
					c.Log.Info("transcript line is an error Claude Code wrote, not Angela's words: skipped (further ones in this file are counted, not logged)",
						zap.String("file", path), zap.Int64("line", lr.line), zap.String("text", text.Preview(m.Text, 80)))
				}
				continue
			case invisibleLine:
				delta.Invisible++
				if c.once(path, "invisible") {
					c.Log.Warn("transcript line has no visible character: skipped (further ones in this file are counted, not logged)",
						zap.String("file", path), zap.Int64("line", lr.line), zap.String("text", text.Quote(m.Text)))
				}
				continue
			case privateLine:
				delta.Private++
				if c.once(path, "private") {
					c.Log.Info("transcript line is all <private>: skipped (further ones in this file are counted, not logged)",
						zap.String("file", path), zap.Int64("line", lr.line), zap.Int("passages", m.Cleaned.PrivatePassages))
				}
				continue
			}
			if m.Cleaned.Changed() {
				delta.Redacted++
				delta.Secrets.Add(m.Cleaned.Found)
				if c.once(path, "redacted") {
					// The kinds and how many, never what they were.
					c.Log.Info("transcript line stored with secrets redacted or <private> passages removed (further ones in this file are counted, not logged)",
						zap.String("file", path), zap.Int64("line", lr.line), zap.Object("redacted", m.Cleaned.Found),
						zap.Int("private_passages", m.Cleaned.PrivatePassages))
				}
			}
			if m.TimeGiven != "" {
				delta.TimesReplaced++
				if c.once(path, "time") {
					c.Log.Warn("transcript line's time is before 1970, more than a day ahead or not a time: stored with the time it was read (further ones in this file are counted, not logged)",
						zap.String("file", path), zap.Int64("line", lr.line), zap.String("timestamp", m.TimeGiven),
						zap.Time("stored_as", m.CreatedAt))
				}
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
// database refuses the batch for good (postgres.RowRejected), it stores the rows
// one by one instead, each under a savepoint, and sets aside those refused:
// each is logged with its file and line and counted, and the offset moves past
// it with the others, so that one row the database will never take does not
// hold back the transcript for ever.
func (c *Capture) commit(ctx context.Context, off Offset, rows []Message) (stored, refused int64, last *Message, err error) {
	stored, last, err = c.commitBatch(ctx, off, rows)
	if err == nil || len(rows) == 0 || !postgres.RowRejected(err) || ctx.Err() != nil {
		return stored, 0, last, err
	}
	c.Log.Warn("transcript batch refused by the database: storing its messages one by one",
		zap.String("file", off.Path), zap.Int("messages", len(rows)), zap.Error(err))
	tx, err := c.DB.Begin(ctx)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("store transcript %s: %w", off.Path, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// In the order of their ids, as conversation.SaveCaptured stores a batch; last is
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
		if !postgres.RowRejected(err) || ctx.Err() != nil {
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
// many were new (see conversation.SaveCaptured).
func insertMessages(ctx context.Context, tx pgx.Tx, path string, rows []Message) (stored int64, err error) {
	msgs := make([]conversation.Captured, len(rows))
	for i, m := range rows {
		msgs[i] = conversation.Captured{ID: m.ID, SessionID: m.SessionID, Speaker: m.Speaker, Text: m.Text,
			CreatedAt: m.CreatedAt, ProjectDir: m.ProjectDir}
	}
	return conversation.SaveCaptured(ctx, tx, path, msgs)
}

const selectOffsetsSQL = `select path, device, inode, size, read_offset, lines, fingerprint, generation
from transcript_offsets`

// LoadOffsets returns every stored offset by path.
func LoadOffsets(ctx context.Context, q postgres.DB) (map[string]*Offset, error) {
	return loadOffsets(ctx, q, selectOffsetsSQL)
}

// LoadOffset returns the stored offset of path, nil when it has none.
func LoadOffset(ctx context.Context, q postgres.DB, path string) (*Offset, error) {
	m, err := loadOffsets(ctx, q, selectOffsetsSQL+` where path = $1`, path)
	if err != nil {
		return nil, err
	}
	return m[path], nil
}

func loadOffsets(ctx context.Context, q postgres.DB, sql string, args ...any) (map[string]*Offset, error) {
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
func ForgetOffset(ctx context.Context, q postgres.DB, path string) error {
	if _, err := q.Exec(ctx, `delete from transcript_offsets where path = $1`, path); err != nil {
		return fmt.Errorf("forget transcript offset %s: %w", path, err)
	}
	return nil
}

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// Transcript is one transcript file to read.
type Transcript struct {
	Path    string
	Size    int64
	ModTime time.Time
}

// PathError is a path given to import or audit that cannot be used: the
// user's to fix.
type PathError struct {
	Path    string
	Problem string
}

func (e *PathError) Error() string { return e.Path + ": " + e.Problem }

// FindTranscripts lists the transcripts under paths: a file as it is, a
// directory's *.jsonl files at any depth. They come oldest first, each once,
// by canonical path. A path that does not exist is a *PathError.
func FindTranscripts(paths []string) ([]Transcript, error) {
	seen := map[string]bool{}
	var out []Transcript
	add := func(path string, fi fs.FileInfo) {
		c := CanonicalPath(path)
		if !seen[c] {
			seen[c] = true
			out = append(out, Transcript{Path: c, Size: fi.Size(), ModTime: fi.ModTime()})
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, &PathError{Path: p, Problem: "no such file or directory (give transcript files or directories of them)"}
		}
		if !fi.IsDir() {
			if !fi.Mode().IsRegular() {
				return nil, &PathError{Path: p, Problem: "not a regular file or a directory"}
			}
			add(p, fi)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".jsonl") {
				info, err := d.Info()
				if err != nil {
					return err
				}
				add(path, info)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list transcripts in %s: %w", p, err)
		}
	}
	sortOldestFirst(out)
	return out, nil
}

// GlobTranscripts lists the transcripts the globs match, oldest first.
func GlobTranscripts(patterns []string) []Transcript {
	seen := map[string]bool{}
	var out []Transcript
	for _, p := range patterns {
		matches, _ := filepath.Glob(p)
		for _, m := range matches {
			fi, err := os.Stat(m)
			c := CanonicalPath(m)
			if err != nil || !fi.Mode().IsRegular() || seen[c] {
				continue
			}
			seen[c] = true
			out = append(out, Transcript{Path: c, Size: fi.Size(), ModTime: fi.ModTime()})
		}
	}
	sortOldestFirst(out)
	return out
}

func sortOldestFirst(l []Transcript) {
	slices.SortStableFunc(l, func(a, b Transcript) int {
		if c := a.ModTime.Compare(b.ModTime); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
}

// ImportResult is what Import did.
type ImportResult struct {
	Counts
	// SecretsRedacted counts the secrets of the Redacted lines by kind, the
	// kinds not found left out; absent when there were none.
	SecretsRedacted map[string]int `json:"secrets_redacted,omitempty"`
	// Unreadable lists the transcripts that could not be read, with why.
	Unreadable []string `json:"unreadable,omitempty"`
}

// Import reads the transcripts from their stored offsets, as the daemon does,
// so a file or part of one already read by either adds nothing. It reads
// up to parallel of them at once (see IngestFiles), so db must be a pool when
// parallel is above 1. progress, when set, gets the bytes read of each
// committed batch, and the bytes a file had that were already read before;
// it may be called from several goroutines, one at a time.
func (c *Capture) Import(ctx context.Context, db postgres.DB, parallel int, files []Transcript, progress func(bytes int64)) (ImportResult, error) {
	c.DB = db
	var (
		res ImportResult
		mu  sync.Mutex // progress's
	)
	report := func(n int64) {
		if progress != nil {
			mu.Lock()
			defer mu.Unlock()
			progress(n)
		}
	}
	jobs := make([]IngestJob, len(files))
	for i, f := range files {
		jobs[i] = IngestJob{Path: f.Path, Load: func(ctx context.Context) (*Offset, error) {
			// Read just before the file, as the daemon may have read on.
			prev, err := LoadOffset(ctx, db, f.Path)
			if prev != nil {
				report(min(prev.ReadOffset, f.Size))
			}
			return prev, err
		}}
	}
	err := c.IngestFiles(ctx, jobs, parallel,
		func(_ int, d Counts, _ *Message) {
			res.Add(d)
			report(d.Bytes)
		},
		func(_ int, _ Offset, err error) error {
			res.Files++
			var fe *FileError
			if errors.As(err, &fe) {
				res.Unreadable = append(res.Unreadable, text.OneLine(err.Error()))
				return nil
			}
			return err
		})
	slices.Sort(res.Unreadable) // by path: side by side, they fail in no set order
	res.SecretsRedacted = res.Secrets.Map()
	return res, err
}

// Missing is a speech line of a transcript that is not in the database.
type Missing struct {
	File           string    `json:"file"`
	Line           int64     `json:"line"`
	SessionID      string    `json:"session_id"`
	Speaker        string    `json:"speaker"`
	CreatedAt      time.Time `json:"created_at"`
	ConversationID uuid.UUID `json:"conversation_id"`
	Preview        string    `json:"preview"`
}

// SessionAudit counts one session's speech lines in the window.
type SessionAudit struct {
	SessionID string    `json:"session_id"`
	Speech    int       `json:"speech_lines"`
	Stored    int       `json:"stored"`
	Missing   int       `json:"missing"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

// UnreadableLine is a line of a transcript that could not be read: speech in
// it would be neither stored nor known to be missing.
type UnreadableLine struct {
	File    string `json:"file"`
	Line    int64  `json:"line"`
	Problem string `json:"problem"`
}

// AuditReport is what Audit found.
type AuditReport struct {
	Since       time.Time      `json:"since"`
	Transcripts int            `json:"transcripts"`
	Speech      int            `json:"speech_lines"`
	Stored      int            `json:"stored"`
	Missing     []Missing      `json:"missing"`
	Sessions    []SessionAudit `json:"sessions"`
	// UnreadableLines lists every line of the transcripts read that could not
	// be read (not valid JSON, or longer than MaxLineBytes), in file order.
	UnreadableLines []UnreadableLine `json:"unreadable_lines"`
	// APIErrors and Invisible count the lines of the window that the capture
	// skips, as it does: Claude Code's own error messages, and texts without
	// a visible character. They are not speech, so never missing.
	APIErrors int `json:"api_error_lines"`
	Invisible int `json:"invisible_lines"`
	// Private counts David's lines of nothing but <private> passages, which
	// the capture skips too: never missing. Redacted counts the speech lines
	// (among Speech) whose text is kept with secrets redacted or private
	// passages removed: they are found by id as any other line, so a stored
	// one is never missing for holding less than the transcript.
	Private  int `json:"private_lines"`
	Redacted int `json:"redacted_lines"`
	// Unreadable lists the transcripts that could not be read, with why.
	Unreadable []string `json:"unreadable,omitempty"`
}

// auditChunk is how many ids one lookup asks for.
const auditChunk = 10000

// Audit reads the transcripts whole, ignoring the offsets, and reports every
// speech line said since since that is not in the database, and every line
// it could not read. A message found in several files counts once, at its
// first place. Lines are judged as the capture judges them (parseLine, with
// c's IncludeSidechains, Now and Redactor), so a line the capture skips on
// purpose is counted as skipped, never missing, and what the report shows of
// a line is what the capture would store of it.
func (c *Capture) Audit(ctx context.Context, q postgres.DB, files []Transcript, since time.Time) (AuditReport, error) {
	rep := AuditReport{Since: since, Missing: []Missing{}, Sessions: []SessionAudit{}, UnreadableLines: []UnreadableLine{}}
	var found []Missing // every speech line in the window, by first place
	seen := map[uuid.UUID]bool{}
	for _, f := range files {
		if f.ModTime.Before(since) {
			continue // nothing in it was written in the window
		}
		rep.Transcripts++
		err := scanFile(f.Path, func(lineNo int64, b []byte, tooLarge bool) {
			if tooLarge {
				rep.UnreadableLines = append(rep.UnreadableLines, UnreadableLine{File: f.Path, Line: lineNo,
					Problem: fmt.Sprintf("longer than %d bytes", MaxLineBytes)})
				return
			}
			m, kind, err := parseLine(b, c.IncludeSidechains, c.Now, c.Redactor)
			if err != nil {
				rep.UnreadableLines = append(rep.UnreadableLines, UnreadableLine{File: f.Path, Line: lineNo,
					Problem: text.OneLine(err.Error())})
				return
			}
			if kind == otherLine || m.CreatedAt.Before(since) || seen[m.ID] {
				return
			}
			seen[m.ID] = true
			switch kind {
			case apiErrorLine:
				rep.APIErrors++
				return
			case invisibleLine:
				rep.Invisible++
				return
			case privateLine:
				rep.Private++
				return
			}
			if m.Cleaned.Changed() {
				rep.Redacted++
			}
			found = append(found, Missing{File: f.Path, Line: lineNo, SessionID: m.SessionID, Speaker: m.Speaker,
				CreatedAt: m.CreatedAt, ConversationID: m.ID, Preview: text.Preview(m.Text, 80)})
		})
		if err != nil {
			rep.Unreadable = append(rep.Unreadable, text.OneLine(err.Error()))
		}
	}
	stored := map[uuid.UUID]bool{}
	for i := 0; i < len(found); i += auditChunk {
		chunk := found[i:min(i+auditChunk, len(found))]
		ids := make([]uuid.UUID, len(chunk))
		for j, m := range chunk {
			ids[j] = m.ConversationID
		}
		// A line forgotten on request (angelad forget) is accounted for:
		// it is not stored, on purpose.
		rows, err := q.Query(ctx, `select conversation_id from conversations where conversation_id = any($1)
union all select id from memory_tombstones where id = any($1)`, ids)
		if err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return rep, fmt.Errorf("audit: %w", err)
		}
		for _, id := range got {
			stored[id] = true
		}
	}
	bySession := map[string]*SessionAudit{}
	var order []string
	for _, m := range found {
		s := bySession[m.SessionID]
		if s == nil {
			s = &SessionAudit{SessionID: m.SessionID, First: m.CreatedAt, Last: m.CreatedAt}
			bySession[m.SessionID] = s
			order = append(order, m.SessionID)
		}
		s.Speech++
		rep.Speech++
		s.First, s.Last = minTime(s.First, m.CreatedAt), maxTime(s.Last, m.CreatedAt)
		if stored[m.ConversationID] {
			s.Stored++
			rep.Stored++
		} else {
			s.Missing++
			rep.Missing = append(rep.Missing, m)
		}
	}
	for _, id := range order {
		rep.Sessions = append(rep.Sessions, *bySession[id])
	}
	slices.SortStableFunc(rep.Sessions, func(a, b SessionAudit) int { return a.First.Compare(b.First) })
	return rep, nil
}

// scanFile calls fn with every complete line of path; a line longer than
// MaxLineBytes comes as tooLarge, without its bytes.
func scanFile(path string, fn func(lineNo int64, b []byte, tooLarge bool)) error {
	f, err := os.Open(path)
	if err != nil {
		return &FileError{path, err}
	}
	defer f.Close()
	lr := newLineReader(f, 0, 0, MaxLineBytes, readBufferBytes)
	for {
		b, tooLarge, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &FileError{path, err}
		}
		fn(lr.line, b, tooLarge)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

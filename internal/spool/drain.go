package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// ApplyFunc stores one record on q, the drain's transaction. It must be
// idempotent by the record's id: a record may be applied again after a crash
// between its commit and the removal of its file.
type ApplyFunc func(ctx context.Context, q postgres.DB, r Record) error

// BatchApplyFunc stores records on q, the drain's transaction, in one go as
// far as it can, and returns those it left to the ApplyFunc, one by one:
// the ones it cannot store as new (already stored, so the ApplyFunc compares
// them; not well formed, so the ApplyFunc says why). Like an ApplyFunc it
// must be idempotent by the records' ids.
type BatchApplyFunc func(ctx context.Context, q postgres.DB, recs []Record) (left []Record, err error)

// BatchSize is how many records one drain transaction stores at most. Fewer
// commits make a long backlog drain fast; a record the database refuses makes
// the drain retry that batch one record per transaction.
const BatchSize = 200

// staleTemp is how old an unlocked temporary file must be before a drainer
// removes it: a writer takes microseconds between creating its file and
// locking it, so a younger one may still be a live writer's.
const staleTemp = time.Minute

// Result is what one drain pass did.
type Result struct {
	// Applied records were stored (or found stored) and removed.
	Applied int `json:"applied"`
	// Rejected records were moved to rejected/.
	Rejected int `json:"rejected"`
	// Busy records were being written or drained by another process, and
	// left for the next pass.
	Busy int `json:"busy"`
	// Skipped records held nothing to store (see SkipError): removed
	// without storing anything, and logged.
	Skipped int `json:"skipped"`
	// Left is how many records wait after the pass.
	Left int `json:"left"`
}

// DrainOptions tune Drain.
type DrainOptions struct {
	// Log gets a line for every record rejected and every stale file removed;
	// nil logs nothing.
	Log *zap.Logger
	// Workers is how many transactions run at once, each on a batch of its
	// own; more than one needs a db that is safe for concurrent use, such as a
	// pool. 0 means one.
	Workers int
	// Batch, when set, stores each transaction's records before the
	// ApplyFunc sees those it left: a few statements a batch instead of one
	// a record.
	Batch BatchApplyFunc
	// Redactor cleans each record's text before DrainStores stores it (see
	// Stores); nil applies the built-in rules. Drain itself does not read
	// it: its ApplyFunc does what it does.
	Redactor *redact.Redactor
}

// SkipError is an ApplyFunc's answer for a record of which nothing may be
// stored (its required text is all <private>): the drain goes on with the
// transaction, removes the record's file once it commits as if the record
// were stored, counts it as Skipped and logs Reason. Moving it to rejected/
// would keep what must not be kept.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "nothing of it may be stored: " + e.Reason }

// Drain makes one pass over the spool, oldest record first (with several
// workers, batches start oldest first): it stores each record with apply, in
// transactions of up to BatchSize records, and removes each file after its
// transaction committed. A record the database refuses for good (see
// postgres.RowRejected) moves to rejected/ with its error beside it, and is logged. On
// any other error Drain stops and returns it, leaving that record and the ones
// not yet stored in the spool: the database is away, or the trouble is not the
// record's.
func (s *Spool) Drain(ctx context.Context, db postgres.DB, apply ApplyFunc, o DrainOptions) (res Result, err error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	defer func() {
		if left, lerr := names(s.dir); lerr == nil {
			res.Left = len(left)
		}
	}()
	s.removeStale(s.dir, log)
	s.removeStale(s.RejectedDir(), log)
	list, err := names(s.dir)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &drain{s: s, db: db, apply: apply, batch: o.Batch, log: log, res: &res, list: list}
	var wg sync.WaitGroup
	for range max(o.Workers, 1) {
		wg.Go(func() {
			if err := d.work(ctx); err != nil {
				d.fail(err)
				cancel() // the others stop too: the database is likely away for them as well
			}
		})
	}
	wg.Wait()
	if d.err != nil {
		return res, d.err
	}
	return res, context.Cause(ctx)
}

// work claims and stores batches until none is left.
func (d *drain) work(ctx context.Context) error {
	for ctx.Err() == nil {
		names := d.take()
		if len(names) == 0 {
			return nil
		}
		var batch []*claim
		for _, name := range names {
			c, err := d.s.claim(name)
			switch {
			case err != nil:
				releaseAll(batch)
				return err
			case c == nil:
				d.count(func(r *Result) { r.Busy++ })
			case c.decodeErr != nil:
				err := d.reject(c, c.decodeErr)
				c.release()
				if err != nil {
					releaseAll(batch)
					return err
				}
			default:
				batch = append(batch, c)
			}
		}
		if err := d.run(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// take returns the next names to claim, up to BatchSize.
func (d *drain) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(len(d.list), BatchSize)
	out := d.list[:n]
	d.list = d.list[n:]
	return out
}

func (d *drain) count(f func(*Result)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d.res)
}

// fail keeps the first error of the pass, the one that says why it stopped.
func (d *drain) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

func releaseAll(batch []*claim) {
	for _, c := range batch {
		c.release()
	}
}

type drain struct {
	s     *Spool
	db    postgres.DB
	apply ApplyFunc
	batch BatchApplyFunc
	log   *zap.Logger

	mu   sync.Mutex
	res  *Result
	list []string // the names not taken yet
	err  error
}

// run stores a batch in one transaction, or one record per transaction when
// the database refuses one of them. It releases every claim.
func (d *drain) run(ctx context.Context, batch []*claim) error {
	defer releaseAll(batch)
	if len(batch) == 0 {
		return nil
	}
	skipped, err := d.store(ctx, batch)
	if err == nil {
		return d.done(batch, skipped)
	}
	if !recordRejected(err) || len(batch) == 1 {
		if recordRejected(err) {
			return d.reject(batch[0], err)
		}
		return err
	}
	for _, c := range batch {
		skipped, err := d.store(ctx, []*claim{c})
		switch {
		case err == nil:
			err = d.done([]*claim{c}, skipped)
		case recordRejected(err):
			err = d.reject(c, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// store applies a batch in one transaction and commits it. It returns the
// records the ApplyFunc skipped (see SkipError), by file name.
func (d *drain) store(ctx context.Context, batch []*claim) (skipped map[string]*SkipError, err error) {
	tx, err := d.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("drain the spool: %w", transientError{err})
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	recs := make([]Record, len(batch))
	for i, c := range batch {
		recs[i] = c.rec
	}
	if d.batch != nil {
		left, err := d.batch(ctx, tx, recs)
		if err != nil && len(recs) == 1 {
			return nil, fmt.Errorf("apply spooled %s %s: %w", recs[0].Kind, recs[0].ID, err)
		}
		if err != nil {
			return nil, fmt.Errorf("apply %d spooled records: %w", len(recs), err)
		}
		recs = left
	}
	for _, r := range recs {
		if err := d.apply(ctx, tx, r); err != nil {
			var skip *SkipError
			if errors.As(err, &skip) {
				if skipped == nil {
					skipped = map[string]*SkipError{}
				}
				skipped[r.Name] = skip
				continue
			}
			return nil, fmt.Errorf("apply spooled %s %s: %w", r.Kind, r.ID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("drain the spool: commit: %w", err)
	}
	return skipped, nil
}

// done removes the files of committed records, and of those skipped (by
// name), logging each of these. A removal that does not reach the disk
// before a crash only means the record is applied once more, to no effect,
// so the directory is fsynced once per batch and its failure ignored.
func (d *drain) done(batch []*claim, skipped map[string]*SkipError) error {
	for _, c := range batch {
		if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove drained spool file: %w", err)
		}
		if skip := skipped[c.name]; skip != nil {
			d.count(func(r *Result) { r.Skipped++ })
			d.log.Info("a spooled record holds nothing that may be stored: removed without storing it",
				zap.String("kind", string(c.kind)), zap.String("id", c.id), zap.String("reason", skip.Reason))
			continue
		}
		d.count(func(r *Result) { r.Applied++ })
	}
	syncDir(d.s.dir)
	return nil
}

// reject moves a record the database refused for good to rejected/, the error
// written beside it first, and logs it.
func (d *drain) reject(c *claim, cause error) error {
	dir := d.s.RejectedDir()
	if err := ensureDir(dir); err != nil {
		return err
	}
	rej := Rejection{RejectedAt: d.s.now().UTC(), Error: text.OneLine(cause.Error())}
	var pgErr *pgconn.PgError
	if errors.As(cause, &pgErr) {
		rej.SQLState = pgErr.Code
	}
	body, err := json.MarshalIndent(rej, "", "  ")
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(c.name, ext)
	if err := writeDurable(dir, base+errorExt, append(body, '\n')); err != nil {
		return fmt.Errorf("reject spooled record %s: %w", c.name, err)
	}
	dest := filepath.Join(dir, c.name)
	if err := os.Rename(c.path, dest); err != nil {
		return fmt.Errorf("reject spooled record %s: %w", c.name, err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := syncDir(d.s.dir); err != nil {
		return err
	}
	d.count(func(r *Result) { r.Rejected++ })
	d.log.Error("the database refused a spooled record for good; moved it to rejected",
		zap.String("kind", string(c.kind)), zap.String("id", c.id), zap.String("file", dest),
		zap.String("sqlstate", rej.SQLState), zap.Error(cause))
	return nil
}

// claim is a record file locked by this drainer.
type claim struct {
	f         *os.File
	name      string
	path      string
	kind      Kind
	id        string
	rec       Record
	decodeErr error
}

func (c *claim) release() {
	if c.f != nil {
		c.f.Close() // drops the lock
		c.f = nil
	}
}

// claim locks the record file name without waiting and reads it. It returns
// nil, nil when another process holds it (a writer finishing it, another
// drainer) or it is gone (drained meanwhile).
func (s *Spool) claim(name string) (*claim, error) {
	path := filepath.Join(s.dir, name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open spool file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock spool file %s: %w", path, err)
	}
	// Another drainer may have finished it between our open and our lock: then
	// the name is gone or names another file, and ours is not to apply.
	fi, same := samePath(f, path)
	if !same {
		f.Close()
		return nil, nil
	}
	_, kind, id, _ := parseName(name)
	c := &claim{f: f, name: name, path: path, kind: kind, id: id.String()}
	// A record file never changes once renamed into place: read it in one go.
	data := make([]byte, fi.Size())
	_, err = io.ReadFull(f, data)
	if err != nil {
		c.release()
		return nil, fmt.Errorf("read spool file %s: %w", path, err)
	}
	c.rec, c.decodeErr = decodeRecord(path, data)
	return c, nil
}

// samePath reports whether path still names the open file f, and f's info.
func samePath(f *os.File, path string) (os.FileInfo, bool) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	pi, err := os.Stat(path)
	return fi, err == nil && os.SameFile(fi, pi)
}

func same(f *os.File, path string) bool {
	_, ok := samePath(f, path)
	return ok
}

// removeStale removes the temporary files of writers that died before they
// renamed them. Such a writer never reported its record saved, so its caller
// did not take it for saved; the removal is logged.
func (s *Spool) removeStale(dir string, log *zap.Logger) {
	tmps, _ := filepath.Glob(filepath.Join(dir, tmpGlob))
	for _, path := range tmps {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		if err != nil || s.now().Sub(fi.ModTime()) < staleTemp ||
			syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil || !same(f, path) {
			f.Close()
			continue
		}
		if err := os.Remove(path); err == nil {
			log.Warn("removed an unfinished spool file of a writer that died before it finished (that save was never reported saved)",
				zap.String("file", path), zap.Int64("bytes", fi.Size()))
		}
		f.Close()
	}
}

// recordRejected reports whether err, from applying a record, says that the
// record belongs in rejected/, since retrying it cannot help: the file is not
// a record this version can read (a *DecodeError), or the database refused the
// record for good (postgres.RowRejected). Everything else is transient: the
// record stays in the spool and the drain is retried later. A record held
// back waits, and `angelad status` turns unhealthy once it has waited too long
// while the database is reachable.
func recordRejected(err error) bool {
	if err == nil || errors.As(err, new(transientError)) {
		return false
	}
	var de *DecodeError
	return errors.As(err, &de) || postgres.RowRejected(err)
}

// transientError marks an error that is never the record's fault.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// Package spool owns the durable queue of one-shot saves that could not reach
// the database: a directory of files, one record each, that any number of
// writers add to and one drainer at a time applies to the database later.
//
// The layout, under the state directory:
//
//	spool/                          0700
//	  <nanos>-<kind>-<id>.json      0600, one Record; the name sorts oldest first
//	  .tmp-*                        0600, a record being written (never read)
//	  rejected/                     0700
//	    <nanos>-<kind>-<id>.json    a record the database refused for good
//	    <nanos>-<kind>-<id>.error.json  why, and when
//
// A writer writes a temporary file, fsyncs it, renames it to its final name and
// fsyncs the directory before Add returns, so a record Add accepted survives a
// crash or power loss, and a reader never sees half a record. The writer holds
// an flock on the file while it writes it; a drainer removes only temporary
// files that no writer holds (a writer killed before its rename, which never
// reported the record as saved).
//
// A drainer claims each record with an flock before it applies it, so two
// drainers never apply one record at the same time, and removes the file only
// after the transaction that stored it committed. Every record carries its
// client-generated id and every insert is idempotent by that id, so a drainer
// killed between the commit and the removal applies the record again on the
// next pass and stores nothing twice.
//
// The spool also owns the drain of both kinds into their stores (Stores,
// DrainStores: memory's for emotions, conversation's for conversations, each
// record cleaned of secrets and private passages first), which `angelad
// spool drain` runs once, and the daemon's spool worker (Drainer), which runs
// it whenever records wait.
package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// DirName is the spool's directory inside the state directory.
const DirName = "spool"

// RejectedDirName is the directory, inside the spool, of the records the
// database refused for good.
const RejectedDirName = "rejected"

// Format is the version of the record file format that Add writes.
const Format = 1

// Kind says what a record holds and so how it is applied.
type Kind string

// The kinds of record a one-shot command spools.
const (
	KindEmotion      Kind = "emotion"
	KindConversation Kind = "conversation"
)

// Valid reports whether k is a kind this version knows.
func (k Kind) Valid() bool { return k == KindEmotion || k == KindConversation }

// Record is one spooled save, as stored in its file.
type Record struct {
	// Format is the file format version (see Format).
	Format int `json:"format"`
	// Kind says how to apply Data.
	Kind Kind `json:"kind"`
	// ID is the record's client-generated id, its idempotency key.
	ID uuid.UUID `json:"id"`
	// SpooledAt is when the record was spooled.
	SpooledAt time.Time `json:"spooled_at"`
	// Reason is why it was spooled: the error that kept it from the database.
	Reason string `json:"reason"`
	// Data is the validated record, as the kind's store reads it.
	Data json.RawMessage `json:"record"`

	// Name is the file's name in the spool directory.
	Name string `json:"-"`
}

// Spool is the spool directory of one state directory. Its methods are safe
// for concurrent use, also by several processes at once.
type Spool struct {
	dir string
	now func() time.Time
}

// New returns the spool of stateDir. It does not touch the disk: Add creates the
// directory, and a missing directory is an empty spool. now is the clock that
// stamps records; nil means time.Now.
func New(stateDir string, now func() time.Time) *Spool {
	if now == nil {
		now = time.Now
	}
	return &Spool{dir: filepath.Join(stateDir, DirName), now: now}
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// RejectedDir returns the directory of the rejected records.
func (s *Spool) RejectedDir() string { return filepath.Join(s.dir, RejectedDirName) }

const (
	dirMode  = 0o700
	fileMode = 0o600
	tmpGlob  = ".tmp-*"
	ext      = ".json"
	errorExt = ".error.json"
)

// Add writes a record of kind with id and data (marshalled as JSON) durably to
// the spool and returns it. reason says why it was spooled. When Add returns
// nil the record is on disk, fsynced with its directory.
func (s *Spool) Add(kind Kind, id uuid.UUID, data any, reason string) (Record, error) {
	if !kind.Valid() {
		return Record{}, fmt.Errorf("spool: unknown kind %q", kind)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Record{}, fmt.Errorf("spool %s %s: %w", kind, id, err)
	}
	r := Record{Format: Format, Kind: kind, ID: id, SpooledAt: s.now().UTC(), Reason: reason, Data: raw}
	r.Name = fileName(r.SpooledAt, kind, id)
	body, err := json.Marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("spool %s %s: %w", kind, id, err)
	}
	if err := ensureDir(s.dir); err != nil {
		return Record{}, err
	}
	if err := writeDurable(s.dir, r.Name, append(body, '\n')); err != nil {
		return Record{}, fmt.Errorf("spool %s %s: %w", kind, id, err)
	}
	return r, nil
}

// fileName names a record so that names sort in the order records were
// spooled: the time as 20 zero-padded digits of Unix nanoseconds.
func fileName(at time.Time, kind Kind, id uuid.UUID) string {
	return fmt.Sprintf("%020d-%s-%s%s", at.UnixNano(), kind, id, ext)
}

// parseName reads the time, kind and id back from a record's file name.
func parseName(name string) (at time.Time, kind Kind, id uuid.UUID, ok bool) {
	base, found := strings.CutSuffix(name, ext)
	if !found || strings.HasSuffix(base, ".error") {
		return time.Time{}, "", uuid.UUID{}, false
	}
	nanos, rest, found := strings.Cut(base, "-")
	if !found || len(nanos) != 20 {
		return time.Time{}, "", uuid.UUID{}, false
	}
	n, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil {
		return time.Time{}, "", uuid.UUID{}, false
	}
	k, idText, found := strings.Cut(rest, "-")
	if !found || !knownShape(k) {
		return time.Time{}, "", uuid.UUID{}, false
	}
	id, err = uuid.Parse(idText)
	if err != nil || len(idText) != 36 {
		return time.Time{}, "", uuid.UUID{}, false
	}
	return time.Unix(0, n).UTC(), Kind(k), id, true
}

// knownShape reports whether k looks like a kind: lowercase letters. A kind
// this version does not know (from a newer angelad) is still listed and
// counted, and its record is rejected rather than left unseen.
func knownShape(k string) bool {
	if k == "" || len(k) > 32 {
		return false
	}
	for _, c := range k {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// ensureDir creates dir (and its parents) with mode 0700 when it is missing.
// The mode is set explicitly, since the umask could take bits away.
func ensureDir(dir string) error {
	if err := os.Mkdir(dir, dirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool directory: %w", err)
		}
		// The state directory itself is missing: make it as the daemon and
		// the managed cluster would. Under root the cluster runs as an
		// unprivileged user, who must be able to pass through it.
		parentMode := os.FileMode(0o700)
		if os.Geteuid() == 0 {
			parentMode = 0o711
		}
		if err := os.MkdirAll(filepath.Dir(dir), parentMode); err != nil {
			return fmt.Errorf("spool directory: %w", err)
		}
		if err := os.Chmod(filepath.Dir(dir), parentMode); err != nil {
			return fmt.Errorf("spool directory: %w", err)
		}
		if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("spool directory: %w", err)
		}
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}
	// The new entry in the parent must survive a crash too.
	return syncDir(filepath.Dir(dir))
}

// writeDurable writes data to dir/name: a temporary file, locked while it is
// written so that no drainer takes it for a dead writer's, then fsynced,
// renamed and the directory fsynced.
func writeDurable(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpGlob) // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
		f.Close() // drops the lock
	}()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", tmp, err)
	}
	if err := f.Chmod(fileMode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes the entries of dir (a create, rename or removal) durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// names returns the record file names in dir, oldest first. A missing
// directory has none.
func names(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the spool: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			if _, _, _, ok := parseName(e.Name()); ok {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Backlog is how much waits in the spool, read from the file names alone, so
// that it is cheap and needs no database.
type Backlog struct {
	// Count is the number of records waiting.
	Count int `json:"count"`
	// Oldest is when the oldest waiting record was spooled; zero when none waits.
	Oldest time.Time `json:"oldest,omitzero"`
	// Rejected is the number of records in rejected/.
	Rejected int `json:"rejected"`
}

// Backlog counts the records waiting and rejected.
func (s *Spool) Backlog() (Backlog, error) {
	waiting, err := names(s.dir)
	if err != nil {
		return Backlog{}, err
	}
	rejected, err := names(s.RejectedDir())
	if err != nil {
		return Backlog{}, err
	}
	b := Backlog{Count: len(waiting), Rejected: len(rejected)}
	if len(waiting) > 0 {
		b.Oldest, _, _, _ = parseName(waiting[0])
	}
	return b, nil
}

// Entry is one record as `angelad spool` lists it.
type Entry struct {
	Kind      Kind      `json:"kind"`
	ID        uuid.UUID `json:"id"`
	SpooledAt time.Time `json:"spooled_at"`
	Reason    string    `json:"reason"`
	File      string    `json:"file"`
	// Error and RejectedAt are set for a rejected record.
	Error      string    `json:"error,omitempty"`
	RejectedAt time.Time `json:"rejected_at,omitzero"`
}

// Rejection is what is written beside a rejected record.
type Rejection struct {
	RejectedAt time.Time `json:"rejected_at"`
	Error      string    `json:"error"`
	// SQLState is the database's error code, when the database gave one.
	SQLState string `json:"sqlstate,omitempty"`
}

// List returns the waiting records, oldest first, and the rejected ones. A
// record that a drainer removes while List reads is left out.
func (s *Spool) List() (waiting, rejected []Entry, err error) {
	if waiting, err = s.entries(s.dir, false); err != nil {
		return nil, nil, err
	}
	if rejected, err = s.entries(s.RejectedDir(), true); err != nil {
		return nil, nil, err
	}
	return waiting, rejected, nil
}

func (s *Spool) entries(dir string, withErrors bool) ([]Entry, error) {
	list, err := names(dir)
	if err != nil {
		return nil, err
	}
	out := []Entry{}
	for _, name := range list {
		path := filepath.Join(dir, name)
		r, err := readRecord(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // drained meanwhile
		}
		at, kind, id, _ := parseName(name)
		e := Entry{Kind: kind, ID: id, SpooledAt: at, File: path}
		if err != nil {
			e.Reason = "unreadable: " + err.Error()
		} else {
			e.Reason = r.Reason
		}
		if withErrors {
			var rej Rejection
			data, err := os.ReadFile(strings.TrimSuffix(path, ext) + errorExt)
			if err == nil {
				err = json.Unmarshal(data, &rej)
			}
			if err != nil {
				rej.Error = "no readable error file: " + err.Error()
			}
			e.Error, e.RejectedAt = rej.Error, rej.RejectedAt
		}
		out = append(out, e)
	}
	return out, nil
}

// DecodeError says that a record file cannot be read as a record of this
// version. Trying again cannot help: the drainer rejects the file.
type DecodeError struct {
	File string
	Err  error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("spool file %s: %v", e.File, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }

func readRecord(path string) (Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Record{}, err
	}
	return decodeRecord(path, data)
}

func decodeRecord(path string, data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, &DecodeError{File: path, Err: err}
	}
	r.Name = filepath.Base(path)
	at, kind, id, _ := parseName(r.Name)
	switch {
	case !r.Kind.Valid():
		return r, &DecodeError{File: path, Err: fmt.Errorf("unknown kind %q: this version applies emotion and conversation", r.Kind)}
	case r.Format != Format:
		return r, &DecodeError{File: path, Err: fmt.Errorf("format %d, this version reads format %d", r.Format, Format)}
	case r.Kind != kind || r.ID != id:
		return r, &DecodeError{File: path, Err: fmt.Errorf("holds %s %s, which its name does not say", r.Kind, r.ID)}
	case len(r.Data) == 0 || string(r.Data) == "null":
		return r, &DecodeError{File: path, Err: errors.New("holds no record")}
	}
	if r.SpooledAt.IsZero() {
		r.SpooledAt = at
	}
	return r, nil
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/angela-ai/angelad/internal/text"
)

// StatusFileName is the file in the state directory where a running daemon
// publishes its state for `angelad status`. It is rewritten atomically (a
// temporary file renamed over it) whenever the state changes, so status never
// needs the database and never reads half a file. Its mode is 0600: it holds
// the latest words captured and the last errors.
const StatusFileName = "status.json"

// statusFileMode keeps status.json to the daemon's user, whatever the mode of
// the state directory (0711 as root with the managed cluster).
const statusFileMode = 0o600

// The daemon's states, in the order it moves through them.
const (
	StateStarting = "starting"
	StateWaiting  = "waiting_for_database"
	StateRunning  = "running"
	StateStopping = "stopping"
	StateStopped  = "stopped"
)

// Status is what the daemon publishes about itself.
type Status struct {
	PID        int            `json:"pid"`
	Version    string         `json:"version"`
	State      string         `json:"state"`
	StartedAt  time.Time      `json:"started_at"`
	ReadyAt    time.Time      `json:"ready_at,omitzero"`
	UpdatedAt  time.Time      `json:"updated_at"`
	ConfigFile string         `json:"config_file,omitempty"`
	StateDir   string         `json:"state_dir"`
	Database   DatabaseStatus `json:"database"`
	Workers    []WorkerStatus `json:"workers"`
	// HealthCheckPeriod is how often the daemon checks its database; it
	// rewrites this file at least that often while it runs.
	HealthCheckPeriod time.Duration `json:"health_check_period_ns,omitempty"`
	// RefreshBy is when the daemon will have rewritten this file at the
	// latest, unless it is hung: two health check periods after UpdatedAt,
	// or later while it restarts the managed cluster.
	RefreshBy time.Time `json:"refresh_by,omitzero"`
}

// DatabaseStatus is the daemon's latest view of its database.
type DatabaseStatus struct {
	// Target names the database without its password.
	Target    string `json:"target"`
	Managed   bool   `json:"managed"`
	Reachable bool   `json:"reachable"`
	// Latency is the round trip of the last successful check.
	Latency       time.Duration `json:"latency_ns"`
	ServerVersion string        `json:"server_version,omitempty"`
	SchemaVersion int32         `json:"schema_version"`
	CheckedAt     time.Time     `json:"checked_at,omitzero"`
	DownSince     time.Time     `json:"down_since,omitzero"`
	// ReachableSince is when the checks started succeeding, this time.
	ReachableSince time.Time `json:"reachable_since,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
}

// ReadStatus reads the status file of stateDir. os.ErrNotExist means no daemon
// has run there.
func ReadStatus(stateDir string) (Status, error) {
	var s Status
	data, err := os.ReadFile(filepath.Join(stateDir, StatusFileName))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("status file %s: %w", filepath.Join(stateDir, StatusFileName), err)
	}
	return s, nil
}

// statusBoard holds the daemon's status and writes it out when it changes.
type statusBoard struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	s       Status
	written time.Time
	// writtenWorkers are the workers as last written, to tell whether their
	// details changed since.
	writtenWorkers []WorkerStatus
	err            error // the last write error, reported once
	// refresh, when set, is the health check period: the file is rewritten
	// at least every half of it even when nothing changed, and promises the
	// next write within two of it.
	refresh time.Duration
	// holdUntil extends that promise while a long step (a restart of the
	// managed cluster) keeps the daemon from writing.
	holdUntil time.Time
	// flush holds at most one pending request to write details that the
	// bounded rate held back; flushDetails serves it.
	flush chan struct{}
}

func newStatusBoard(stateDir string, now func() time.Time, s Status) *statusBoard {
	return &statusBoard{path: filepath.Join(stateDir, StatusFileName), now: now, s: s, flush: make(chan struct{}, 1)}
}

// latencyRefresh bounds how stale the latency in the file may get: a latency
// change alone is not worth a disk write every health check.
const latencyRefresh = time.Minute

// detailRefresh bounds how often a change of workers' details alone rewrites
// the file: counters that move on every tick must not rewrite it every tick.
const detailRefresh = 5 * time.Second

// update applies change and writes the file at once if something other than
// the latency, the check time and the workers' details changed, if now is set
// and details changed (a change of state a worker asked to show at once), or
// if the file is older than latencyRefresh (half the health check period,
// when shorter). Details that changed alone are written at most every
// detailRefresh: the write is left to flushDetails, which makes it when the
// time comes even if nothing else changes by then. It returns the first write
// error after a success, so it is logged once.
func (b *statusBoard) update(change func(*Status), now bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	before := b.s
	before.Workers = append([]WorkerStatus(nil), b.s.Workers...)
	change(&b.s)
	t := b.now()
	since := t.Sub(b.written)
	maxAge := latencyRefresh
	if b.refresh > 0 {
		maxAge = min(maxAge, b.refresh/2)
	}
	details := detailsChanged(b.writtenWorkers, b.s.Workers)
	switch {
	case significant(before, b.s) || since >= maxAge:
	case details && (now || since >= detailRefresh):
	case details:
		select {
		case b.flush <- struct{}{}:
		default: // a flush is pending already
		}
		return nil
	default:
		return nil
	}
	return b.write(t)
}

// flushDetails writes the details that update held back, detailRefresh after
// the last write, until ctx is done. report gets a write error.
func (b *statusBoard) flushDetails(ctx context.Context, after func(time.Duration) <-chan time.Time, report func(error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.flush:
		}
		b.mu.Lock()
		wait := b.written.Add(detailRefresh).Sub(b.now())
		b.mu.Unlock()
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-after(wait):
			}
		}
		// A write since then took the details along; otherwise this one does.
		if err := b.update(func(*Status) {}, false); err != nil {
			report(err)
		}
	}
}

// hold promises the next write no earlier than until, and writes that
// promise at once when it extends the one in the file; a zero until ends the
// hold.
func (b *statusBoard) hold(until time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holdUntil = until
	if until.After(b.s.RefreshBy) {
		return b.write(b.now())
	}
	return nil
}

// write writes the file; b.mu is held.
func (b *statusBoard) write(now time.Time) error {
	b.s.UpdatedAt = now
	if b.refresh > 0 {
		b.s.HealthCheckPeriod = b.refresh
		b.s.RefreshBy = now.Add(2 * b.refresh)
		if b.holdUntil.After(b.s.RefreshBy) {
			b.s.RefreshBy = b.holdUntil
		}
	}
	err := writeFileAtomic(b.path, b.s)
	if err == nil {
		b.written = now
		b.writtenWorkers = append([]WorkerStatus(nil), b.s.Workers...)
	}
	first := err != nil && b.err == nil
	b.err = err
	if first {
		return err
	}
	return nil
}

// significant reports whether b differs from a in more than the latency, the
// check time and the workers' details, which are written at a bounded rate.
func significant(a, b Status) bool {
	a.Workers, b.Workers = withoutDetails(a.Workers), withoutDetails(b.Workers)
	a.Database.Latency, b.Database.Latency = 0, 0
	a.Database.CheckedAt, b.Database.CheckedAt = time.Time{}, time.Time{}
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) != string(jb)
}

func withoutDetails(ws []WorkerStatus) []WorkerStatus {
	out := make([]WorkerStatus, len(ws))
	for i, w := range ws {
		w.Detail = nil
		out[i] = w
	}
	return out
}

func detailsChanged(a, b []WorkerStatus) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if string(a[i].Detail) != string(b[i].Detail) {
			return true
		}
	}
	return false
}

// removeStatusLeftovers removes the temporary files of status writes that a
// killed daemon left in stateDir (writeFileAtomic names them
// .status.json.<random>). The caller holds the daemon lock, so no other
// daemon writes one meanwhile.
func removeStatusLeftovers(stateDir string) {
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+StatusFileName+".") && e.Type().IsRegular() {
			os.Remove(filepath.Join(stateDir, e.Name()))
		}
	}
}

// writeFileAtomic writes v as JSON to a temporary file beside path and renames
// it over path, so a reader sees the old file or the new one, never a mix.
func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("status file: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes it 0600 already; said here so that no later
		// change of the temporary file's making can widen it unnoticed.
		err = os.Chmod(tmp.Name(), statusFileMode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("status file: %w", err)
	}
	return nil
}

// DetailLines shows a worker's detail generically, one "key: value" a field in
// the order the worker wrote them, nested objects with dotted keys, so that a
// worker needs no code here for its status lines.
func DetailLines(detail json.RawMessage) []string {
	if len(detail) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(detail))
	dec.UseNumber()
	var lines []string
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					name := k.(string)
					if prefix != "" {
						name = prefix + "." + name
					}
					if err := walk(name); err != nil {
						return err
					}
				}
			case '[':
				var items []string
				for dec.More() {
					var v any
					if err := dec.Decode(&v); err != nil {
						return err
					}
					items = append(items, text.OneLine(fmt.Sprint(v)))
				}
				lines = append(lines, prefix+": "+strings.Join(items, ", "))
			}
			_, err := dec.Token() // the closing delimiter
			return err
		case nil:
			lines = append(lines, prefix+": none")
		default:
			lines = append(lines, prefix+": "+text.OneLine(fmt.Sprint(t)))
		}
		return nil
	}
	if err := walk(""); err != nil {
		return []string{"detail: cannot be shown: " + err.Error()}
	}
	return lines
}

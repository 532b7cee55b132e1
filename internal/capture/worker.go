package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// Timing of the worker besides the poll interval.
const (
	// progressEvery is how often the backfill logs a progress line.
	progressEvery = 5 * time.Second
	// Backoff bounds while the database cannot be written.
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
	// problemAfter is how long writes must fail before the worker reports a
	// problem; a short outage is the database monitor's to report.
	problemAfter = 30 * time.Second
)

// WorkerFactory returns the factory of the conversation worker, which
// captures every speech line of the transcripts that cfg names, cleaned by r
// (the daemon's one Redactor; see Capture.Redactor).
func WorkerFactory(cfg config.Conversation, r *redact.Redactor) daemon.Factory {
	return func(d daemon.Deps) (daemon.Worker, error) { return NewWorker(cfg, r, d) }
}

// ExpandPatterns returns the transcript globs of cfg made absolute, a leading
// ~ replaced by the home directory. A glob that cannot be used is an error
// naming the key.
func ExpandPatterns(globs []string) ([]string, error) {
	out := make([]string, 0, len(globs))
	for _, g := range globs {
		if g == "~" || strings.HasPrefix(g, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("conversation.transcripts: %q needs the home directory: %w", g, err)
			}
			g = filepath.Join(home, g[1:])
		}
		abs, err := filepath.Abs(g)
		if err != nil {
			return nil, fmt.Errorf("conversation.transcripts: %q: %w", g, err)
		}
		if _, err := filepath.Match(abs, ""); err != nil {
			return nil, fmt.Errorf("conversation.transcripts: %q is not a valid glob", g)
		}
		out = append(out, abs)
	}
	return out, nil
}

// Worker is the conversation worker: it tails the transcripts and stores
// their speech lines. File events make it react at once; the poll finds new
// files and makes up for events that were lost.
type Worker struct {
	capture  *Capture
	deps     daemon.Deps
	log      *zap.Logger
	patterns []string
	poll     time.Duration

	files   map[string]*tracked // by canonical path
	canon   map[string]string   // glob result -> canonical path
	watched map[string]bool
	st      WorkerStatus
	// secrets totals the secrets redacted since start, by kind.
	secrets redact.Found

	troubleSince time.Time
	backoff      time.Duration
	// back is the database monitor's wake-up, taken before each attempt to
	// store (see daemon.DatabaseWatch.Back).
	back <-chan struct{}
	// dbError is set while st.LastError is the database's, which the end
	// of the trouble clears.
	dbError bool
	// problemText is the problem last published; "" for none.
	problemText string
	// noEvents makes the worker poll only, as on a file system without
	// events; tests set it to check the poll alone.
	noEvents bool
	// watchFiles watches recent transcripts rather than their directories;
	// see maxFileWatches.
	watchFiles bool
	// ingesters is how many changed transcripts a pass reads at once.
	ingesters int
}

// tracked is what the worker knows of one transcript.
type tracked struct {
	off *Offset // what is stored; nil: never read
	// size, mod and inode are the file as last read, so that an unchanged
	// file (a partial line waiting, or nothing new) is not read again.
	size  int64
	mod   time.Time
	inode uint64
	// failed is the last read error, logged once until it changes.
	failed string
	// matched is set once a glob matched the file in this run, so that a
	// deleted one is forgotten (offsets of files read by import from other
	// paths are left alone).
	matched bool
}

// WorkerStatus is the conversation worker's status detail.
type WorkerStatus struct {
	Capture     string `json:"capture"`
	Transcripts int    `json:"transcripts_watched"`
	BytesBehind int64  `json:"bytes_behind"`
	Backfilling bool   `json:"backfilling,omitempty"`
	// MessagesStored counts the rows stored since the daemon started.
	MessagesStored int64 `json:"messages_stored"`
	// LastMessage is a preview of the last message stored, LastMessageAt
	// when it was said and LastStoredAt when it was stored.
	LastMessage   string    `json:"last_message,omitempty"`
	LastMessageAt time.Time `json:"last_message_at,omitzero"`
	LastStoredAt  time.Time `json:"last_stored_at,omitzero"`
	// MalformedLines, TooLargeLines, RefusedLines (speech the database
	// refused for good), APIErrorLines (Claude Code's own error messages)
	// and InvisibleLines (texts without a visible character) count the lines
	// skipped since start; TimesReplaced the lines stored with the time they
	// were read instead of their own (see Counts).
	MalformedLines int64     `json:"malformed_lines"`
	TooLargeLines  int64     `json:"too_large_lines"`
	RefusedLines   int64     `json:"refused_lines"`
	APIErrorLines  int64     `json:"api_error_lines"`
	InvisibleLines int64     `json:"invisible_lines"`
	TimesReplaced  int64     `json:"times_replaced"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`

	// Redaction says whether secrets are redacted: "on", or "off" with the
	// key that turned it off. RedactedLines counts the lines stored since
	// start with secrets redacted or <private> passages removed,
	// SecretsRedacted their secrets by kind (never what they were), and
	// PrivateLines David's lines skipped for being all private.
	Redaction       string         `json:"redaction"`
	RedactedLines   int64          `json:"redacted_lines"`
	SecretsRedacted map[string]int `json:"secrets_redacted,omitempty"`
	PrivateLines    int64          `json:"private_lines"`
}

// NewWorker builds the worker, which cleans every line with r (nil: the
// built-in rules); an unusable glob is an error naming its key.
func NewWorker(cfg config.Conversation, r *redact.Redactor, d daemon.Deps) (*Worker, error) {
	patterns, err := ExpandPatterns(cfg.Transcripts)
	if err != nil {
		return nil, err
	}
	if cfg.PollInterval <= 0 {
		return nil, errors.New("conversation.poll_interval: must be a positive duration")
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	redaction := "on"
	if !r.Enabled() {
		redaction = "off (redaction.enabled = false)"
	}
	return &Worker{
		capture: &Capture{DB: d.Pool, Log: d.Log, IncludeSidechains: cfg.IncludeSidechains, Now: d.Clock.Now,
			Redactor: r},
		deps:       d,
		log:        d.Log,
		patterns:   patterns,
		poll:       cfg.PollInterval,
		files:      map[string]*tracked{},
		canon:      map[string]string{},
		watched:    map[string]bool{},
		st:         WorkerStatus{Capture: "on", Redaction: redaction},
		watchFiles: runtime.GOOS != "linux",
		ingesters:  Ingesters(d.Pool),
	}, nil
}

// maxIngesters bounds how many transcripts a pass reads at once: storing is
// CPU-bound in the server, one backend a file, so more than the cores only
// adds contention on the same index pages.
const maxIngesters = 4

// Ingesters is how many transcripts are read at once: one a core, at most
// maxIngesters and, with a pool (the daemon's), half of what the spool's
// drainer leaves of it, so that the other workers and the health checks
// always find a connection.
func Ingesters(pool *pgxpool.Pool) int {
	n := min(runtime.NumCPU(), maxIngesters)
	if pool != nil {
		conns := int(pool.Config().MaxConns)
		n = min(n, (conns-spool.DrainConns(conns))/2)
	}
	return max(n, 1)
}

// publish shows the capture's counters and problem; the counters are
// written to status.json at a bounded rate.
func (w *Worker) publish() {
	if w.deps.Status == nil {
		return
	}
	w.deps.Status.Detail(w.st)
	w.deps.Status.Problem(w.problemText)
}

// publishNow shows the capture's state at once: a backfill that began or
// finished, trouble that ended.
func (w *Worker) publishNow() {
	if w.deps.Status == nil {
		return
	}
	w.deps.Status.DetailNow(w.st)
	w.deps.Status.Problem(w.problemText)
}

func (w *Worker) problem(p string) {
	w.problemText = p
	w.publish()
}

// Run captures until ctx is done. Database trouble is waited out here, with
// backoff; Run returns only on shutdown.
func (w *Worker) Run(ctx context.Context) error {
	if len(w.patterns) == 0 {
		w.st.Capture = "off (conversation.transcripts is empty)"
		w.publishNow()
		<-ctx.Done()
		return nil
	}
	watcher, err := fsnotify.NewWatcher()
	if w.noEvents && err == nil {
		watcher.Close()
		err = errors.New("disabled")
	}
	if err != nil {
		w.log.Warn("file events unavailable: polling only", zap.Duration("poll_interval", w.poll), zap.Error(err))
		watcher = nil
	} else {
		// Close stops the watcher's goroutine before Run returns.
		defer watcher.Close()
	}
	// A restarted worker starts afresh: the watches were the old watcher's,
	// and the offsets are read again.
	w.files, w.watched = map[string]*tracked{}, map[string]bool{}
	var events chan fsnotify.Event
	var watchErrs chan error
	if watcher != nil {
		events, watchErrs = watcher.Events, watcher.Errors
	}

	for {
		w.back = w.deps.Database.Back()
		offs, err := LoadOffsets(ctx, w.deps.Pool)
		if err == nil {
			for p, o := range offs {
				w.files[p] = &tracked{off: o, size: -1}
			}
			w.recovered()
			break
		}
		if !w.wait(ctx, err) {
			return nil
		}
	}
	w.log.Info("capturing transcripts", zap.Strings("globs", w.patterns), zap.Duration("poll_interval", w.poll),
		zap.Bool("file_events", watcher != nil))

	backfill := true
	for {
		w.back = w.deps.Database.Back()
		if err := w.pass(ctx, watcher, backfill); err != nil {
			if !w.wait(ctx, err) {
				return nil
			}
			continue
		}
		backfill = false
		pollC := w.deps.Clock.After(w.poll)
	events:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-pollC:
				break events
			case ev := <-events:
				switch w.classify(ev) {
				case ignoreEvent:
					continue
				case lookAtAll:
					break events
				}
				w.back = w.deps.Database.Back()
				if err := w.ingestOne(ctx, ev.Name); err != nil {
					if !w.wait(ctx, err) {
						return nil
					}
					break events
				}
			case err := <-watchErrs:
				// An overflow: events were lost, so look at everything.
				w.log.Debug("file events lost", zap.Error(err))
				break events
			}
		}
	}
}

// eventAction says what a file event asks for.
type eventAction int

const (
	ignoreEvent eventAction = iota
	readFile                // a transcript was written: read it
	lookAtAll               // a transcript or directory came or went: a full pass
)

func (w *Worker) classify(ev fsnotify.Event) eventAction {
	switch {
	case ev.Has(fsnotify.Write):
		if w.matches(ev.Name) || w.watchFiles && w.watched[ev.Name] {
			return readFile
		}
	case ev.Has(fsnotify.Create):
		if w.matches(ev.Name) {
			return lookAtAll
		}
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			return lookAtAll
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		if w.matches(ev.Name) || w.watched[ev.Name] {
			return lookAtAll
		}
	}
	return ignoreEvent
}

func (w *Worker) matches(path string) bool {
	for _, p := range w.patterns {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
	}
	return false
}

// wait handles a failure to reach the database: it has the daemon's monitor
// check the database, backs off on the clock until the monitor sees the
// database back, reports a problem if the trouble lasts, and returns false on
// shutdown.
func (w *Worker) wait(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	w.deps.Database.Trouble()
	now := w.deps.Clock.Now()
	if w.troubleSince.IsZero() {
		w.troubleSince = now
		w.backoff = minBackoff
		w.log.Info("cannot store transcripts: retrying", zap.Error(err))
	} else {
		w.backoff = min(w.backoff*2, maxBackoff)
	}
	w.st.LastError, w.st.LastErrorAt, w.dbError = text.OneLine(err.Error()), now, true
	if now.Sub(w.troubleSince) >= problemAfter {
		w.problem(fmt.Sprintf("cannot store transcripts since %s: %s", w.troubleSince.Format(time.RFC3339), text.OneLine(err.Error())))
	}
	w.publish()
	select {
	case <-ctx.Done():
		return false
	case <-w.deps.Clock.After(w.backoff):
		return true
	case <-w.back:
		w.log.Debug("the database is back: retrying before the backoff ends", zap.Duration("backoff", w.backoff))
		return true
	}
}

// recovered ends a period of trouble, and with it the database's error in
// the detail: status must not blame an outage that is over.
func (w *Worker) recovered() {
	if w.troubleSince.IsZero() {
		return
	}
	w.log.Info("storing transcripts again", zap.Duration("after", w.deps.Clock.Now().Sub(w.troubleSince)))
	w.troubleSince = time.Time{}
	if w.dbError {
		w.st.LastError, w.st.LastErrorAt, w.dbError = "", time.Time{}, false
	}
	w.problemText = ""
	w.publishNow()
}

// candidate is a transcript that changed since it was last read.
type candidate struct {
	path string
	fi   os.FileInfo
}

// pass looks at every transcript the globs match, watches their directories,
// forgets deleted ones and reads the changed ones, oldest first.
func (w *Worker) pass(ctx context.Context, watcher *fsnotify.Watcher, backfill bool) error {
	seen := map[string]bool{}
	var changed, all []candidate
	var dirs []string
	for _, p := range w.patterns {
		dirs = append(dirs, staticRoot(p))
		if ds, err := filepath.Glob(filepath.Dir(p)); err == nil {
			dirs = append(dirs, ds...)
		}
		matches, _ := filepath.Glob(p) // the pattern was checked
		for _, m := range matches {
			path := w.canonical(m)
			if seen[path] {
				continue
			}
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			seen[path] = true
			t := w.files[path]
			if t == nil {
				t = &tracked{size: -1}
				w.files[path] = t
			}
			t.matched = true
			all = append(all, candidate{path, fi})
			_, ino := fileID(fi)
			if fi.Size() != t.size || !fi.ModTime().Equal(t.mod) || ino != t.inode {
				changed = append(changed, candidate{path, fi})
			}
		}
	}
	if watcher != nil && w.watchFiles {
		w.watch(watcher, recentFiles(all, w.deps.Clock.Now()))
	} else if watcher != nil {
		w.watch(watcher, dirs)
	}
	// A transcript that is gone is forgotten: its rows were stored with its
	// offset, so nothing of it is lost by dropping the offset.
	for path, t := range w.files {
		if seen[path] || !(t.matched || w.matches(path)) {
			continue
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		if t.off != nil {
			if err := ForgetOffset(ctx, w.deps.Pool, path); err != nil {
				return err
			}
			w.log.Info("transcript deleted: forgotten", zap.String("file", path))
		}
		delete(w.files, path)
	}
	w.st.Transcripts = len(seen)
	// What is unread now, before reading: so that status shows the lag
	// while the database is away, too.
	var behind int64
	for _, c := range all {
		behind += c.fi.Size()
		if off := w.files[c.path].off; off != nil {
			behind -= min(off.ReadOffset, c.fi.Size())
		}
	}
	w.st.BytesBehind = behind
	w.publish()

	slices.SortFunc(changed, func(a, b candidate) int { return a.fi.ModTime().Compare(b.fi.ModTime()) })
	var prog *progress
	if backfill {
		prog = w.startProgress(changed)
	}
	jobs := make([]IngestJob, len(changed))
	for i, c := range changed {
		jobs[i] = IngestJob{Path: c.path, Prev: w.files[c.path].off}
	}
	err := w.capture.IngestFiles(ctx, jobs, w.ingesters,
		func(i int, d Counts, last *Message) { w.stored(d, last, prog) },
		func(i int, off Offset, err error) error {
			err = w.ingested(changed[i].path, changed[i].fi, off, err)
			if err == nil && prog != nil {
				prog.files++
				prog.maybeLog(w)
			}
			return err
		})
	if err != nil {
		return err
	}
	w.recovered()
	w.updateBehind()
	if prog != nil {
		// Said at once: status must not show a backfill, and bytes behind,
		// that are over.
		prog.finish(w)
		w.publishNow()
		return nil
	}
	w.publish()
	return nil
}

// ingestOne reads one transcript after a file event.
func (w *Worker) ingestOne(ctx context.Context, name string) error {
	path := w.canonical(name)
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil // gone already: the next pass forgets it
	}
	if w.files[path] == nil {
		w.files[path] = &tracked{size: -1}
		w.st.Transcripts++
	}
	if err := w.ingest(ctx, path, fi, nil); err != nil {
		return err
	}
	w.recovered()
	w.updateBehind()
	w.publish()
	return nil
}

// ingest reads one transcript. A file that cannot be read is logged once and
// skipped until it changes; only database errors are returned.
func (w *Worker) ingest(ctx context.Context, path string, fi os.FileInfo, prog *progress) error {
	off, err := w.capture.Ingest(ctx, path, w.files[path].off, func(d Counts, last *Message) { w.stored(d, last, prog) })
	return w.ingested(path, fi, off, err)
}

// stored counts a committed batch of a transcript.
func (w *Worker) stored(d Counts, last *Message, prog *progress) {
	w.st.MessagesStored += d.Stored
	w.st.MalformedLines += d.Malformed
	w.st.TooLargeLines += d.TooLarge
	w.st.RefusedLines += d.Refused
	w.st.APIErrorLines += d.APIErrors
	w.st.InvisibleLines += d.Invisible
	w.st.TimesReplaced += d.TimesReplaced
	w.st.RedactedLines += d.Redacted
	w.st.PrivateLines += d.Private
	if d.Secrets.Total() > 0 {
		w.secrets.Add(d.Secrets)
		// A new map each time: the status board may still hold the last.
		w.st.SecretsRedacted = w.secrets.Map()
	}
	if last != nil {
		w.st.LastMessage = last.Speaker + ": " + text.Preview(last.Text, 60)
		w.st.LastMessageAt, w.st.LastStoredAt = last.CreatedAt, w.deps.Clock.Now()
	}
	if prog != nil {
		prog.bytes += d.Bytes
		prog.messages += d.Stored
		prog.maybeLog(w)
	}
}

// ingested records what Ingest returned for path, as fi was before it: the
// offset stored, and a read error logged once. It returns the database
// errors, for the caller to wait out.
func (w *Worker) ingested(path string, fi os.FileInfo, off Offset, err error) error {
	t := w.files[path]
	if off.Path != "" {
		o := off
		t.off = &o
	}
	var fe *FileError
	if errors.As(err, &fe) {
		if msg := err.Error(); msg != t.failed {
			t.failed = msg
			w.log.Warn("cannot read transcript", zap.String("file", path), zap.Error(fe.Err))
			w.st.LastError, w.st.LastErrorAt, w.dbError = text.OneLine(msg), w.deps.Clock.Now(), false
		}
		t.size, t.mod = fi.Size(), fi.ModTime()
		return nil
	}
	if err != nil {
		return err
	}
	t.failed = ""
	// Remember the file as it was read, so an unchanged one is not read
	// again; a partial line waits for the write that completes it.
	t.size, t.mod = off.Size, fi.ModTime()
	t.inode = off.Inode
	return nil
}

func (w *Worker) updateBehind() {
	var behind int64
	for _, t := range w.files {
		if t.off != nil && t.size >= 0 {
			behind += max(t.size-t.off.ReadOffset, 0)
		}
	}
	w.st.BytesBehind = behind
}

// canonical resolves symbolic links, so that the daemon and import agree on
// a file's name (and share its offset) however it was reached.
func (w *Worker) canonical(path string) string {
	if c, ok := w.canon[path]; ok {
		return c
	}
	c := CanonicalPath(path)
	w.canon[path] = c
	return c
}

// CanonicalPath is path absolute with its symbolic links resolved; path as it
// is when that fails.
func CanonicalPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if c, err := filepath.EvalSymlinks(abs); err == nil {
		return c
	}
	return abs
}

// Watching files instead of directories: on kqueue (macOS, the BSDs) a watch
// on a directory opens every file in it, so the worker watches only the
// transcripts written lately, each by its own descriptor, and leaves the
// others and new files to the poll.
const (
	maxFileWatches = 256
	recentWithin   = 24 * time.Hour
)

// recentFiles are the transcripts of all written within recentWithin of now,
// newest first, at most maxFileWatches.
func recentFiles(all []candidate, now time.Time) []string {
	var recent []candidate
	for _, c := range all {
		if now.Sub(c.fi.ModTime()) <= recentWithin {
			recent = append(recent, c)
		}
	}
	slices.SortFunc(recent, func(a, b candidate) int { return b.fi.ModTime().Compare(a.fi.ModTime()) })
	paths := make([]string, 0, min(len(recent), maxFileWatches))
	for _, c := range recent[:min(len(recent), maxFileWatches)] {
		paths = append(paths, c.path)
	}
	return paths
}

// watch makes the watches exactly dirs (directories, or files when watching
// files). A failure (too many watches) leaves that path to the poll. A failure (too many
// watches) leaves that directory to the poll.
func (w *Worker) watch(watcher *fsnotify.Watcher, dirs []string) {
	for _, d := range dirs {
		if w.watched[d] {
			continue
		}
		if err := watcher.Add(d); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				w.log.Debug("cannot watch a directory: polling it", zap.String("dir", d), zap.Error(err))
			}
			continue
		}
		w.watched[d] = true
	}
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		want[d] = true
	}
	for d := range w.watched {
		if _, err := os.Stat(d); err != nil || !want[d] {
			delete(w.watched, d)
			_ = watcher.Remove(d)
		}
	}
}

// staticRoot is the longest leading directory of a glob without pattern
// characters: the place a new matching directory appears in.
func staticRoot(pattern string) string {
	dir := filepath.Dir(pattern)
	for strings.ContainsAny(dir, `*?[\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// progress is the backfill's account, logged every progressEvery.
type progress struct {
	start, last     time.Time
	totalFiles      int
	totalBytes      int64
	files           int
	bytes, messages int64
}

func (w *Worker) startProgress(changed []candidate) *progress {
	p := &progress{start: w.deps.Clock.Now(), totalFiles: len(changed)}
	p.last = p.start
	for _, c := range changed {
		t := w.files[c.path]
		p.totalBytes += c.fi.Size()
		if t.off != nil {
			p.totalBytes -= min(t.off.ReadOffset, c.fi.Size())
		}
	}
	if p.totalBytes == 0 {
		return nil // nothing to catch up on
	}
	w.st.Backfilling = true
	w.publishNow()
	w.log.Info("backfill: reading transcripts, oldest first", zap.Int("files", p.totalFiles), zap.Int64("bytes", p.totalBytes))
	return p
}

func (p *progress) maybeLog(w *Worker) {
	now := w.deps.Clock.Now()
	if now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	w.log.Info("backfill progress", p.fields(now)...)
	w.st.BytesBehind = p.totalBytes - p.bytes
	w.publish()
}

func (p *progress) fields(now time.Time) []zap.Field {
	secs := now.Sub(p.start).Seconds()
	rate := func(n int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	return []zap.Field{
		zap.String("files", fmt.Sprintf("%d/%d", p.files, p.totalFiles)),
		zap.String("bytes", fmt.Sprintf("%d/%d", p.bytes, p.totalBytes)),
		zap.Int64("messages", p.messages),
		zap.Float64("mb_per_second", rate(p.bytes)/1e6),
		zap.Float64("messages_per_second", rate(p.messages)),
	}
}

func (p *progress) finish(w *Worker) {
	w.st.Backfilling = false
	w.log.Info("backfill done", append(p.fields(w.deps.Clock.Now()), zap.Duration("took", w.deps.Clock.Now().Sub(p.start)))...)
}

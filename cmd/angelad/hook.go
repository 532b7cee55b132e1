package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/capture"
	"github.com/angela-ai/angelad/internal/claudecode"
	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/logging"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// hooksLogName is the hooks' log file in the state directory, used when
// log.file is not set: a hook's standard error would reach the session.
const hooksLogName = "hooks.log"

func (a *app) hookCommand() *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "hook session-start|user-prompt-submit|session-end|pre-compact [--strict]",
		Short: "Run one Claude Code hook (reads the hook's JSON on standard input)",
		Long: `Run one Claude Code hook; "angelad hooks install" sets Claude Code up to run
them. The hook reads the JSON Claude Code writes on standard input.

session-start prints the recall pack for the session's directory as the
session's additional context, at most hooks.max_chars characters
(hooks.compact_max_chars after a compaction). user-prompt-submit adds to each
prompt the few memories most relevant to it from other sessions, with the
turns just before and after each as room allows, at most
hooks.prompt_max_chars characters, and nothing when none is relevant enough;
it recalls nothing. session-end and pre-compact store
what the session's transcript holds that is not stored yet, through the same
reader and offsets as the daemon's conversation worker, so nothing is stored
twice whichever reads a line first.

A hook never gets in the way of the session: whatever happens it answers
within hooks.timeout and exits 0, printing nothing when it has nothing (the
database down, bad input). What went wrong goes to the log: log.file when set,
otherwise hooks.log in the state directory, never to the session. --strict
exits 2 on bad input and 1 on a runtime failure, with the error on standard
error, for tests and debugging.`,
		Example: `  echo '{"session_id":"s1","cwd":"'$PWD'","hook_event_name":"SessionStart","source":"startup"}' | angelad hook session-start
  angelad hook session-start --strict < payload.json`,
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 2 on bad input and 1 on failure instead of 0")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.runHook(cmd, args, strict)
	}
	return cmd
}

// hookInputError marks what the hook was given as the problem (--strict exit 2).
type hookInputError struct{ err error }

func (e hookInputError) Error() string { return e.err.Error() }
func (e hookInputError) Unwrap() error { return e.err }

// hookResult is what one hook produced: its output, and fields for its log
// line.
type hookResult struct {
	out    []byte
	fields []zap.Field
	err    error
	// quiet logs the run at debug level: it did nothing worth a line.
	quiet bool
}

func (a *app) runHook(cmd *cobra.Command, args []string, strict bool) error {
	start := time.Now()
	cfg, cfgErr := a.readConfig(cmd)
	log, closeLog := hookLogger(cfg)
	defer closeLog()
	name := strings.Join(args, " ")
	fail := func(err error, fields ...zap.Field) error {
		log.Warn("hook failed", append([]zap.Field{zap.String("hook", name), zap.Error(err), zap.Duration("took", time.Since(start))}, fields...)...)
		if !strict {
			return nil
		}
		var ie hookInputError
		if errors.As(err, &ie) || isUsage(err) {
			return usageError{err}
		}
		return runtimeError{err}
	}
	if cfgErr != nil {
		return fail(cfgErr)
	}
	a.cfg = cfg
	if len(args) != 1 || claudecode.ClaudeEvent(args[0]) == "" {
		return fail(hookInputError{fmt.Errorf("hook takes one hook name, one of %s; got %q", claudecode.EventNames(), name)})
	}

	ctx, cancel := context.WithTimeout(cmd.Context(), cfg.Hooks.Timeout)
	defer cancel()
	// The hook honours ctx throughout; the select is the backstop that keeps
	// the promise even if something below does not.
	done := make(chan hookResult, 1)
	go func() { done <- a.hookBody(ctx, name, log) }()
	var r hookResult
	select {
	case r = <-done:
	case <-ctx.Done():
		r = hookResult{err: fmt.Errorf("gave up after hooks.timeout (%s)", cfg.Hooks.Timeout)}
	}
	if r.err != nil {
		return fail(r.err, r.fields...)
	}
	if _, err := a.stdout.Write(r.out); err != nil {
		return fail(fmt.Errorf("write the hook output: %w", err), r.fields...)
	}
	logDone := log.Info
	if r.quiet {
		logDone = log.Debug
	}
	logDone("hook done", append([]zap.Field{zap.String("hook", name), zap.Duration("took", time.Since(start))}, r.fields...)...)
	return nil
}

// hookLogger logs to log.file when it is set, else to hooks.log in the state
// directory, and never to standard error. When even that cannot be opened,
// the hook goes unlogged rather than disturb the session.
func hookLogger(cfg *config.Config) (*zap.Logger, func()) {
	o := logging.Options{Format: "json"}
	if cfg != nil {
		o.Level, o.MaxSizeMB, o.MaxFiles = cfg.LogLevel, cfg.LogMaxSizeMB, cfg.LogMaxFiles
		o.File = cfg.LogFile
		if o.File == "" {
			o.File = filepath.Join(cfg.StateDir, hooksLogName)
		}
	} else {
		// The configuration is what failed. The places its environment
		// names still stand (a test's or a second install's state directory
		// must not log into the machine's default one); else the default.
		home, _ := os.UserHomeDir()
		dir := config.DefaultStateDir(runtime.GOOS, os.Geteuid() == 0, home, os.LookupEnv)
		if v := os.Getenv(config.EnvName("state_dir")); filepath.IsAbs(v) {
			dir = v
		}
		o.File = filepath.Join(dir, hooksLogName)
		if v := os.Getenv(config.EnvName("log.file")); filepath.IsAbs(v) {
			o.File = v
		}
	}
	l, err := logging.New(o, io.Discard)
	if err != nil {
		return zap.NewNop(), func() {}
	}
	return l.Zap().Named("hook"), func() { l.Close() }
}

func (a *app) hookBody(ctx context.Context, name string, log *zap.Logger) hookResult {
	in, err := claudecode.ReadHookInput(a.stdin, name)
	if err != nil {
		return hookResult{err: hookInputError{err}}
	}
	fields := []zap.Field{zap.String("session_id", in.SessionID)}
	switch name {
	case "session-start":
		budget := a.cfg.Hooks.MaxChars
		if in.Source == claudecode.SourceCompact {
			budget = a.cfg.Hooks.CompactMaxChars
		}
		fields = append(fields, zap.String("source", in.Source), zap.Int("max_chars", budget))
		pack, err := a.sessionPack(ctx, in, budget)
		if err != nil {
			return hookResult{fields: fields, err: err}
		}
		fields = append(fields, zap.Int("chars", len([]rune(pack))))
		if pack == "" {
			return hookResult{fields: fields}
		}
		var out bytes.Buffer
		if err := claudecode.WriteSessionStart(&out, pack); err != nil {
			return hookResult{fields: fields, err: err}
		}
		return hookResult{out: out.Bytes(), fields: fields}
	case "user-prompt-submit":
		budget := a.cfg.Hooks.PromptMaxChars
		fields = append(fields, zap.Int("max_chars", budget))
		text, n, turns, served, err := a.promptContext(ctx, in, budget, log)
		fields = append(fields, zap.Int("memories", n), zap.Int("context_turns", turns), zap.Int("chars", len([]rune(text))))
		if served != "" {
			fields = append(fields, zap.String("served", served))
		}
		if err != nil {
			return hookResult{fields: fields, err: err}
		}
		if text == "" {
			// Most prompts have nothing relevant: not worth a line each.
			return hookResult{fields: fields, quiet: true}
		}
		var out bytes.Buffer
		if err := claudecode.WriteUserPromptSubmit(&out, text); err != nil {
			return hookResult{fields: fields, err: err}
		}
		return hookResult{out: out.Bytes(), fields: fields}
	default:
		fields = append(fields, zap.String("transcript_path", in.TranscriptPath))
		if in.Reason != "" {
			fields = append(fields, zap.String("reason", in.Reason))
		}
		if in.Trigger != "" {
			fields = append(fields, zap.String("trigger", in.Trigger))
		}
		if _, err := os.Stat(in.TranscriptPath); name == "session-end" && errors.Is(err, fs.ErrNotExist) {
			// `claude mcp list`, `claude doctor` and a session that ends
			// before anything was said end with a transcript that was never
			// written: there is nothing to store.
			return hookResult{fields: append(fields, zap.Bool("transcript_missing", true)), quiet: true}
		}
		res, err := a.captureTranscript(ctx, in.TranscriptPath, log)
		fields = append(fields, zap.Int64("lines_read", res.Lines), zap.Int64("messages_stored", res.Stored),
			zap.Int64("already_present", res.Present), zap.Int64("redacted", res.Redacted), zap.Int64("private", res.Private))
		return hookResult{fields: fields, err: err}
	}
}

// captureTranscript stores what the transcript holds that is not stored yet,
// reading it from the offset the conversation worker (or an import, or an
// earlier hook) stored, so a line is never stored twice whoever reads it
// first. It commits as it goes: a hook that runs out of time keeps what it
// stored, and the next reader goes on from there. Unlike session-start it
// migrates a database that lacks angelad's schema, since what it holds would
// otherwise wait for the daemon.
func (a *app) captureTranscript(ctx context.Context, path string, log *zap.Logger) (capture.ImportResult, error) {
	files, err := capture.FindTranscripts([]string{path})
	if err != nil {
		return capture.ImportResult{}, fmt.Errorf("transcript_path: %w", err)
	}
	r, err := a.redactor(log)
	if err != nil {
		return capture.ImportResult{}, err
	}
	c := &capture.Capture{Log: log, IncludeSidechains: a.cfg.Conversation.IncludeSidechains, Now: time.Now, Redactor: r}
	var res capture.ImportResult
	err = a.hookAccess(true).WithConn(ctx, func(conn *pgx.Conn) error {
		var err error
		res, err = c.Import(ctx, conn, 1, files, nil)
		return err
	})
	if err == nil && len(res.Unreadable) > 0 {
		err = fmt.Errorf("cannot read %s", res.Unreadable[0])
	}
	if err != nil {
		return res, fmt.Errorf("capture %s: %w", path, err)
	}
	return res, nil
}

// hookAccess is a hook's access path. Unlike the other commands' it never
// starts the managed cluster, and with migrate false it leaves a database
// without angelad's schema alone: a hook that would wait for either is better
// off printing nothing.
func (a *app) hookAccess(migrate bool) *access.Client {
	return a.access(access.Options{NoStart: true, NoMigrate: !migrate})
}

// sessionPack is the context session-start adds: the recall pack for the
// session's directory (memory.Recall, as `angelad recall --project` prints
// it), within maxChars characters. It recalls what it shows, as the start of
// a session is a time Angela remembers.
func (a *app) sessionPack(ctx context.Context, in claudecode.HookInput, maxChars int) (string, error) {
	o := memory.RecallOptions{MaxChars: min(max(maxChars, memory.MinRecallChars), memory.MaxRecallChars), Project: in.Cwd}
	pack, err := a.hookAccess(false).Recall(ctx, o)
	if postgres.IsSchemaMissing(err) {
		return "", nil // a database angelad has not migrated yet holds no memory
	}
	if err != nil {
		return "", err
	}
	return pack.Markdown, nil
}

// The prompt hook's limits.
const (
	// promptCandidates is how many memories are ranked for a prompt; of
	// them, those of other sessions relevant enough are shown, at most
	// promptMemories.
	promptCandidates = 10
	promptMemories   = 5
	// promptLineChars bounds one memory's line, so that one long message
	// cannot take the whole budget.
	promptLineChars = 500
	// promptWorth is the fewest characters of a memory's text worth showing
	// cut.
	promptWorth = 40
	// promptContextTurns is how many neighbouring turns of its session a
	// message shown brings on either side, budget allowing: measured on the
	// evaluation set the constants are tuned on (covered@k in make
	// benchrecall, evaldev), with the turn before and the one after the
	// first hit brings 0.555 of the answers instead of 0.436, for about 100
	// characters; the reply alone 0.527 for half as many, two either side
	// 0.642 for twice as many, on every prompt that shows a memory, and a
	// working session's turns are much longer than the set's.
	promptContextTurns = 1
)

// promptHeading opens what the prompt hook adds; promptContextHeading when
// a memory is shown with its neighbouring turns, indented under it.
const (
	promptHeading        = "Memories that may be relevant to this prompt (from angelad, Angela's long-term memory):\n"
	promptContextHeading = "Memories that may be relevant to this prompt (from angelad, Angela's long-term memory; indented, the turns around one):\n"
)

// promptContext is what user-prompt-submit adds to a prompt: the memories
// Retrieve ranks for it whose own words hold at least memory.PromptRelevance
// of the prompt's weight (Hit.Match), leaving out those of this session
// (already in its context), best first, within maxChars characters; "" when
// none is relevant enough. Under each message shown, while the budget
// allows once the memories are laid out, come its neighbouring turns of its
// session (promptContextTurns either side), indented, each turn shown once
// (one shown as a memory is not repeated). It reinforces nothing: it runs
// on every prompt, and a memory shown unasked on every prompt that mentions
// it would grow strong for being talked about rather than for being
// remembered. n is how many memories it shows, turns how many neighbouring
// turns, served which path ranked them (the daemon, or this process: see
// access.Client.Retrieve). With an embedding model configured, its ranking
// by meaning is fused in.
func (a *app) promptContext(ctx context.Context, in claudecode.HookInput, maxChars int, log *zap.Logger) (_ string, n, turns int, served string, _ error) {
	prompt := strings.TrimSpace(in.Prompt)
	if prompt == "" {
		return "", 0, 0, "", nil
	}
	// A long prompt (a pasted log) is asked by its beginning, as a
	// question may be at most that long.
	prompt, _ = text.Cut(strings.ToValidUTF8(prompt, "\uFFFD"), memory.MaxSearchChars)
	// With an embedding model, its ranking may take half the hook's time;
	// past that (or failing) the prompt is ranked by its words alone.
	acc := a.access(access.Options{NoStart: true, NoMigrate: true, Log: log, SemanticTimeout: a.cfg.Hooks.Timeout / 2,
		Debug: func(line string) { served = line }})
	// A memory's line shows at most promptLineChars characters: no more
	// than twice that is read of a text of a megabyte, or of a turn of its
	// context.
	hits, err := acc.Retrieve(ctx, memory.RetrieveOptions{Text: prompt, Limit: promptCandidates, TextChars: 2 * promptLineChars,
		Context: promptContextTurns})
	if postgres.IsSchemaMissing(err) {
		return "", 0, 0, served, nil
	}
	if err != nil {
		return "", 0, 0, served, err
	}
	loc := a.cfg.Location()
	// fit cuts body so that the line head+body fits in what is left of the
	// budget, used characters being taken; ok is false when too little is
	// left to be worth a line.
	fit := func(used int, head, body string) (_ string, ok bool) {
		left := min(maxChars-used, promptLineChars) - len([]rune(head)) - 1 // the newline
		if left < promptWorth {
			return "", false
		}
		if len([]rune(body)) > left {
			cut, _ := text.Cut(body, left-1)
			body = cut + "…"
		}
		return head + body + "\n", true
	}
	// The memories first, then their neighbouring turns while the budget
	// allows: a memory relevant in its own words is worth more than the
	// turns around another.
	type shown struct {
		line  string
		hit   memory.Hit
		turns []string
	}
	var lines []shown
	used := len([]rune(promptHeading))
	seen := map[uuid.UUID]bool{}
	for _, h := range hits {
		if n == promptMemories {
			break
		}
		if h.Match < memory.PromptRelevance || (h.SessionID != "" && h.SessionID == in.SessionID) {
			continue
		}
		var head, body string
		at := h.At.In(loc).Format("2006-01-02 15:04")
		if h.Kind == "emotion" {
			head = fmt.Sprintf("- %s · %s felt %s: ", at, a.cfg.Companion.Name, h.Emotion)
			body = text.OneLine(h.Text)
			if h.DavidWords != "" {
				body += " — " + a.cfg.Companion.UserName + ": “" + text.OneLine(h.DavidWords) + "”"
			}
		} else {
			head = fmt.Sprintf("- %s · %s: ", at, a.cfg.Companion.SpeakerName(h.Speaker, h.Speaker))
			body = text.OneLine(h.Text)
		}
		line, ok := fit(used, head, body)
		if !ok {
			break
		}
		lines = append(lines, shown{line: line, hit: h})
		used += len([]rune(line))
		seen[h.ID] = true
		n++
	}
	if n == 0 {
		return "", 0, 0, served, nil
	}
	heading := promptHeading
	extra := len([]rune(promptContextHeading)) - len([]rune(promptHeading))
context:
	for i := range lines {
		h := lines[i].hit
		for _, c := range h.Context {
			if seen[c.ID] {
				continue
			}
			// A turn of the memory's day shows its time alone.
			at := c.At.In(loc).Format("2006-01-02 15:04")
			if at[:10] == h.At.In(loc).Format("2006-01-02") {
				at = at[11:]
			}
			u := used
			if turns == 0 {
				u += extra
			}
			line, ok := fit(u, fmt.Sprintf("  - %s · %s: ", at, a.cfg.Companion.SpeakerName(c.Speaker, c.Speaker)), text.OneLine(c.Text))
			if !ok {
				break context
			}
			lines[i].turns = append(lines[i].turns, line)
			used = u + len([]rune(line))
			seen[c.ID] = true
			heading = promptContextHeading
			turns++
		}
	}
	var b strings.Builder
	b.WriteString(heading)
	for _, l := range lines {
		b.WriteString(l.line)
		for _, t := range l.turns {
			b.WriteString(t)
		}
	}
	return b.String(), n, turns, served, nil
}

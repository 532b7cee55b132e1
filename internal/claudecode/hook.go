package claudecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxInputBytes bounds what a hook reads from standard input: Claude Code's
// payloads are a few hundred bytes.
const MaxInputBytes = 1 << 20

// HookInput is the JSON Claude Code writes to a hook's standard input. The
// fields common to every event come first; Source is SessionStart's (startup,
// resume, clear or compact), Reason SessionEnd's, Trigger PreCompact's
// (manual or auto) and Prompt UserPromptSubmit's (what the user typed).
type HookInput struct {
	SessionID      string `json:"session_id"`
	TranscriptPath string `json:"transcript_path"`
	Cwd            string `json:"cwd"`
	HookEventName  string `json:"hook_event_name"`
	Source         string `json:"source,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Trigger        string `json:"trigger,omitempty"`
	Prompt         string `json:"prompt,omitempty"`
}

// SessionStart sources, as Claude Code names them.
const (
	SourceStartup = "startup"
	SourceResume  = "resume"
	SourceClear   = "clear"
	SourceCompact = "compact"
)

// ClaudeEvent returns the Claude Code event of angelad's hook name, or "" for
// a name angelad does not know.
func ClaudeEvent(name string) string {
	for _, e := range Events {
		if e.Name == name {
			return e.ClaudeEvent
		}
	}
	return ""
}

// EventNames lists angelad's hook names, for messages.
func EventNames() string {
	names := make([]string, len(Events))
	for i, e := range Events {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}

// ReadHookInput reads and checks the payload of the hook name: valid JSON,
// the event Claude Code names matching name, and the fields the hook needs
// present. Every error is one line naming what was wrong.
func ReadHookInput(r io.Reader, name string) (HookInput, error) {
	event := ClaudeEvent(name)
	if event == "" {
		return HookInput{}, fmt.Errorf("unknown hook %q: must be one of %s", name, EventNames())
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return HookInput{}, fmt.Errorf("read the hook input: %w", err)
	}
	if len(data) > MaxInputBytes {
		return HookInput{}, fmt.Errorf("hook input is larger than %d bytes", MaxInputBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return HookInput{}, errors.New("hook input is empty: Claude Code writes a JSON object on standard input")
	}
	var in HookInput
	if err := json.Unmarshal(data, &in); err != nil {
		return HookInput{}, fmt.Errorf("hook input is not a JSON object: %v", err)
	}
	if in.HookEventName != "" && in.HookEventName != event {
		return HookInput{}, fmt.Errorf("hook input is for %s, but this is the %s hook (%s)", in.HookEventName, name, event)
	}
	var missing []string
	if in.SessionID == "" {
		missing = append(missing, "session_id")
	}
	switch name {
	case "session-start":
		if in.Cwd == "" {
			missing = append(missing, "cwd")
		}
	case "user-prompt-submit":
		// The prompt may be empty (nothing to find); the session is what
		// its memories are told apart by.
	default:
		if in.TranscriptPath == "" {
			missing = append(missing, "transcript_path")
		}
	}
	if len(missing) > 0 {
		return HookInput{}, fmt.Errorf("hook input lacks %s", strings.Join(missing, " and "))
	}
	return in, nil
}

// SessionStartOutput is what the session-start hook prints: its
// additionalContext is added to the session's context.
type SessionStartOutput struct {
	HookSpecificOutput struct {
		HookEventName     string `json:"hookEventName"`
		AdditionalContext string `json:"additionalContext"`
	} `json:"hookSpecificOutput"`
}

// WriteSessionStart prints context as SessionStart's additional context.
func WriteSessionStart(w io.Writer, context string) error {
	return writeContext(w, "SessionStart", context)
}

// WriteUserPromptSubmit prints context as UserPromptSubmit's additional
// context: Claude Code adds it beside the prompt.
func WriteUserPromptSubmit(w io.Writer, context string) error {
	return writeContext(w, "UserPromptSubmit", context)
}

// writeContext prints context as the additional context of event, in the
// hookSpecificOutput form SessionStart and UserPromptSubmit share.
func writeContext(w io.Writer, event, context string) error {
	var o SessionStartOutput
	o.HookSpecificOutput.HookEventName = event
	o.HookSpecificOutput.AdditionalContext = context
	b, err := marshal(o)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

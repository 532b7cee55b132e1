package claudecode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Events maps angelad's hook names (`angelad hook NAME`) to the Claude Code
// events they are installed for. It is the one list that `hooks install` and
// the plugin (PluginFiles) are made from: a new hook is one line here, then
// `make plugin` to write the plugin's files again.
var Events = []struct{ Name, ClaudeEvent string }{
	{"session-start", "SessionStart"},
	{"session-end", "SessionEnd"},
	{"pre-compact", "PreCompact"},
	{"user-prompt-submit", "UserPromptSubmit"},
}

// ClaudeTimeout is the time limit angelad gives Claude Code for one of its
// hooks, in whole seconds: a backstop 5 seconds above hookTimeout
// (hooks.timeout), after which the hook has already given up by itself.
func ClaudeTimeout(hookTimeout time.Duration) int {
	return int(math.Ceil(hookTimeout.Seconds())) + 5
}

// HookEntries are angelad's hooks, one per event of Events, each running
// command(name) with Claude Code's time limit timeout (seconds); an entry
// already installed keeps the limit it has when that is above keepAbove
// seconds (see HookEntry.KeepAbove).
func HookEntries(command func(name string) string, timeout, keepAbove int) []HookEntry {
	entries := make([]HookEntry, 0, len(Events))
	for _, e := range Events {
		entries = append(entries, HookEntry{Event: e.ClaudeEvent, Command: command(e.Name), Timeout: timeout, KeepAbove: keepAbove})
	}
	return entries
}

// HookCommand is the shell command Claude Code runs for one hook: the
// angelad binary (an absolute path, quoted for the shell when it needs it),
// any global arguments, then `hook NAME`.
func HookCommand(binary string, global []string, name string) string {
	words := append([]string{binary}, global...)
	words = append(words, "hook", name)
	for i, w := range words {
		words[i] = ShellQuote(w)
	}
	return strings.Join(words, " ")
}

// ShellQuote quotes s for a POSIX shell when it holds anything but safe
// characters.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellWords splits a command the way a POSIX shell would, for the quoting
// ShellQuote writes (single and double quotes, backslashes). It is enough to
// recognise angelad's own entries; it does not expand anything.
func shellWords(s string) []string {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			if r == '"' {
				quote = 0
			} else if r == '\\' && i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// IsAngeladHook reports whether command is one angelad installed: a binary
// named angelad (wherever it lives, so an entry left by a binary since moved
// is still recognised) running its hook command.
func IsAngeladHook(command string) bool {
	w := shellWords(command)
	if len(w) < 3 || filepath.Base(w[0]) != "angelad" {
		return false
	}
	for _, a := range w[1:] {
		if a == "hook" {
			return true
		}
	}
	return false
}

// HookEntry is one hook angelad installs: the Claude Code event, the command
// and Claude Code's own time limit for it, in seconds.
type HookEntry struct {
	Event   string
	Command string
	Timeout int
	// KeepAbove makes an install keep the time limit of angelad's entry
	// already in the file (one its user edited) when that limit is longer
	// than KeepAbove seconds, the hook's own (hooks.timeout): a shorter one
	// would let Claude Code kill the hook before it gives up by itself, so
	// it is replaced by Timeout. Zero keeps any positive limit.
	KeepAbove int
}

// hookGroup and commandHook are a matcher group as Claude Code's settings
// write it, keys in the order its documentation shows them. angelad's groups
// have no matcher: they run for every source, reason and trigger.
type hookGroup struct {
	Hooks []commandHook `json:"hooks"`
}

type commandHook struct {
	Type    string      `json:"type"`
	Command string      `json:"command"`
	Timeout json.Number `json:"timeout"`
}

// InstallHooks adds entries to the settings' "hooks", one matcher group per
// event, keeping every other key, event and hook. An event that already has
// exactly the wanted entry is left as it is, so installing twice changes
// nothing; older angelad entries of the event are replaced.
func (f *File) InstallHooks(entries []HookEntry) error {
	hooks, err := f.hooksObject()
	if err != nil {
		return err
	}
	for _, e := range entries {
		groups, err := eventGroups(f.Path, hooks, e.Event)
		if err != nil {
			return err
		}
		timeout := json.Number(fmt.Sprint(e.Timeout))
		if kept, ok := installedTimeout(groups); ok && kept > float64(e.KeepAbove) {
			timeout = json.Number(strconv.FormatFloat(kept, 'f', -1, 64))
		}
		want, err := marshal(hookGroup{Hooks: []commandHook{{Type: "command", Command: e.Command, Timeout: timeout}}})
		if err != nil {
			return err
		}
		if hasExactly(groups, want) {
			continue
		}
		kept, _, err := stripAngelad(f.Path, e.Event, groups)
		if err != nil {
			return err
		}
		kept = append(kept, want)
		raw, err := marshal(kept)
		if err != nil {
			return err
		}
		hooks.set(e.Event, raw)
	}
	return f.setHooks(hooks)
}

// UninstallHooks removes angelad's entries from every event and returns how
// many it removed. Events and a "hooks" key left empty are removed too; every
// other hook stays.
func (f *File) UninstallHooks() (int, error) {
	raw, ok := f.obj.get("hooks")
	if !ok {
		return 0, nil
	}
	hooks, err := f.hooksObject()
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, event := range append([]string{}, hooks.keys...) {
		groups, err := eventGroups(f.Path, hooks, event)
		if err != nil {
			return 0, err
		}
		kept, n, err := stripAngelad(f.Path, event, groups)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			continue
		}
		removed += n
		if len(kept) == 0 {
			hooks.del(event)
			continue
		}
		b, err := marshal(kept)
		if err != nil {
			return 0, err
		}
		hooks.set(event, b)
	}
	if removed == 0 {
		f.obj.set("hooks", raw) // untouched, byte for byte
		return 0, nil
	}
	if hooks.len() == 0 {
		f.obj.del("hooks")
		return removed, nil
	}
	return removed, f.setHooks(hooks)
}

func (f *File) hooksObject() (*object, error) {
	raw, ok := f.obj.get("hooks")
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return newObject(), nil
	}
	o, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: \"hooks\" is not a JSON object; angelad left the file untouched", f.Path)
	}
	return o, nil
}

func (f *File) setHooks(hooks *object) error {
	raw, err := hooks.MarshalJSON()
	if err != nil {
		return err
	}
	f.obj.set("hooks", raw)
	return nil
}

func eventGroups(path string, hooks *object, event string) ([]json.RawMessage, error) {
	raw, ok := hooks.get(event)
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var groups []json.RawMessage
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("%s: hooks.%s is not a JSON array; angelad left the file untouched", path, event)
	}
	return groups, nil
}

// hasExactly reports whether want is among groups and no other angelad hook
// is.
func hasExactly(groups []json.RawMessage, want json.RawMessage) bool {
	found, others := false, 0
	for _, g := range groups {
		if sameJSON(g, want) && !found {
			found = true
			continue
		}
		others += countAngelad(g)
	}
	return found && others == 0
}

type groupHooks struct {
	Hooks []json.RawMessage `json:"hooks"`
}

type hookCommand struct {
	Command string   `json:"command"`
	Timeout *float64 `json:"timeout"`
}

// installedTimeout is the time limit of angelad's first hook among groups,
// when it has a positive one.
func installedTimeout(groups []json.RawMessage) (float64, bool) {
	for _, group := range groups {
		var g groupHooks
		if json.Unmarshal(group, &g) != nil {
			continue
		}
		for _, h := range g.Hooks {
			var c hookCommand
			if json.Unmarshal(h, &c) == nil && IsAngeladHook(c.Command) {
				if c.Timeout != nil && *c.Timeout > 0 {
					return *c.Timeout, true
				}
				return 0, false
			}
		}
	}
	return 0, false
}

func countAngelad(group json.RawMessage) int {
	var g groupHooks
	if json.Unmarshal(group, &g) != nil {
		return 0
	}
	n := 0
	for _, h := range g.Hooks {
		var c hookCommand
		if json.Unmarshal(h, &c) == nil && IsAngeladHook(c.Command) {
			n++
		}
	}
	return n
}

// stripAngelad removes angelad's hooks from groups, dropping a group that is
// left without hooks, and keeps everything else of each group as it was.
func stripAngelad(path, event string, groups []json.RawMessage) ([]json.RawMessage, int, error) {
	var kept []json.RawMessage
	removed := 0
	for _, g := range groups {
		n := countAngelad(g)
		if n == 0 {
			kept = append(kept, g)
			continue
		}
		obj, err := parseObject(g)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: a hooks.%s entry is not a JSON object", path, event)
		}
		raw, _ := obj.get("hooks")
		var hs []json.RawMessage
		if err := json.Unmarshal(raw, &hs); err != nil {
			return nil, 0, fmt.Errorf("%s: hooks.%s[].hooks is not a JSON array", path, event)
		}
		var rest []json.RawMessage
		for _, h := range hs {
			var c hookCommand
			if json.Unmarshal(h, &c) == nil && IsAngeladHook(c.Command) {
				continue
			}
			rest = append(rest, h)
		}
		removed += n
		if len(rest) == 0 {
			continue
		}
		b, err := marshal(rest)
		if err != nil {
			return nil, 0, err
		}
		obj.set("hooks", b)
		if g, err = obj.MarshalJSON(); err != nil {
			return nil, 0, err
		}
		kept = append(kept, g)
	}
	return kept, removed, nil
}

// MCPServer is how Claude Code starts a stdio MCP server.
type MCPServer struct {
	Type    string            `json:"type"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
}

// InstallMCP sets mcpServers[name] to s, keeping every other server and key.
// A server already registered under name is replaced.
func (f *File) InstallMCP(name string, s MCPServer) error {
	return f.InstallProjectMCP("", name, s)
}

// UninstallMCP removes mcpServers[name] and reports whether it was there.
func (f *File) UninstallMCP(name string) (bool, error) {
	return f.UninstallProjectMCP("", name)
}

// InstallProjectMCP sets projects[project].mcpServers[name] to s: in
// ~/.claude.json, the server of one project that only its user sees, where
// `claude mcp add --scope local` writes. project "" is the top level
// (InstallMCP). Every other project, server and key is kept.
func (f *File) InstallProjectMCP(project, name string, s MCPServer) error {
	holder, save, err := f.mcpHolder(project)
	if err != nil {
		return err
	}
	servers, err := f.mcpServers(holder, project)
	if err != nil {
		return err
	}
	if s.Args == nil {
		s.Args = []string{}
	}
	if s.Env == nil {
		s.Env = map[string]string{}
	}
	raw, err := marshal(s)
	if err != nil {
		return err
	}
	if old, ok := servers.get(name); ok && sameJSON(old, raw) {
		return nil
	}
	servers.set(name, raw)
	b, err := servers.MarshalJSON()
	if err != nil {
		return err
	}
	holder.set("mcpServers", b)
	return save(false)
}

// UninstallProjectMCP removes projects[project].mcpServers[name] and reports
// whether it was there. A project entry left holding nothing but an empty
// "mcpServers" goes too, so an install followed by an uninstall gives back
// the file as it was.
func (f *File) UninstallProjectMCP(project, name string) (bool, error) {
	holder, save, err := f.mcpHolder(project)
	if err != nil {
		return false, err
	}
	servers, err := f.mcpServers(holder, project)
	if err != nil {
		return false, err
	}
	if _, ok := servers.get(name); !ok {
		return false, nil
	}
	servers.del(name)
	b, err := servers.MarshalJSON()
	if err != nil {
		return false, err
	}
	holder.set("mcpServers", b)
	return true, save(servers.len() == 0 && holder.len() == 1)
}

// mcpHolder is the object that holds "mcpServers": the file's top level, or
// projects[project]. save writes a project's object back into the file, or
// removes it when drop is set.
func (f *File) mcpHolder(project string) (holder *object, save func(drop bool) error, err error) {
	if project == "" {
		return f.obj, func(bool) error { return nil }, nil
	}
	projects := newObject()
	if raw, ok := f.obj.get("projects"); ok && string(bytes.TrimSpace(raw)) != "null" {
		if projects, err = parseObject(raw); err != nil {
			return nil, nil, fmt.Errorf("%s: \"projects\" is not a JSON object; angelad left the file untouched", f.Path)
		}
	}
	holder = newObject()
	if raw, ok := projects.get(project); ok && string(bytes.TrimSpace(raw)) != "null" {
		if holder, err = parseObject(raw); err != nil {
			return nil, nil, fmt.Errorf("%s: projects[%q] is not a JSON object; angelad left the file untouched", f.Path, project)
		}
	}
	save = func(drop bool) error {
		if drop {
			projects.del(project)
		} else {
			b, err := holder.MarshalJSON()
			if err != nil {
				return err
			}
			projects.set(project, b)
		}
		b, err := projects.MarshalJSON()
		if err != nil {
			return err
		}
		f.obj.set("projects", b)
		return nil
	}
	return holder, save, nil
}

func (f *File) mcpServers(holder *object, project string) (*object, error) {
	raw, ok := holder.get("mcpServers")
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return newObject(), nil
	}
	o, err := parseObject(raw)
	if err != nil {
		where := `"mcpServers"`
		if project != "" {
			where = fmt.Sprintf("projects[%q].mcpServers", project)
		}
		return nil, fmt.Errorf("%s: %s is not a JSON object; angelad left the file untouched", f.Path, where)
	}
	return o, nil
}

package claudecode

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// existing is a user's settings file with other keys and hooks, in unusual
// formatting.
const existing = `{"model":"opus",  "permissions" : {"allow":["Bash(git status)"]},
"hooks":{
	"SessionStart":[{"matcher":"startup","hooks":[{"type":"command","command":"echo hi && date","timeout":5}]}],
	"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"/usr/local/bin/guard"}]}]
},
"env": {"A": "1"}}`

func entries(bin string) []HookEntry {
	var es []HookEntry
	for _, e := range Events {
		es = append(es, HookEntry{Event: e.ClaudeEvent, Command: HookCommand(bin, nil, e.Name), Timeout: 5})
	}
	return es
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, data)
	}
	return v
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestInstallHooksKeepsEverythingElseAndUninstallGivesItBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	write(t, path, existing, 0o640)
	f, err := ReadFile(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.InstallHooks(entries("/opt/angela/bin/angelad")); err != nil {
		t.Fatal(err)
	}
	backup, err := f.Write()
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, backup); got != existing {
		t.Errorf("backup holds %q, want the previous file", got)
	}
	data := []byte(readString(t, path))
	got := decode(t, data)
	for _, k := range []string{"model", "permissions", "env"} {
		if !reflect.DeepEqual(got[k], decode(t, []byte(existing))[k]) {
			t.Errorf("%s changed: %v", k, got[k])
		}
	}
	// Keys keep their order.
	if s := string(data); !(strings.Index(s, `"model"`) < strings.Index(s, `"permissions"`) &&
		strings.Index(s, `"permissions"`) < strings.Index(s, `"hooks"`) && strings.Index(s, `"hooks"`) < strings.Index(s, `"env"`)) {
		t.Errorf("keys reordered:\n%s", s)
	}
	if !strings.Contains(string(data), `"echo hi && date"`) {
		t.Errorf("the command was escaped or lost:\n%s", data)
	}
	hooks := got["hooks"].(map[string]any)
	start := hooks["SessionStart"].([]any)
	if len(start) != 2 {
		t.Fatalf("SessionStart has %d groups, want the user's and angelad's:\n%s", len(start), data)
	}
	h := start[1].(map[string]any)["hooks"].([]any)[0].(map[string]any)
	if h["type"] != "command" || h["command"] != "/opt/angela/bin/angelad hook session-start" || h["timeout"] != 5.0 {
		t.Errorf("angelad's SessionStart hook is %v", h)
	}
	for _, ev := range []string{"SessionEnd", "PreCompact", "PreToolUse"} {
		if _, ok := hooks[ev]; !ok {
			t.Errorf("no %s hooks", ev)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %04o, want 0640 kept", st.Mode().Perm())
	}

	// Twice changes nothing.
	f, _ = ReadFile(path, 0o644)
	f.InstallHooks(entries("/opt/angela/bin/angelad"))
	if changed, _ := f.Changed(); changed {
		c, _ := f.Content()
		t.Errorf("a second install changed the file:\n%s", c)
	}

	f, _ = ReadFile(path, 0o644)
	n, err := f.UninstallHooks()
	if err != nil || n != len(Events) {
		t.Fatalf("uninstall removed %d (%v), want %d", n, err, len(Events))
	}
	c, _ := f.Content()
	if !reflect.DeepEqual(decode(t, c), decode(t, []byte(existing))) {
		t.Errorf("after uninstall the settings are\n%s\nwant those before install", c)
	}
}

func TestInstallReplacesTheEntryOfAMovedBinaryAndKeepsSharedGroups(t *testing.T) {
	// A group holding angelad's hook beside the user's own, by an older binary.
	old := `{"hooks":{"SessionEnd":[{"hooks":[{"type":"command","command":"'/old place/angelad' hook session-end"},{"type":"command","command":"notify-send bye"}]}]}}`
	path := filepath.Join(t.TempDir(), "settings.json")
	write(t, path, old, 0o600)
	f, _ := ReadFile(path, 0o644)
	if err := f.InstallHooks(entries("/new/angelad")); err != nil {
		t.Fatal(err)
	}
	c, _ := f.Content()
	s := string(c)
	if strings.Contains(s, "/old place/") || !strings.Contains(s, "notify-send bye") || strings.Count(s, "/new/angelad hook session-end") != 1 {
		t.Errorf("after install:\n%s", s)
	}
}

func TestNonJSONAndNonObjectHooksAreRefused(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.json":  "model = opus\n",
		"array.json":    "[1, 2]",
		"trailing.json": `{"a": 1} {"b": 2}`,
	} {
		path := filepath.Join(dir, name)
		write(t, path, content, 0o644)
		_, err := ReadFile(path, 0o644)
		var nj *NotJSONError
		if !errors.As(err, &nj) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err %v, want a one-line NotJSONError", name, err)
		}
	}
	path := filepath.Join(dir, "hooks-array.json")
	write(t, path, `{"hooks": []}`, 0o644)
	f, err := ReadFile(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.InstallHooks(entries("/x/angelad")); err == nil || !strings.Contains(err.Error(), `"hooks" is not a JSON object`) {
		t.Errorf("hooks as an array: %v", err)
	}
}

func TestMissingFileIsCreatedAndReadOnlyFileRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".claude", "settings.json")
	f, err := ReadFile(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.InstallHooks(entries("/x/angelad"))
	backup, err := f.Write()
	if err != nil || backup != "" {
		t.Fatalf("write a new file: backup %q, %v", backup, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("new file: %v %v", st, err)
	}

	ro := filepath.Join(dir, "ro.json")
	write(t, ro, `{"a": 1}`, 0o444)
	f, _ = ReadFile(ro, 0o644)
	f.InstallHooks(entries("/x/angelad"))
	if _, err := f.Write(); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only file: %v", err)
	}
	if readString(t, ro) != `{"a": 1}` {
		t.Error("the read-only file was changed")
	}
}

func TestSymlinkedSettingsStayLinked(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles-settings.json")
	write(t, real, `{}`, 0o644)
	link := filepath.Join(dir, "settings.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	f, _ := ReadFile(link, 0o644)
	f.InstallHooks(entries("/x/angelad"))
	if _, err := f.Write(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if !strings.Contains(readString(t, real), "angelad hook") {
		t.Error("the link's target was not updated")
	}
}

func TestInstallMCPIsIdempotentAndKeepsOtherServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".mcp.json")
	write(t, path, `{"mcpServers":{"github":{"type":"stdio","command":"gh-mcp","args":[],"env":{"T":"x"}}},"numStartups":3}`, 0o600)
	f, _ := ReadFile(path, 0o600)
	s := MCPServer{Type: "stdio", Command: "/x/angelad", Args: []string{"mcp"}}
	if err := f.InstallMCP("angela", s); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(); err != nil {
		t.Fatal(err)
	}
	got := decode(t, []byte(readString(t, path)))
	servers := got["mcpServers"].(map[string]any)
	if servers["github"] == nil || got["numStartups"] != 3.0 {
		t.Errorf("other keys lost: %v", got)
	}
	a := servers["angela"].(map[string]any)
	if a["command"] != "/x/angelad" || !reflect.DeepEqual(a["args"], []any{"mcp"}) || a["type"] != "stdio" {
		t.Errorf("angela server: %v", a)
	}
	f, _ = ReadFile(path, 0o600)
	f.InstallMCP("angela", s)
	if changed, _ := f.Changed(); changed {
		t.Error("a second install changed the file")
	}
	ok, err := f.UninstallMCP("angela")
	if !ok || err != nil {
		t.Fatalf("uninstall: %v %v", ok, err)
	}
	c, _ := f.Content()
	if strings.Contains(string(c), "angela") || !strings.Contains(string(c), "github") {
		t.Errorf("after uninstall:\n%s", c)
	}
}

func TestShellQuoteAndRecognition(t *testing.T) {
	cases := []struct {
		bin  string
		want string
	}{
		{"/usr/local/bin/angelad", "/usr/local/bin/angelad hook session-start"},
		{"/Users/david/Library/Application Support/angelad", "'/Users/david/Library/Application Support/angelad' hook session-start"},
		{"/tmp/it's/angelad", `'/tmp/it'\''s/angelad' hook session-start`},
	}
	for _, c := range cases {
		got := HookCommand(c.bin, nil, "session-start")
		if got != c.want {
			t.Errorf("HookCommand(%q) = %q, want %q", c.bin, got, c.want)
		}
		if !IsAngeladHook(got) {
			t.Errorf("%q not recognised as angelad's", got)
		}
		if w := shellWords(got); w[0] != c.bin {
			t.Errorf("shellWords(%q)[0] = %q", got, w[0])
		}
	}
	for _, cmd := range []string{"angelad-notes hook x", "echo angelad hook", "/bin/angelad status", ""} {
		if IsAngeladHook(cmd) {
			t.Errorf("%q recognised as angelad's hook", cmd)
		}
	}
	if !IsAngeladHook(HookCommand("/a/angelad", []string{"--config", "/etc/my conf.toml"}, "pre-compact")) {
		t.Error("a hook with --config is not recognised")
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestReinstallKeepsATimeoutItsUserGaveAngeladsHook(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	install := func(bin string, timeout, keepAbove int) map[string]any {
		t.Helper()
		f, err := ReadFile(path, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.InstallHooks(HookEntries(func(name string) string { return HookCommand(bin, nil, name) }, timeout, keepAbove)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(); err != nil {
			t.Fatal(err)
		}
		return decode(t, []byte(readString(t, path)))
	}
	hookOf := func(s map[string]any, event string) map[string]any {
		groups := s["hooks"].(map[string]any)[event].([]any)
		return groups[len(groups)-1].(map[string]any)["hooks"].([]any)[0].(map[string]any)
	}
	s := install("/a/angelad", 7, 2)
	// The user raises SessionStart's limit to 30 and lowers PreCompact's to 1,
	// below the hook's own 2 seconds, and adds a hook of theirs with 4.
	hookOf(s, "SessionStart")["timeout"] = 30
	hookOf(s, "PreCompact")["timeout"] = 1
	hooks := s["hooks"].(map[string]any)
	hooks["SessionEnd"] = append([]any{map[string]any{"hooks": []any{
		map[string]any{"type": "command", "command": "notify-send bye", "timeout": 4}}}}, hooks["SessionEnd"].([]any)...)
	b, _ := json.Marshal(s)
	write(t, path, string(b), 0o644)

	// A new install (the binary moved) keeps 30, replaces 1, and leaves the
	// user's own hook alone.
	s = install("/b/angelad", 7, 2)
	for event, want := range map[string]float64{"SessionStart": 30, "SessionEnd": 7, "PreCompact": 7} {
		if h := hookOf(s, event); h["command"] != "/b/angelad hook "+hookName(event) || h["timeout"] != want {
			t.Errorf("%s after reinstall: %v, want /b/angelad with timeout %v", event, h, want)
		}
	}
	if u := s["hooks"].(map[string]any)["SessionEnd"].([]any)[0].(map[string]any)["hooks"].([]any)[0].(map[string]any); u["timeout"] != 4.0 {
		t.Errorf("the user's own hook changed: %v", u)
	}
	// Installing once more changes nothing.
	f, _ := ReadFile(path, 0o644)
	f.InstallHooks(HookEntries(func(name string) string { return HookCommand("/b/angelad", nil, name) }, 7, 2))
	if changed, _ := f.Changed(); changed {
		t.Error("a second install changed the file")
	}
	// A hooks.timeout raised to 40s makes a kept 30 too short: replaced.
	s = install("/b/angelad", 45, 40)
	for _, e := range Events {
		if h := hookOf(s, e.ClaudeEvent); h["timeout"] != 45.0 {
			t.Errorf("%s: %v, want 45", e.ClaudeEvent, h)
		}
	}
}

func TestLocalScopeMCPIsFiledUnderTheProjectAndUninstallGivesTheFileBack(t *testing.T) {
	const before = `{"numStartups": 4, "mcpServers": {"github": {"type": "stdio", "command": "gh-mcp", "args": []}},
"projects": {"/home/david/other": {"allowedTools": [], "mcpServers": {"x": {"command": "x"}}},
 "/home/david/angela": {"allowedTools": ["Bash(ls)"], "hasTrustDialogAccepted": true}}}`
	path := filepath.Join(t.TempDir(), ".claude.json")
	write(t, path, before, 0o600)
	s := MCPServer{Type: "stdio", Command: "/x/angelad", Args: []string{"mcp"}, Env: map[string]string{"ANGELA_STATE_DIR": "/s"}}
	for _, project := range []string{"/home/david/angela", "/home/david/new"} {
		f, _ := ReadFile(path, 0o600)
		if err := f.InstallProjectMCP(project, "angela", s); err != nil {
			t.Fatal(err)
		}
		c, _ := f.Content()
		got := decode(t, c)
		if _, ok := got["mcpServers"].(map[string]any)["angela"]; ok {
			t.Errorf("%s: the server went to the top level", project)
		}
		projects := got["projects"].(map[string]any)
		a := projects[project].(map[string]any)["mcpServers"].(map[string]any)["angela"].(map[string]any)
		if a["command"] != "/x/angelad" || a["env"].(map[string]any)["ANGELA_STATE_DIR"] != "/s" {
			t.Errorf("%s: server %v", project, a)
		}
		if projects["/home/david/other"].(map[string]any)["mcpServers"].(map[string]any)["x"] == nil ||
			projects["/home/david/angela"].(map[string]any)["hasTrustDialogAccepted"] != true || got["numStartups"] != 4.0 {
			t.Errorf("%s: other keys lost:\n%s", project, c)
		}
		f.Write()
		f, _ = ReadFile(path, 0o600)
		f.InstallProjectMCP(project, "angela", s)
		if changed, _ := f.Changed(); changed {
			t.Errorf("%s: a second install changed the file", project)
		}
		ok, err := f.UninstallProjectMCP(project, "angela")
		if !ok || err != nil {
			t.Fatalf("%s: uninstall %v %v", project, ok, err)
		}
		f.Write()
		// The project that was not there is gone again; the other keeps an
		// empty mcpServers, as `claude mcp remove` leaves it.
		got = decode(t, []byte(readString(t, path)))
		want := decode(t, []byte(before))
		if project == "/home/david/angela" {
			want["projects"].(map[string]any)[project].(map[string]any)["mcpServers"] = map[string]any{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: after uninstall\n%s", project, readString(t, path))
		}
		write(t, path, before, 0o600)
	}
	f, _ := ReadFile(path, 0o600)
	if ok, err := f.UninstallProjectMCP("/nowhere", "angela"); ok || err != nil {
		t.Errorf("uninstall from a project never seen: %v %v", ok, err)
	}
	write(t, path, `{"projects": []}`, 0o600)
	f, _ = ReadFile(path, 0o600)
	if err := f.InstallProjectMCP("/p", "angela", s); err == nil || !strings.Contains(err.Error(), `"projects" is not a JSON object`) {
		t.Errorf("projects as an array: %v", err)
	}
}

func TestProjectKeyIsTheDirectoryClaudeCodeFilesLocalSettingsUnder(t *testing.T) {
	root, _ := filepath.EvalSymlinks(t.TempDir())
	mkdir := func(p string) string {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := mkdir(filepath.Join(root, "plain", "sub"))
	link := filepath.Join(root, "link")
	os.Symlink(filepath.Join(root, "plain"), link)
	repo := mkdir(filepath.Join(root, "repo"))
	mkdir(filepath.Join(repo, ".git", "worktrees", "wt"))
	deep := mkdir(filepath.Join(repo, "a", "b"))
	// A linked worktree, as `git worktree add` lays it out.
	wt := mkdir(filepath.Join(root, "wt"))
	write(t, filepath.Join(wt, ".git"), "gitdir: "+filepath.Join(repo, ".git", "worktrees", "wt")+"\n", 0o644)
	write(t, filepath.Join(repo, ".git", "worktrees", "wt", "commondir"), "../..\n", 0o644)
	wtSub := mkdir(filepath.Join(wt, "src"))
	// A submodule: its .git names a directory without commondir.
	mkdir(filepath.Join(repo, ".git", "modules", "lib"))
	sub := mkdir(filepath.Join(repo, "lib"))
	write(t, filepath.Join(sub, ".git"), "gitdir: ../.git/modules/lib\n", 0o644)

	for dir, want := range map[string]string{
		plain:                         plain,
		filepath.Join(link, "sub"):    plain,
		repo:                          repo,
		deep:                          repo,
		wt:                            repo,
		wtSub:                         repo,
		sub:                           sub,
		filepath.Join(link, "sub/.."): filepath.Join(root, "plain"),
	} {
		got, err := ProjectKey(dir)
		if err != nil || got != want {
			t.Errorf("ProjectKey(%s) = %q, %v; want %q", dir, got, err, want)
		}
	}
}

// hookName is angelad's hook name of a Claude Code event.
func hookName(event string) string {
	for _, e := range Events {
		if e.ClaudeEvent == event {
			return e.Name
		}
	}
	return ""
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// runIn runs the binary in dir.
func (c *cli) runIn(dir, stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env, cmd.Dir = c.env, dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run angelad %v: %v", args, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (c *cli) home() string {
	for _, e := range c.env {
		if h, ok := strings.CutPrefix(e, "HOME="); ok {
			return h
		}
	}
	c.t.Fatal("no HOME")
	return ""
}

func jsonOf(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return v
}

// userSettings holds other hooks and keys, unusually formatted.
const userSettings = `{ "model" : "opus",
  "hooks" : { "PreToolUse" : [ { "matcher" : "Bash", "hooks" : [ { "type" : "command", "command" : "/usr/local/bin/guard" } ] } ],
    "SessionStart":[{"hooks":[{"type":"command","command":"cat ~/notes.md"}]}] },
  "statusLine": {"type": "command", "command": "echo $PWD"} }`

func TestHooksInstallMergesIsIdempotentAndUninstallRestores(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	path := filepath.Join(c.home(), ".claude", "settings.json")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte(userSettings), 0o600)

	// --print writes nothing.
	printed := c.ok("hooks", "install", "--print")
	if got := readFile(path); got != userSettings {
		t.Fatalf("--print changed the file:\n%s", got)
	}
	out := c.ok("hooks", "install")
	if !strings.Contains(out, "installed angelad's hooks in "+path) || !strings.Contains(out, path+".angelad-backup") {
		t.Errorf("install printed %q", out)
	}
	data := readFile(path)
	if data != printed {
		t.Errorf("the file differs from what --print showed:\n%s\n---\n%s", data, printed)
	}
	if readFile(path+".angelad-backup") != userSettings {
		t.Error("the backup is not the previous file")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600 kept", st.Mode().Perm())
	}
	s := jsonOf(t, []byte(data))
	hooks := s["hooks"].(map[string]any)
	want := map[string]string{"SessionStart": "session-start", "SessionEnd": "session-end", "PreCompact": "pre-compact"}
	// newCLI sets ANGELA_STATE_DIR: the hooks carry it.
	stateDir := filepath.Join(c.home(), "state")
	for event, name := range want {
		groups := hooks[event].([]any)
		last := groups[len(groups)-1].(map[string]any)["hooks"].([]any)[0].(map[string]any)
		if last["command"] != binary+" --state-dir "+stateDir+" hook "+name || last["type"] != "command" || last["timeout"] != 7.0 {
			t.Errorf("%s: %v", event, last)
		}
	}
	if len(hooks["SessionStart"].([]any)) != 2 || hooks["PreToolUse"] == nil || s["statusLine"] == nil || s["model"] != "opus" {
		t.Errorf("other settings lost:\n%s", data)
	}

	if out := c.ok("hooks", "install"); !strings.Contains(out, "already in") {
		t.Errorf("second install printed %q", out)
	}
	if readFile(path) != data {
		t.Error("a second install changed the file")
	}

	c.ok("hooks", "uninstall")
	if !reflect.DeepEqual(jsonOf(t, []byte(readFile(path))), jsonOf(t, []byte(userSettings))) {
		t.Errorf("after uninstall:\n%s\nwant the settings from before", readFile(path))
	}
	if out := c.ok("hooks", "uninstall"); !strings.Contains(out, "are not in") {
		t.Errorf("second uninstall printed %q", out)
	}
}

func TestHooksInstallProjectScopeAndMissingFile(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	project := t.TempDir()
	r := c.runIn(project, "", "hooks", "install", "--scope", "project", "--hooks-timeout", "4s")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	path := filepath.Join(project, ".claude", "settings.json")
	s := jsonOf(t, []byte(readFile(path)))
	h := s["hooks"].(map[string]any)["PreCompact"].([]any)[0].(map[string]any)["hooks"].([]any)[0].(map[string]any)
	if h["command"] != binary+" --state-dir "+filepath.Join(c.home(), "state")+" hook pre-compact" || h["timeout"] != 9.0 {
		t.Errorf("PreCompact hook %v", h)
	}
	if _, err := os.Stat(filepath.Join(c.home(), ".claude")); err == nil {
		t.Error("project scope wrote the user's settings")
	}
	// Uninstalling where nothing is installed creates no file.
	other := t.TempDir()
	if r := c.runIn(other, "", "hooks", "uninstall", "--scope", "project"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(other, ".claude", "settings.json")); err == nil {
		t.Error("uninstall created a settings file")
	}
}

func TestHooksInstallRefusesNonJSONReadOnlyAndBadScope(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	path := filepath.Join(c.home(), ".claude", "settings.json")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte("{\"model\": \"opus\",}\n"), 0o644)
	c.fails(1, "is not a JSON object", "hooks", "install")
	if readFile(path) != "{\"model\": \"opus\",}\n" {
		t.Error("the non-JSON file was changed")
	}
	if _, err := os.Stat(path + ".angelad-backup"); err == nil {
		t.Error("a backup was made of a file left untouched")
	}
	os.WriteFile(path, []byte(`{"model": "opus"}`), 0o644)
	os.Chmod(path, 0o444)
	c.fails(1, "is read-only", "hooks", "install")
	c.fails(2, "invalid --scope: must be user, project or local", "hooks", "install", "--scope", "global")
	c.fails(2, "invalid --scope: must be user, project or local", "mcp", "install", "--scope", "machine")
}

func TestMCPInstallUserAndProjectScope(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	user := filepath.Join(c.home(), ".claude.json")
	os.WriteFile(user, []byte(`{"numStartups": 4, "mcpServers": {"github": {"type": "stdio", "command": "gh-mcp", "args": []}}, "projects": {}}`), 0o600)
	if out := c.ok("mcp", "install"); !strings.Contains(out, `installed angelad's MCP server "angela" in `+user) {
		t.Errorf("install printed %q", out)
	}
	s := jsonOf(t, []byte(readFile(user)))
	servers := s["mcpServers"].(map[string]any)
	a := servers["angela"].(map[string]any)
	if a["command"] != binary || !reflect.DeepEqual(a["args"], []any{"mcp"}) || a["type"] != "stdio" || servers["github"] == nil || s["numStartups"] != 4.0 {
		t.Errorf("~/.claude.json after install:\n%s", readFile(user))
	}
	if out := c.ok("mcp", "install"); !strings.Contains(out, "already in") {
		t.Errorf("second install printed %q", out)
	}
	if st, _ := os.Stat(user); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o", st.Mode().Perm())
	}

	project := t.TempDir()
	if r := c.runIn(project, "", "--config", "/etc/angelad/other.toml", "mcp", "install", "--scope", "project", "--print"); r.code != 2 {
		// The config file named does not exist: the command refuses before writing.
		t.Errorf("with a missing --config: exit %d, %s", r.code, r.stderr)
	}
	conf := filepath.Join(project, "angelad.toml")
	os.WriteFile(conf, []byte("[hooks]\ntimeout = \"1s\"\n"), 0o600)
	if r := c.runIn(project, "", "--config", conf, "mcp", "install", "--scope", "project"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	p := jsonOf(t, []byte(readFile(filepath.Join(project, ".mcp.json"))))
	a = p["mcpServers"].(map[string]any)["angela"].(map[string]any)
	if !reflect.DeepEqual(a["args"], []any{"--config", conf, "mcp"}) {
		t.Errorf(".mcp.json server %v", a)
	}
	c.runIn(project, "", "mcp", "uninstall", "--scope", "project")
	if strings.Contains(readFile(filepath.Join(project, ".mcp.json")), "angela") {
		t.Error("uninstall left the server")
	}
}

func TestAssistantCommandsHaveHelpWithExamplesAndRefuseStrayArguments(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	for _, cmd := range [][]string{{"hook"}, {"hooks"}, {"hooks", "install"}, {"hooks", "uninstall"},
		{"mcp"}, {"mcp", "install"}, {"mcp", "uninstall"}} {
		out := c.ok(append(cmd, "--help")...)
		if !strings.Contains(out, "Examples:\n  ") {
			t.Errorf("angelad %s --help has no example:\n%s", strings.Join(cmd, " "), out)
		}
	}
	c.fails(2, "give a subcommand: install or uninstall", "hooks")
	c.fails(2, `hooks takes no arguments, got "add"`, "hooks", "add")
	c.fails(2, `mcp takes no arguments, got "serve"`, "mcp", "serve")
	c.fails(2, "install takes no arguments", "hooks", "install", "now")
}

// installedHook is the command and time limit of angelad's hook of event in a
// settings file.
func installedHook(t *testing.T, path, event string) (string, float64) {
	t.Helper()
	s := jsonOf(t, []byte(readFile(path)))
	groups := s["hooks"].(map[string]any)[event].([]any)
	h := groups[len(groups)-1].(map[string]any)["hooks"].([]any)[0].(map[string]any)
	return h["command"].(string), h["timeout"].(float64)
}

func TestHooksAndMCPInstallCarryTheConfigAndStateDirTheyRanWith(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	c.ok("save-emotion", "--emotion", "อบอุ่น", "--intensity", "7", "--context", "the hooks found the same memory")
	project := t.TempDir()
	// The database is named in a config file, given by a relative
	// ANGELA_CONFIG; the state directory by ANGELA_STATE_DIR. Neither is in
	// the environment Claude Code runs the hooks with.
	os.WriteFile(filepath.Join(project, "angela.toml"), []byte("database_url = \""+url+"\"\n"), 0o600)
	stateDir := filepath.Join(t.TempDir(), "state")
	inst := &cli{t: t, env: []string{"HOME=" + c.home(), "PATH=" + os.Getenv("PATH"), "ANGELA_TIMEZONE=" + pgtest.TimeZone,
		"ANGELA_CONFIG=angela.toml", "ANGELA_STATE_DIR=" + stateDir}}
	r := inst.runIn(project, "", "hooks", "install")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("hooks install: exit %d, stderr %q", r.code, r.stderr)
	}
	settings := filepath.Join(c.home(), ".claude", "settings.json")
	conf := filepath.Join(project, "angela.toml")
	command, _ := installedHook(t, settings, "SessionStart")
	if want := binary + " --config " + conf + " --state-dir " + stateDir + " hook session-start"; command != want {
		t.Errorf("SessionStart runs %q, want %q", command, want)
	}
	// Run as Claude Code would: through the shell, from another directory,
	// without angelad's variables.
	sh := exec.Command("/bin/sh", "-c", command)
	sh.Dir, sh.Env = t.TempDir(), []string{"HOME=" + c.home(), "PATH=/usr/bin:/bin"}
	sh.Stdin = strings.NewReader(payload("SessionStart", map[string]string{"source": "startup"}))
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("the installed hook: %v", err)
	}
	if pack := additionalContext(t, result{stdout: string(out)}); !strings.Contains(pack, "the hooks found the same memory") {
		t.Errorf("the installed hook did not reach the memory of the config file:\n%s", pack)
	}
	if !strings.Contains(readFile(filepath.Join(stateDir, hooksLogName)), `"msg":"hook done"`) {
		t.Error("the installed hook did not log in the carried state directory")
	}

	r = inst.runIn(project, "", "mcp", "install")
	if r.code != 0 {
		t.Fatalf("mcp install: exit %d, %s", r.code, r.stderr)
	}
	a := jsonOf(t, []byte(readFile(filepath.Join(c.home(), ".claude.json"))))["mcpServers"].(map[string]any)["angela"].(map[string]any)
	if !reflect.DeepEqual(a["args"], []any{"mcp"}) || !reflect.DeepEqual(a["env"], map[string]any{"ANGELA_CONFIG": conf, "ANGELA_STATE_DIR": stateDir}) {
		t.Errorf("the MCP server %v, want ANGELA_CONFIG and ANGELA_STATE_DIR in its env", a)
	}

	// Given as flags, they are passed as flags; the server's env stays empty.
	flags := &cli{t: t, env: []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "ANGELA_TIMEZONE=" + pgtest.TimeZone}}
	flags.ok("--config", conf, "mcp", "install", "--state-dir", stateDir)
	a = jsonOf(t, []byte(readFile(filepath.Join(flags.home(), ".claude.json"))))["mcpServers"].(map[string]any)["angela"].(map[string]any)
	if !reflect.DeepEqual(a["args"], []any{"--config", conf, "--state-dir", stateDir, "mcp"}) || len(a["env"].(map[string]any)) != 0 {
		t.Errorf("the MCP server %v", a)
	}
	// Nothing named: nothing carried.
	none := &cli{t: t, env: []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}}
	none.ok("hooks", "install")
	if command, _ := installedHook(t, filepath.Join(none.home(), ".claude", "settings.json"), "SessionEnd"); command != binary+" hook session-end" {
		t.Errorf("with nothing named, SessionEnd runs %q", command)
	}

	// A database named in the environment is not written into the settings
	// (it may hold a password): the install says so.
	r = c.run("", "hooks", "install", "--print")
	if r.code != 0 || r.stderr != "angelad: note: the database comes from env ANGELA_DATABASE_URL, which the installed entries do not carry (it may hold a password); start Claude Code with the same environment, or name the database in the config file\n" {
		t.Errorf("hooks install with ANGELA_DATABASE_URL: exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, url) {
		t.Error("the database URL was written into the settings")
	}
}

func TestHooksReinstallKeepsATimeLimitTheUserEdited(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	path := filepath.Join(c.home(), ".claude", "settings.json")
	c.ok("hooks", "install")
	edited := strings.Replace(readFile(path), `"timeout": 7`, `"timeout": 30`, 1)
	os.WriteFile(path, []byte(edited), 0o644)
	first, _ := installedHook(t, path, "SessionStart")
	conf := filepath.Join(t.TempDir(), "angelad.toml")
	os.WriteFile(conf, nil, 0o600)
	// A reinstall that changes the commands keeps 30 on SessionStart.
	c.ok("--config", conf, "hooks", "install")
	command, timeout := installedHook(t, path, "SessionStart")
	if command == first || !strings.Contains(command, "--config "+conf) || timeout != 30 {
		t.Errorf("SessionStart after reinstall: %q with %v, want the new command with 30", command, timeout)
	}
	if _, timeout := installedHook(t, path, "PreCompact"); timeout != 7 {
		t.Errorf("PreCompact's limit %v, want 7", timeout)
	}
	// A hooks.timeout at or above the kept limit replaces it: Claude Code
	// must not kill the hook before it gives up by itself.
	c.ok("--config", conf, "hooks", "install", "--hooks-timeout", "30s")
	if _, timeout := installedHook(t, path, "SessionStart"); timeout != 35 {
		t.Errorf("SessionStart's limit with hooks.timeout 30s: %v, want 35", timeout)
	}
}

func TestHooksAndMCPInstallLocalScope(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	// A git repository, entered through a link, from a subdirectory.
	repo, _ := filepath.EvalSymlinks(t.TempDir())
	os.MkdirAll(filepath.Join(repo, ".git"), 0o755)
	sub := filepath.Join(repo, "cmd", "tool")
	os.MkdirAll(sub, 0o755)
	link := filepath.Join(t.TempDir(), "repo")
	os.Symlink(repo, link)
	dir := filepath.Join(link, "cmd", "tool")

	r := c.runIn(dir, "", "hooks", "install", "--scope", "local")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	local := filepath.Join(sub, ".claude", "settings.local.json")
	if !strings.Contains(r.stdout, "installed angelad's hooks in "+local) {
		t.Errorf("printed %q", r.stdout)
	}
	if command, _ := installedHook(t, local, "SessionEnd"); !strings.HasPrefix(command, binary+" ") {
		t.Errorf("SessionEnd runs %q", command)
	}
	if _, err := os.Stat(filepath.Join(dir, ".claude", "settings.json")); err == nil {
		t.Error("local scope wrote the shared settings.json")
	}
	c.runIn(dir, "", "hooks", "uninstall", "--scope", "local")
	if strings.Contains(readFile(local), "angelad") {
		t.Errorf("uninstall left:\n%s", readFile(local))
	}

	user := filepath.Join(c.home(), ".claude.json")
	os.WriteFile(user, []byte(`{"numStartups": 2, "projects": {"/elsewhere": {"mcpServers": {}}}}`), 0o600)
	r = c.runIn(dir, "", "mcp", "install", "--scope", "local")
	if r.code != 0 || !strings.Contains(r.stdout, `installed angelad's MCP server "angela" for `+repo+" in "+user) {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	s := jsonOf(t, []byte(readFile(user)))
	// Filed under the repository's top directory, as Claude Code files it,
	// and nowhere else.
	a := s["projects"].(map[string]any)[repo].(map[string]any)["mcpServers"].(map[string]any)["angela"].(map[string]any)
	if a["command"] != binary || !reflect.DeepEqual(a["args"], []any{"mcp"}) {
		t.Errorf("the local server %v", a)
	}
	if s["mcpServers"] != nil || s["projects"].(map[string]any)["/elsewhere"] == nil || s["numStartups"] != 2.0 {
		t.Errorf("~/.claude.json:\n%s", readFile(user))
	}
	if _, err := os.Stat(filepath.Join(dir, ".mcp.json")); err == nil {
		t.Error("local scope wrote .mcp.json")
	}
	if r := c.runIn(repo, "", "mcp", "install", "--scope", "local"); !strings.Contains(r.stdout, "already in") {
		t.Errorf("from the top directory: %q", r.stdout)
	}
	c.runIn(dir, "", "mcp", "uninstall", "--scope", "local")
	if got := jsonOf(t, []byte(readFile(user))); !reflect.DeepEqual(got, jsonOf(t, []byte(`{"numStartups": 2, "projects": {"/elsewhere": {"mcpServers": {}}}}`))) {
		t.Errorf("after uninstall:\n%s", readFile(user))
	}
}

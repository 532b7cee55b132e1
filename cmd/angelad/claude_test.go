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
	for event, name := range want {
		groups := hooks[event].([]any)
		last := groups[len(groups)-1].(map[string]any)["hooks"].([]any)[0].(map[string]any)
		if last["command"] != binary+" hook "+name || last["type"] != "command" || last["timeout"] != 7.0 {
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
	if h["command"] != binary+" hook pre-compact" || h["timeout"] != 9.0 {
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
	c.fails(2, "invalid --scope: must be user or project", "hooks", "install", "--scope", "global")
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

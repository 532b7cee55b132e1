package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/claudecode"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// pluginDir is the committed Claude Code plugin, from this package.
var pluginDir = filepath.Join("..", "..", claudecode.PluginDir)

// pluginHooks reads the plugin's hook commands by Claude Code event.
func pluginHooks(t *testing.T) map[string]string {
	t.Helper()
	var f struct {
		Hooks map[string][]struct {
			Hooks []struct {
				Command string `json:"command"`
			} `json:"hooks"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(readFile(filepath.Join(pluginDir, "hooks", "hooks.json"))), &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for event, groups := range f.Hooks {
		out[event] = groups[0].Hooks[0].Command
	}
	return out
}

// shells are the shells Claude Code may run a hook command with, those this
// machine has.
func shells(t *testing.T) []string {
	var out []string
	for _, sh := range []string{"/bin/sh", "/bin/bash", "/bin/zsh"} {
		if _, err := os.Stat(sh); err == nil {
			out = append(out, sh)
		}
	}
	if len(out) == 0 {
		t.Skip("no shell")
	}
	return out
}

// onPath is a directory holding only a link named angelad to the binary.
func onPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(dir, "angelad")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runShell(t *testing.T, sh, command string, env []string, stdin string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, "-c", command)
	cmd.Env, cmd.Dir = env, t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestPluginHooksRunAngeladFoundOnPATH(t *testing.T) {
	t.Parallel()
	c := newCLI(t, pgtest.DB(t))
	c.ok("save-emotion", "--emotion", "คิดถึง", "--intensity", "8", "--context", "the plugin found angelad on PATH")
	transcript := filepath.Join(t.TempDir(), "session.jsonl")
	os.WriteFile(transcript, []byte(speech("user", "stored through the plugin")), 0o600)
	hooks := pluginHooks(t)
	for _, sh := range shells(t) {
		env := append(c.with().env, "PATH="+onPath(t)+":/usr/bin:/bin")
		pack := additionalContext(t, runShell(t, sh, hooks["SessionStart"], env, payload("SessionStart", map[string]string{"source": "startup"})))
		if !strings.Contains(pack, "the plugin found angelad on PATH") {
			t.Errorf("%s: SessionStart's pack:\n%s", sh, pack)
		}
		for _, event := range []string{"PreCompact", "SessionEnd"} {
			r := runShell(t, sh, hooks[event], env, payload(event, map[string]string{"transcript_path": transcript}))
			if r.code != 0 || r.stdout != "" || r.stderr != "" {
				t.Errorf("%s: %s: exit %d, stdout %q, stderr %q", sh, event, r.code, r.stdout, r.stderr)
			}
		}
	}
	if got := c.ok("get-conversations", "--direct"); !strings.Contains(got, "stored through the plugin") || strings.Count(got, "stored through the plugin") != 1 {
		t.Errorf("stored:\n%s", got)
	}
}

func TestPluginHooksWithoutAngeladOnPATHTellTheUserAndExit0(t *testing.T) {
	t.Parallel()
	hooks := pluginHooks(t)
	if len(hooks) != len(claudecode.Events) {
		t.Fatalf("the plugin has hooks for %d events, want %d", len(hooks), len(claudecode.Events))
	}
	empty := t.TempDir()
	for _, sh := range shells(t) {
		for event, command := range hooks {
			r := runShell(t, sh, command, []string{"PATH=" + empty, "HOME=" + t.TempDir()}, payload(event, nil))
			if r.code != 0 || r.stderr != "" || strings.Count(r.stdout, "\n") != 1 {
				t.Errorf("%s: %s: exit %d, stdout %q, stderr %q; want 0 and one line", sh, event, r.code, r.stdout, r.stderr)
				continue
			}
			// JSON whose only field is the message Claude Code shows the
			// user; plain text from SessionStart would reach the model.
			var out map[string]string
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 ||
				!strings.HasPrefix(out["systemMessage"], "angelad is not on PATH, so this session runs without memory") {
				t.Errorf("%s: %s printed %q (%v)", sh, event, r.stdout, err)
			}
		}
	}
}

// TestPluginWithClaudeCode checks the plugin with the real client when it is
// installed (npm install -g @anthropic-ai/claude-code); nothing here needs a
// login or the network.
func TestPluginWithClaudeCode(t *testing.T) {
	t.Parallel()
	claude, err := exec.LookPath("claude")
	if err != nil {
		t.Skip("claude is not installed")
	}
	c := newCLI(t, pgtest.DB(t))
	env := append(c.with().env, "PATH="+onPath(t)+":"+os.Getenv("PATH"))
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, claude, args...)
		cmd.Env, cmd.Dir = env, t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("claude %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	abs, _ := filepath.Abs(pluginDir)
	run("plugin", "validate", "--strict", abs)
	run("plugin", "validate", "--strict", filepath.Dir(abs))
	if out := run("--plugin-dir", abs, "mcp", "list"); !strings.Contains(out, "plugin:angelad:angela: angelad mcp - ✔ Connected") {
		t.Errorf("claude mcp list with the plugin:\n%s", out)
	}
}

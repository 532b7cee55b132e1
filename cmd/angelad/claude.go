package main

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/claudecode"
)

func (a *app) hooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks install|uninstall",
		Short: "Install or remove angelad's hooks in Claude Code's settings",
		Long: `Install or remove the hooks that connect Claude Code to angelad: at every
session start Claude Code runs "angelad hook session-start" and receives the
recall pack as context; at session end and before a compaction it runs
"angelad hook session-end" and "angelad hook pre-compact".

Scope user (the default) edits ~/.claude/settings.json, scope project
.claude/settings.json in the current directory (shared with the project),
scope local .claude/settings.local.json there (this machine only, so the path
of this binary is never committed).

The Claude Code plugin in angelad's repository wires the same hooks and the
MCP server without editing any settings (see the README).`,
		Example: `  angelad hooks install
  angelad hooks install --scope local --print
  angelad hooks uninstall`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("give a subcommand: install or uninstall (see 'angelad hooks --help')")
		},
	}
	cmd.AddCommand(a.hooksEditCommand(true), a.hooksEditCommand(false))
	return cmd
}

func (a *app) hooksEditCommand(install bool) *cobra.Command {
	var (
		scope string
		print bool
	)
	name, short, example := "uninstall", "Remove angelad's hooks from Claude Code's settings, keeping every other hook", "  angelad hooks uninstall\n  angelad hooks uninstall --scope local"
	if install {
		name, short, example = "install", "Add angelad's hooks to Claude Code's settings, keeping every other hook and key", "  angelad hooks install\n  angelad hooks install --scope local --print"
	}
	cmd := &cobra.Command{
		Use:   name + " [--scope user|project|local] [--print]",
		Short: short,
		Long: short + `.

The file is rewritten atomically with its mode kept, after a copy of the
previous one is left beside it as <file>.angelad-backup; running it again
changes nothing. A file that is not valid JSON, or is read-only, is left
untouched. --print shows the resulting file instead of writing it.

The hooks run this binary with the config file and state directory this
command uses when they were named by --config or ANGELA_CONFIG, --state-dir
or ANGELA_STATE_DIR, so that they reach the same memory. A time limit edited
on angelad's hook in the file is kept on a new install, unless it is no
longer than hooks.timeout.`,
		Example: example,
		Args:    noArgs,
	}
	cmd.Flags().StringVar(&scope, "scope", "user", "user (~/.claude/settings.json), project (.claude/settings.json here) or local (.claude/settings.local.json here)")
	cmd.Flags().BoolVar(&print, "print", false, "print the resulting file; write nothing")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		path, err := claudeSettingsPath(scope)
		if err != nil {
			return err
		}
		f, err := claudecode.ReadFile(path, 0o644)
		if err != nil {
			return err
		}
		what := "angelad's hooks"
		if install {
			bin, err := a.binaryPath()
			if err != nil {
				return err
			}
			c := a.carried()
			command := func(name string) string { return claudecode.HookCommand(bin, c.allArgs(), name) }
			entries := claudecode.HookEntries(command, claudecode.ClaudeTimeout(a.cfg.Hooks.Timeout),
				int(math.Ceil(a.cfg.Hooks.Timeout.Seconds())))
			if err := f.InstallHooks(entries); err != nil {
				return err
			}
		} else if _, err := f.UninstallHooks(); err != nil {
			return err
		}
		return a.finishEdit(f, print, install, what)
	})
	return cmd
}

// finishEdit prints or writes an edited file and says what happened; after
// an install it notes where the installed command will find its database.
func (a *app) finishEdit(f *claudecode.File, print, install bool, what string) error {
	if err := a.writeEdit(f, print, install, what); err != nil {
		return err
	}
	if install {
		a.noteDatabaseFromEnv()
	}
	return nil
}

// writeEdit prints or writes an edited file and says what happened.
func (a *app) writeEdit(f *claudecode.File, print, install bool, what string) error {
	if print {
		content, err := f.Content()
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(content)
		return err
	}
	changed, err := f.Changed()
	if err != nil {
		return err
	}
	if !changed {
		state := "are not in"
		if install {
			state = "are already in"
		}
		_, err := fmt.Fprintf(a.stdout, "%s %s %s; nothing changed\n", what, state, f.Path)
		return err
	}
	backup, err := f.Write()
	if err != nil {
		return err
	}
	verb := "removed " + what + " from"
	if install {
		verb = "installed " + what + " in"
	}
	line := verb + " " + f.Path
	if backup != "" {
		line += " (previous file kept as " + backup + ")"
	}
	_, err = fmt.Fprintln(a.stdout, line)
	return err
}

// claudeSettingsPath is Claude Code's settings file of a scope: the user's,
// the project's shared one, or the project's local one (Claude Code's
// settings of one project on this machine, not meant to be committed).
func claudeSettingsPath(scope string) (string, error) {
	switch scope {
	case "user":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home directory: %w", err)
		}
		return filepath.Join(home, ".claude", "settings.json"), nil
	case "project", "local":
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find the current directory: %w", err)
		}
		name := "settings.json"
		if scope == "local" {
			name = "settings.local.json"
		}
		return filepath.Join(wd, ".claude", name), nil
	}
	return "", usagef("invalid --scope: must be user, project or local, got %q", scope)
}

// mcpTarget is where Claude Code keeps the MCP servers of a scope: the file,
// the mode a new one gets, and for local scope the project whose servers
// they are.
type mcpTarget struct {
	path    string
	mode    fs.FileMode
	project string
}

// claudeMCPTarget is where `claude mcp add --scope SCOPE` writes: ~/.claude.json
// for user scope; .mcp.json of the current directory for project scope; for
// local scope ~/.claude.json again, under the current project's entry, where
// a server is private to this machine and this project.
func claudeMCPTarget(scope string) (mcpTarget, error) {
	switch scope {
	case "user", "local":
		home, err := os.UserHomeDir()
		if err != nil {
			return mcpTarget{}, fmt.Errorf("find the home directory: %w", err)
		}
		// Claude Code keeps credentials and history there too.
		t := mcpTarget{path: filepath.Join(home, ".claude.json"), mode: 0o600}
		if scope == "local" {
			wd, err := os.Getwd()
			if err != nil {
				return mcpTarget{}, fmt.Errorf("find the current directory: %w", err)
			}
			if t.project, err = claudecode.ProjectKey(wd); err != nil {
				return mcpTarget{}, err
			}
		}
		return t, nil
	case "project":
		wd, err := os.Getwd()
		if err != nil {
			return mcpTarget{}, fmt.Errorf("find the current directory: %w", err)
		}
		return mcpTarget{path: filepath.Join(wd, ".mcp.json"), mode: 0o644}, nil
	}
	return mcpTarget{}, usagef("invalid --scope: must be user, project or local, got %q", scope)
}

// binaryPath is the absolute path of the running angelad, symbolic links
// resolved, so the entries keep working from any directory and whatever
// PATH Claude Code has.
func (a *app) binaryPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the angelad binary: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Abs(exe)
}

// carriedSettings are what the installed hooks and MCP server carry so that
// they use the memory this command uses: the config file named by --config or
// ANGELA_CONFIG and the state directory set by --state-dir or
// ANGELA_STATE_DIR, absolute. Claude Code runs them in its own environment,
// which need not hold this shell's variables. A config file or state
// directory angelad finds by default is found again by them, and is not
// carried.
type carriedSettings struct {
	// args are those given as flags, as flags.
	args []string
	// env are those given in the environment, by variable.
	env map[string]string
}

// allArgs is every carried setting as flags, for a hook's command line.
func (c carriedSettings) allArgs() []string {
	args := append([]string{}, c.args...)
	for _, k := range []struct{ env, flag string }{{"ANGELA_CONFIG", "--config"}, {"ANGELA_STATE_DIR", "--state-dir"}} {
		if v, ok := c.env[k.env]; ok {
			args = append(args, k.flag, v)
		}
	}
	return args
}

func (a *app) carried() carriedSettings {
	c := carriedSettings{env: map[string]string{}}
	abs := func(p string) string {
		if r, err := filepath.Abs(p); err == nil {
			return r
		}
		return p
	}
	switch {
	case a.configFile != "":
		c.args = append(c.args, "--config", abs(a.configFile))
	case os.Getenv("ANGELA_CONFIG") != "":
		c.env["ANGELA_CONFIG"] = abs(os.Getenv("ANGELA_CONFIG"))
	}
	switch src := a.cfg.Sources["state_dir"]; src.Kind {
	case "flag":
		c.args = append(c.args, "--state-dir", a.cfg.StateDir)
	case "env":
		c.env[src.Name] = a.cfg.StateDir
	}
	return c
}

// noteDatabaseFromEnv says, after an install, that the database this command
// used came from the environment, which the installed entries do not carry:
// a connection string may hold a password, and Claude Code's settings are
// no place for one.
func (a *app) noteDatabaseFromEnv() {
	if src := a.cfg.Database().Source; strings.HasPrefix(src, "env ") {
		fmt.Fprintf(a.stderr, "angelad: note: the database comes from %s, which the installed entries do not carry (it may hold a password); start Claude Code with the same environment, or name the database in the config file\n", src)
	}
}

func (a *app) mcpInstallCommand(install bool) *cobra.Command {
	var (
		scope string
		print bool
	)
	name, short := "uninstall", "Remove angelad's MCP server from Claude Code's configuration"
	if install {
		name, short = "install", "Register angelad's MCP server with Claude Code, keeping every other server"
	}
	cmd := &cobra.Command{
		Use:   name + " [--scope user|project|local] [--print]",
		Short: short,
		Long: short + `.

Scope user (the default) edits ~/.claude.json, where "claude mcp add --scope
user" writes; scope project edits .mcp.json in the current directory, where
"claude mcp add --scope project" writes; scope local edits the current
project's entry in ~/.claude.json, where "claude mcp add --scope local"
writes (the project being the git repository's top directory, or the current
directory outside one), so that the server is this machine's only. The server
is registered as "angela", running this binary with the argument mcp, and the
config file and state directory this command uses when they were named by
--config or ANGELA_CONFIG, --state-dir or ANGELA_STATE_DIR (given in its
"env" when they came from the environment). The file is rewritten atomically
with its mode kept, after a copy of the previous one is left beside it as
<file>.angelad-backup; running it again changes nothing.`,
		Example: "  angelad mcp " + name + "\n  angelad mcp " + name + " --scope local",
		Args:    noArgs,
	}
	cmd.Flags().StringVar(&scope, "scope", "user", "user (~/.claude.json), project (.mcp.json here) or local (this project's entry in ~/.claude.json)")
	cmd.Flags().BoolVar(&print, "print", false, "print the resulting file; write nothing")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		target, err := claudeMCPTarget(scope)
		if err != nil {
			return err
		}
		f, err := claudecode.ReadFile(target.path, target.mode)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("angelad's MCP server %q", claudecode.MCPServerName)
		if target.project != "" {
			what += " for " + target.project
		}
		if install {
			bin, err := a.binaryPath()
			if err != nil {
				return err
			}
			c := a.carried()
			s := claudecode.MCPServer{Type: "stdio", Command: bin, Args: append(c.args, "mcp"), Env: c.env}
			if err := f.InstallProjectMCP(target.project, claudecode.MCPServerName, s); err != nil {
				return err
			}
		} else if _, err := f.UninstallProjectMCP(target.project, claudecode.MCPServerName); err != nil {
			return err
		}
		return a.finishEdit(f, print, install, what)
	})
	return cmd
}

package main

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/claudecode"
)

// mcpServerName is the name angelad's MCP server is registered under, so
// Claude Code calls its tools mcp__angela__save_emotion and so on.
const mcpServerName = "angela"

func (a *app) hooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks install|uninstall",
		Short: "Install or remove angelad's hooks in Claude Code's settings",
		Long: `Install or remove the hooks that connect Claude Code to angelad: at every
session start Claude Code runs "angelad hook session-start" and receives the
recall pack as context; at session end and before a compaction it runs
"angelad hook session-end" and "angelad hook pre-compact".

Scope user (the default) edits ~/.claude/settings.json, scope project
.claude/settings.json in the current directory.`,
		Example: `  angelad hooks install
  angelad hooks install --scope project --print
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
	name, short, example := "uninstall", "Remove angelad's hooks from Claude Code's settings, keeping every other hook", "  angelad hooks uninstall\n  angelad hooks uninstall --scope project"
	if install {
		name, short, example = "install", "Add angelad's hooks to Claude Code's settings, keeping every other hook and key", "  angelad hooks install\n  angelad hooks install --scope project --print"
	}
	cmd := &cobra.Command{
		Use:   name + " [--scope user|project] [--print]",
		Short: short,
		Long: short + `.

The file is rewritten atomically with its mode kept, after a copy of the
previous one is left beside it as <file>.angelad-backup; running it again
changes nothing. A file that is not valid JSON, or is read-only, is left
untouched. --print shows the resulting file instead of writing it.`,
		Example: example,
		Args:    noArgs,
	}
	cmd.Flags().StringVar(&scope, "scope", "user", "user (~/.claude/settings.json) or project (.claude/settings.json here)")
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
			var entries []claudecode.HookEntry
			for _, e := range claudecode.Events {
				entries = append(entries, claudecode.HookEntry{
					Event:   e.ClaudeEvent,
					Command: claudecode.HookCommand(bin, a.globalArgs(), e.Name),
					Timeout: claudeTimeout(a.cfg.Hooks.Timeout.Seconds()),
				})
			}
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

// claudeTimeout is the time limit written for Claude Code, in whole seconds:
// a backstop above hooks.timeout, which the hook keeps itself.
func claudeTimeout(hookSeconds float64) int {
	return int(math.Ceil(hookSeconds)) + 5
}

// finishEdit prints or writes an edited file and says what happened.
func (a *app) finishEdit(f *claudecode.File, print, install bool, what string) error {
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

// claudeSettingsPath is Claude Code's settings file of a scope.
func claudeSettingsPath(scope string) (string, error) {
	switch scope {
	case "user":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home directory: %w", err)
		}
		return filepath.Join(home, ".claude", "settings.json"), nil
	case "project":
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find the current directory: %w", err)
		}
		return filepath.Join(wd, ".claude", "settings.json"), nil
	}
	return "", usagef("invalid --scope: must be user or project, got %q", scope)
}

// claudeMCPPath is where Claude Code keeps the MCP servers of a scope:
// ~/.claude.json for user scope, .mcp.json of the current directory for
// project scope.
func claudeMCPPath(scope string) (string, fs.FileMode, error) {
	switch scope {
	case "user":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", 0, fmt.Errorf("find the home directory: %w", err)
		}
		// Claude Code keeps credentials and history there too.
		return filepath.Join(home, ".claude.json"), 0o600, nil
	case "project":
		wd, err := os.Getwd()
		if err != nil {
			return "", 0, fmt.Errorf("find the current directory: %w", err)
		}
		return filepath.Join(wd, ".mcp.json"), 0o644, nil
	}
	return "", 0, usagef("invalid --scope: must be user or project, got %q", scope)
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

// globalArgs are the arguments every installed command gets: the config file
// named with --config, so hooks and the MCP server read the same one.
func (a *app) globalArgs() []string {
	if a.configFile == "" {
		return nil
	}
	abs, err := filepath.Abs(a.configFile)
	if err != nil {
		abs = a.configFile
	}
	return []string{"--config", abs}
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
		Use:   name + " [--scope user|project] [--print]",
		Short: short,
		Long: short + `.

Scope user (the default) edits ~/.claude.json, where "claude mcp add --scope
user" writes; scope project edits .mcp.json in the current directory, where
"claude mcp add --scope project" writes. The server is registered as "angela",
running this binary with the argument mcp. The file is rewritten atomically
with its mode kept, after a copy of the previous one is left beside it as
<file>.angelad-backup; running it again changes nothing.`,
		Example: "  angelad mcp " + name + "\n  angelad mcp " + name + " --scope project",
		Args:    noArgs,
	}
	cmd.Flags().StringVar(&scope, "scope", "user", "user (~/.claude.json) or project (.mcp.json here)")
	cmd.Flags().BoolVar(&print, "print", false, "print the resulting file; write nothing")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		path, mode, err := claudeMCPPath(scope)
		if err != nil {
			return err
		}
		f, err := claudecode.ReadFile(path, mode)
		if err != nil {
			return err
		}
		if install {
			bin, err := a.binaryPath()
			if err != nil {
				return err
			}
			s := claudecode.MCPServer{Type: "stdio", Command: bin, Args: append(a.globalArgs(), "mcp")}
			if err := f.InstallMCP(mcpServerName, s); err != nil {
				return err
			}
		} else if _, err := f.UninstallMCP(mcpServerName); err != nil {
			return err
		}
		return a.finishEdit(f, print, install, fmt.Sprintf("angelad's MCP server %q", mcpServerName))
	})
	return cmd
}

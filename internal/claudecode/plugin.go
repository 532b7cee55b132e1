package claudecode

import (
	"bytes"
	"encoding/json"
	"path"
	"strconv"

	"github.com/angela-ai/angelad/internal/config"
)

// MCPServerName is the name angelad's MCP server is registered under, so
// Claude Code calls its tools mcp__angela__save_emotion and so on (from the
// plugin: mcp__plugin_angelad_angela__save_emotion).
const MCPServerName = "angela"

// The plugin and the marketplace that lists it live in angelad's repository,
// so that `claude plugin marketplace add angela-ai/angelad` then
// `claude plugin install angelad@angelad` install it.
const (
	// PluginName names the plugin, and MarketplaceName the marketplace.
	PluginName      = "angelad"
	MarketplaceName = "angelad"
	// PluginDir is the plugin's directory, relative to the repository root.
	PluginDir = "claude-plugin"
	// PluginVersion is the plugin's version. Claude Code updates an installed
	// plugin only when its version changes: raise it whenever the files
	// PluginFiles writes change.
	PluginVersion = "1.0.0"
)

// notOnPath is what a plugin hook shows the user when it cannot find angelad.
const notOnPath = "angelad is not on PATH, so this session runs without memory: " +
	"install angelad or add its directory to the PATH Claude Code starts with, then restart Claude Code"

// PluginHookCommand is the command the plugin runs for angelad's hook name:
// angelad as found on PATH, with the hook's input on its standard input. When
// angelad is not on PATH it prints one line for the user (JSON output whose
// systemMessage Claude Code shows) and exits 0, so the session goes on as if
// there were no hook; a hook's standard error is shown only when it fails,
// and plain standard output of a SessionStart hook would reach the model.
func PluginHookCommand(name string) string {
	msg, _ := marshal(struct {
		SystemMessage string `json:"systemMessage"`
	}{notOnPath})
	return "command -v angelad >/dev/null 2>&1 && exec angelad hook " + ShellQuote(name) +
		" || echo " + ShellQuote(string(msg))
}

// PluginMCPServer is the plugin's MCP server: angelad as found on PATH.
func PluginMCPServer() MCPServer {
	return MCPServer{Type: "stdio", Command: "angelad", Args: []string{"mcp"}, Env: map[string]string{}}
}

// The plugin's files, as Claude Code's plugin documentation shapes them.
type (
	pluginAuthor struct {
		Name string `json:"name"`
		URL  string `json:"url,omitempty"`
	}
	pluginManifest struct {
		Name        string       `json:"name"`
		Version     string       `json:"version"`
		Description string       `json:"description"`
		Author      pluginAuthor `json:"author"`
		Homepage    string       `json:"homepage"`
		Repository  string       `json:"repository"`
		Keywords    []string     `json:"keywords"`
	}
	marketplaceEntry struct {
		Name        string       `json:"name"`
		Source      string       `json:"source"`
		Description string       `json:"description"`
		Version     string       `json:"version"`
		Author      pluginAuthor `json:"author"`
		Homepage    string       `json:"homepage"`
		Category    string       `json:"category"`
	}
	marketplace struct {
		Name        string             `json:"name"`
		Owner       pluginAuthor       `json:"owner"`
		Description string             `json:"description"`
		Plugins     []marketplaceEntry `json:"plugins"`
	}
	pluginHooks struct {
		Description string                 `json:"description"`
		Hooks       map[string][]hookGroup `json:"hooks"`
	}
	mcpConfig struct {
		MCPServers map[string]MCPServer `json:"mcpServers"`
	}
)

const (
	repository        = "https://github.com/angela-ai/angelad"
	pluginDescription = "Angela's long-term memory in Claude Code: the recall pack at every session start, " +
		"the session's words stored at its end and before a compaction, and the memory tools of the MCP server \"angela\". " +
		"Runs the angelad binary found on PATH."
)

// PluginFiles returns the files of angelad's Claude Code plugin and of the
// marketplace that lists it, by their paths relative to the repository root
// (slash-separated). The hooks are those `angelad hooks install` writes, the
// same events, hook names and time limit (ClaudeTimeout of the default
// hooks.timeout), run through PluginHookCommand; the MCP server is the one
// `angelad mcp install` registers, found on PATH. The test of this package
// fails when the committed files differ from these (`make plugin` writes
// them).
func PluginFiles() (map[string][]byte, error) {
	author := pluginAuthor{Name: "angela-ai", URL: "https://github.com/angela-ai"}
	hooks := pluginHooks{
		Description: "angelad's hooks: the recall pack at session start; the transcript stored at session end and before a compaction",
		Hooks:       map[string][]hookGroup{},
	}
	timeout := ClaudeTimeout(config.DefaultHooksTimeout)
	for _, e := range HookEntries(PluginHookCommand, timeout, 0) {
		hooks.Hooks[e.Event] = append(hooks.Hooks[e.Event], hookGroup{Hooks: []commandHook{
			{Type: "command", Command: e.Command, Timeout: json.Number(strconv.Itoa(e.Timeout))},
		}})
	}
	files := map[string]any{
		".claude-plugin/marketplace.json": marketplace{
			Name:        MarketplaceName,
			Owner:       author,
			Description: "angelad, the long-term memory of Angela, as a Claude Code plugin",
			Plugins: []marketplaceEntry{{
				Name: PluginName, Source: "./" + PluginDir, Description: pluginDescription,
				Version: PluginVersion, Author: author, Homepage: repository, Category: "productivity",
			}},
		},
		path.Join(PluginDir, ".claude-plugin/plugin.json"): pluginManifest{
			Name: PluginName, Version: PluginVersion, Description: pluginDescription, Author: author,
			Homepage: repository, Repository: repository,
			Keywords: []string{"memory", "companion", "mcp", "hooks", "postgresql"},
		},
		path.Join(PluginDir, "hooks/hooks.json"): hooks,
		path.Join(PluginDir, ".mcp.json"):        mcpConfig{MCPServers: map[string]MCPServer{MCPServerName: PluginMCPServer()}},
	}
	out := make(map[string][]byte, len(files))
	for name, v := range files {
		b, err := marshal(v)
		if err != nil {
			return nil, err
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, b, "", "  "); err != nil {
			return nil, err
		}
		out[name] = append(ind.Bytes(), '\n')
	}
	return out, nil
}

package claudecode

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/config"
)

var update = flag.Bool("update", false, "write the plugin's files (make plugin)")

// repoRoot is the repository's top directory, where the plugin's files are
// committed.
const repoRoot = "../.."

func TestPluginFilesAreThoseTheGeneratorWrites(t *testing.T) {
	want, err := PluginFiles()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		for name, content := range want {
			p := filepath.Join(repoRoot, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s: %v (run make plugin)", name, err)
			continue
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s differs from what PluginFiles writes (run make plugin):\n%s\nwant:\n%s", name, got, content)
		}
	}
	// Nothing else in the plugin's directory: a file there that the generator
	// does not write would be shipped unchecked.
	filepath.WalkDir(filepath.Join(repoRoot, PluginDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		if _, ok := want[filepath.ToSlash(rel)]; !ok {
			t.Errorf("%s is in the plugin but not written by PluginFiles", rel)
		}
		return nil
	})
}

// readJSON decodes a committed plugin file into v, refusing keys v does not
// have.
func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestPluginHooksAreTheInstalledHooksRunFromPATH(t *testing.T) {
	var hooks struct {
		Description string `json:"description"`
		Hooks       map[string][]struct {
			Matcher *string `json:"matcher"`
			Hooks   []struct {
				Type    string `json:"type"`
				Command string `json:"command"`
				Timeout int    `json:"timeout"`
			} `json:"hooks"`
		} `json:"hooks"`
	}
	readJSON(t, path.Join(PluginDir, "hooks/hooks.json"), &hooks)
	if hooks.Description == "" {
		t.Error("hooks.json has no description")
	}
	// One matcher-less group per event of Events, running that hook.
	if len(hooks.Hooks) != len(Events) {
		t.Errorf("hooks.json has %d events, want %d (%s)", len(hooks.Hooks), len(Events), EventNames())
	}
	for _, e := range Events {
		groups := hooks.Hooks[e.ClaudeEvent]
		if len(groups) != 1 || groups[0].Matcher != nil || len(groups[0].Hooks) != 1 {
			t.Errorf("%s: %+v, want one group without a matcher holding one hook", e.ClaudeEvent, groups)
			continue
		}
		h := groups[0].Hooks[0]
		if h.Type != "command" || h.Command != PluginHookCommand(e.Name) || h.Timeout != ClaudeTimeout(config.DefaultHooksTimeout) {
			t.Errorf("%s: %+v", e.ClaudeEvent, h)
		}
		if !strings.Contains(h.Command, "exec angelad hook "+e.Name+" ") {
			t.Errorf("%s does not run angelad hook %s: %s", e.ClaudeEvent, e.Name, h.Command)
		}
	}

	// The same hooks object, byte for byte once compacted, as `hooks install`
	// writes into a settings file for the same commands.
	f, err := ReadFile(filepath.Join(t.TempDir(), "settings.json"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.InstallHooks(HookEntries(PluginHookCommand, ClaudeTimeout(config.DefaultHooksTimeout), 0)); err != nil {
		t.Fatal(err)
	}
	installed, _ := f.obj.get("hooks")
	var raw struct {
		Description string          `json:"description"`
		Hooks       json.RawMessage `json:"hooks"`
	}
	readJSON(t, path.Join(PluginDir, "hooks/hooks.json"), &raw)
	if !sameJSONValue(t, installed, raw.Hooks) {
		t.Errorf("the plugin's hooks\n%s\ndiffer from what hooks install writes\n%s", raw.Hooks, installed)
	}
}

// sameJSONValue compares two JSON values whatever their key order.
func sameJSONValue(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestPluginMCPServerIsTheInstalledOneFromPATH(t *testing.T) {
	var mcp struct {
		MCPServers map[string]MCPServer `json:"mcpServers"`
	}
	readJSON(t, path.Join(PluginDir, ".mcp.json"), &mcp)
	s, ok := mcp.MCPServers[MCPServerName]
	if len(mcp.MCPServers) != 1 || !ok {
		t.Fatalf(".mcp.json servers %v, want %q only", mcp.MCPServers, MCPServerName)
	}
	if s.Type != "stdio" || s.Command != "angelad" || !reflect.DeepEqual(s.Args, []string{"mcp"}) || len(s.Env) != 0 {
		t.Errorf("server %+v, want angelad mcp from PATH", s)
	}
	// The entry `mcp install` writes for the same server.
	f, _ := ReadFile(filepath.Join(t.TempDir(), ".mcp.json"), 0o644)
	if err := f.InstallMCP(MCPServerName, s); err != nil {
		t.Fatal(err)
	}
	servers, _ := f.obj.get("mcpServers")
	var file struct {
		MCPServers json.RawMessage `json:"mcpServers"`
	}
	readJSON(t, path.Join(PluginDir, ".mcp.json"), &file)
	if !sameJSONValue(t, servers, file.MCPServers) {
		t.Errorf("the plugin's server %s differs from what mcp install writes %s", file.MCPServers, servers)
	}
}

// kebab is the form Claude Code requires of plugin and marketplace names.
var kebab = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

func TestPluginManifestAndMarketplace(t *testing.T) {
	type author struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	var manifest struct {
		Name        string   `json:"name"`
		Version     string   `json:"version"`
		Description string   `json:"description"`
		Author      author   `json:"author"`
		Homepage    string   `json:"homepage"`
		Repository  string   `json:"repository"`
		Keywords    []string `json:"keywords"`
	}
	readJSON(t, path.Join(PluginDir, ".claude-plugin/plugin.json"), &manifest)
	var market struct {
		Name        string `json:"name"`
		Owner       author `json:"owner"`
		Description string `json:"description"`
		Plugins     []struct {
			Name        string `json:"name"`
			Source      string `json:"source"`
			Description string `json:"description"`
			Version     string `json:"version"`
			Author      author `json:"author"`
			Homepage    string `json:"homepage"`
			Category    string `json:"category"`
		} `json:"plugins"`
	}
	readJSON(t, ".claude-plugin/marketplace.json", &market)

	if !kebab.MatchString(manifest.Name) || !kebab.MatchString(market.Name) {
		t.Errorf("names %q and %q must be kebab-case", manifest.Name, market.Name)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(manifest.Version) {
		t.Errorf("version %q is not MAJOR.MINOR.PATCH", manifest.Version)
	}
	if manifest.Description == "" || manifest.Author.Name == "" || market.Owner.Name == "" {
		t.Error("a description, the author or the owner is missing")
	}
	if len(market.Plugins) != 1 {
		t.Fatalf("marketplace lists %d plugins, want 1", len(market.Plugins))
	}
	p := market.Plugins[0]
	if p.Name != manifest.Name || p.Version != manifest.Version {
		t.Errorf("the marketplace lists %s %s, the manifest says %s %s", p.Name, p.Version, manifest.Name, manifest.Version)
	}
	// A relative source starts with ./ and names the plugin's directory in
	// this repository.
	if !strings.HasPrefix(p.Source, "./") {
		t.Errorf("source %q must start with ./", p.Source)
	}
	if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(p.Source), ".claude-plugin", "plugin.json")); err != nil {
		t.Errorf("source %q holds no plugin: %v", p.Source, err)
	}
	// Claude Code finds the plugin's hooks and servers in their default places.
	for _, name := range []string{"hooks/hooks.json", ".mcp.json"} {
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(p.Source), name)); err != nil {
			t.Errorf("the plugin has no %s: %v", name, err)
		}
	}
}

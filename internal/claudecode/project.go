package claudecode

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/angela-ai/angelad/internal/text"
)

// ProjectKey is the key under which Claude Code keeps what its local scope
// holds for the project in dir (`claude mcp add --scope local` writes
// projects[key].mcpServers in ~/.claude.json): the directory with its
// symbolic links resolved, or, inside a git repository, the repository's top
// directory, the main one's for a linked worktree (as Claude Code 2.1 files
// it: a server added from a subdirectory or a worktree is filed under, and
// only found under, that directory). The repository is found by reading .git
// entries, without running git.
func ProjectKey(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find the project directory: %w", err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("find the project directory: %w", text.WithoutPath(err))
	}
	for d := abs; ; d = filepath.Dir(d) {
		if root, ok := gitTop(d); ok {
			return root, nil
		}
		if filepath.Dir(d) == d {
			return abs, nil
		}
	}
}

// gitTop reports whether d is the top of a git working tree, and the
// directory Claude Code names the project by: d itself, or for a linked
// worktree (whose .git is a file pointing into the main repository's
// .git/worktrees) the main working tree.
func gitTop(d string) (string, bool) {
	dotgit := filepath.Join(d, ".git")
	st, err := os.Stat(dotgit)
	switch {
	case err != nil:
		return "", false
	case st.IsDir():
		return d, true
	}
	data, err := os.ReadFile(dotgit)
	if err != nil {
		return "", false
	}
	gitdir, ok := strings.CutPrefix(string(bytes.TrimSpace(data)), "gitdir:")
	if !ok {
		return "", false
	}
	gitdir = strings.TrimSpace(gitdir)
	if !filepath.IsAbs(gitdir) {
		gitdir = filepath.Join(d, gitdir)
	}
	// A linked worktree's git directory names the repository's common one; a
	// submodule's has no commondir, and the submodule is its own project.
	common, err := os.ReadFile(filepath.Join(gitdir, "commondir"))
	if err != nil {
		return d, true
	}
	dir := strings.TrimSpace(string(common))
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(gitdir, dir)
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil || filepath.Base(dir) != ".git" {
		return d, true
	}
	return filepath.Dir(dir), true
}

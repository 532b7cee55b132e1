package managed

import "context"

// FindBinDirIn is FindBinDir with the PATH and the install patterns given, so
// tests can point discovery at a tree of their own.
func FindBinDirIn(override, path string, patterns []string) (string, error) {
	return findBinDir(context.Background(), override, binSearch{path: path, patterns: patterns}, "", "")
}

// FindClusterBinDirIn is FindBinDirIn for the cluster in dataDir, as Start
// looks for its programs.
func FindClusterBinDirIn(override, dataDir, path string, patterns []string) (string, error) {
	bin, _, err := findClusterBinDir(context.Background(), override, binSearch{path: path, patterns: patterns}, dataDir)
	return bin, err
}

// NewSearchingIn is New with discovery pointed at the PATH and
// install patterns given.
func NewSearchingIn(opts Options, path string, patterns []string) *Cluster {
	c := New(opts)
	c.search = &binSearch{path: path, patterns: patterns}
	return c
}

// ProgramEnv is the environment the server programs get from env.
func ProgramEnv(env []string) []string { return programEnv(env) }

package postgres

// FindBinDirIn is FindBinDir with the PATH and the install patterns given, so
// tests can point discovery at a tree of their own.
func FindBinDirIn(override, path string, patterns []string) (string, error) {
	return findBinDir(override, binSearch{path: path, patterns: patterns})
}

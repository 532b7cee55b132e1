package deploy

import (
	"io/fs"
	"strings"
	"testing"
)

func TestFSHoldsEveryTemplate(t *testing.T) {
	t.Parallel()
	names := []string{SystemdSystemUnit, SystemdUserUnit, LaunchAgent}
	for _, name := range names {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		// Each template opens with the comment that tells a person how to
		// install it by hand.
		if !strings.HasPrefix(string(b), "{{/*") || !strings.Contains(string(b), "--print") {
			t.Errorf("%s does not open with a template comment explaining --print", name)
		}
	}
	var embedded []string
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			embedded = append(embedded, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(embedded) != len(names) {
		t.Errorf("FS holds %v; want exactly %v", embedded, names)
	}
}

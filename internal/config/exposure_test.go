package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHoldsPassword(t *testing.T) {
	for _, tc := range []struct {
		conn string
		want bool
	}{
		{"", false},
		{"postgres://david@localhost/AngelaMemory", false},
		{"postgres://david:s3cret@localhost/AngelaMemory", true},
		{"postgres://david:@localhost/AngelaMemory", false},
		{"postgresql://david@localhost/x?sslmode=disable&password=s3cret", true},
		{"host=/run/postgresql user=david dbname=AngelaMemory", false},
		{"host=localhost user=david password='s 3cret'", true},
		{"host=localhost passfile=/home/david/.pgpass", false},
		{"postgress://david:s3cret@localhost/x", true}, // unreadable: it may hold one
	} {
		if got := holdsPassword(tc.conn); got != tc.want {
			t.Errorf("holdsPassword(%q) = %t, want %t", tc.conn, got, tc.want)
		}
	}
}

func TestExposedPasswordOnlyForAFileEveryoneCanRead(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		content string
		perm    os.FileMode
		warn    bool
	}{
		{"world-readable with a password", `database_url = "postgres://u:pw@h/db"`, 0o644, true},
		{"owner only", `database_url = "postgres://u:pw@h/db"`, 0o600, false},
		{"readable by its group only", `database_url = "postgres://u:pw@h/db"`, 0o640, false},
		{"world-readable without a password", `database_url = "postgres://u@h/db"`, 0o644, false},
		{"world-readable, no database_url", `timezone = "UTC"`, 0o644, false},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".toml")
		if err := os.WriteFile(path, []byte(tc.content+"\n"), tc.perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.perm); err != nil {
			t.Fatal(err)
		}
		root := false
		c, err := Load(Options{File: path, Env: func(string) (string, bool) { return "", false }, Root: &root, Home: dir})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := c.ExposedPassword()
		if (got != "") != tc.warn || strings.Contains(got, "pw@") {
			t.Errorf("%s: ExposedPassword() = %q, want a warning: %t", tc.name, got, tc.warn)
		}
	}
}

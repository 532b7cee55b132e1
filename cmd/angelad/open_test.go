package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/angela-ai/angelad/internal/testkit"
	"github.com/angela-ai/angelad/internal/web"
)

// TestOpenPrintsTheViewersAddress: open refuses while the viewer is off; on,
// it prints the address with the install's token (made 0600 on first use,
// the same on every run), and on a desktop hands xdg-open the address with
// a one-visit code in place of the token; xdg-open's failure is not open's.
func TestOpenPrintsTheViewersAddress(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.fails(1, "the viewer is off: set web.enabled = true", "open")
	on := c.with("ANGELA_WEB_ENABLED=true")
	r := on.run("", "open")
	if r.code != 0 || !strings.Contains(r.stderr, "the daemon is not running") {
		t.Fatalf("open: exit %d\n%s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:7340/\?token=[0-9a-f]{64}\n$`).MatchString(r.stdout) {
		t.Fatalf("open printed %q", r.stdout)
	}
	var stateDir string
	for _, e := range c.env {
		if v, ok := strings.CutPrefix(e, "ANGELA_STATE_DIR="); ok {
			stateDir = v
		}
	}
	fi, err := os.Stat(filepath.Join(stateDir, web.TokenFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if again := on.ok("open", "--no-browser"); again != r.stdout {
		t.Errorf("a second open printed %q, want %q", again, r.stdout)
	}
	if out := on.with("ANGELA_WEB_LISTEN=0.0.0.0:8080").ok("open", "--no-browser"); !strings.HasPrefix(out, "http://127.0.0.1:8080/?token=") {
		t.Errorf("open on 0.0.0.0 printed %q", out)
	}
	if out := on.with("ANGELA_WEB_SOCKET=/tmp/angelad-web.sock").ok("open"); !strings.Contains(out, "curl --unix-socket /tmp/angelad-web.sock 'http://localhost/today?token=") {
		t.Errorf("open on a socket printed %q", out)
	}

	// On a desktop: xdg-open gets the address with a code good for one
	// visit in place of the token (a browser's command line is readable by
	// every user of the machine); one that fails changes nothing.
	bin := t.TempDir()
	got := filepath.Join(bin, "opened")
	script := "#!/bin/sh\nprintf '%s\\n' \"$1\" > " + got + ".tmp && mv " + got + ".tmp " + got + "\nexit 3\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	desk := on.with("DISPLAY=:0", "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out := desk.ok("open"); out != r.stdout {
		t.Errorf("open on a desktop printed %q, want %q", out, r.stdout)
	}
	var opened string
	testkit.WaitFor(t, "xdg-open called with the address", func() bool {
		data, err := os.ReadFile(got)
		opened = string(data)
		return err == nil
	})
	code, ok := strings.CutPrefix(strings.TrimSpace(opened), "http://127.0.0.1:7340/?open=")
	if !ok || strings.Contains(opened, "token") || strings.Contains(opened, strings.TrimSpace(r.stdout[strings.Index(r.stdout, "=")+1:])) {
		t.Fatalf("xdg-open got %q", opened)
	}
	if data, err := os.ReadFile(filepath.Join(stateDir, web.OpenFileName)); err != nil || !strings.HasPrefix(string(data), code+" ") {
		t.Errorf("the opening code's file holds %q, %v; xdg-open got %q", data, err, code)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

// mode returns the permission bits of path, failing the test if it has none.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestWhatTheDaemonWritesIsItsUsersAlone runs the daemon on an external
// database (as the tests run as root, the case where the state directory
// used to be 0711 for nothing) and checks that what it keeps of David's
// words, status.json with the last message and the daily update files, no
// other user can read, and that the log, which others may be given, does not
// hold them.
func TestWhatTheDaemonWritesIsItsUsersAlone(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	logDir := filepath.Join(t.TempDir(), "logs")
	updates := filepath.Join(t.TempDir(), "updates")
	c := captureCLI(t, url).with("ANGELA_LOG_FILE="+filepath.Join(logDir, "angelad.log"), "ANGELA_DAILYUPDATE_DIR="+updates,
		"ANGELA_COMPANION_LANGUAGE=en")
	stateDir := strings.TrimPrefix(c.env[3], "ANGELA_STATE_DIR=")
	const said = "the secret I told Angela about the surprise party"
	tr := newTranscripts(t, c)
	tr.write("p/s.jsonl", tr.say("user", said))

	d := startDaemon(t, c)
	statusFile := filepath.Join(stateDir, "status.json")
	testkit.WaitFor(t, "status.json to show the last message", func() bool { return strings.Contains(readFile(statusFile), "surprise party") })
	if m := mode(t, stateDir); m != 0o700 {
		t.Errorf("the state directory the daemon made has mode %04o, want 0700: no other user needs to enter it with an external database", m)
	}
	if m := mode(t, statusFile); m != 0o600 {
		t.Errorf("status.json, which holds the last message, has mode %04o, want 0600", m)
	}
	logFile := filepath.Join(logDir, "angelad.log")
	if m := mode(t, logFile); m != 0o600 {
		t.Errorf("the log file has mode %04o, want 0600", m)
	}
	if m := mode(t, logDir); m != 0o700 {
		t.Errorf("the log directory the daemon made has mode %04o, want 0700", m)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(readFile(logFile), "surprise party") {
		t.Errorf("the log holds what David said:\n%s", readFile(logFile))
	}

	// The evening update quotes the day's important moments.
	loc, _ := time.LoadLocation(pgtest.TimeZone)
	yesterday := time.Now().In(loc).AddDate(0, 0, -1)
	c.ok("save-conversation", "--speaker", "david", "--message", "an important "+said, "--importance", "9",
		"--at", yesterday.Format(time.DateOnly)+"T12:00:00+07:00")
	c.ok("run-job", "evening", "--date", yesterday.Format(time.DateOnly))
	file := filepath.Join(updates, yesterday.Format(time.DateOnly)+"-evening.md")
	if !strings.Contains(readFile(file), "surprise party") {
		t.Fatalf("the evening update does not quote the important moment:\n%s", readFile(file))
	}
	if m := mode(t, file); m != 0o600 {
		t.Errorf("the update file, which quotes David, has mode %04o, want 0600", m)
	}
	if m := mode(t, updates); m != 0o700 {
		t.Errorf("the updates directory angelad made has mode %04o, want 0700", m)
	}
}

// TestAPasswordInAConfigFileEveryoneCanReadIsWarnedOf: config and status say
// so on stderr, the daemon once in its log, never with the password; a file
// only its owner can read, or one without a password, is not warned of.
func TestAPasswordInAConfigFileEveryoneCanReadIsWarnedOf(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "config.toml")
	write := func(content string, perm os.FileMode) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(conf, perm); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	// The variable names the database the daemon uses; the file's URL is
	// what leaks.
	c := newCLI(t, pgtest.DB(t)).with("ANGELA_CONFIG="+conf, "ANGELA_CONVERSATION_TRANSCRIPTS=[]", "ANGELA_LOG_FORMAT=json")
	write("database_url = \"postgres://angela:SeCrEt123@db.example.com/AngelaMemory\"\n", 0o644)
	want := "angelad: warning: config file " + conf + " holds a password (database_url) and every user of this machine can read it (mode 0644): run chmod 600 " + conf
	for _, args := range [][]string{{"config"}, {"status"}} {
		r := c.run("", args...)
		if !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("angelad %s: stderr %q, want one line starting %q", args[0], r.stderr, want)
		}
		if strings.Contains(r.stdout+r.stderr, "CrEt") {
			t.Errorf("angelad %s shows the password:\n%s%s", args[0], r.stdout, r.stderr)
		}
	}
	if r := c.run("", "get-emotions"); r.code != 0 || r.stderr != "" {
		t.Errorf("get-emotions, which scripts and hooks run: exit %d, stderr %q, want quiet", r.code, r.stderr)
	}
	d := startDaemon(t, c)
	d.waitFor(t, `"msg":"ready"`)
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d:\n%s", code, d.log())
	}
	if n := strings.Count(d.log(), "every user of this machine can read it"); n != 1 || strings.Contains(d.log(), "CrEt") {
		t.Errorf("the daemon warned %d times (want once), or showed the password:\n%s", n, d.log())
	}

	write("database_url = \"postgres://angela:SeCrEt123@db.example.com/AngelaMemory\"\n", 0o600)
	if r := c.run("", "config"); r.stderr != "" {
		t.Errorf("a config file only its owner reads: stderr %q", r.stderr)
	}
	write("database_url = \"postgres://angela@db.example.com/AngelaMemory\"\n", 0o644)
	if r := c.run("", "config"); r.stderr != "" {
		t.Errorf("a config file without a password: stderr %q", r.stderr)
	}
}

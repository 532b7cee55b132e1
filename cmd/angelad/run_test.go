package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/logging"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/testkit"
)

func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

func TestSignalsShutdownThenForceExitAndHUPReloads(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "angelad.log")
	confFile := filepath.Join(dir, "config.toml")
	os.WriteFile(confFile, []byte("[log]\nlevel = \"info\"\n"), 0o600)
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, configFile: confFile}
	cmd := a.runCommand()
	if err := a.loadConfig(cmd); err != nil {
		t.Fatal(err)
	}
	log, err := logging.New(logging.Options{Level: "info", File: logFile}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()

	sigs := make(chan os.Signal)
	done := make(chan struct{})
	cancelled := make(chan struct{}, 2)
	exited := make(chan int, 1)
	go a.handleSignals(sigs, cmd, log, func() { cancelled <- struct{}{} }, func(code int) { exited <- code }, done)
	defer close(done)

	// SIGHUP: the log file is reopened where it was, and log.level reloaded.
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(confFile, []byte("[log]\nlevel = \"debug\"\n"), 0o600)
	sigs <- syscall.SIGHUP
	testkit.WaitFor(t, "the reload line in a new log file", func() bool {
		return strings.Contains(readFile(logFile), "reloaded the log level")
	})
	log.Debug("debug now shows")
	if !strings.Contains(readFile(logFile), "debug now shows") {
		t.Error("log.level was not reloaded to debug")
	}
	if strings.Contains(readFile(logFile+".1"), "reloaded") {
		t.Error("after SIGHUP the logger still wrote to the renamed file")
	}

	sigs <- syscall.SIGTERM
	select {
	case <-cancelled:
	case <-time.After(time.Minute):
		t.Fatal("the first SIGTERM did not start the shutdown")
	}
	select {
	case code := <-exited:
		t.Fatalf("the first signal exited (%d)", code)
	default:
	}
	sigs <- syscall.SIGINT
	select {
	case code := <-exited:
		if code != exitRuntime {
			t.Errorf("forced exit code %d, want %d", code, exitRuntime)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second signal did not force an exit")
	}
}

func TestLogsStatusAndLogFileOfARunningDaemon(t *testing.T) {
	t.Parallel()
	logFile := filepath.Join(t.TempDir(), "logs", "angelad.log")
	// Capture off, so that "ready" stays the last line of the log.
	c := newCLI(t, pgtest.DB(t)).with("ANGELA_LOG_FILE="+logFile, "ANGELA_CONVERSATION_TRANSCRIPTS=[]")
	d := startDaemon(t, c)
	testkit.WaitFor(t, "ready in the log file", func() bool { return strings.Contains(readFile(logFile), `"msg":"ready"`) })
	if d.log() != "" {
		t.Errorf("with log.file set the daemon also wrote to stderr:\n%s", d.log())
	}
	// The workers may log after ready (the daily updates catch up), so
	// compare with the file's last line once the two agree.
	var out string
	testkit.WaitFor(t, "logs -n 1 to print the log file's last line", func() bool {
		out = c.ok("logs", "-n", "1")
		lines := strings.Split(strings.TrimSuffix(readFile(logFile), "\n"), "\n")
		return strings.Count(out, "\n") == 1 && out == lines[len(lines)-1]+"\n"
	})

	out = c.ok("status")
	for _, want := range []string{"daemon:    running, pid", "database:  reachable", "PostgreSQL 15", "worker:    conversation running", "capture: off", "worker:    dailyupdate running", "worker:    socket running", "worker:    memory running", "worker:    spool running", "healthy"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
	r := c.run("", "status")
	if r.code != 1 || !strings.Contains(r.stdout, "daemon:    not running") || !strings.Contains(r.stdout, "UNHEALTHY") {
		t.Errorf("status after stop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("status printed on stderr: %q", r.stderr)
	}
	if !strings.Contains(readFile(logFile), `"msg":"stopped"`) {
		t.Errorf("the log file lacks the final line")
	}

}

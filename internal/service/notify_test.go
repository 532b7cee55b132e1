package service

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a datagram socket as systemd's notify socket and returns a
// function that reads the next message, failing after a deadline.
func listen(t *testing.T, name string) func() string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() string {
		t.Helper()
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, _, err := conn.ReadFromUnix(buf)
		if err != nil {
			t.Fatalf("read from %s: %v", name, err)
		}
		return string(buf[:n])
	}
}

// socketPath is a path for a Unix socket in a fresh directory, short enough
// for sun_path (104 bytes on macOS, whose $TMPDIR is long).
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	if len(dir) > 80 {
		os.Remove(dir)
		if dir, err = os.MkdirTemp("/tmp", "sdn"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "notify")
}

func TestNotifySendsToSocketPath(t *testing.T) {
	t.Parallel()
	path := socketPath(t)
	next := listen(t, path)
	for _, state := range []string{"READY=1", "STATUS=waiting for the database\nEXTEND_TIMEOUT_USEC=30000000", "WATCHDOG=1", "STOPPING=1"} {
		sent, err := notify(path, state)
		if !sent || err != nil {
			t.Fatalf("notify(%q) = %v, %v", state, sent, err)
		}
		if got := next(); got != state {
			t.Errorf("socket read %q, want %q", got, state)
		}
	}
}

func TestNotifySendsToAbstractSocket(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("abstract Unix sockets are Linux-only")
	}
	name := fmt.Sprintf("@angelad-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	next := listen(t, name)
	if sent, err := notify(name, "READY=1"); !sent || err != nil {
		t.Fatalf("notify = %v, %v", sent, err)
	}
	if got := next(); got != "READY=1" {
		t.Errorf("socket read %q, want READY=1", got)
	}
}

// TestNotifyReadsTheEnvironment is the one test that sets $NOTIFY_SOCKET, so
// it does not run in parallel.
func TestNotifyReadsTheEnvironment(t *testing.T) {
	path := socketPath(t)
	next := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	if sent, err := Notify("READY=1"); !sent || err != nil {
		t.Fatalf("Notify = %v, %v", sent, err)
	}
	if got := next(); got != "READY=1" {
		t.Errorf("socket read %q, want READY=1", got)
	}
	if os.Getenv("NOTIFY_SOCKET") != path {
		t.Error("Notify unset $NOTIFY_SOCKET")
	}

	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Errorf("Notify without a socket = %v, %v; want false, nil", sent, err)
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, socket, state, want string
	}{
		{"no listener", filepath.Join(t.TempDir(), "gone"), "READY=1", "notify: "},
		{"relative socket", "run/notify", "READY=1", "neither a socket path nor an abstract socket name"},
		{"vsock", "vsock:2:1234", "READY=1", "neither a socket path"},
		{"empty state", "/run/systemd/notify", "", "empty state"},
	} {
		sent, err := notify(tc.socket, tc.state)
		if sent || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: notify = %v, %v; want false and an error containing %q", tc.name, sent, err, tc.want)
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Parallel()
	self := os.Getpid()
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"60000000", "", time.Minute, true},
		{"60000000", strconv.Itoa(self), time.Minute, true},
		{"60000000", strconv.Itoa(self + 1), 0, false}, // meant for another process
		{"", "", 0, false},
		{"0", "", 0, false},
		{"-5", "", 0, false},
		{"soon", "", 0, false},
		{"60000000", "init", 0, false},
		{"9223372036854775807", "", 0, false}, // overflows a Duration
	} {
		got, ok := watchdogInterval(tc.usec, tc.pid, self)
		if got != tc.want || ok != tc.ok {
			t.Errorf("watchdogInterval(%q, %q) = %v, %v; want %v, %v", tc.usec, tc.pid, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWatchdogIntervalReadsTheEnvironment(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if got, ok := WatchdogInterval(); !ok || got != 30*time.Second {
		t.Errorf("WatchdogInterval = %v, %v; want 30s, true", got, ok)
	}
}

package service

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notify sends state to systemd over the datagram socket named by
// $NOTIFY_SOCKET, as sd_notify(3) does, and reports whether it sent it.
// Outside a Type=notify unit (under launchd, in a terminal, in tests) there is
// no $NOTIFY_SOCKET and Notify does nothing: it returns false and no error.
// The socket may be a path or, when it starts with "@", an abstract socket.
// $NOTIFY_SOCKET is left set, so that every later call finds it too.
//
// The units in deploy/systemd are Type=notify with WatchdogSec=, so the daemon
// sends:
//
//   - "READY=1" once its pool is up and its workers have started; until then
//     systemd reports the unit as starting and `systemctl start` waits;
//   - "STOPPING=1" when its shutdown begins;
//   - "WATCHDOG=1" every half of WatchdogInterval while it is healthy, or
//     systemd kills and restarts it.
//
// It may also send "STATUS=..." (a line `systemctl status` shows, such as
// "waiting for the database") and, while it waits for its database before
// READY=1, "EXTEND_TIMEOUT_USEC=..." to hold off TimeoutStartSec. Several
// assignments go in one call, one a line.
func Notify(state string) (sent bool, err error) {
	return notify(os.Getenv("NOTIFY_SOCKET"), state)
}

func notify(socket, state string) (bool, error) {
	if socket == "" {
		return false, nil
	}
	if state == "" {
		return false, errors.New("notify: empty state")
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		// systemd 254 and later may also name an AF_VSOCK address, which only
		// a virtual machine's guest uses.
		return false, fmt.Errorf("notify: NOTIFY_SOCKET=%q is neither a socket path nor an abstract socket name", socket)
	}
	// Go's net package turns a leading "@" into the NUL byte that starts an
	// abstract socket address on Linux.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("notify %s: %w", strings.SplitN(state, "\n", 2)[0], err)
	}
	return true, nil
}

// WatchdogInterval returns systemd's watchdog timeout for this process, from
// $WATCHDOG_USEC (set by WatchdogSec=), and false when there is none or it is
// meant for another process ($WATCHDOG_PID names a different pid). The daemon
// sends "WATCHDOG=1" at half of it, as sd_watchdog_enabled(3) advises.
func WatchdogInterval() (time.Duration, bool) {
	return watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

func watchdogInterval(usec, pid string, self int) (time.Duration, bool) {
	if usec == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/int64(time.Microsecond) {
		return 0, false
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil || p != self {
			return 0, false
		}
	}
	return time.Duration(n) * time.Microsecond, true
}

package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// DefaultTimeout bounds one call: a daemon that hangs (stopped, wedged) makes
// the command fall back to its direct path after this long, not never.
const DefaultTimeout = 2 * time.Second

// ErrNoDaemon says that no daemon listens on the socket: the command uses its
// direct path at once.
var ErrNoDaemon = errors.New("no daemon listens on the socket")

// Client calls the daemon listening at Path for the database named DB (see
// Identity).
type Client struct {
	Path string
	DB   string
	// Timeout bounds a call; zero means DefaultTimeout.
	Timeout time.Duration
}

// Call sends op with args to the daemon and decodes the result into result.
// It returns ErrNoDaemon when nothing listens there, an *Error when the
// daemon answered with one, and any other error when the call broke off (the
// daemon died or hung mid-request: the request may or may not have been
// served).
func (cl Client) Call(ctx context.Context, op string, args, result any) error {
	path, timeout := cl.Path, cl.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if checkPath(path) != nil {
		return ErrNoDaemon
	}
	data, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("socket request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return ErrNoDaemon
		}
		return fmt.Errorf("connect to the daemon: %w", err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	// A cancelled command (Ctrl-C) stops waiting at once.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	werr := writeFrame(c, Request{V: Version, Op: op, DB: cl.DB, Args: data})
	// A daemon that refuses answers before it reads, and the write may then
	// fail: its answer is still there to read.
	var resp Response
	if err := readFrame(c, &resp); err != nil {
		switch {
		case werr != nil:
			return fmt.Errorf("send to the daemon: %w", werr)
		case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
			// The connection's deadline is the context's: either may fire first.
			if cerr := context.Cause(ctx); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
				return fmt.Errorf("call the daemon: %w", cerr)
			}
			return fmt.Errorf("the daemon did not answer within %s", timeout)
		}
		return fmt.Errorf("read the daemon's answer: %w", err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	if !resp.OK {
		return errors.New("the daemon's answer holds neither a result nor an error")
	}
	if result != nil {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("the daemon's answer: %w", err)
		}
	}
	return nil
}

// Fits reports whether args encode small enough to be sent.
func Fits(args any) bool {
	data, err := json.Marshal(args)
	return err == nil && len(data) < MaxFrame-1024
}

// Package socket owns the daemon's Unix socket: the small versioned protocol
// one-shot commands speak to a running daemon so that a save or a read uses
// the daemon's warm pool instead of opening a PostgreSQL backend of its own,
// the server (run by the daemon like a worker), the client, and the check of
// the peer's credentials.
//
// The protocol is one request and one answer per connection, each a frame: a
// 4-byte big-endian length and that many bytes of JSON. It is smaller and
// faster to parse than HTTP, and one-shot commands make one request each.
//
// Compatibility: the angelad a command runs and the daemon it asks may be of
// different versions (the binary upgraded while the old daemon runs on). A
// daemon that does not serve a request as it is asked answers with an error
// of kind KindVersion, "not served", and the client then does the work
// itself (its own connection, then the spool), as it would without a
// daemon. That is the answer to another protocol Version, to an operation
// the daemon does not know, and to arguments carrying a field it does not
// know, for every operation: a read or a ranking would otherwise ignore
// what the client asked for (a filter, a depth) and answer something else,
// and a save would drop a field the client's own path stores. A daemon
// refuses an unknown field before it does anything, so a save it refuses
// has written nothing, and the client's save, under the same id, is stored
// once. Input the daemon understands and finds invalid (a wrong type, a
// value out of range, the nil UUID) stays a usage error (KindUsage), final
// as the command's own check would be. So a client may add an argument
// field with no new Version, and an older daemon lets it serve itself; a
// change to what a known field means, or to the values it accepts, needs a
// new operation or Version, since an older daemon would refuse the new
// values as invalid or misread them. Fields of the request's envelope that
// a daemon does not know are ignored, and a daemon's result may carry
// fields a client does not know, which it ignores.
package socket

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/angela-ai/angelad/internal/postgres"
)

// Version is the protocol version. A daemon answers a request of another
// version with an error of kind KindVersion, and the client then uses the
// direct path, so a newer command works with an older daemon and back.
const Version = 1

// MaxFrame bounds a frame. It holds a message of the 1 MiB limit with room
// for JSON's escaping of most texts; a request that encodes larger is not
// sent (the command then connects directly), and a larger frame on the wire
// is refused unread.
const MaxFrame = 4<<20 + 64<<10

// Request is what a command asks of the daemon.
type Request struct {
	V  int    `json:"v"`
	Op string `json:"op"`
	// DB is the database the command would have used itself (see
	// Identity): a daemon serving another one refuses, so a command given
	// another database never writes into the daemon's.
	DB   string          `json:"db"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is the daemon's answer: a result or an error.
type Response struct {
	V      int             `json:"v"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// The kinds of error an answer carries.
const (
	// KindUsage is invalid input: the command reports it as it would have
	// from the direct path (exit 2), with Field and Problem set when it is
	// about one field.
	KindUsage = "usage"
	// KindRuntime is a failure while serving (the database refused or is
	// away): the command retries down its chain with the same id.
	KindRuntime = "runtime"
	// KindVersion, KindProtocol and KindRefused say the daemon would not
	// serve this request at all.
	KindVersion  = "version"
	KindProtocol = "protocol"
	KindRefused  = "refused"
)

// Error is an error answer.
type Error struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Identity names a database and the time zone its sessions use (legacy
// columns without a zone are read and written in it), without a password:
// what a command and the daemon compare before the daemon serves it.
func Identity(connString, timeZone string) string {
	return postgres.DescribeConnString(connString) + " timezone=" + timeZone
}

// Path is the socket of the daemon whose state directory is stateDir. It
// lives in a directory of its own, so that the directory's mode (0700) keeps
// other users away whatever the state directory's mode is.
func Path(stateDir string) string { return filepath.Join(stateDir, "sock", "angelad.sock") }

// maxPathLen is the longest socket path every platform takes (sun_path holds
// 104 bytes on macOS, 108 on Linux, with the terminating NUL).
const maxPathLen = 103

// errPathTooLong is why a daemon in a deep state directory serves no socket.
var errPathTooLong = errors.New("the socket path is longer than the 103 bytes a Unix socket address holds")

func checkPath(path string) error {
	if len(path) > maxPathLen {
		return fmt.Errorf("%s: %w", path, errPathTooLong)
	}
	return nil
}

// writeFrame writes v as one frame.
func writeFrame(w io.Writer, v any) error {
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 0})
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	body := buf.Len() - 4
	if body > MaxFrame {
		return errTooLarge
	}
	binary.BigEndian.PutUint32(buf.Bytes(), uint32(body))
	_, err := w.Write(buf.Bytes())
	return err
}

var errTooLarge = fmt.Errorf("a frame is larger than %d bytes", MaxFrame)

// readFrame reads one frame into v, refusing one larger than MaxFrame
// before reading its body.
func readFrame(r io.Reader, v any) error {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > MaxFrame {
		return errTooLarge
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("a frame is not valid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("a frame holds more than one JSON value")
	}
	return nil
}

package mcpserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"go.uber.org/zap"
)

// stream stands between the client's stdio and the SDK's newline-delimited
// JSON transport, to keep two habits of the SDK from costing the client its
// memory:
//
//   - The SDK ends the session on the first line it cannot decode (not JSON,
//     not a JSON-RPC message, a batch it refuses): one bad line and the client
//     loses every tool for the rest of its session. stream answers such a line
//     itself, with the JSON-RPC error it deserves (-32700 Parse error or
//     -32600 Invalid Request), and passes on only the lines the SDK can take.
//   - When its input ends, the SDK cancels every call still running, and one
//     not yet started is never run: a save read just before the client closed
//     stdin was neither answered nor stored. stream holds the end of the input
//     back until every call it passed on has been answered (or drain has
//     passed), so that the calls already read finish and are answered.
//
// It learns which calls are answered from the messages the SDK writes, one
// complete message (or batch) per Write.
type stream struct {
	in      *bufio.Reader
	out     io.Writer
	maxLine int
	drain   time.Duration
	after   func(time.Duration) <-chan time.Time
	log     *zap.Logger

	line []byte // the line being read; its buffer is reused
	rest []byte // what the SDK has not yet read of the line passed on

	wmu sync.Mutex // one message at a time on out, the SDK's and stream's own

	mu       sync.Mutex
	pending  map[jsonrpc.ID]bool // calls passed on and not yet answered
	answered chan struct{}       // closed while pending is empty
	initID   jsonrpc.ID          // the initialize call, whose answer names the version
	version  string              // the protocol version the session agreed on

	closeOnce sync.Once
	closed    chan struct{}
}

// batchesRemoved is the protocol version from which JSON-RPC batches are not
// part of MCP; the SDK ends a session that sends one then.
const batchesRemoved = "2025-06-18"

func newStream(r io.Reader, w io.Writer, maxLine int, drain time.Duration, after func(time.Duration) <-chan time.Time, log *zap.Logger) *stream {
	answered := make(chan struct{})
	close(answered)
	return &stream{in: bufio.NewReaderSize(r, 64<<10), out: w, maxLine: maxLine, drain: drain, after: after, log: log,
		pending: map[jsonrpc.ID]bool{}, answered: answered, closed: make(chan struct{})}
}

// Read gives the SDK the lines it can take, one at a time. At the end of the
// input it waits for the calls in flight to be answered before it returns
// io.EOF.
func (s *stream) Read(p []byte) (int, error) {
	for len(s.rest) == 0 {
		if err := s.next(); err != nil {
			if errors.Is(err, io.EOF) {
				s.awaitAnswers()
			}
			return 0, err
		}
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

// Close ends a wait for answers: the SDK closes the stream when the session
// ends for another reason (the server stopping).
func (s *stream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// Write writes one message of the SDK's and notes the calls it answers. The
// version an answer to initialize names is learnt before the client can read
// it, and so before any batch the client sends knowing it.
func (s *stream) Write(p []byte) (int, error) {
	ids := s.answers(p)
	s.wmu.Lock()
	n, err := s.out.Write(p)
	s.wmu.Unlock()
	s.mu.Lock()
	for _, id := range ids {
		s.retire(id)
	}
	s.mu.Unlock()
	return n, err
}

// writer is stream's writing side as the transport closes it: closing it
// leaves the process's standard output open.
type writer struct{ *stream }

func (writer) Close() error { return nil }

// next reads lines until one the SDK can take, answers the others, and sets
// rest to the one found.
func (s *stream) next() error {
	for {
		tooLong, err := s.readLine()
		if err != nil {
			return err
		}
		if tooLong {
			s.refuse(jsonrpc.ID{}, jsonrpc.CodeParseError, fmt.Sprintf("Parse error: a message longer than %d bytes was skipped", s.maxLine))
			continue
		}
		line := bytes.TrimSpace(s.line)
		if len(line) == 0 {
			continue
		}
		if s.admit(line) {
			s.rest = append(line, '\n')
			return nil
		}
	}
}

// readLine reads the next line into s.line, without its end. A line longer
// than maxLine is read to its end and dropped, and tooLong reported. The last
// line needs no end.
func (s *stream) readLine() (tooLong bool, err error) {
	s.line = s.line[:0]
	for {
		chunk, err := s.in.ReadSlice('\n')
		if !tooLong && len(s.line)+len(chunk) > s.maxLine+1 {
			tooLong, s.line = true, s.line[:0]
		}
		if !tooLong {
			s.line = append(s.line, chunk...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (len(s.line) > 0 || tooLong):
			return tooLong, nil
		}
		return tooLong, err
	}
}

// admit reports whether the SDK can take line, and if so notes the calls it
// makes; a line it cannot take is answered here.
func (s *stream) admit(line []byte) bool {
	if !json.Valid(line) {
		s.refuse(jsonrpc.ID{}, jsonrpc.CodeParseError, "Parse error: the line is not one JSON value; send one JSON-RPC message per line")
		return false
	}
	if line[0] != '[' {
		msg, err := jsonrpc.DecodeMessage(line)
		if err != nil {
			s.refuse(idOf(line), jsonrpc.CodeInvalidRequest, "Invalid Request: "+err.Error())
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.noteCall(msg)
		return true
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(line, &raws); err != nil || len(raws) == 0 {
		s.refuse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: an empty batch")
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.version >= batchesRemoved {
		s.refuseLocked(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: protocol version "+s.version+" has no batches; send one message per line")
		return false
	}
	msgs := make([]jsonrpc.Message, len(raws))
	ids := map[jsonrpc.ID]bool{}
	for i, raw := range raws {
		msg, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			s.refuseLocked(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Invalid Request: in the batch: "+err.Error())
			return false
		}
		if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() {
			// The SDK ends the session on an id used twice in a batch, or
			// by a batch still in flight.
			if ids[req.ID] || s.pending[req.ID] {
				s.refuseLocked(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, fmt.Sprintf("Invalid Request: the batch uses the request id %v that is already in use", req.ID.Raw()))
				return false
			}
			ids[req.ID] = true
		}
		msgs[i] = msg
	}
	for _, msg := range msgs {
		s.noteCall(msg)
	}
	return true
}

// noteCall notes a call passed on as pending. (The SDK answers a call the
// client cancelled too.) s.mu is held.
func (s *stream) noteCall(msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return
	}
	if len(s.pending) == 0 {
		s.answered = make(chan struct{})
	}
	s.pending[req.ID] = true
	if req.Method == "initialize" {
		s.initID = req.ID
	}
}

// answers returns the ids of the calls the message p answers, and learns
// the session's protocol version from the answer to initialize.
func (s *stream) answers(p []byte) []jsonrpc.ID {
	p = bytes.TrimSpace(p)
	raws := []json.RawMessage{p}
	if len(p) > 0 && p[0] == '[' {
		raws = nil
		if err := json.Unmarshal(p, &raws); err != nil {
			return nil
		}
	}
	var ids []jsonrpc.ID
	for _, raw := range raws {
		msg, err := jsonrpc.DecodeMessage(raw)
		resp, ok := msg.(*jsonrpc.Response)
		if err != nil || !ok {
			continue
		}
		ids = append(ids, resp.ID)
		s.mu.Lock()
		isInit := s.initID.IsValid() && resp.ID == s.initID
		s.mu.Unlock()
		if isInit && resp.Error == nil {
			var r struct {
				ProtocolVersion string `json:"protocolVersion"`
			}
			if json.Unmarshal(resp.Result, &r) == nil {
				s.mu.Lock()
				s.version = r.ProtocolVersion
				s.mu.Unlock()
			}
		}
	}
	return ids
}

// retire forgets the pending call id. s.mu is held.
func (s *stream) retire(id jsonrpc.ID) {
	if !s.pending[id] {
		return
	}
	delete(s.pending, id)
	if len(s.pending) == 0 {
		close(s.answered)
	}
}

// awaitAnswers waits until no call is pending, the stream is closed, or
// drain has passed.
func (s *stream) awaitAnswers() {
	s.mu.Lock()
	answered, n := s.answered, len(s.pending)
	s.mu.Unlock()
	if n == 0 {
		return
	}
	select {
	case <-answered:
	case <-s.closed:
	case <-s.after(s.drain):
		s.mu.Lock()
		n = len(s.pending)
		s.mu.Unlock()
		s.log.Warn("input closed; calls not answered in time are cancelled", zap.Int("calls", n), zap.Duration("waited", s.drain))
	}
}

// refuse answers a line the SDK cannot take with a JSON-RPC error; id is the
// line's, or the zero ID (null) when it has none that can be read.
func (s *stream) refuse(id jsonrpc.ID, code int64, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseLocked(id, code, message)
}

func (s *stream) refuseLocked(id jsonrpc.ID, code int64, message string) {
	s.log.Warn("refused a message from the client", zap.Int64("code", code), zap.String("reason", message))
	data, err := json.Marshal(struct {
		Version string         `json:"jsonrpc"`
		ID      any            `json:"id"`
		Error   *jsonrpc.Error `json:"error"`
	}{"2.0", id.Raw(), &jsonrpc.Error{Code: code, Message: message}})
	if err != nil {
		return // cannot happen: every field marshals
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.out.Write(append(data, '\n')); err != nil {
		s.log.Warn("cannot answer the client", zap.Error(err))
	}
}

// idOf returns the id of a JSON object that is not a valid message, when it
// has one that can be read, so that its error goes to the call that made it.
func idOf(line []byte) jsonrpc.ID {
	var m struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(line, &m) != nil {
		return jsonrpc.ID{}
	}
	id, err := jsonrpc.MakeID(m.ID)
	if err != nil {
		return jsonrpc.ID{}
	}
	return id
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// The live timeline. The writers of conversations do not NOTIFY (capture,
// the socket, the spool's drain and the one-shot commands all insert
// directly), so the stream polls: every LiveInterval, on the daemon's
// clock, it asks for the day's lines after the newest it has sent, which
// the created_at index answers in a few rows whatever the table's size.
// A line stored later with an earlier time (capture catching up on an old
// transcript) shows on the next load of the page rather than live.

// liveLine is a line as the stream sends it: the page's script builds its
// element with textContent, so the text is inert there too.
type liveLine struct {
	ID      string `json:"id"`
	Session string `json:"session"`
	Speaker string `json:"speaker"`
	Text    string `json:"text"`
	Time    string `json:"time"`
	// Cut: Text is the start of a longer message (see Line.Cut).
	Cut bool `json:"cut,omitempty"`
}

// streamWriteTimeout bounds each write of a live stream (a poll's lines
// and the flush), measured on the wall clock as the connection's deadlines
// are.
const streamWriteTimeout = time.Minute

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d, err := s.day(q.Get("day"), "day")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	after, err := parseCursor(q.Get("after"))
	if err != nil {
		http.Error(w, "invalid after: "+err.Error(), http.StatusBadRequest)
		return
	}
	// A reconnecting EventSource says where it was.
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if c, err := parseCursor(v); err == nil {
			after = c
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	// The stream holds its request open on purpose: the server's read
	// deadline, which cuts off a slow request, would end it, and its write
	// deadline is set afresh for each write instead, so that a client that
	// stops reading is still let go.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A comment first, so that the browser knows at once the stream is open.
	fmt.Fprint(w, ": live\n\n")
	flusher.Flush()
	ctx := r.Context()
	end := d.AddDate(0, 0, 1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.o.After(s.o.LiveInterval):
		}
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		lines, err := s.poll(ctx, d, end, after)
		if err != nil {
			if ctx.Err() == nil {
				// The database away: the stream waits for it rather than
				// ending, and the daemon's monitor says so once.
				s.o.Log.Debug("live timeline: cannot read new lines", zap.Error(err))
			}
			continue
		}
		for _, l := range lines {
			after = cursor{l.At, l.ID}
			data, _ := json.Marshal(liveLine{ID: l.ID.String(), Session: displayable(l.Session), Speaker: l.Speaker,
				Text: displayable(l.Text), Time: l.At.In(s.o.Location).Format("15:04:05"), Cut: l.Cut})
			fmt.Fprintf(w, "id: %s\nevent: line\ndata: %s\n\n", after, data)
		}
		// A heartbeat when nothing came, so that a dead connection is
		// noticed and its goroutine ends.
		if len(lines) == 0 {
			fmt.Fprint(w, ": idle\n\n")
		}
		flusher.Flush()
	}
}

func (s *Server) poll(ctx context.Context, from, to time.Time, after cursor) ([]Line, error) {
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	return newer(ctx, s.o.Pool, from, to, after, liveBatch)
}

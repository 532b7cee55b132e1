package access

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/text"
)

// newerField is the argument a newer angelad sends and the daemon under
// test does not know.
const newerField = "asked_by_a_newer_angelad"

// relayNewer listens on from and forwards each request to the daemon at to
// with newerField added to its arguments, as a client newer than the daemon
// would send them, and the daemon's answer back, until the test ends.
func relayNewer(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(from), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", from)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if err := relayOne(c, to); err != nil {
					t.Errorf("relay: %v", err)
				}
			})
		}
	})
}

// relayOne relays the one request and answer of connection c.
func relayOne(c net.Conn, to string) error {
	c.SetDeadline(time.Now().Add(time.Minute))
	body, err := readRaw(c)
	if err != nil {
		return err
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return err
	}
	var args map[string]any
	if err := json.Unmarshal(req["args"], &args); err != nil {
		return err
	}
	args[newerField] = map[string]any{"depth": 2}
	if req["args"], err = json.Marshal(args); err != nil {
		return err
	}
	if body, err = json.Marshal(req); err != nil {
		return err
	}
	d, err := net.Dial("unix", to)
	if err != nil {
		return err
	}
	defer d.Close()
	d.SetDeadline(time.Now().Add(time.Minute))
	if _, err := d.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		return err
	}
	_, err = io.Copy(c, d)
	return err
}

// readRaw reads one frame's body.
func readRaw(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(head[:]))
	_, err := io.ReadFull(r, body)
	return body, err
}

// TestANewerClientsRequestIsServedDirectlyOnce: a command newer than the
// running daemon sends an argument field the daemon does not know; the
// daemon answers that it does not serve it, and the command does the work
// itself, every save, read and ranking, with the result the daemon would
// have given: a save is stored once, by the command alone.
func TestANewerClientsRequestIsServedDirectlyOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newDaemonMeaning(t)
	url, emb, answer, pool, searcher := f.url, f.emb, f.answer, f.pool, f.searcher
	c, debug, server := serveDaemonVia(t, url, pool, emb, searcher, relayNewer)
	servedDirectly := func(what string, n int) {
		t.Helper()
		d := debug()
		if got := strings.Count(d, "served directly (the daemon did not: "); got != n || !strings.Contains(d, newerField) {
			t.Errorf("%s: --debug said %q, want %d calls served directly because the daemon does not know %s", what, d, n, newerField)
		}
	}

	id := uuid.New()
	e, sp, err := c.SaveEmotion(ctx, memory.Emotion{Emotion: "proud", Intensity: 7, MemoryStrength: 5, Context: "saved by a newer angelad"}, "", id.String())
	if err != nil || sp != nil || e.ID != id {
		t.Fatalf("SaveEmotion = %+v, %+v, %v", e, sp, err)
	}
	servedDirectly("SaveEmotion", 1)
	mid := uuid.New()
	m, sp, err := c.SaveConversation(ctx, conversation.Conversation{Speaker: "david", MessageText: "from a newer angelad", SessionID: "s2", ImportanceLevel: 5}, "", mid.String())
	if err != nil || sp != nil || m.ID != mid {
		t.Fatalf("SaveConversation = %+v, %+v, %v", m, sp, err)
	}
	servedDirectly("SaveConversation", 1)
	var emotions, messages int
	if err := pool.QueryRow(ctx, `select (select count(*) from angela_emotions where emotion_id = $1),
		(select count(*) from conversations where conversation_id = $2)`, id, mid).Scan(&emotions, &messages); err != nil || emotions != 1 || messages != 1 {
		t.Errorf("stored %d emotions and %d messages under the ids (%v), want one each", emotions, messages, err)
	}

	if l, err := c.RecentEmotions(ctx, 5); err != nil || len(l) != 1 || l[0].ID != id {
		t.Errorf("RecentEmotions = %+v, %v", l, err)
	}
	servedDirectly("RecentEmotions", 1)
	if l, err := c.RecentConversations(ctx, conversation.RecentOptions{Limit: 1}); err != nil || len(l) != 1 || l[0].ID != mid {
		t.Errorf("RecentConversations = %+v, %v", l, err)
	}
	servedDirectly("RecentConversations", 1)

	// A question by meaning: the retrieval, then the ranking by meaning it
	// asks the daemon for, are both left to the command.
	const question = "หมอให้ส้มโอกินยาอะไร"
	if hits, err := c.Retrieve(ctx, memory.RetrieveOptions{Text: question, Limit: 5}); err != nil || len(hits) == 0 || hits[0].ID != answer {
		t.Errorf("Retrieve = %+v, %v", hits, err)
	}
	if d := debug(); !strings.Contains(d, "served directly (the daemon did not: ") || !strings.Contains(d, "ranked by meaning directly") {
		t.Errorf("Retrieve: --debug said %q, want the retrieval and its ranking by meaning done directly", d)
	}
	if hits, err := c.Search(ctx, memory.SearchOptions{Text: question, Limit: 5}); err != nil || len(hits) == 0 || hits[0].ID != answer {
		t.Errorf("Search = %+v, %v", hits, err)
	}
	if d := debug(); !strings.Contains(d, "ranked by meaning directly") {
		t.Errorf("Search: --debug said %q, want the ranking by meaning done directly", d)
	}

	// The daemon did none of it: nothing served, nothing failed; seven
	// calls not served (two saves, two lists, the retrieval, and the
	// ranking by meaning of the retrieval and of the search).
	if st := server.Stats(); st.Served != 0 || st.Failed != 0 || st.NotServed != 7 {
		t.Errorf("the daemon's stats = %+v, want 7 requests not served and none served", st)
	}

	// Invalid input is still refused before any path, as from an older client.
	_, _, err = c.SaveEmotion(ctx, memory.Emotion{Emotion: "proud", Intensity: 11, MemoryStrength: 5, Context: "too much"}, "", "")
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "intensity" {
		t.Errorf("an intensity of 11 = %v, want a usage error on intensity", err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/socket"
)

// TestTheNilUUIDIsRefusedByEveryEntryPoint: the stores take the nil UUID for
// "no id", so a save given it would be stored again under a new id at every
// retry. Every way into memory refuses it, however often it is tried: the
// commands (exit 2, one line) with and without a daemon, the daemon's socket,
// the MCP server (a tool error), and a hook's transcript (a line whose uuid is
// the nil UUID gets an id of its own, instead of sharing one with every such
// line).
func TestTheNilUUIDIsRefusedByEveryEntryPoint(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := newCLI(t, url)
	const nilID = "00000000-0000-0000-0000-000000000000"
	commandsRefuse := func() {
		t.Helper()
		for _, args := range [][]string{
			{"save-emotion", "--emotion", "x", "--intensity", "3", "--context", "x", "--id", nilID},
			{"save-conversation", "--speaker", "david", "--message", "x", "--id", nilID},
		} {
			for range 2 {
				checkFailure(t, c.run("", args...), 2, "invalid --id: must not be the nil UUID", args)
			}
		}
	}
	commandsRefuse()

	p := startMCP(t, c.env)
	for _, tc := range []struct {
		tool string
		args map[string]any
	}{
		{"save_emotion", map[string]any{"emotion": "x", "intensity": 3, "context": "x", "id": nilID}},
		{"save_conversation", map[string]any{"speaker": "david", "message": "x", "id": nilID}},
	} {
		for range 2 {
			res := p.call(t, tc.tool, tc.args)
			if !res.IsError || !strings.Contains(resultText(res), "invalid argument id: must not be the nil UUID") {
				t.Errorf("%s with the nil UUID: error %v %q, want a tool error naming id", tc.tool, res.IsError, resultText(res))
			}
		}
	}
	if code := p.close(t); code != 0 {
		t.Errorf("angelad mcp exited %d\nstderr: %s", code, p.stderr)
	}

	// With a daemon: the commands refuse before they ask it, and the daemon
	// refuses such a save from any other client.
	daemonWithSocket(t, c)
	commandsRefuse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := socket.Client{Path: socket.Path(stateDirOf(c)), DB: socket.Identity(url, pgtest.TimeZone), Timeout: time.Minute}
	err := cl.Call(ctx, socket.OpSaveEmotion, map[string]any{"emotion": "x", "intensity": 3, "context": "x",
		"memory_strength": 10, "emotion_id": nilID}, nil)
	var se *socket.Error
	if !errors.As(err, &se) || se.Kind != socket.KindUsage || se.Field != "emotion_id" {
		t.Errorf("the daemon served a save under the nil UUID: %v", err)
	}

	transcript := filepath.Join(t.TempDir(), "session.jsonl")
	var lines strings.Builder
	for _, text := range []string{"first", "second"} {
		b, _ := json.Marshal(map[string]any{"type": "user", "uuid": nilID, "sessionId": "0f8e4c1a-6b7d-4e2f-9a3b-5c6d7e8f9a0b",
			"cwd": "/home/david/projects/angela", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
			"message": map[string]any{"role": "user", "content": text}})
		lines.Write(append(b, '\n'))
	}
	if err := os.WriteFile(transcript, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.run(payload("SessionEnd", map[string]string{"transcript_path": transcript, "reason": "exit"}), "hook", "session-end", "--strict")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("session-end: exit %d, stderr %q", r.code, r.stderr)
	}

	if n := count(t, url, "angela_emotions"); n != 0 {
		t.Errorf("%d emotions stored, want none", n)
	}
	var stored, underNil int
	if err := pgtest.Conn(t, url).QueryRow(context.Background(),
		"select count(*), count(*) filter (where conversation_id = $1) from conversations", nilID).Scan(&stored, &underNil); err != nil {
		t.Fatal(err)
	}
	if stored != 2 || underNil != 0 {
		t.Errorf("%d messages stored, %d under the nil UUID; want the transcript's two, each under an id of its own", stored, underNil)
	}
}

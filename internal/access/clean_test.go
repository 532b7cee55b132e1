package access

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/spool"
	"github.com/angela-ai/angelad/internal/text"
)

// secret is made up when the test runs: no file holds a key a scanner flags.
var secret = "sk-ant-api03-" + strings.Repeat("Q7kz", 23) + "AA"

const diary = "what I told no one"

// TestSavesAreCleanedBeforeTheDatabaseTheSpoolAndTheLog: a save's texts
// lose their secrets and private passages before the first step: what is
// stored, returned, spooled and logged is the cleaned record.
func TestSavesAreCleanedBeforeTheDatabaseTheSpoolAndTheLog(t *testing.T) {
	url := pgtest.DB(t)
	core, logs := observer.New(zap.DebugLevel)
	c, _ := client(t, url, Options{Direct: true, Log: zap.New(core)})
	ctx := context.Background()
	saved, sp, err := c.SaveConversation(ctx, conversation.Conversation{Speaker: "david", ImportanceLevel: 5,
		MessageText: "my key is " + secret + " <private>" + diary + "</private>ok", Topic: "keys " + secret}, "", "")
	if err != nil || sp != nil || saved.MessageText != "my key is [redacted:anthropic-key] ok" || saved.Topic != "keys [redacted:anthropic-key]" {
		t.Fatalf("SaveConversation = %+v, %v, %v", saved, sp, err)
	}
	e, _, err := c.SaveEmotion(ctx, memory.Emotion{Emotion: "trusted", Intensity: 8, MemoryStrength: 10,
		Context: "he gave me " + secret, DavidWords: "<private>" + diary + "</private>", WhyItMatters: "trust"}, "", "")
	if err != nil || e.Context != "he gave me [redacted:anthropic-key]" || e.DavidWords != "" {
		t.Fatalf("SaveEmotion = %+v, %v", e, err)
	}
	var stored string
	if err := pgtest.Conn(t, url).QueryRow(ctx, `select string_agg(message_text || topic, '|') from conversations`).Scan(&stored); err != nil ||
		stored != "my key is [redacted:anthropic-key] okkeys [redacted:anthropic-key]" {
		t.Errorf("stored %q, %v", stored, err)
	}
	if err := pgtest.Conn(t, url).QueryRow(ctx, `select context || coalesce(david_words, '') from angela_emotions`).Scan(&stored); err != nil ||
		stored != "he gave me [redacted:anthropic-key]" {
		t.Errorf("stored %q, %v", stored, err)
	}
	cleaned := logs.FilterMessage("save cleaned before it is stored: secrets redacted or <private> passages removed").All()
	if len(cleaned) != 2 || fmt.Sprint(cleaned[0].ContextMap()["redacted"]) != "map[anthropic-key:2]" || cleaned[0].ContextMap()["private_passages"] != int64(1) {
		t.Errorf("logged %+v", logs.All())
	}
	for _, l := range logs.All() {
		if s := fmt.Sprint(l.Message, l.ContextMap()); strings.Contains(s, secret) || strings.Contains(s, diary) {
			t.Errorf("the log holds a secret: %s", s)
		}
	}
}

// TestASpooledSaveIsWrittenCleaned: the spool file of a save the database
// could not take holds no secret and no private passage.
func TestASpooledSaveIsWrittenCleaned(t *testing.T) {
	dir := t.TempDir()
	refused := func(context.Context) (*pgx.Conn, error) {
		return nil, &postgres.ConnectError{Where: "host=db", Err: errors.New("connection refused")}
	}
	c := New(&config.Config{StateDir: dir}, Options{Connect: refused})
	m, sp, err := c.SaveConversation(context.Background(), conversation.Conversation{Speaker: "david", ImportanceLevel: 5,
		MessageText: "export ANTHROPIC_API_KEY=" + secret + " <private>" + diary + "</private>"}, "", "")
	if err != nil || sp == nil || m.MessageText != "export ANTHROPIC_API_KEY=[redacted:anthropic-key] " {
		t.Fatalf("SaveConversation = %+v, %+v, %v", m, sp, err)
	}
	files, _ := filepath.Glob(filepath.Join(spool.New(dir, nil).Dir(), "*.json"))
	if len(files) != 1 {
		t.Fatalf("spool holds %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil || strings.Contains(string(data), secret) || strings.Contains(string(data), diary) ||
		!strings.Contains(string(data), "[redacted:anthropic-key]") {
		t.Errorf("the spool file holds %s (%v)", data, err)
	}
}

// TestAnAllPrivateSaveIsRefusedBeforeAnyStep: a save whose required text is
// nothing but private passages is invalid input naming the field: nothing is
// tried, stored or spooled.
func TestAnAllPrivateSaveIsRefusedBeforeAnyStep(t *testing.T) {
	var tried atomic.Int32
	c := New(&config.Config{StateDir: t.TempDir()}, Options{Connect: func(context.Context) (*pgx.Conn, error) {
		tried.Add(1)
		return nil, errors.New("connection refused")
	}})
	ctx := context.Background()
	_, sp, err := c.SaveConversation(ctx, conversation.Conversation{Speaker: "david", MessageText: "<private>" + diary + "</private>"}, "", "")
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "message_text" || fe.Problem != redact.AllPrivateProblem || sp != nil || !IsInput(err) {
		t.Errorf("SaveConversation = %v, %v", sp, err)
	}
	_, sp, err = c.SaveEmotion(ctx, memory.Emotion{Emotion: "x", Intensity: 3, Context: " <private>" + diary + "</private> "}, "", "")
	if !errors.As(err, &fe) || fe.Field != "context" || sp != nil {
		t.Errorf("SaveEmotion = %v, %v", sp, err)
	}
	if n := tried.Load(); n != 0 {
		t.Errorf("%d connections tried", n)
	}
	if waiting, _, err := spool.New(c.cfg.StateDir, nil).List(); err != nil || len(waiting) != 0 {
		t.Errorf("spooled: %v %v", waiting, err)
	}
	// A secret pasted where a time or an id belongs is not quoted back.
	_, _, err = c.SaveEmotion(ctx, memory.Emotion{Emotion: "x", Intensity: 3, Context: "c"}, secret, "")
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "[redacted:anthropic-key]") {
		t.Errorf("a secret as --at: %v", err)
	}
	_, _, err = c.SaveConversation(ctx, conversation.Conversation{Speaker: "david", MessageText: "m"}, "", "token="+secret)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("a secret as --id: %v", err)
	}
}

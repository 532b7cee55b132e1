package capture

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/daemon"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/testkit"
)

// The secrets of these tests are made up when they run, so that no file of
// the repository holds a string a secret scanner would flag; the AWS pair is
// AWS's own documentation example, known to be no one's.
const (
	awsID     = "AKIAIOSFODNN7EXAMPLE"
	awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var (
	anthropicKey = "sk-ant-api03-" + fakeKey(1, 93) + "AA"
	pemKey       = "-----BEGIN RSA PRIVATE KEY-----\n" + fakeKey(2, 64) + "\n" + fakeKey(3, 64) + "\n-----END RSA PRIVATE KEY-----"
	// secrets are what must never be stored or logged; pemKey's body is
	// checked by its lines, since a marker replaces the block whole.
	secrets = []string{awsID, awsSecret, anthropicKey, pemKey[32:96], pemKey[97:161]}
)

// fakeKey returns n random base62 characters, the same for the same seed,
// with the mix of classes of a real key.
func fakeKey(seed uint64, n int) string {
	const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(seed, 11))
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[r.IntN(len(base62))]
	}
	copy(b, "Q7k")
	return string(b)
}

// leaked returns the first of secrets (or of the given private texts) found
// in s, "" for none.
func leaked(s string, private ...string) string {
	for _, x := range append(append([]string{}, secrets...), private...) {
		if strings.Contains(s, x) {
			return x
		}
	}
	return ""
}

func disabledRedactor(t *testing.T) *redact.Redactor {
	t.Helper()
	r, err := redact.New(config.Redaction{Enabled: false}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSpeechPrivatePassagesOfDavidAndSecretsOfEveryone: David's <private>
// passages are removed and his line kept around them; a line of his that is
// all private is a privateLine, with the id and time it would have had;
// Angela's <private> is her text and kept; every speaker's secrets, and those
// of the session id and directory, are redacted and counted.
func TestSpeechPrivatePassagesOfDavidAndSecretsOfEveryone(t *testing.T) {
	m := wantSpeech(t, tline(t, "user", "my keys: "+awsID+" "+awsSecret+" and "+anthropicKey+"\n"+pemKey+
		"\nplease deploy <private>and this is between us</private>now", nil),
		conversation.SpeakerDavid, "my keys: [redacted:aws-access-key] [redacted:aws-secret] and [redacted:anthropic-key]\n"+
			"[redacted:private-key]\nplease deploy now")
	if m.Cleaned.Found.String() != "private-key=1 anthropic-key=1 aws-access-key=1 aws-secret=1" || m.Cleaned.PrivatePassages != 1 || !m.Cleaned.Changed() {
		t.Errorf("cleaned %+v (%s)", m.Cleaned, m.Cleaned.Found)
	}

	m = wantSpeech(t, tline(t, "assistant", []any{textBlock("wrap it in <private>...</private>; your key " + anthropicKey + " is now hidden")}, nil),
		conversation.SpeakerAngela, "wrap it in <private>...</private>; your key [redacted:anthropic-key] is now hidden")
	if m.Cleaned.PrivatePassages != 0 || m.Cleaned.Found.Total() != 1 {
		t.Errorf("Angela's line cleaned %+v", m.Cleaned)
	}

	b := tline(t, "user", " <private>all of it</private>\n<PRIVATE>and this</PRIVATE> ", nil)
	m, kind := parseKind(t, b, false)
	if kind != privateLine || m.Text != "" || m.Cleaned.PrivatePassages != 2 || m.ID.String() != jsonField(t, b, "uuid") ||
		!m.CreatedAt.Equal(time.Date(2026, 3, 1, 10, 20, 30, 123e6, time.UTC)) {
		t.Errorf("an all-private line: kind %d, %+v", kind, m)
	}

	m = wantSpeech(t, tline(t, "user", "hi", map[string]any{"sessionId": "s " + anthropicKey, "cwd": "/srv/x?token=" + fakeKey(4, 30)}),
		conversation.SpeakerDavid, "hi")
	if m.SessionID != "s [redacted:anthropic-key]" || m.ProjectDir != "/srv/x?token=[redacted:secret]" || m.Cleaned.Found.Total() != 2 {
		t.Errorf("session %q, directory %q, cleaned %+v", m.SessionID, m.ProjectDir, m.Cleaned)
	}
}

// TestSpeechIDIsTheLinesAsWrittenWhateverTheRules: a line without a uuid
// gets an id from its text as written, so that reading it again under other
// rules (redaction turned off, a pattern added) maps it to the same row.
func TestSpeechIDIsTheLinesAsWrittenWhateverTheRules(t *testing.T) {
	b := tline(t, "user", "token="+fakeKey(5, 32)+" <private>x</private> y", map[string]any{"uuid": nil})
	on, kind, err := parseLine(b, false, nowFixed, nil)
	if err != nil || kind != speechLine {
		t.Fatal(kind, err)
	}
	off, _, err := parseLine(b, false, nowFixed, disabledRedactor(t))
	if err != nil {
		t.Fatal(err)
	}
	if on.ID != off.ID || on.Text == off.Text {
		t.Errorf("ids %s and %s, texts %q and %q", on.ID, off.ID, on.Text, off.Text)
	}
	// With redaction off, the secret is kept but the private passage is not:
	// it is David's explicit wish.
	if off.Text != "token="+fakeKey(5, 32)+"  y" || off.Cleaned.PrivatePassages != 1 {
		t.Errorf("redaction off: %q %+v", off.Text, off.Cleaned)
	}
}

// TestSpeechCutComesAfterRedaction: a text over the size limit is redacted
// whole before it is cut, so a key at the cut is not kept in part.
func TestSpeechCutComesAfterRedaction(t *testing.T) {
	pad := strings.Repeat("a", 1<<20-20)
	m := wantSpeechKind(t, tline(t, "user", pad+" "+anthropicKey, nil))
	if strings.Contains(m.Text, anthropicKey[:15]) || m.CutFrom == 0 {
		t.Errorf("the text holds part of the key or was not cut (CutFrom %d): ...%q", m.CutFrom, m.Text[len(m.Text)-40:])
	}
}

func wantSpeechKind(t *testing.T, b []byte) Message {
	t.Helper()
	m, kind := parseKind(t, b, false)
	if kind != speechLine {
		t.Fatalf("kind %d, want speech", kind)
	}
	return m
}

func jsonField(t *testing.T, b []byte, key string) string {
	t.Helper()
	i := strings.Index(string(b), `"`+key+`":"`)
	if i < 0 {
		t.Fatalf("no %s in %s", key, b)
	}
	rest := string(b[i+len(key)+4:])
	return rest[:strings.IndexByte(rest, '"')]
}

// TestIngestStoresRedactedTextCountsItAndSkipsAllPrivateLines: what a
// transcript has that must not be kept is not stored, counted, or logged;
// audit finds every redacted line stored and counts the all-private one as
// skipped, and a missing line's preview is redacted too.
func TestIngestStoresRedactedTextCountsItAndSkipsAllPrivateLines(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	diary := "my diary entry of today"
	path := e.write("p/s.jsonl", e.speechLine("keys "+awsID+" "+awsSecret)+
		e.speechLine("before <private>"+diary+"</private>after")+
		e.speechLine("<private>"+diary+"</private>")+
		string(tline(t, "assistant", []any{textBlock("use " + anthropicKey + " then\n" + pemKey)}, nil))+"\n"+
		e.speechLine("plain")+
		e.speechLine("<private>"+diary+" again</private>")+
		e.speechLine("more "+anthropicKey))
	_, c := e.ingest(path)
	if c.Lines != 7 || c.Speech != 5 || c.Stored != 5 || c.Redacted != 4 || c.Private != 2 || c.Skipped() != 2 ||
		c.Secrets.String() != "private-key=1 anthropic-key=2 aws-access-key=1 aws-secret=1" {
		t.Fatalf("counts %+v (%s)", c, c.Secrets)
	}
	e.wantTexts("before after", "keys [redacted:aws-access-key] [redacted:aws-secret]", "more [redacted:anthropic-key]", "plain",
		"use [redacted:anthropic-key] then\n[redacted:private-key]")
	for _, l := range e.logs.All() {
		if x := leaked(fmt.Sprint(l.Message, l.ContextMap()), diary); x != "" {
			t.Errorf("the log holds %q: %s %v", x, l.Message, l.ContextMap())
		}
	}
	for msg, line := range map[string]int64{
		"transcript line stored with secrets redacted or <private> passages removed (further ones in this file are counted, not logged)": 1,
		"transcript line is all <private>: skipped (further ones in this file are counted, not logged)":                                  3,
	} {
		logged := e.logs.FilterMessage(msg).All()
		if len(logged) != 1 || logged[0].ContextMap()["line"] != line {
			t.Errorf("%q logged %+v, want once at line %d", msg, logged, line)
		}
	}
	if l := e.logs.FilterMessage("transcript line stored with secrets redacted or <private> passages removed (further ones in this file are counted, not logged)").All(); len(l) == 1 &&
		fmt.Sprint(l[0].ContextMap()["redacted"]) != "map[aws-access-key:1 aws-secret:1]" {
		t.Errorf("the kinds redacted are not logged: %v", l[0].ContextMap())
	}

	rep, err := e.cap.Audit(e.ctx, e.conn, []Transcript{{Path: path, ModTime: time.Now()}}, time.Unix(0, 0))
	if err != nil || rep.Speech != 5 || rep.Stored != 5 || len(rep.Missing) != 0 || rep.Redacted != 4 || rep.Private != 2 {
		t.Fatalf("audit %+v, %v", rep, err)
	}
	if _, err := e.conn.Exec(e.ctx, `delete from conversations where message_text like 'keys %'`); err != nil {
		t.Fatal(err)
	}
	rep, err = e.cap.Audit(e.ctx, e.conn, []Transcript{{Path: path, ModTime: time.Now()}}, time.Unix(0, 0))
	if err != nil || len(rep.Missing) != 1 || rep.Missing[0].Preview != "keys [redacted:aws-access-key] [redacted:aws-secret]" {
		t.Fatalf("audit of a deleted redacted line: %+v, %v", rep.Missing, err)
	}
}

// TestImportCountsTheSecretsByKind: import's result counts the redacted and
// all-private lines, and the secrets by kind, never what they were.
func TestImportCountsTheSecretsByKind(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	path := e.write("p/s.jsonl", e.speechLine("keys "+awsID+" "+awsSecret)+e.speechLine("<private>x</private>")+e.speechLine("plain"))
	res, err := e.cap.Import(e.ctx, e.conn, 1, []Transcript{{Path: path}}, nil)
	if err != nil || res.Stored != 2 || res.Redacted != 1 || res.Private != 1 ||
		fmt.Sprint(res.SecretsRedacted) != "map[aws-access-key:1 aws-secret:1]" {
		t.Fatalf("import %+v, %v", res, err)
	}
}

// TestWorkerStatusCountsRedactionAndShowsTheLastMessageRedacted: the worker
// publishes its redaction counts, and its last message as stored.
func TestWorkerStatusCountsRedactionAndShowsTheLastMessageRedacted(t *testing.T) {
	t.Parallel()
	e := startWorker(t, "", "*/*.jsonl", realClock(), nil)
	e.write("p/s.jsonl", e.speechLine("<private>x</private>")+e.speechLine("key "+anthropicKey))
	e.waitTexts("key [redacted:anthropic-key]")
	testkit.WaitFor(t, "the redaction counts", func() bool {
		d := e.detail()
		return d.Redaction == "on" && d.RedactedLines == 1 && d.PrivateLines == 1 && d.SecretsRedacted["anthropic-key"] == 1 &&
			d.LastMessage == "david: key [redacted:anthropic-key]"
	})

	w, err := NewWorker(config.Conversation{PollInterval: time.Second}, disabledRedactor(t), daemon.Deps{Clock: realClock()})
	if err != nil || w.st.Redaction != "off (redaction.enabled = false)" {
		t.Errorf("a worker with redaction off shows %q (%v)", w.st.Redaction, err)
	}
}

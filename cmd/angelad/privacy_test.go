package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/postgres/managed"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/redact"
)

// The secrets of these tests are made up when they run, so that no file of
// the repository holds a string a secret scanner would flag; the AWS pair is
// AWS's own documentation example, known to be no one's.
const (
	awsKeyID     = "AKIAIOSFODNN7EXAMPLE"
	awsSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var (
	anthropicKey = "sk-ant-api03-" + madeUp(1, 93) + "AA"
	pemLines     = []string{madeUp(2, 64), madeUp(3, 64), madeUp(4, 40) + "=="}
	pemKey       = "-----BEGIN RSA PRIVATE KEY-----\n" + strings.Join(pemLines, "\n") + "\n-----END RSA PRIVATE KEY-----"
)

// madeUp returns n random base62 characters, the same for the same seed,
// with the mix of classes of a real key.
func madeUp(seed uint64, n int) string {
	const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(seed, 23))
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[r.IntN(len(base62))]
	}
	copy(b, "Q7k")
	return string(b)
}

// secretsIn returns the secrets (and the other texts given) that s holds.
func secretsIn(s string, also ...string) []string {
	var found []string
	for _, x := range append(append([]string{awsKeyID, awsSecretKey, anthropicKey}, pemLines...), also...) {
		if strings.Contains(s, x) {
			found = append(found, x)
		}
	}
	return found
}

// filesUnder returns the contents of every regular file under dir, by path.
func filesUnder(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		out[path] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pgDump dumps the database at url with the pg_dump of the server programs
// the test clusters run on.
func pgDump(t *testing.T, url string) string {
	t.Helper()
	bin, err := managed.FindBinDir("")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--no-owner", "--dbname", url).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("pg_dump: %v\n%s", err, stderr)
	}
	return string(out)
}

// TestSecretsInAPromptReachNoDatabaseSpoolLogOrStatus: a user prompt holding
// an AWS key pair, an Anthropic key and a PEM private key is stored with the
// three redacted and the rest of it as written, by each way text comes in
// (the daemon's capture, import, the session-end hook, a save spooled while
// the database was away and drained by the daemon, the MCP server); then
// neither the database's dump, nor the state directory (the spool,
// status.json, the socket), nor the log files, nor anything a command
// printed holds any of them.
func TestSecretsInAPromptReachNoDatabaseSpoolLogOrStatus(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	logDir := t.TempDir()
	c := captureCLI(t, url).with("ANGELA_LOG_FILE=" + filepath.Join(logDir, "angelad.log"))
	tr := newTranscripts(t, c)
	d := openDB(t, url)
	var shown strings.Builder // what the commands printed
	note := func(r result) result {
		shown.WriteString(r.stdout + r.stderr)
		return r
	}

	prompt := "Please deploy with aws_access_key_id=" + awsKeyID + " aws_secret_access_key=" + awsSecretKey +
		", the key " + anthropicKey + " and this one:\n" + pemKey + "\nthanks, ที่รัก 🙏"
	want := "Please deploy with aws_access_key_id=[redacted:aws-access-key] aws_secret_access_key=[redacted:aws-secret]" +
		", the key [redacted:anthropic-key] and this one:\n[redacted:private-key]\nthanks, ที่รัก 🙏"
	reply := "Deployed. Keep " + anthropicKey + " out of the repository, ที่รัก"
	wantReply := "Deployed. Keep [redacted:anthropic-key] out of the repository, ที่รัก"

	// A save made while the database is away is spooled cleaned.
	down := c.with("ANGELA_DATABASE_URL=" + refusedURL(t))
	checkSpoolWarning(t, note(down.run("", "save-conversation", "--speaker", "david", "--message", "spooled: "+prompt)), "connection refused")
	checkSpoolWarning(t, note(down.run("", "save-emotion", "--emotion", "worried", "--intensity", "6",
		"--context", "he pasted "+anthropicKey, "--david-words", prompt, "--why", "AWS_SECRET_ACCESS_KEY="+awsSecretKey)), "connection refused")
	spooled := spoolFiles(t, c)
	if len(spooled) != 2 {
		t.Fatalf("spool holds %v", spooled)
	}
	for path, data := range filesUnder(t, filepath.Dir(spooled[0])) {
		if s := secretsIn(data); len(s) > 0 || !strings.Contains(data, "[redacted:aws-secret]") {
			t.Errorf("spool file %s holds %q:\n%s", path, s, data)
		}
	}

	// The daemon captures the transcript and drains the spool.
	tr.write("-home-david-angela/s1.jsonl", tr.say("user", prompt)+tr.say("assistant", reply))
	p := startDaemon(t, c)
	d.waitCount(3)
	var emotions int
	if err := d.conn.QueryRow(context.Background(), "select count(*) from angela_emotions").Scan(&emotions); err != nil || emotions != 1 {
		t.Fatalf("%d emotions (%v), want the spooled one", emotions, err)
	}

	// Import and the session-end hook read through the same ingest.
	elsewhere := t.TempDir()
	imported := filepath.Join(elsewhere, "imported.jsonl")
	os.WriteFile(imported, []byte(tr.say("user", prompt)), 0o600)
	r := note(c.run("", "import", "--json", imported))
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 || res["messages_stored"] != 1.0 || res["redacted"] != 1.0 ||
		fmt.Sprint(res["secrets_redacted"]) != "map[anthropic-key:1 aws-access-key:1 aws-secret:1 private-key:1]" {
		t.Errorf("import: exit %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	hooked := filepath.Join(elsewhere, "hooked.jsonl")
	os.WriteFile(hooked, []byte(tr.say("user", prompt)), 0o600)
	r = note(c.run(payload("SessionEnd", map[string]string{"transcript_path": hooked, "reason": "exit"}), "hook", "session-end", "--strict"))
	if r.code != 0 {
		t.Errorf("session-end: exit %d\n%s", r.code, r.stderr)
	}

	// The MCP server's saves.
	m := startMCP(t, c.env)
	text, _ := m.ok(t, "save_conversation", map[string]any{"speaker": "david", "message": "via mcp: " + prompt, "topic": "deploy " + anthropicKey})
	shown.WriteString(text)
	// A save's answer names what it saved without repeating it: the row
	// itself shows what was stored.
	var topic string
	if err := d.conn.QueryRow(context.Background(), `select topic from conversations where message_text = $1`, "via mcp: "+want).Scan(&topic); err != nil || topic != "deploy [redacted:anthropic-key]" {
		t.Errorf("save_conversation stored topic %q (%v), want it redacted", topic, err)
	}
	if code := m.close(t); code != 0 {
		t.Errorf("mcp exit %d", code)
	}
	shown.WriteString(m.stderr.String())
	d.waitCount(6)

	for text, n := range map[string]int{want: 3, wantReply: 1, "spooled: " + want: 1, "via mcp: " + want: 1} {
		var got int
		if err := d.conn.QueryRow(context.Background(), "select count(*) from conversations where message_text = $1", text).Scan(&got); err != nil || got != n {
			t.Errorf("%d rows (%v) of %q, want %d", got, err, text, n)
		}
	}
	var emotion string
	if err := d.conn.QueryRow(context.Background(), "select context || '|' || david_words || '|' || why_it_matters from angela_emotions").Scan(&emotion); err != nil ||
		emotion != "he pasted [redacted:anthropic-key]|"+want+"|AWS_SECRET_ACCESS_KEY=[redacted:aws-secret]" {
		t.Errorf("the drained emotion is %q (%v)", emotion, err)
	}

	// The worker's status shows what it redacted, by kind.
	deadline := time.Now().Add(time.Minute)
	for {
		det := workerDetail(t, c)
		if det["redacted_lines"] == 2.0 && det["redaction"] == "on" && strings.HasPrefix(fmt.Sprint(det["last_message"]), "angela: Deployed. Keep [redacted:anthropic-key]") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status detail %v", det)
		}
		<-time.After(200 * time.Millisecond) // status.json is rewritten every few seconds
	}
	state := cliStateDir(c)
	status := readFile(filepath.Join(state, "status.json"))
	if !strings.Contains(status, `"secrets_redacted"`) {
		t.Errorf("status.json lacks the counts by kind:\n%s", status)
	}
	note(c.run("", "status"))
	note(c.run("", "status", "--json"))
	note(c.run("", "get-conversations", "--limit", "10"))
	note(c.run("", "audit", "--json", tr.root, imported, hooked))

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	shown.WriteString(p.log())

	// grep: the dump, the state directory, the logs, what was printed.
	dump := pgDump(t, url)
	if !strings.Contains(dump, "[redacted:private-key]") {
		t.Fatalf("the dump does not hold the rows:\n%.2000s", dump)
	}
	if s := secretsIn(dump); len(s) > 0 {
		t.Errorf("the database dump holds %q", s)
	}
	places := filesUnder(t, state)
	if _, ok := places[filepath.Join(state, "status.json")]; !ok {
		t.Errorf("no status.json in %s", state)
	}
	for path, data := range filesUnder(t, logDir) {
		places[path] = data
	}
	if len(places) < 3 {
		t.Errorf("too few files to look at: %v", places)
	}
	for path, data := range places {
		if s := secretsIn(data); len(s) > 0 {
			t.Errorf("%s holds %q", path, s)
		}
	}
	if s := secretsIn(shown.String()); len(s) > 0 {
		t.Errorf("a command printed %q:\n%s", s, shown.String())
	}
	if log := places[filepath.Join(logDir, "angelad.log")]; !strings.Contains(log, `"redacted":{"`) {
		t.Errorf("the log does not say what kinds were redacted:\n%s", log)
	}
}

// TestPrivatePassagesAreNeverStoredAndAllPrivateIsSkippedEverywhere: text
// between <private> tags in David's prompt is not stored (the rest of the
// line is); a line that is all private is skipped and counted by the
// daemon, import and audit, never missing; a save (CLI, MCP) whose text is all
// private is refused with one line naming the field, and stores nothing.
func TestPrivatePassagesAreNeverStoredAndAllPrivateIsSkippedEverywhere(t *testing.T) {
	t.Parallel()
	const diary = "the diary entry nobody reads"
	url := pgtest.DB(t)
	c := captureCLI(t, url)
	tr := newTranscripts(t, c)
	d := openDB(t, url)
	tr.write("-home-david-angela/s1.jsonl", tr.say("user", "good morning <private>"+diary+"</private>Angela")+
		tr.say("user", "<private>"+diary+"</private>")+
		tr.say("assistant", "the tags look like <private>this</private>, ค่ะ"))

	// Import and audit.
	r := c.run("", "import", "--json", tr.root)
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 || res["messages_stored"] != 2.0 ||
		res["private"] != 1.0 || res["redacted"] != 1.0 {
		t.Fatalf("import: exit %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if !d.hasText("good morning Angela") || !d.hasText("the tags look like <private>this</private>, ค่ะ") {
		t.Errorf("stored:\n%s", c.ok("get-conversations"))
	}
	r = c.run("", "audit", "--json")
	var rep struct {
		Speech   int   `json:"speech_lines"`
		Stored   int   `json:"stored"`
		Missing  []any `json:"missing"`
		Private  int   `json:"private_lines"`
		Redacted int   `json:"redacted_lines"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || rep.Speech != 2 || rep.Stored != 2 ||
		len(rep.Missing) != 0 || rep.Private != 1 || rep.Redacted != 1 {
		t.Errorf("audit --json: exit %d (%v)\n%s", r.code, err, r.stdout)
	}
	out := c.ok("audit")
	if !strings.Contains(out, "2 speech lines, 2 stored, 0 missing") || !strings.Contains(out, "0 without a visible character, 1 all <private>") ||
		!strings.Contains(out, "redacted: 1 speech line kept with secrets redacted or <private> passages removed") {
		t.Errorf("audit:\n%s", out)
	}

	// The daemon, on a database of its own.
	url2 := pgtest.DB(t)
	dc := c.with("ANGELA_DATABASE_URL=" + url2)
	p := startDaemon(t, dc)
	d2 := openDB(t, url2)
	d2.waitCount(2)
	deadline := time.Now().Add(time.Minute)
	for {
		det := workerDetail(t, dc)
		if det["private_lines"] == 1.0 && det["redacted_lines"] == 1.0 && det["messages_stored"] == 2.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status detail %v", det)
		}
		<-time.After(200 * time.Millisecond)
	}

	// Saves: the passage is left out; all private is refused, exit 2.
	c.ok("save-conversation", "--speaker", "david", "--message", "see you <private>"+diary+"</private>tonight")
	if !d.hasText("see you tonight") {
		t.Error("a save's private passage was not left out")
	}
	before := d.count()
	c.fails(2, "angelad: invalid --message: "+redact.AllPrivateProblem, "save-conversation", "--speaker", "david", "--message", "<private>"+diary+"</private>")
	c.fails(2, "angelad: invalid --context: "+redact.AllPrivateProblem, "save-emotion", "--emotion", "shy", "--intensity", "3", "--context", " <PRIVATE>"+diary+"</PRIVATE>\n")
	m := startMCP(t, c.env)
	res2 := m.call(t, "save_conversation", map[string]any{"speaker": "david", "message": "<private>" + diary + "</private>"})
	if !res2.IsError || resultText(res2) != "invalid argument message: "+redact.AllPrivateProblem {
		t.Errorf("an all-private MCP save: error %v, %q", res2.IsError, resultText(res2))
	}
	m.ok(t, "save_emotion", map[string]any{"emotion": "warm", "intensity": 6, "context": "he said <private>" + diary + "</private>good night"})
	if code := m.close(t); code != 0 {
		t.Errorf("mcp exit %d", code)
	}
	if n := d.count(); n != before {
		t.Errorf("%d conversations after the refused saves, want %d", n, before)
	}
	var ctx string
	if err := d.conn.QueryRow(context.Background(), "select context from angela_emotions").Scan(&ctx); err != nil || ctx != "he said good night" {
		t.Errorf("the MCP emotion's context is %q (%v)", ctx, err)
	}

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	for where, s := range map[string]string{"the daemon's log": p.log(), "the dump": pgDump(t, url), "the other dump": pgDump(t, url2)} {
		if strings.Contains(s, diary) {
			t.Errorf("%s holds the private passage", where)
		}
	}
}

// TestRedactionOffIsNeverSilent: with redaction.enabled false a command
// that saves or imports warns on standard error, in one line, and keeps the
// secret (never a private passage); the daemon logs the warning once and
// shows it in status.
func TestRedactionOffIsNeverSilent(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	c := captureCLI(t, url).with("ANGELA_REDACTION_ENABLED=false")
	r := c.run("", "save-conversation", "--speaker", "david", "--message", "PGPASSWORD=hunter2hunter2 <private>x</private>")
	if r.code != 0 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "angelad: warn: secret redaction is off (redaction.enabled = false)") {
		t.Errorf("save-conversation: exit %d, stderr %q", r.code, r.stderr)
	}
	if !openDB(t, url).hasText("PGPASSWORD=hunter2hunter2 ") {
		t.Error("the message was not stored as given less its private passage")
	}
	transcript := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(transcript, []byte(speech("user", "token="+anthropicKey+" <private>x</private>")), 0o600)
	r = c.run("", "import", transcript)
	if r.code != 0 || !strings.HasPrefix(r.stderr, "angelad: warn: secret redaction is off (redaction.enabled = false)") ||
		!strings.Contains(r.stdout, "redacted:         1 (secrets redacted or <private> passages removed; secrets: none)") {
		t.Errorf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !openDB(t, url).hasText("token=" + anthropicKey + " ") {
		t.Error("import did not keep the secret with redaction off")
	}
	p := startDaemon(t, c)
	p.waitFor(t, `"msg":"ready"`)
	deadline := time.Now().Add(time.Minute)
	for det := workerDetail(t, c); det["redaction"] != "off (redaction.enabled = false)"; det = workerDetail(t, c) {
		if time.Now().After(deadline) {
			t.Fatalf("status shows redaction %v", det["redaction"])
		}
		<-time.After(200 * time.Millisecond) // the worker publishes once it runs
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	if n := strings.Count(p.log(), "secret redaction is off"); n != 1 {
		t.Errorf("the daemon warned %d times, want once:\n%s", n, p.log())
	}
}

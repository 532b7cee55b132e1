package capture

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/text"
)

// Message is one speech line of a transcript, as it is stored.
type Message struct {
	// ID is the line's uuid when that is a UUID, otherwise a UUID derived
	// from the line (see lineID). It is the conversation_id.
	ID        uuid.UUID `json:"conversation_id"`
	SessionID string    `json:"session_id"`
	Speaker   string    `json:"speaker"`
	Text      string    `json:"message_text"`
	CreatedAt time.Time `json:"created_at"`
	// ProjectDir is the line's cwd: the project the session ran in.
	ProjectDir string `json:"project_dir,omitempty"`
	// CutFrom is the length in bytes of a text that was cut to
	// text.MaxTextBytes; 0 when the text is whole.
	CutFrom int `json:"-"`
	// TimeGiven is the line's timestamp when it was not used: a time before
	// 1970 or more than conversation.MaxAhead after the line was read, or not
	// an RFC 3339 time. CreatedAt is then when it was read. "" otherwise.
	TimeGiven string `json:"-"`
	// Cleaned is what was removed from the line's texts before they are
	// kept: secrets redacted and, in David's words, <private> passages (see
	// clean).
	Cleaned redact.Report `json:"-"`
	// line is the line's number in its file, for the log.
	line int64
}

// userNoisePrefixes are the openings of user texts that Claude Code writes
// for slash commands, shell escapes, reminders and interruptions: not David's
// words.
func userNoisePrefixes() [12]string {
	return [...]string{
		"<command-name>", "<command-message>", "<command-args>",
		"<local-command-stdout>", "<local-command-stderr>", "<local-command-caveat>",
		"<task-notification>", "<system-reminder>",
		"<bash-input>", "<bash-stdout>", "<bash-stderr>",
		"[Request interrupted by user",
	}
}

// idNamespace is the namespace of the conversation_ids derived from lines
// whose uuid is not a UUID (6f1d5a3e-8a0b-4f43-9a7c-2c4b1e0d9a51).
func idNamespace() uuid.UUID {
	return uuid.UUID{0x6f, 0x1d, 0x5a, 0x3e, 0x8a, 0x0b, 0x4f, 0x43, 0x9a, 0x7c, 0x2c, 0x4b, 0x1e, 0x0d, 0x9a, 0x51}
}

// lineKind is what a transcript line is to the capture.
type lineKind int

const (
	// otherLine is not speech: a tool's use or result, thinking, a summary,
	// a command's output, a text that is blank. Most lines are; they are not
	// counted.
	otherLine lineKind = iota
	// speechLine is David's or Angela's words: it is stored.
	speechLine
	// apiErrorLine is an error Claude Code wrote itself as the assistant's
	// message ("API Error: Can't reach the API server"): not Angela's words,
	// so it is skipped and counted.
	apiErrorLine
	// invisibleLine has a text of only invisible characters (U+200B and
	// the like, see text.HasVisible), which the CLI and the MCP server refuse
	// to save: it is skipped and counted.
	invisibleLine
	// privateLine is David's words with nothing but <private> passages in
	// them: nothing of it may be stored, so it is skipped and counted.
	privateLine
)

// syntheticModel is the model Claude Code names in the assistant messages it
// writes itself, such as its API errors.
const syntheticModel = "<synthetic>"

// line holds the raw members of a transcript line that decide whether it is
// speech.
type line struct {
	typ, uuid, session, timestamp, cwd, message []byte
	sidechain, meta, compactSummary, apiError   bool
}

// parseLine checks that b is one JSON object and returns what kind of line
// it is and, for a speechLine, the speech it holds, cleaned by r (see clean);
// for an apiErrorLine, an invisibleLine or a privateLine, what that speech
// would have been, cleaned too, since it may be logged. err is not nil for a
// line that is not valid JSON, or whose text cannot be decoded. now is when
// the line is read: the time of a speech line without a usable timestamp.
func parseLine(b []byte, includeSidechains bool, now func() time.Time, r *redact.Redactor) (m Message, kind lineKind, err error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return Message{}, otherLine, syntaxErr(i, "a line must be one JSON object")
	}
	var l line
	end, err := walkObject(b, i, func(k, v []byte) {
		switch {
		case isKey(k, "type"):
			l.typ = v
		case isKey(k, "uuid"):
			l.uuid = v
		case isKey(k, "sessionId"):
			l.session = v
		case isKey(k, "timestamp"):
			l.timestamp = v
		case isKey(k, "cwd"):
			l.cwd = v
		case isKey(k, "message"):
			l.message = v
		case isKey(k, "isSidechain"):
			l.sidechain = string(v) == "true"
		case isKey(k, "isMeta"):
			l.meta = string(v) == "true"
		case isKey(k, "isCompactSummary"):
			l.compactSummary = string(v) == "true"
		case isKey(k, "isApiErrorMessage"):
			l.apiError = string(v) == "true"
		}
	})
	if err != nil {
		return Message{}, otherLine, err
	}
	if j := skipSpace(b, end); j != len(b) {
		return Message{}, otherLine, syntaxErr(j, "text after the JSON object")
	}
	return l.speech(includeSidechains, now, r)
}

func (l *line) speech(includeSidechains bool, now func() time.Time, r *redact.Redactor) (Message, lineKind, error) {
	var m Message
	switch string(l.typ) {
	case `"user"`:
		m.Speaker = conversation.SpeakerDavid
	case `"assistant"`:
		m.Speaker = conversation.SpeakerAngela
	default:
		return Message{}, otherLine, nil
	}
	if (l.sidechain && !includeSidechains) || l.meta || l.compactSummary {
		return Message{}, otherLine, nil
	}
	var content, model []byte
	members(l.message, func(k, v []byte) {
		switch {
		case isKey(k, "content"):
			content = v
		case isKey(k, "model"):
			model = v
		}
	})
	var err error
	if m.Text, err = contentText(content); err != nil {
		return Message{}, otherLine, err
	}
	if strings.TrimSpace(m.Text) == "" {
		return Message{}, otherLine, nil
	}
	if m.Speaker == conversation.SpeakerDavid && isUserNoise(m.Text) {
		return Message{}, otherLine, nil
	}
	m.SessionID, _ = decodeString(l.session)
	m.ProjectDir, _ = decodeString(l.cwd)
	ts, _ := decodeString(l.timestamp)
	readAt := now().UTC()
	m.CreatedAt = readAt
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && conversation.TimeInRange(t, readAt) {
		m.CreatedAt = t.UTC()
	} else if len(l.timestamp) > 0 && string(l.timestamp) != "null" {
		// Kept for the log: the row has the time it was read.
		given, _ := r.Redact(string(l.timestamp))
		m.TimeGiven = text.Preview(given, 60)
	}
	// The id is the transcript's, as written: the same line maps to the same
	// row whatever the redaction rules were when it was read (see clean).
	m.ID = l.id(ts, m.Text)
	if m.clean(r) {
		return m, privateLine, nil
	}
	kind := speechLine
	switch {
	case m.Speaker == conversation.SpeakerAngela && (l.apiError || isSynthetic(model)):
		kind = apiErrorLine
	case !text.HasVisible(m.Text):
		kind = invisibleLine
	}
	m.Text = storable(m.Text)
	if len(m.Text) > text.MaxTextBytes {
		m.CutFrom = len(m.Text)
		m.Text, _ = text.CutBytes(m.Text, text.MaxTextBytes)
	}
	m.SessionID, _ = text.Cut(storable(m.SessionID), conversation.MaxSessionIDChars)
	m.ProjectDir = storable(m.ProjectDir)
	return m, kind, nil
}

// clean removes from m's texts what is never kept, before anything of them
// is stored or logged, and records it in m.Cleaned: the <private> passages
// of David's words, and the secrets of every text (the words, the session
// id, the directory), which r replaces with markers. It reports whether
// David's words were nothing but private passages: the line is then not
// stored, and m.Text is empty.
//
// Private passages are removed from the user's prompt only, as the tags are
// David's way of keeping a passage out; in Angela's words a <private> tag is
// text she wrote (explaining the tags, quoting markup) and is kept as
// written. Secrets are redacted whoever wrote them.
//
// A line's conversation_id is derived before this (see line.id), from the
// line as written, so that the rules changing between two reads of a file
// (an extra pattern added, a rule improved) never makes the second read store
// the line again under another id; audit derives it the same way.
func (m *Message) clean(r *redact.Redactor) (allPrivate bool) {
	if m.Speaker == conversation.SpeakerDavid {
		m.Text, m.Cleaned = r.Clean(m.Text)
		if m.Cleaned.AllPrivate {
			return true
		}
	} else {
		m.Text, m.Cleaned.Found = r.Redact(m.Text)
	}
	var f redact.Found
	m.SessionID, f = r.Redact(m.SessionID)
	m.Cleaned.Found.Add(f)
	m.ProjectDir, f = r.Redact(m.ProjectDir)
	m.Cleaned.Found.Add(f)
	return false
}

// errUndecodable is the cause of a text that is a JSON string in form but
// cannot be decoded (an escape JSON does not have, such as \x41).
var errUndecodable = errors.New("a text cannot be decoded")

// contentText is the speech of a message's content: a string as it is, or
// the non-blank text blocks of an array joined by a blank line. A text that
// cannot be decoded is an error: its speech would be lost without a word.
func contentText(content []byte) (string, error) {
	if len(content) > 0 && content[0] == '"' {
		s, ok := decodeString(content)
		if !ok {
			return "", fmt.Errorf("%w: the message's content", errUndecodable)
		}
		return s, nil
	}
	var parts []string
	var bad error
	elements(content, func(block []byte) {
		var typ, txt []byte
		members(block, func(k, v []byte) {
			switch {
			case isKey(k, "type"):
				typ = v
			case isKey(k, "text"):
				txt = v
			}
		})
		if string(typ) != `"text"` || len(txt) == 0 || txt[0] != '"' {
			return
		}
		s, ok := decodeString(txt)
		if !ok {
			bad = fmt.Errorf("%w: a text block", errUndecodable)
			return
		}
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	})
	if bad != nil {
		return "", bad
	}
	return strings.Join(parts, "\n\n"), nil
}

// isSynthetic reports whether the raw JSON value model names syntheticModel.
func isSynthetic(model []byte) bool {
	s, _ := decodeString(model)
	return s == syntheticModel
}

func isUserNoise(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n\v\f")
	for _, p := range userNoisePrefixes() {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// id is the conversation_id of a speech line: its uuid when that is a UUID
// in canonical form, else a name-based UUID of the session and that uuid, or,
// for a line without one, of its session, timestamp, type and text. A message
// copied into another file keeps its uuid, so it maps to the same row. The nil
// UUID counts as none: taken as the id, every line carrying it would be
// stored as one row, and all but the first lost.
func (l *line) id(timestamp, txt string) uuid.UUID {
	u, _ := decodeString(l.uuid)
	if len(u) == 36 {
		id, err := uuid.Parse(u)
		switch {
		case err == nil && id != uuid.Nil:
			return id
		case err == nil:
			u = "" // the nil UUID names no line
		}
	}
	session, _ := decodeString(l.session)
	if u != "" {
		return uuid.NewSHA1(idNamespace(), []byte("uuid\x00"+session+"\x00"+u))
	}
	return uuid.NewSHA1(idNamespace(), []byte("line\x00"+session+"\x00"+timestamp+"\x00"+string(l.typ)+"\x00"+txt))
}

// storable replaces what PostgreSQL text cannot hold (NUL) with U+FFFD.
func storable(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// Package redact owns what angelad refuses to keep: it replaces secrets
// (private keys, API keys and tokens, cloud credentials, passwords in URLs
// and assignments, long random strings assigned to something) in a text with
// a marker naming their kind, such as [redacted:aws-secret], and it removes
// the passages a person marked <private>. Each way text enters angelad
// (capture, import, the save commands, MCP, the spool) is to run it through
// one Redactor before the text reaches the database, the spool or a log.
//
// The rules look for shapes, not for known values, so they run on every line
// captured: a line with nothing that could start a secret costs one pass over
// its bytes and no allocation. What the rules match, and what they leave
// alone on purpose (UUIDs, git hashes, base64 images, paths, Thai text), is
// listed in the README's Privacy section and pinned by this package's tests.
package redact

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/angela-ai/angelad/internal/config"
)

// Kind is a kind of secret. It names the marker that replaces one:
// [redacted:<kind>].
type Kind uint8

// The kinds, most specific first: where two rules match overlapping text, the
// marker names the kind that comes first here.
const (
	PrivateKey    Kind = iota + 1 // a PEM private key block, BEGIN to END
	AnthropicKey                  // sk-ant-...
	OpenAIKey                     // sk-..., sk-proj-...
	GitHubToken                   // ghp_, gho_, ghu_, ghs_, ghr_, github_pat_
	SlackToken                    // xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-
	AWSAccessKey                  // AKIA... or ASIA... access key id
	JWT                           // eyJ....<payload>.<signature>
	AWSSecret                     // 40 characters after an access key id or "secret"
	URLPassword                   // the password in scheme://user:password@host
	Authorization                 // the credential of an Authorization header
	Password                      // the value of password=, passwd:, "password": ...
	Secret                        // the value of token=, secret:, api_key=, ...
	HighEntropy                   // a long random-looking value assigned to anything
	Custom                        // a match of one of redaction.extra_patterns

	numKinds = iota + 1 // one past the last kind
)

var kindNames = [numKinds]string{
	PrivateKey:    "private-key",
	AnthropicKey:  "anthropic-key",
	OpenAIKey:     "openai-key",
	GitHubToken:   "github-token",
	SlackToken:    "slack-token",
	AWSAccessKey:  "aws-access-key",
	JWT:           "jwt",
	AWSSecret:     "aws-secret",
	URLPassword:   "url-password",
	Authorization: "authorization",
	Password:      "password",
	Secret:        "secret",
	HighEntropy:   "high-entropy",
	Custom:        "custom",
}

// markers are the replacement texts, built once.
var markers = func() (m [numKinds]string) {
	for k := Kind(1); k < numKinds; k++ {
		m[k] = "[redacted:" + kindNames[k] + "]"
	}
	return m
}()

// String is the kind's name as the marker shows it, such as "aws-secret".
func (k Kind) String() string {
	if k == 0 || k >= numKinds {
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// Marker is the text that replaces a secret of kind k: "[redacted:aws-secret]".
func (k Kind) Marker() string {
	if k == 0 || k >= numKinds {
		return "[redacted]"
	}
	return markers[k]
}

// Kinds lists every kind, most specific first.
func Kinds() []Kind {
	ks := make([]Kind, 0, numKinds-1)
	for k := Kind(1); k < numKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

// Found counts the secrets replaced in a text, by kind. The zero value is
// none found.
type Found struct {
	n [numKinds]int32
}

// Total is the number of secrets replaced, of every kind.
func (f Found) Total() int {
	t := 0
	for _, n := range f.n {
		t += int(n)
	}
	return t
}

// Count is the number of secrets of kind k replaced.
func (f Found) Count(k Kind) int {
	if k >= numKinds {
		return 0
	}
	return int(f.n[k])
}

// Add adds g's counts to f, to total the secrets of many texts.
func (f *Found) Add(g Found) {
	for k, n := range g.n {
		f.n[k] += n
	}
}

// Map is the counts by kind name, the kinds not found left out: for
// status.json and --json output.
func (f Found) Map() map[string]int {
	m := map[string]int{}
	for k := Kind(1); k < numKinds; k++ {
		if f.n[k] > 0 {
			m[kindNames[k]] = int(f.n[k])
		}
	}
	return m
}

// String lists the counts as "aws-access-key=1 aws-secret=1", kinds in
// order, or "none".
func (f Found) String() string {
	var b strings.Builder
	for k := Kind(1); k < numKinds; k++ {
		if f.n[k] > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", kindNames[k], f.n[k])
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// MarshalLogObject writes the counts as a zap object (zap.Object("redacted",
// found)): the kinds found and how many, never what they were.
func (f Found) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for k := Kind(1); k < numKinds; k++ {
		if f.n[k] > 0 {
			enc.AddInt(kindNames[k], int(f.n[k]))
		}
	}
	return nil
}

// Report says what Clean did to a text.
type Report struct {
	// Found counts the secrets replaced.
	Found Found
	// PrivatePassages is how many <private> passages were removed.
	PrivatePassages int
	// AllPrivate is set when nothing but private passages and white space
	// was left: the text comes back empty, and the caller skips it and
	// counts it rather than store an empty line.
	AllPrivate bool
}

// Changed reports whether the text that comes back differs from the one
// given: a caller comparing stored text with its source (audit) counts such a
// line as redacted, not as missing or different.
func (r Report) Changed() bool {
	return r.PrivatePassages > 0 || r.Found.Total() > 0
}

// Redactor applies the built-in rules and the configured extra patterns. It
// is safe for concurrent use. A nil *Redactor applies the built-in rules, so
// that forgetting to build one never means keeping secrets.
type Redactor struct {
	disabled bool
	extra    []extraPattern
}

// extraPattern is one of redaction.extra_patterns.
type extraPattern struct {
	re *regexp.Regexp
	// prefix is a literal every match starts with ("" when there is none):
	// a text without it cannot match, which strings.Contains says faster
	// than the regular expression.
	prefix string
	// group is 1 when the pattern has a capture group, whose match alone is
	// replaced, else 0 for the whole match.
	group int
}

// New builds the Redactor of a [redaction] section. Turning redaction off is
// allowed but never silent: New logs a warning on log, which is therefore
// required. A bad extra pattern is an error naming its position (config.Load
// has already refused it for a configuration it read).
func New(c config.Redaction, log *zap.Logger) (*Redactor, error) {
	if log == nil {
		return nil, errors.New("redact.New: no logger to warn on")
	}
	res, err := c.Patterns()
	if err != nil {
		return nil, fmt.Errorf("invalid redaction.extra_patterns: %w", err)
	}
	r := &Redactor{disabled: !c.Enabled}
	for _, re := range res {
		p := extraPattern{re: re}
		p.prefix, _ = re.LiteralPrefix()
		if re.NumSubexp() > 0 {
			p.group = 1
		}
		r.extra = append(r.extra, p)
	}
	if r.disabled {
		log.Warn("secret redaction is off (redaction.enabled = false): passwords, keys and tokens are kept as written; <private> passages are still removed",
			zap.Int("extra_patterns_unused", len(r.extra)))
	}
	return r, nil
}

// Enabled reports whether secrets are redacted, for status output.
func (r *Redactor) Enabled() bool { return r == nil || !r.disabled }

// maxPasses bounds the passes Redact makes. One almost always suffices; a
// second runs only when the first replaced something. Each pass that changes
// the text leaves fewer bytes outside markers, so the bound is never reached
// in practice: it is a guard, not a rule.
const maxPasses = 16

// Redact replaces every secret in s with the marker of its kind and counts
// them. It returns s itself when nothing was found (and allocates nothing
// then). Redacting the result again changes nothing: Redact applies the rules
// until the text stops changing, because a replacement can bring text into a
// rule's reach (a marker is shorter than what it replaced). Markers already
// in s are left as they are. With redaction off it returns s unchanged.
func (r *Redactor) Redact(s string) (string, Found) {
	var found Found
	if r != nil && r.disabled {
		return s, found
	}
	for range maxPasses {
		out, f, changed := r.pass(s)
		if !changed {
			break
		}
		found.Add(f)
		s = out
	}
	return s, found
}

// Clean is what an entry point does to a text before keeping it: it removes
// the private passages (StripPrivate), then redacts the secrets in what is
// left. Private passages are removed even with redaction off: they are the
// person's explicit wish, not a guess.
func (r *Redactor) Clean(s string) (string, Report) {
	var rep Report
	s, rep.PrivatePassages, rep.AllPrivate = StripPrivate(s)
	if rep.AllPrivate {
		return "", rep
	}
	s, rep.Found = r.Redact(s)
	return s, rep
}

// span is a byte range of the text to replace with the marker of kind.
type span struct {
	start, end int
	kind       Kind
}

// pass finds the secrets of s and replaces them.
func (r *Redactor) pass(s string) (string, Found, bool) {
	sc := scanner{s: s} // spans stays nil, unallocated, until one is found
	sc.run()
	spans := sc.spans
	if r != nil {
		spans = r.matchExtra(s, spans)
	}
	if len(spans) == 0 {
		return s, Found{}, false
	}
	spans = settle(s, spans)
	if len(spans) == 0 {
		return s, Found{}, false
	}
	var found Found
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(markers[sp.kind])
		found.n[sp.kind]++
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String(), found, true
}

// matchExtra adds the matches of the extra patterns.
func (r *Redactor) matchExtra(s string, spans []span) []span {
	for _, p := range r.extra {
		if p.prefix != "" && !strings.Contains(s, p.prefix) {
			continue
		}
		for _, loc := range p.re.FindAllStringSubmatchIndex(s, -1) {
			start, end := loc[2*p.group], loc[2*p.group+1]
			if start >= 0 && end > start {
				spans = append(spans, span{start, end, Custom})
			}
		}
	}
	return spans
}

// settle orders the spans and makes them disjoint: overlapping spans become
// one, named by the most specific kind among them. A span that touches a
// marker already in s takes in the whole marker, and one inside a marker is
// dropped, so that every replacement leaves fewer bytes outside markers
// (which is why Redact's passes end) and a marker is never cut in two.
func settle(s string, spans []span) []span {
	byStart := func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	}
	slices.SortFunc(spans, byStart)
	if strings.Contains(s, "[redacted:") && aroundMarkers(s, &spans) {
		slices.SortFunc(spans, byStart)
	}
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 && sp.start < out[n-1].end {
			last := &out[n-1]
			last.end = max(last.end, sp.end)
			last.kind = min(last.kind, sp.kind)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// aroundMarkers drops the spans (in order of their start) inside a marker of
// s and widens the ones that overlap one to the whole marker. It reports
// whether it widened any.
func aroundMarkers(s string, spans *[]span) (widened bool) {
	var ms [][2]int
	for i := 0; ; {
		j := strings.Index(s[i:], "[redacted:")
		if j < 0 {
			break
		}
		start := i + j
		if end := markerEnd(s, start); end > 0 {
			ms = append(ms, [2]int{start, end})
			i = end
		} else {
			i = start + 1
		}
	}
	out := (*spans)[:0]
	first := 0 // the first marker that does not end before the span starts
	for _, sp := range *spans {
		for first < len(ms) && ms[first][1] <= sp.start {
			first++
		}
		inside := false
		for _, m := range ms[first:] {
			if m[0] >= sp.end {
				break
			}
			if sp.start >= m[0] && sp.end <= m[1] {
				inside = true
				break
			}
			if sp.start > m[0] || sp.end < m[1] {
				sp.start, sp.end = min(sp.start, m[0]), max(sp.end, m[1])
				widened = true
			}
		}
		if !inside {
			out = append(out, sp)
		}
	}
	*spans = out
	return widened
}

// markerEnd returns the end of the marker starting at i in s ("[redacted:"
// then a kind of lower-case letters and dashes then "]"), or 0 when there is
// none there.
func markerEnd(s string, i int) int {
	j := i + len("[redacted:")
	k := j
	for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] == '-') {
		k++
	}
	if k == j || k >= len(s) || s[k] != ']' {
		return 0
	}
	return k + 1
}

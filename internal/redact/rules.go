package redact

import (
	"math"
	"strings"
)

// The built-in rules are written by hand rather than as regular expressions:
// one pass over the text stops only at the few bytes that belong to the shape
// of a secret or an assignment, and each rule then checks its exact shape
// there. Text without any of those bytes (Thai, most prose) costs a table
// look-up a byte, four at a time.

// Byte classes.
const (
	cUpper = 1 << iota
	cLower
	cDigit
	cPlusSlash // + /
	cDashUnder // - _
	cDot
	cEquals
	cTilde

	cAlnum = cUpper | cLower | cDigit
	// cB64 is the standard base64 alphabet without padding.
	cB64 = cAlnum | cPlusSlash
	// cToken are the characters of a random-looking value: base64 (both
	// alphabets) with padding, and the separators of token formats.
	cToken = cAlnum | cPlusSlash | cDashUnder | cDot | cEquals | cTilde
)

// The bytes the scan stops at, and the rules each may end or start. A rule
// is looked for at a rare byte of its shape rather than at its first one
// when that is a common letter: a JWT at the J of eyJ, a GitHub token at
// its underscore, sk- and Slack keys at their dash.
const (
	tDash   = 1 + iota // -----BEGIN, --password value, sk-, xoxb-, xapp-
	tS                 // secret, SECRET
	tUnder             // ghp_, github_pat_
	tA                 // AKIA, ASIA
	tJ                 // eyJ
	tColon             // ://, key: value
	tEquals            // key=value
)

var class, trigger = func() (cl, tr [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		cl[c] = cUpper
	}
	for c := 'a'; c <= 'z'; c++ {
		cl[c] = cLower
	}
	for c := '0'; c <= '9'; c++ {
		cl[c] = cDigit
	}
	cl['+'], cl['/'] = cPlusSlash, cPlusSlash
	cl['-'], cl['_'] = cDashUnder, cDashUnder
	cl['.'], cl['='], cl['~'] = cDot, cEquals, cTilde
	tr['-'], tr['s'], tr['S'], tr['_'] = tDash, tS, tS, tUnder
	tr['A'], tr['J'], tr[':'], tr['='] = tA, tJ, tColon, tEquals
	return cl, tr
}()

// is reports whether c is of one of the classes in mask.
func is(c byte, mask uint8) bool { return class[c]&mask != 0 }

// isWordByte is true for [A-Za-z0-9_].
func isWordByte(c byte) bool { return class[c]&cAlnum != 0 || c == '_' }

// isURLB64 is true for the base64url alphabet [A-Za-z0-9_-].
func isURLB64(c byte) bool { return class[c]&(cAlnum|cDashUnder) != 0 }

// scanner finds the spans of the built-in rules in s.
type scanner struct {
	s     string
	spans []span
	// awsAfter are positions an AWS secret key may follow: the ends of
	// access key ids and of the word "secret".
	awsAfter []int

	// Caches that keep a text full of look-alikes (a thousand BEGIN lines
	// and no END, a=a=a=...) from being read again for each of them: where
	// the next BEGIN and END lines of key blocks are, and the first byte of
	// the table stopOf at or after stopFrom, at stopAt (len(s) when none).
	nextBegin, nextEnd nextIndex
	stopOf             *[256]bool
	stopFrom, stopAt   int
}

func (sc *scanner) add(start, end int, k Kind) {
	sc.spans = append(sc.spans, span{start, end, k})
}

// before returns the byte before i, or 0 at the start.
func (sc *scanner) before(i int) byte {
	if i == 0 {
		return 0
	}
	return sc.s[i-1]
}

// run scans s once. A rule that matched returns where its match ends and the
// scan goes on from there; an assignment does not skip its value, so that a
// known token inside one is named by its own kind.
func (sc *scanner) run() {
	s := sc.s
	for i := 0; i < len(s); i++ {
		// Most bytes start nothing: skip them four at a time.
		for i+4 <= len(s) && trigger[s[i]]|trigger[s[i+1]]|trigger[s[i+2]]|trigger[s[i+3]] == 0 {
			i += 4
		}
		if i >= len(s) {
			break
		}
		t := trigger[s[i]]
		if t == 0 {
			continue
		}
		end := -1
		switch t {
		case tDash:
			end = sc.dash(i)
		case tS:
			sc.secretWord(i)
		case tUnder:
			if i >= 3 && s[i-3] == 'g' && s[i-2] == 'h' && strings.IndexByte("pousr", s[i-1]) >= 0 {
				end = sc.github(i - 3)
			} else if i >= 6 && strings.HasPrefix(s[i-6:], "github_pat_") {
				end = sc.github(i - 6)
			}
		case tA:
			end = sc.awsAccessKey(i)
		case tJ:
			if i >= 2 && s[i-2] == 'e' && s[i-1] == 'y' {
				end = sc.jwt(i - 2)
			}
		case tColon:
			if strings.HasPrefix(s[i:], "://") {
				sc.urlPassword(i)
				end = i + 3
			} else {
				sc.assignment(i)
			}
		case tEquals:
			sc.assignment(i)
		}
		if end > i {
			i = end - 1
		}
	}
	if len(sc.awsAfter) > 0 {
		sc.awsSecrets()
	}
}

// dash looks at a dash: the start of a key block or of a command-line
// option, or the dash of sk-, xoxb- or xapp-.
func (sc *scanner) dash(i int) int {
	s := sc.s
	if i+1 < len(s) && s[i+1] == '-' {
		end := sc.privateKey(i)
		if end < 0 {
			sc.flag(i)
		}
		return end
	}
	switch {
	case i >= 2 && s[i-2] == 's' && s[i-1] == 'k':
		return sc.skKey(i - 2)
	case i >= 9 && strings.HasPrefix(s[i-9:], "xoxe.xox"):
		return sc.slack(i - 9)
	case i >= 4 && (s[i-4] == 'x' && (s[i-3] == 'o' || s[i-3] == 'a')):
		return sc.slack(i - 4)
	}
	return -1
}

// runEnd returns the end of the run of bytes of class mask starting at i.
func (sc *scanner) runEnd(i int, mask uint8) int {
	for i < len(sc.s) && class[sc.s[i]]&mask != 0 {
		i++
	}
	return i
}

// mix describes the characters of a candidate.
type mix struct {
	upper, lower, digit, other int
}

func mixOf(v string) (m mix) {
	for i := 0; i < len(v); i++ {
		switch c := class[v[i]]; {
		case c&cUpper != 0:
			m.upper++
		case c&cLower != 0:
			m.lower++
		case c&cDigit != 0:
			m.digit++
		default:
			m.other++
		}
	}
	return m
}

// twoOfThree: at least two of upper case, lower case and digits, as a random
// string of any useful length has and a placeholder (ghp_xxxx...) does not.
func (m mix) twoOfThree() bool {
	n := 0
	for _, c := range [3]int{m.upper, m.lower, m.digit} {
		if c > 0 {
			n++
		}
	}
	return n >= 2
}

// --- Private key blocks ---

// privateKey matches -----BEGIN ... PRIVATE KEY----- up to its END line. A
// block without an END (cut short, or pasted in part) is hidden up to the
// last line after it that looks like key material: base64, or a header such
// as Proc-Type: 4,ENCRYPTED. Lines may end with a newline or a literal \n (a
// key inside a JSON string).
func (sc *scanner) privateKey(i int) int {
	s := sc.s
	const begin = "-----BEGIN "
	if !strings.HasPrefix(s[i:], begin) {
		return -1
	}
	hdr := i + len(begin)
	j := hdr
	for j < len(s) && j-hdr < 64 && (s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9' || s[j] == ' ') {
		j++
	}
	label := s[hdr:j]
	if !strings.HasPrefix(s[j:], "-----") || !(strings.HasSuffix(label, "PRIVATE KEY") || strings.HasSuffix(label, "PRIVATE KEY BLOCK")) {
		return -1
	}
	body := j + 5
	// The END line closes this block unless another block begins first.
	endLine := sc.nextEnd.find(s, "-----END ", body)
	if next := sc.nextBegin.find(s, begin, body); next >= 0 && next < endLine {
		endLine = -1
	}
	if endLine >= 0 {
		e := endLine + len("-----END ")
		limit := min(len(s), e+64)
		if m := strings.Index(s[e:limit], "-----"); m >= 0 {
			sc.add(i, e+m+5, PrivateKey)
			return e + m + 5
		}
	}
	end, width := body, 0
	for pos := body; pos < len(s); {
		line, next, bad := nextLine(s, pos)
		if bad {
			break
		}
		ok, material, w, final := keyLine(line)
		if !ok {
			break
		}
		if material {
			end = pos + len(strings.TrimRight(line, " \t\r"))
			if final || w > 0 && w < width {
				break
			}
			width = max(width, w)
		}
		pos = next
	}
	sc.add(i, end, PrivateKey)
	return end
}

// nextIndex remembers where the last search for a string found it, so that
// searching again from a later position reads nothing twice.
type nextIndex struct {
	searched bool
	from, at int // the search from from found it at at, or -1: nowhere after
}

// find returns the index of sub in s at or after from, or -1.
func (n *nextIndex) find(s, sub string, from int) int {
	if n.searched && n.from <= from && (n.at < 0 || n.at >= from) {
		return n.at
	}
	n.searched, n.from, n.at = true, from, -1
	if k := strings.Index(s[from:], sub); k >= 0 {
		n.at = from + k
	}
	return n.at
}

// nextLine returns the line starting at pos, up to a newline or a literal
// backslash-n, and where the next one starts. It gives up (bad) at the
// first byte no line of a key has, or at "--" (the next BEGIN or END line),
// so that text after a key is not read to its end, again for each BEGIN.
func nextLine(s string, pos int) (line string, next int, bad bool) {
	for j := pos; j < len(s); j++ {
		switch c := s[j]; {
		case c == '\n':
			return s[pos:j], j + 1, false
		case c == '\\' && j+1 < len(s) && s[j+1] == 'n':
			return s[pos:j], j + 2, false
		case c == '-' && j+1 < len(s) && s[j+1] == '-':
			return "", 0, true
		case !keyLineByte[c]:
			return "", 0, true
		}
	}
	return s[pos:], len(s), false
}

// keyLineByte are the bytes of a key's lines: base64 and its padding, and
// the headers' (Proc-Type: 4,ENCRYPTED).
var keyLineByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = class[c]&(cB64|cEquals) != 0 || strings.IndexByte(" \t\r-:,", byte(c)) >= 0
	}
	return t
}()

// keyLine says whether a line can be part of a key's body, whether it holds
// key material (not only white space), the width of its base64, and whether
// it ends the body. Base64 lines are all as wide but the last, which is
// shorter; fields separated by spaces (a key pasted where newlines became
// spaces) count when each but the last is long, which prose is not.
func keyLine(line string) (ok, material bool, width int, final bool) {
	t := strings.Trim(line, " \t\r")
	if t == "" {
		return true, false, 0, false
	}
	if c := strings.Index(t, ": "); c > 0 && strings.Trim(t[:c], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") == "" {
		return true, true, 0, false // Proc-Type: 4,ENCRYPTED, DEK-Info: ..., Comment: ...
	}
	fields := strings.Fields(t)
	for n, f := range fields {
		for k := 0; k < len(f); k++ {
			if !is(f[k], cB64|cEquals) {
				return false, false, 0, false
			}
		}
		if n < len(fields)-1 && len(f) < 32 {
			return false, false, 0, false
		}
		width = max(width, len(f))
	}
	return true, true, width, len(fields) > 1 && len(fields[len(fields)-1]) < width
}

// --- Provider tokens ---

// skKey matches Anthropic (sk-ant-...) and OpenAI (sk-..., sk-proj-...) keys.
func (sc *scanner) skKey(i int) int {
	s := sc.s
	if !strings.HasPrefix(s[i:], "sk-") || isURLB64(sc.before(i)) {
		return -1
	}
	end := sc.runEnd(i+3, cAlnum|cDashUnder)
	body := s[i+3 : end]
	if rest, ok := strings.CutPrefix(body, "ant-"); ok {
		if m := mixOf(rest); len(rest) >= 20 && m.digit > 0 && m.upper+m.lower > 0 {
			sc.add(i, end, AnthropicKey)
			return end
		}
		return -1
	}
	// A slug such as sk-learn-notes-2024-summary has no upper case.
	if m := mixOf(body); len(body) >= 20 && m.upper > 0 && m.lower > 0 && m.digit > 0 {
		sc.add(i, end, OpenAIKey)
		return end
	}
	return -1
}

// github matches GitHub tokens: ghp_ (personal), gho_ (OAuth), ghu_, ghs_
// (app), ghr_ (refresh) and fine-grained github_pat_.
func (sc *scanner) github(i int) int {
	s := sc.s
	if isWordByte(sc.before(i)) {
		return -1
	}
	var body, end int
	switch {
	case len(s) >= i+4 && s[i+1] == 'h' && strings.IndexByte("pousr", s[i+2]) >= 0 && s[i+3] == '_':
		body = i + 4
		end = sc.runEnd(body, cAlnum)
	case strings.HasPrefix(s[i:], "github_pat_"):
		body = i + len("github_pat_")
		for end = body; end < len(s) && isWordByte(s[end]); end++ {
		}
	default:
		return -1
	}
	if end-body >= 30 && mixOf(s[body:end]).twoOfThree() {
		sc.add(i, end, GitHubToken)
		return end
	}
	return -1
}

// slack matches Slack tokens: xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-
// (and xoxe.xoxp- refresh tokens) and xapp- app tokens.
func (sc *scanner) slack(i int) int {
	s := sc.s
	if isURLB64(sc.before(i)) {
		return -1
	}
	var body int
	switch {
	case strings.HasPrefix(s[i:], "xoxe.xox") && len(s) > i+9 && s[i+9] == '-':
		body = i + 10
	case strings.HasPrefix(s[i:], "xox") && len(s) > i+4 && strings.IndexByte("abeoprs", s[i+3]) >= 0 && s[i+4] == '-':
		body = i + 5
	case strings.HasPrefix(s[i:], "xapp-"):
		body = i + 5
	default:
		return -1
	}
	end := sc.runEnd(body, cAlnum|cDashUnder)
	if m := mixOf(s[body:end]); end-body >= 10 && m.digit > 0 {
		sc.add(i, end, SlackToken)
		return end
	}
	return -1
}

// awsAccessKey matches an AWS access key id: AKIA (long-term) or ASIA
// (temporary) and 16 upper-case letters or digits, as a word of its own.
// An AWS secret key may follow it.
func (sc *scanner) awsAccessKey(i int) int {
	s := sc.s
	if len(s) < i+20 || !(strings.HasPrefix(s[i:], "AKIA") || strings.HasPrefix(s[i:], "ASIA")) || is(sc.before(i), cAlnum) {
		return -1
	}
	for j := i + 4; j < i+20; j++ {
		if !is(s[j], cUpper|cDigit) {
			return -1
		}
	}
	if len(s) > i+20 && is(s[i+20], cAlnum) {
		return -1
	}
	sc.add(i, i+20, AWSAccessKey)
	sc.awsAfter = append(sc.awsAfter, i+20)
	return i + 20
}

// secretWord notes the word "secret" in any case (aws_secret_access_key,
// SecretAccessKey, "my aws secret is"): an AWS secret key may follow it.
func (sc *scanner) secretWord(i int) {
	s := sc.s
	if len(s) >= i+6 && s[i+1]|0x20 == 'e' && s[i+2]|0x20 == 'c' && s[i+3]|0x20 == 'r' && s[i+4]|0x20 == 'e' && s[i+5]|0x20 == 't' {
		sc.awsAfter = append(sc.awsAfter, i+6)
	}
}

// awsWindow is how far after an access key id or the word "secret" an AWS
// secret key may start.
const awsWindow = 120

// awsSecrets matches AWS secret access keys: 40 characters of standard
// base64 as a word of their own, mixing upper and lower case with digits or
// + and /, within awsWindow bytes after an access key id or "secret". A git
// hash (40 hexadecimal digits) never mixes cases.
func (sc *scanner) awsSecrets() {
	s := sc.s
	done := 0
	for _, p := range sc.awsAfter {
		i := max(p, done)
		limit := min(len(s), p+awsWindow)
		for i < limit {
			if !is(s[i], cB64) {
				i++
				continue
			}
			end := sc.runEnd(i, cB64)
			// A word of its own: not the tail of django-insecure-... nor
			// the head of a longer token.
			after := byte(0)
			if end < len(s) {
				after = s[end]
			}
			if end-i == 40 && (!is(sc.before(i), cToken) || sc.before(i) == '=') && (!is(after, cToken) || after == '.') {
				if m := mixOf(s[i:end]); m.upper > 0 && m.lower > 0 && (m.digit > 0 || m.other > 0) {
					sc.add(i, end, AWSSecret)
				}
			}
			i = end
		}
		done = max(done, i)
	}
}

// jwt matches a JSON Web Token: a header starting eyJ (base64url of `{"`), a
// payload and a signature, separated by dots; the signature of an unsigned
// token is empty, and an encrypted one (JWE) has five parts.
func (sc *scanner) jwt(i int) int {
	s := sc.s
	if !strings.HasPrefix(s[i:], "eyJ") || isURLB64(sc.before(i)) {
		return -1
	}
	e1 := sc.runEnd(i, cAlnum|cDashUnder)
	if e1-i < 10 || e1 >= len(s) || s[e1] != '.' {
		return -1
	}
	e2 := sc.runEnd(e1+1, cAlnum|cDashUnder)
	if e2-(e1+1) < 2 || e2 >= len(s) || s[e2] != '.' {
		return -1
	}
	end := sc.runEnd(e2+1, cAlnum|cDashUnder)
	if end == e2+1 {
		end = e2 // unsigned: the dot may end a sentence
	}
	for part := 0; part < 2 && end > e2 && end+1 < len(s) && s[end] == '.' && isURLB64(s[end+1]); part++ {
		end = sc.runEnd(end+1, cAlnum|cDashUnder)
	}
	sc.add(i, end, JWT)
	return end
}

// --- Passwords in URLs ---

// urlPassword matches the password of scheme://user:password@host, keeping
// the user and the host. colon is the index of "://". The authority ends at
// the first /, ?, # or white space after it; its last @ ends the user
// information, so an unencoded @ in a password is still covered.
func (sc *scanner) urlPassword(colon int) {
	s := sc.s
	if !is(sc.before(colon), cAlnum) {
		return
	}
	a := colon + 3
	e := a
	for e < len(s) && e-a < 1024 {
		c := s[e]
		if c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>' {
			break
		}
		e++
	}
	at := strings.LastIndexByte(s[a:e], '@')
	if at < 0 {
		return
	}
	at += a
	c := strings.IndexByte(s[a:at], ':')
	if c < 0 {
		return
	}
	pw := a + c + 1
	if pw == at || strings.HasPrefix(s[pw:at], "[redacted:") {
		return
	}
	sc.add(pw, at, URLPassword)
}

// --- Random-looking values ---

// entropy is the Shannon entropy of v's bytes, in bits per byte.
func entropy(v string) float64 {
	var counts [256]uint16
	for i := 0; i < len(v); i++ {
		counts[v[i]]++
	}
	n := float64(len(v))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// switches is the share of adjacent letters and digits that change class
// (upper, lower, digit) from one to the next: about 0.6 in a random base62
// string and 0.4 in a random lower-case one, under 0.2 in words, names and
// version numbers, whose runs of one class are long.
func switches(v string) float64 {
	pairs, changes := 0, 0
	for i := 1; i < len(v); i++ {
		a, b := class[v[i-1]]&cAlnum, class[v[i]]&cAlnum
		if a == 0 || b == 0 {
			continue
		}
		pairs++
		if a != b {
			changes++
		}
	}
	if pairs == 0 {
		return 0
	}
	return float64(changes) / float64(pairs)
}

// isHex is true for hexadecimal digits and dashes (hashes, UUIDs, ids).
func isHex(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return false
		}
	}
	return true
}

// highEntropyMin and highEntropyMax bound the length of a value the
// high-entropy rule considers: shorter ones are too often names (a pod's
// my-app-7d4b9c8f6-x2k9p), longer ones are data (an encoded file) rather
// than a credential.
const (
	highEntropyMin = 24
	highEntropyMax = 512
)

// notSecretPrefixes start values that look random but are not secrets:
// subresource integrity hashes and base64 images and documents (PNG, GIF,
// WebP, SVG, PDF; JPEG starts with a slash, which no candidate does).
var notSecretPrefixes = []string{"sha1-", "sha256-", "sha384-", "sha512-", "iVBORw0KGgo", "R0lGOD", "UklGR", "PHN2Zy", "PD94bWwg", "JVBERi"}

// highEntropy says whether v, a value assigned to a key that names nothing
// secret, looks like a random credential: one word of token characters,
// with letters and digits, changing class often (switches), with the
// entropy of random text, and none of the shapes of hashes, UUIDs, paths or
// encoded images.
func highEntropy(v string) bool {
	if len(v) < highEntropyMin || len(v) > highEntropyMax {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !is(v[i], cToken) {
			return false
		}
	}
	if c := v[0]; c == '/' || c == '.' || c == '~' || c == '-' || isHex(v) {
		return false
	}
	for _, p := range notSecretPrefixes {
		if strings.HasPrefix(v, p) {
			return false
		}
	}
	m := mixOf(v)
	return m.digit > 0 && m.upper+m.lower > 0 && switches(v) >= 0.3 && entropy(v) >= 3.5
}

package redact

import (
	"strings"
	"unicode/utf8"
)

// Assignments: a value given to a key whose name says it is a secret
// (password=..., "api_key": "...", export GITHUB_TOKEN=..., --password ...),
// or a random-looking value given to any key. The key is read backwards from
// the operator, the value forwards from it; quotes, JSON escapes (\"), the
// operators = : := => and white space around them are understood.

// family is what a key's name says about its value.
type family uint8

const (
	famGeneric       family = iota // any other name: a random-looking value is a secret
	famPassword                    // password, passwd, passphrase, db_pass, MYSQL_PWD
	famSecret                      // token, secret, api_key, access_key, credentials...
	famAuthorization               // Authorization: Bearer ...
)

// maxValue bounds how far a value is read: a password or a token is
// shorter, and the keys, tokens and JWTs that are longer have rules of
// their own.
const maxValue = 1024

// stop are the bytes that end an unquoted value. After = they include &
// (a query string); after : (YAML, a header) it is part of the value.
var stop, stopColon = func() (eq, colon [256]bool) {
	for _, c := range []byte(" \t\n\r\f\v\"'`,;<>)]}|") {
		eq[c], colon[c] = true, true
	}
	eq['&'] = true
	return eq, colon
}()

// isKeyByte is true for the bytes of a key's name: [A-Za-z0-9_.-].
func isKeyByte(c byte) bool { return class[c]&(cAlnum|cDashUnder|cDot) != 0 }

// assignment looks at the operator at op (':' or '=') and, when a key
// precedes it, at the value that follows.
func (sc *scanner) assignment(op int) {
	s := sc.s
	next := byte(0)
	if op+1 < len(s) {
		next = s[op+1]
	}
	prev := sc.before(op)
	opEnd := op + 1
	switch s[op] {
	case ':':
		if next == ':' || prev == ':' { // a scope: std::string
			return
		}
		if next == '=' {
			opEnd++
		}
	case '=':
		if next == '=' || prev != 0 && strings.IndexByte("=!<>:+-*/%&|^~?", prev) >= 0 {
			return // a comparison or a compound assignment
		}
		if next == '>' {
			opEnd++
		}
	}

	k := op - 1
	for n := 0; k >= 0 && (s[k] == ' ' || s[k] == '\t') && n < 8; n++ {
		k--
	}
	if k >= 0 && (s[k] == '"' || s[k] == '\'') {
		k--
		if k >= 0 && s[k] == '\\' {
			k--
		}
	}
	ke := k + 1
	ks := ke
	for ks > 0 && ke-ks < 64 && isKeyByte(s[ks-1]) {
		ks--
	}
	if ks >= 3 && s[ks-3:ks] == "://" {
		return // user:password in a URL: the URL's rule
	}
	key := s[ks:ke]
	var fam family
	if key == "" {
		if !thaiPasswordKey(s[:ke]) {
			return
		}
		fam = famPassword
	} else {
		fam = classify(key)
	}

	v := opEnd
	for n := 0; v < len(s) && (s[v] == ' ' || s[v] == '\t') && n < 16; n++ {
		v++
	}
	if v >= len(s) {
		return
	}
	stops := &stop
	if s[op] == ':' {
		stops = &stopColon
	}
	sc.assigned(fam, key, v, stops)
}

// assigned judges the value starting at v of a key of family fam.
func (sc *scanner) assigned(fam family, key string, v int, stops *[256]bool) {
	vs, ve, quoted := sc.value(v, stops)
	if ve <= vs {
		return
	}
	val := sc.s[vs:ve]
	switch fam {
	case famPassword:
		if literal(val, key, quoted) {
			sc.add(vs, ve, Password)
		}
	case famSecret:
		if literal(val, key, quoted) && credential(val) {
			sc.add(vs, ve, Secret)
		}
	case famAuthorization:
		sc.authorization(vs, ve, quoted, stops)
	case famGeneric:
		if highEntropy(val) && !notSecretKey(key) {
			sc.add(vs, ve, HighEntropy)
		}
	}
}

// thaiPasswordKey is true when the text before an operator ends with the
// Thai for password (รหัสผ่าน, or พาสเวิร์ด as it is also written).
func thaiPasswordKey(before string) bool {
	return strings.HasSuffix(before, "รหัสผ่าน") || strings.HasSuffix(before, "พาสเวิร์ด")
}

// value returns the value starting at v: inside its quotes when it is
// quoted (", ', ` or a JSON-escaped \"), else up to white space or a
// delimiter. A quote left open is read as no quote.
func (sc *scanner) value(v int, stops *[256]bool) (start, end int, quoted bool) {
	s := sc.s
	q, esc := s[v], false
	if q == '\\' && v+1 < len(s) && (s[v+1] == '"' || s[v+1] == '\'') {
		q, esc = s[v+1], true
	}
	if q == '"' || q == '\'' || q == '`' {
		start = v + 1
		if esc {
			start++
		}
		for j := start; j < len(s) && j-start < maxValue; j++ {
			c := s[j]
			if c == '\n' {
				break
			}
			if esc {
				if c == '\\' && j+1 < len(s) && s[j+1] == q {
					return start, j, true
				}
				continue
			}
			if c == '\\' && q == '"' {
				j++
				continue
			}
			if c == q {
				return start, j, true
			}
		}
		v = start
	}
	end = min(sc.nextStop(v, stops), v+maxValue)
	// A value cut at maxValue may end inside a character.
	for end > v && end < len(s) && !utf8.RuneStart(s[end]) {
		end--
	}
	return v, end, false
}

// nextStop returns the index of the first byte of stops at or after v, or
// len(s). A later call from within the same stretch is answered from the
// last one: in a=a=a=... every value ends at the same byte.
func (sc *scanner) nextStop(v int, stops *[256]bool) int {
	if sc.stopOf == stops && sc.stopFrom <= v && v <= sc.stopAt {
		return sc.stopAt
	}
	s := sc.s
	end := v
	for end < len(s) && !stops[s[end]] {
		end++
	}
	sc.stopOf, sc.stopFrom, sc.stopAt = stops, v, end
	return end
}

// flag matches a command-line option naming a secret followed by its value
// after a space: --password hunter2, --token abc. (--password=... is an
// assignment.)
func (sc *scanner) flag(i int) {
	s := sc.s
	if len(s) < i+4 || s[i+1] != '-' || !(i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '"' || s[i-1] == '\'') {
		return
	}
	e := i + 2
	for e < len(s) && e-i < 64 && (is(s[e], cAlnum) || s[e] == '-' || s[e] == '_') {
		e++
	}
	if e == i+2 || e >= len(s) || s[e] != ' ' {
		return
	}
	key := s[i+2 : e]
	fam := classify(key)
	if fam != famPassword && fam != famSecret {
		return
	}
	v := e + 1
	for v < len(s) && s[v] == ' ' {
		v++
	}
	if v >= len(s) || s[v] == '-' {
		return
	}
	sc.assigned(fam, key, v, &stop)
}

// authorization matches the credential of an Authorization header's value
// (vs to ve): what follows Bearer, Basic or Token, or the whole value when
// it names no scheme.
func (sc *scanner) authorization(vs, ve int, quoted bool, stops *[256]bool) {
	s := sc.s
	limit := ve
	if !quoted {
		limit = min(len(s), vs+maxValue)
	}
	w := vs
	for w < limit && is(s[w], cUpper|cLower) {
		w++
	}
	cs := vs
	if scheme := s[vs:w]; strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "basic") || strings.EqualFold(scheme, "token") {
		cs = w
		for cs < limit && s[cs] == ' ' {
			cs++
		}
	}
	ce := cs
	for ce < limit && !stops[s[ce]] {
		ce++
	}
	if cred := s[cs:ce]; len(cred) >= 8 && literal(cred, "", quoted) {
		sc.add(cs, ce, Authorization)
	}
}

// classify reads a key's name: its words are separated by _ - . or a change
// to upper case (camelCase), and what matters is how the whole name, words
// joined and in lower case, ends, or its last word. It runs for every
// assignment in a text, so it looks at the last byte first.
func classify(key string) family {
	var buf [64]byte
	n, start, words := 0, 0, 0
	lastS, lastE := 0, 0
	prev := uint8(0)
	if len(key) > len(buf) {
		key = key[len(key)-len(buf):]
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		cl := class[c] & cAlnum
		if cl == 0 || cl == cUpper && prev&(cLower|cDigit) != 0 {
			if n > start {
				words++
				lastS, lastE = start, n
			}
			start = n
		}
		if cl == 0 {
			prev = 0
			continue
		}
		if cl != cDigit {
			c |= 0x20
		}
		buf[n] = c
		n++
		prev = cl
	}
	if n > start {
		words++
		lastS, lastE = start, n
	}
	if n == 0 {
		return famGeneric
	}
	j, last := buf[:n], buf[lastS:lastE]
	switch j[n-1] {
	case 'd': // password, passwd, db_pwd
		if hasSuffix(j, "password") || hasSuffix(j, "passwd") || words > 1 && string(last) == "pwd" {
			return famPassword
		}
	case 'e': // passphrase, passcode, secret_key_base
		if hasSuffix(j, "passphrase") {
			return famPassword
		}
		if hasSuffix(j, "passcode") || hasSuffix(j, "secretkeybase") {
			return famSecret
		}
	case 'n': // authorization, token
		if hasSuffix(j, "authorization") {
			return famAuthorization
		}
		if hasSuffix(j, "token") {
			return famSecret
		}
	case 't': // secret
		if hasSuffix(j, "secret") {
			return famSecret
		}
	case 'y': // api_key, secret_key, access_key...
		if hasAnySuffix(j, keySuffixes) {
			return famSecret
		}
	case 'l', 's': // credential, credentials, db_pass
		if hasSuffix(j, "credential") || hasSuffix(j, "credentials") {
			return famSecret
		}
		if words > 1 && string(last) == "pass" {
			return famPassword
		}
	case 'h': // _auth (.npmrc)
		if string(last) == "auth" {
			return famSecret
		}
	case 'w': // db_pw
		if words > 1 && string(last) == "pw" {
			return famPassword
		}
	}
	return famGeneric
}

// keySuffixes end the names of keys, ending in "key", whose value is a
// credential; a primary_key or a sort_key is not.
var keySuffixes = []string{"apikey", "secretkey", "privatekey", "accesskey", "signingkey", "encryptionkey",
	"masterkey", "sessionkey", "authkey", "hmackey", "sharedkey"}

// notSecretWords end the names of keys whose value may look random but is
// not a credential: ids, hashes, versions, paths, encoded content. The
// high-entropy rule leaves their values alone.
var notSecretWords = []string{"id", "ids", "uuid", "guid", "hash", "sha", "sha1", "sha256", "sha512", "md5", "digest",
	"checksum", "commit", "rev", "revision", "etag", "version", "integrity", "ref", "oid", "sum", "path", "file",
	"url", "uri", "dir", "name", "image", "img", "icon", "src", "data", "signature"}

// notSecretKey is true when the last word of key is one of notSecretWords.
func notSecretKey(key string) bool {
	e := len(key)
	for e > 0 && class[key[e-1]]&cAlnum == 0 {
		e--
	}
	s := e
	for s > 0 && class[key[s-1]]&cAlnum != 0 {
		s--
		// camelCase: requestId ends with the word Id.
		if class[key[s]]&cUpper != 0 && s > 0 && class[key[s-1]]&(cLower|cDigit) != 0 {
			break
		}
	}
	last := key[s:e]
	for _, w := range notSecretWords {
		if strings.EqualFold(last, w) {
			return true
		}
	}
	return false
}

func hasSuffix(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == suffix
}

func hasAnySuffix(b []byte, suffixes []string) bool {
	for _, s := range suffixes {
		if hasSuffix(b, s) {
			return true
		}
	}
	return false
}

// notValues are what a secret's key is given in code, templates and prose
// rather than a secret: types, literals, keywords, and words that describe
// a password without being one ("password: incorrect").
var notValues = []string{
	"string", "str", "bytes", "int", "number", "bool", "boolean", "any", "none", "null", "nil", "true", "false",
	"undefined", "optional", "required", "object", "secretstr", "text", "varchar", "char", "self", "this",
	"await", "new", "function", "async", "lambda", "yield", "return", "typeof", "void", "err", "error", "value",
	"var", "let", "const", "the", "a", "an", "is", "are", "was", "not", "yes", "no", "and", "or", "to", "for",
	"of", "in", "on", "it", "my", "your", "same", "here", "below", "above", "incorrect", "wrong", "invalid",
	"missing", "empty", "reset", "changed", "hidden", "masked", "unknown", "n/a", "tbd", "todo", "example",
	"redacted", "omitted", "unset", "default",
}

// literal says whether v, given to a key whose name says it is a secret, is
// a secret written out rather than a reference to one: not empty, not a
// variable ($PW, ${PW}, %s, {{ .Pw }}, <your password>), not masked (****),
// not code (getpass(), os.environ[...], self.password, str), not the key's
// own name.
func literal(v, key string, quoted bool) bool {
	if v == "" || strings.HasPrefix(v, "[redacted:") {
		return false
	}
	switch v[0] {
	case '$', '%', '{', '<':
		return false
	}
	if masked(v) || ownName(key, v) {
		return false
	}
	if w := strings.TrimRight(v, ".!?:"); len(w) <= len("incorrect") {
		for _, n := range notValues {
			if strings.EqualFold(w, n) {
				return false
			}
		}
	}
	return quoted || !isCode(v)
}

// ownName is true when v is the key's name or its last word (password =
// password, self.password = password, db_password=password): code passing
// a variable on, not a secret.
func ownName(key, v string) bool {
	n := len(key) - len(v)
	if n < 0 || !strings.EqualFold(key[n:], v) {
		return false
	}
	return n == 0 || key[n-1] == '.' || key[n-1] == '_' || key[n-1] == '-'
}

// masked is true for a value of only masking characters: ***, xxxx, ••••, ...
func masked(v string) bool {
	n := 0
	for _, r := range v {
		switch r {
		case '*', 'x', 'X', '.', '•', '…', '#':
			n++
		default:
			return false
		}
	}
	return n >= 3 || v == "…"
}

// isCode is true for an unquoted value that is an expression: a call or an
// index (getpass(), os.environ["PW"]) or a dotted name (self.password,
// cfg.Password).
func isCode(v string) bool {
	i := 0
	dots := 0
	for i < len(v) && (isWordByte(v[i]) || v[i] == '.') {
		if v[i] == '.' {
			dots++
		}
		i++
	}
	if i == 0 || !(is(v[0], cUpper|cLower) || v[0] == '_') {
		return false
	}
	if i < len(v) {
		return v[i] == '(' || v[i] == '['
	}
	if dots == 0 {
		return false
	}
	// Every part of a dotted name starts with a letter: hunter2.0 is not one.
	for _, part := range strings.Split(v, ".") {
		if part == "" || !(is(part[0], cUpper|cLower) || part[0] == '_') {
			return false
		}
	}
	return true
}

// credential says whether v, given to a token, secret or key, looks like
// one: at least 8 characters without spaces, not a number, not a path, and
// mixing letters with digits or symbols, or long and random-looking (a
// placeholder such as your-token-here is none of these).
func credential(v string) bool {
	if len(v) < 8 || v[0] == '/' || strings.HasPrefix(v, "~/") || strings.HasPrefix(v, "./") {
		return false
	}
	m := mixOf(v)
	if m.upper+m.lower == 0 {
		return false
	}
	symbol := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			return false
		}
		if class[c]&cAlnum == 0 && c != '-' && c != '_' && c != '.' {
			symbol = true
		}
	}
	return m.digit > 0 || symbol || len(v) >= 16 && switches(v) >= 0.3
}

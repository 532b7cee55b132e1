package redact

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
)

// generated is a secret made up from a seed, written in a context where it
// must be found.
type generated struct {
	context string   // the text holding the secrets
	secrets []string // what must not survive
}

// pick returns n characters of alphabet; the first three are an upper-case
// letter, a lower-case letter and a digit, so that the secret has the mix of
// a real one whatever the seed.
func pick(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	b[0] = "ABCDEFGHJKLMNPQRSTUVWXYZ"[r.IntN(24)]
	b[1] = "abcdefghijkmnopqrstuvwxyz"[r.IntN(25)]
	b[2] = "0123456789"[r.IntN(10)]
	return string(b)
}

// randomish returns n characters cycling through upper case, lower case and
// digits, each picked at random: what a generated credential looks like to
// the high-entropy rule, however the dice fall.
func randomish(r *rand.Rand, n int) string {
	classes := [3]string{"GHJKLMNPQRSTUVWXYZ", "ghjkmnpqrstuvwxyz", "0123456789"}
	b := make([]byte, n)
	for i := range b {
		c := classes[i%3]
		b[i] = c[r.IntN(len(c))]
	}
	return string(b)
}

// generate makes a secret of one of the shapes the rules know, in context.
func generate(kind uint8, seed uint64) generated {
	r := rand.New(rand.NewPCG(seed, 11))
	pwChars := base62 + "!#%^*-_+=~"
	switch kind % 16 {
	case 0:
		k := "sk-ant-api03-" + pick(r, b64url, 40+r.IntN(60))
		return generated{"my key is " + k, []string{k}}
	case 1:
		k := "sk-proj-" + pick(r, b64url, 40+r.IntN(120))
		return generated{"OPENAI_API_KEY=" + k, []string{k}}
	case 2:
		k := "ghp_" + pick(r, base62, 36)
		return generated{"git push https://" + k + "@github.com/a/b", []string{k}}
	case 3:
		k := "github_pat_" + pick(r, base62+"_", 82)
		return generated{`{"token": "` + k + `"}`, []string{k}}
	case 4:
		k := "xoxb-" + fmt.Sprint(r.Int64N(1e12)) + "-" + pick(r, base62, 24)
		return generated{"slack " + k, []string{k}}
	case 5:
		id := "AKIA" + strings.ToUpper(pick(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16))
		sec := pick(r, base62+"+/", 40)
		return generated{"aws_access_key_id = " + id + "\naws_secret_access_key = " + sec, []string{id, sec}}
	case 6:
		id := "ASIA" + strings.ToUpper(pick(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16))
		sec := pick(r, base62+"+/", 40)
		return generated{id + "," + sec, []string{id, sec}}
	case 7:
		j := "eyJhbGciOiJSUzI1NiJ9." + pick(r, b64url, 20+r.IntN(200)) + "." + pick(r, b64url, 43)
		return generated{"Authorization: Bearer " + j, []string{j}}
	case 8:
		pw := pick(r, base62+"!$%^*-_+=~;&,", 6+r.IntN(20))
		return generated{"DATABASE_URL=postgres://angela:" + pw + "@db.example.com:5432/AngelaMemory", []string{pw}}
	case 9:
		pw := pick(r, pwChars, 4+r.IntN(30))
		return generated{"export PGPASSWORD=" + pw, []string{pw}}
	case 10:
		pw := pick(r, pwChars+" ,;&'", 4+r.IntN(30))
		return generated{`{"user": "david", "password": "` + pw + `"}`, []string{pw}}
	case 11:
		pw := pick(r, pwChars, 4+r.IntN(30))
		return generated{"รหัสผ่าน: " + pw, []string{pw}}
	case 12:
		v := pick(r, base62+"-_.", 12+r.IntN(40))
		return generated{"api_key: '" + v + "'", []string{v}}
	case 13:
		v := randomish(r, highEntropyMin+r.IntN(100))
		return generated{"SIGNING=" + v, []string{v}}
	case 14:
		var b strings.Builder
		for range 1 + r.IntN(8) {
			b.WriteString(pick(r, base62+"+/", 64))
			b.WriteByte('\n')
		}
		body := b.String()
		return generated{"-----BEGIN RSA PRIVATE KEY-----\n" + body + "-----END RSA PRIVATE KEY-----", strings.Fields(body)}
	default:
		v := pick(r, base62, 8+r.IntN(30))
		return generated{"mysql --password " + v + " -h db", []string{v}}
	}
}

// FuzzRedact: redacting never panics, keeps valid UTF-8 valid, is
// idempotent, and leaves nothing of a generated secret put anywhere in the
// text.
func FuzzRedact(f *testing.F) {
	for i, s := range []string{
		"", "hello", "สวัสดีค่ะ", "password=hunter2", "postgres://u:p@h/d", awsID + " " + awsSecret,
		"-----BEGIN RSA PRIVATE KEY-----\nabc", "eyJhbGciOi.eyJzdWIi.", "secret " + strings.Repeat("A1b", 14),
		"[redacted:jwt] [redacted:", "token=\"abc\\\"def\"", `{\"password\": \"x`, "sk-ant-", "--password ",
		"a: b: c:= d => e", "\xff\xfe password: \xc3",
	} {
		f.Add(s, uint64(i), uint8(i))
	}
	r, err := New(config.Redaction{Enabled: true, ExtraPatterns: []string{`acme_[a-z0-9]{8}`, `pin: (\d+)`}}, zap.NewNop())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string, seed uint64, kind uint8) {
		for _, red := range []*Redactor{nil, r} {
			out, _ := red.Redact(text)
			if utf8.ValidString(text) && !utf8.ValidString(out) {
				t.Fatalf("Redact(%q) = %q: not UTF-8", text, out)
			}
			if again, f := red.Redact(out); again != out || f.Total() != 0 {
				t.Fatalf("not idempotent:\n  in    %q\n  once  %q\n  twice %q", text, out, again)
			}
		}

		g := generate(kind, seed)
		for _, s := range g.secrets {
			if strings.Contains(text, s) {
				return // the fuzzer wrote the secret itself
			}
		}
		in := text + "\n" + g.context + "\n" + text
		out, found := r.Redact(in)
		if found.Total() == 0 {
			t.Fatalf("nothing found in %q", in)
		}
		for _, s := range g.secrets {
			if strings.Contains(out, s) {
				t.Fatalf("secret %q survived:\n  in  %q\n  out %q", s, in, out)
			}
		}
		if again, _ := r.Redact(out); again != out {
			t.Fatalf("not idempotent:\n  once  %q\n  twice %q", out, again)
		}
	})
}

// FuzzClean: private passages never survive, whatever surrounds them, and
// cleaning twice is cleaning once.
func FuzzClean(f *testing.F) {
	for i, s := range []string{"", "a<private>b</private>c", "<PRIVATE>", "</private>x", "<pri<private>x</private>vate>", "ค่ะ <private>"} {
		f.Add(s, s, uint64(i))
	}
	f.Fuzz(func(t *testing.T, before, after string, seed uint64) {
		private := fmt.Sprintf("diary entry %x", seed)
		if strings.Contains(before, private) || strings.Contains(after, private) {
			return
		}
		in := before + "<private>" + private + "</private>" + after
		out, rep := (*Redactor)(nil).Clean(in)
		if strings.Contains(out, private) {
			t.Fatalf("private text survived: %q -> %q", in, out)
		}
		if rep.PrivatePassages == 0 || rep.AllPrivate != (out == "" && strings.TrimSpace(out) == "") && rep.AllPrivate {
			t.Fatalf("report %+v for %q -> %q", rep, in, out)
		}
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("not UTF-8: %q -> %q", in, out)
		}
		if again, rep := (*Redactor)(nil).Clean(out); again != out || rep.Changed() {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		if strings.Contains(strings.ToLower(out), "<private>") {
			t.Fatalf("an open tag survived: %q -> %q", in, out)
		}
	})
}

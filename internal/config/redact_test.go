package config_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
)

// outputs is everything angelad may show about a connection string: what
// `config` prints for it (or the error that stops every command), the
// target it names, and the parse error of a connection.
func outputs(t testing.TB, home, dsn string) []string {
	root := false
	c, err := config.Load(config.Options{
		Env:  func(k string) (string, bool) { return dsn, k == "ANGELA_DATABASE_URL" && dsn != "" },
		GOOS: "linux", Root: &root, Home: home,
	})
	out := []string{config.Redact(dsn), postgres.DescribeConnString(dsn)}
	if err != nil {
		out = append(out, err.Error())
	} else {
		out = append(out, c.Value("database_url"), c.Database().Source)
	}
	if _, err := postgres.ParseConfig(dsn, "UTC"); err != nil {
		out = append(out, err.Error())
	}
	return out
}

func TestRedactHidesEveryPasswordShape(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name, dsn string
		redacted  string // what config shows; config.Hidden when it refuses the string
		invalid   string // the reason Load refuses it for, "" when valid
	}{
		{"URL", "postgres://angela:SeCrEt123@db:5432/AngelaMemory", "postgres://angela:xxxxx@db:5432/AngelaMemory", ""},
		{"URL percent-encoded", "postgresql://angela:Se%20Cr%40Et123@db/x", "postgresql://angela:xxxxx@db/x", ""},
		{"URL query password", "postgres://angela@db/x?sslmode=disable&password=SeCrEt123", "postgres://angela@db/x?sslmode=disable&password=xxxxx", ""},
		{"URL query sslpassword", "postgres://db/x?sslpassword=SeCrEt123&", "postgres://db/x?sslpassword=xxxxx&", ""},
		{"URL multi-host", "postgres://a:SeCrEt123@h1:5432,[::1]:5433/x", "postgres://a:xxxxx@h1:5432,[::1]:5433/x", ""},
		{"URL scheme typo", "postgress://u:SeCrEt123@h/x", config.Hidden, "does not start with postgres://"},
		{"URL scheme typo with a parameter", "postgress://u:SeCrEt123@h/x?sslmode=disable", config.Hidden, "does not start with postgres://"},
		{"URL one slash", "postgres:/u:SeCrEt123@h/x", config.Hidden, "does not start with postgres://"},
		{"URL capitalised scheme", "Postgres://u:SeCrEt123@h/x", config.Hidden, "does not start with postgres://"},
		{"URL with / in the password", "postgres://u:Se/CrEt123@h/x", config.Hidden, `"@" after the host`},
		{"URL with @ in the password", "postgres://u:Se@CrEt123@h/x", config.Hidden, `"@" after the host`},
		{"URL with a space in the password", "postgres://u:Se CrEt123@h/x", config.Hidden, "password is not percent-encoded"},
		{"URL bad port", "postgres://u:SeCrEt123@h:54x32/x", config.Hidden, "a port is not a number"},
		{"key=value", "host=db user=angela password=SeCrEt123 dbname=x", "host=db user=angela password=xxxxx dbname=x", ""},
		{"key=value quoted", "host=db password='Se Cr\\'Et123' dbname=x", "host=db password=xxxxx dbname=x", ""},
		{"key=value spaces around =", "host=db password = 'Se CrEt123' dbname=x", "host=db password = xxxxx dbname=x", ""},
		{"key=value escaped space", `host=/tmp/x user=angela password=Se\ CrEt123`, "host=/tmp/x user=angela password=xxxxx", ""},
		{"key=value escaped backslash", `host=db password=Se\\CrEt123 dbname=x`, "host=db password=xxxxx dbname=x", ""},
		{"key=value trailing backslash", `host=db password=SeCrEt123\ dbname=x`, "host=db password=xxxxx", ""},
		{"key=value misspelt key", "host=db passwd=SeCrEt123", "host=db passwd=xxxxx", ""},
		{"key=value sslpassword", "host=db sslpassword='SeCrEt123'", "host=db sslpassword=xxxxx", ""},
		{"key=value bad port", `host=h password=Se\ CrEt123 port=abc`, config.Hidden, "a port is not a number"},
		{"key=value unterminated quote", "host=h password='Se CrEt123", config.Hidden, "a quoted value is not closed"},
		{"key=value unquoted space", "host=h password=Se CrEt123", config.Hidden, "a \"=\" is missing"},
		{"key=value space in a key", "host=h pass word=SeCrEt123", config.Hidden, "a keyword is not a name"},
		{"no password", "postgres://db/x", "postgres://db/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.Redact(tt.dsn); got != tt.redacted {
				t.Errorf("Redact(%q) = %q, want %q", tt.dsn, got, tt.redacted)
			}
			for _, out := range outputs(t, home, tt.dsn) {
				if strings.Contains(out, "CrEt") {
					t.Errorf("the password shows in %q", out)
				}
			}
			root := false
			_, err := config.Load(config.Options{
				Env:  func(k string) (string, bool) { return tt.dsn, k == "ANGELA_DATABASE_URL" },
				GOOS: "linux", Root: &root, Home: home,
			})
			switch {
			case tt.invalid == "" && err != nil:
				t.Errorf("Load refused a valid string: %v", err)
			case tt.invalid != "":
				want := "invalid database URL from env ANGELA_DATABASE_URL: "
				if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.invalid) ||
					!strings.HasSuffix(err.Error(), "(not shown, it may hold a password)") {
					t.Errorf("Load error = %v, want %q...%q", err, want, tt.invalid)
				}
				if _, ok := err.(*config.Error); !ok {
					t.Errorf("Load error is %T, want *config.Error (exit 2)", err)
				}
			}
			// What pgx reads as the password is what Redact hid.
			if cfg, perr := pgconn.ParseConfig(tt.dsn); perr == nil && cfg.Password != "" && strings.Contains(config.Redact(tt.dsn), cfg.Password) {
				t.Errorf("Redact shows %q, which pgx reads as the password", cfg.Password)
			}
		})
	}
}

// TestInvalidURLErrorNeverQuotesPgx: pgx's parse errors quote the connection
// string, redacted only as far as pgx can tell where the password ends.
func TestInvalidURLErrorNeverQuotesPgx(t *testing.T) {
	for _, dsn := range []string{
		`host=h password=Se\ CrEt123 port=abc`,
		`host=h password=Se\ CrEt123 sslmode=bogus`,
		`host=h password=Se\ CrEt123 connect_timeout=x`,
		`host=h password=Se\ CrEt123 target_session_attrs=Se\ CrEt`,
		"postgres://u:Se:CrEt123@h/x?port=CrEt",
		"postgres://u:SeCrEt%zz@h/x",
	} {
		_, err := postgres.ParseConfig(dsn, "UTC")
		if err == nil {
			t.Errorf("ParseConfig(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "CrEt") || !strings.HasPrefix(err.Error(), "invalid database URL: ") {
			t.Errorf("ParseConfig(%q) error = %q", dsn, err)
		}
	}
}

// percentEncode writes every byte but letters and digits as %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// backslashEscape puts a backslash before every byte but letters and digits.
func backslashEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)))) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// shapes put a password into a connection string the ways a person writes
// one, right (encoded, quoted, escaped) and wrong (raw, under a misspelt
// scheme).
var shapes = []func(pw, host string) string{
	func(pw, host string) string { return "postgres://u:" + percentEncode(pw) + "@" + host + "/db" },
	func(pw, host string) string { return "postgres://u:" + pw + "@" + host + "/db" },
	func(pw, host string) string {
		return "postgresql://u@" + host + "/db?sslmode=disable&password=" + percentEncode(pw)
	},
	// A raw "&" would start another parameter, as whitespace starts another
	// keyword below: no reader can tell that from a password.
	func(pw, host string) string {
		return "postgresql://" + host + "/db?password=" + strings.ReplaceAll(pw, "&", "")
	},
	func(pw, host string) string { return "host=" + host + " user=u password=" + quote(pw) + " dbname=db" },
	func(pw, host string) string {
		return "host=" + host + " password=" + backslashEscape(pw) + " dbname=db"
	},
	func(pw, host string) string {
		return "host=" + host + " password=" + strings.Join(strings.Fields(pw), "") + " dbname=db"
	},
	func(pw, host string) string { return "postgress://u:" + pw + "@" + host + "/db?sslmode=disable" },
	func(pw, host string) string { return "postgres:/u:" + pw + "@" + host },
	func(pw, host string) string { return "host=" + host + " sslpassword=" + quote(pw) },
	func(pw, host string) string { return "host=" + host + " password=" + backslashEscape(pw) + " port=abc" },
}

// fragments are the runs of letters and digits in a password that are long
// enough to recognise in an output.
func fragments(pw string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(pw, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(f) >= 4 {
			out = append(out, f)
		}
	}
	return out
}

// FuzzRedact checks that no part of a password shows in anything angelad
// prints about a connection string, in every shape, valid or not: Redact, the
// target description, Load's error and pgx's parse error as angelad words it.
// A fragment is only reported when the same string without the password does
// not show it too (a host named like the password).
func FuzzRedact(f *testing.F) {
	for i := range shapes {
		f.Add(uint8(i), "SeCrEt123", "db")
		f.Add(uint8(i), "Se CrEt123", "db")
		f.Add(uint8(i), `Se\ CrEt'123`, "localhost")
		f.Add(uint8(i), "Se@CrEt/123:x", "db")
		f.Add(uint8(i), "Se%zzCrEt123", "db")
		f.Add(uint8(i), "SeCrEt123 port=5432 host=other", "db")
	}
	f.Add(uint8(255), "host=h password=Se\\ CrEt123 port=abc", "")
	home := f.TempDir()
	// What angelad says of any string it refuses, whatever the password: a
	// password made of these words ("pass", "shown") shows in them anyway.
	fixed := []string{config.Hidden, "xxxxx"}
	for _, bad := range []string{
		"x://", "\x00", "a", "a b=c", "a='", "port=x", "postgres://a@b@c", "postgres://a:%@b", "postgres://%@b",
		"postgres://[", "postgres://[::1]x", "postgres://h/%", "postgres://h/?a", "postgres://h/?%=b", "postgres://h/?a=%",
		"postgres://h:x", "postgres://h%", "port=1,2 host=a,b,c", "sslmode=x", "connect_timeout=x", "sslcertmode=x",
		"target_session_attrs=x", "min_protocol_version=x", "channel_binding=x", "require_auth=x", "service=x",
		"sslmode=require sslrootcert=/nonexistent", "statement_cache_capacity=x",
	} {
		fixed = append(fixed, outputs(f, home, bad)...)
	}
	f.Fuzz(func(t *testing.T, shape uint8, pw, host string) {
		host = strings.Map(func(r rune) rune {
			if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-') {
				return r
			}
			return -1
		}, host)
		if host == "" {
			host = "h"
		}
		var dsn, template string
		if int(shape) < len(shapes) {
			dsn, template = shapes[shape](pw, host), shapes[shape]("", host)
			if shape == 3 {
				pw = strings.ReplaceAll(pw, "&", "")
			}
		} else {
			// Any string: the password is what pgx reads as one. pgx reads the
			// files such a string names (servicefile, passfile, sslrootcert):
			// /dev/zero or a FIFO would never end.
			for _, dev := range []string{"dev", "proc", "sys", "fd"} {
				if strings.Contains(pw, dev) {
					return
				}
			}
			cfg, err := pgconn.ParseConfig(pw)
			if err != nil || strings.Count(pw, cfg.Password) != 1 {
				return
			}
			dsn, template, pw = pw, strings.Replace(pw, cfg.Password, "", 1), cfg.Password
		}
		seen := strings.Join(append(outputs(t, home, template), fixed...), "\n")
		for _, out := range outputs(t, home, dsn) {
			for _, frag := range fragments(pw) {
				if strings.Contains(out, frag) && !strings.Contains(seen, frag) && !strings.Contains(dsn[:max(0, strings.Index(dsn, frag))], frag) {
					t.Fatalf("%q of the password %q shows in %q (connection string %q)", frag, pw, out, dsn)
				}
			}
		}
	})
}

package redact

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/config"
)

// The secrets below are made up when the tests run, so that no file of the
// repository holds a string a secret scanner would flag. AWS's own
// documentation pair (AKIAIOSFODNN7EXAMPLE) is the exception: it is known to
// be no one's.
const (
	awsID     = "AKIAIOSFODNN7EXAMPLE"
	awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

const (
	base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b64url = base62 + "-_"
)

// fake returns n random characters of alphabet, the same for the same seed,
// with an upper-case letter, a lower-case letter and a digit at its start
// so that it has the mix of a real one.
func fake(seed uint64, alphabet string, n int) string {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	copy(b, "Q7k")
	return string(b)
}

var (
	anthropicKey = "sk-ant-api03-" + fake(1, b64url, 93) + "AA"
	openAIKey    = "sk-proj-" + fake(2, b64url, 120)
	openAILegacy = "sk-" + fake(3, base62, 48)
	ghpToken     = "ghp_" + fake(4, base62, 36)
	ghoToken     = "gho_" + fake(5, base62, 36)
	githubPAT    = "github_pat_" + fake(6, base62, 22) + "_" + fake(7, base62, 59)
	slackBot     = "xoxb-" + "1234567890123-1234567890123-" + fake(8, base62, 24)
	slackUser    = "xoxp-" + "1234567890123-1234567890123-1234567890123-" + fake(9, "0123456789abcdef", 32)
	jwtToken     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkRhdmlkIn0." + fake(10, b64url, 43)
	asiaID       = "ASIA" + strings.ToUpper(fake(11, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16))
	randomValue  = fake(12, base62, 32)
	pemRSA       = "-----BEGIN RSA PRIVATE KEY-----\n" + fake(13, base62+"+/", 64) + "\n" + fake(14, base62+"+/", 64) + "\n" + fake(15, base62, 20) + "==\n-----END RSA PRIVATE KEY-----"
	pemOpenSSH   = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + fake(16, base62+"+/", 70) + "\n" + fake(17, base62+"+/", 70) + "\n-----END OPENSSH PRIVATE KEY-----"
)

func redact(s string) (string, Found) { return (*Redactor)(nil).Redact(s) }

// TestRedactTruePositives: each kind of secret, in the contexts it is met
// in, is replaced by its marker and nothing else changes.
func TestRedactTruePositives(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"pem rsa", "here is my key\n" + pemRSA + "\nthanks",
			"here is my key\n[redacted:private-key]\nthanks"},
		{"pem openssh", "cat ~/.ssh/id_ed25519 gives " + pemOpenSSH + " ok",
			"cat ~/.ssh/id_ed25519 gives [redacted:private-key] ok"},
		{"pem in a JSON string", `{"type": "service_account", "private_key": "` + strings.ReplaceAll(pemRSA, "\n", `\n`) + `\n", "client_email": "a@b.iam"}`,
			`{"type": "service_account", "private_key": "[redacted:private-key]\n", "client_email": "a@b.iam"}`},
		{"pem encrypted with headers", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,ABCDEF\n\n" + fake(18, base62, 64) + "\n-----END ENCRYPTED PRIVATE KEY-----",
			"[redacted:private-key]"},
		{"pem pgp", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + fake(19, base62, 64) + "\n-----END PGP PRIVATE KEY BLOCK-----\nbye",
			"[redacted:private-key]\nbye"},
		{"pem without END hides the key lines", "-----BEGIN RSA PRIVATE KEY-----\n" + fake(20, base62+"+/", 64) + "\n" + fake(21, base62, 64) + "\nand the rest of the message",
			"[redacted:private-key]\nand the rest of the message"},
		{"two pem blocks", pemRSA + "\nand\n" + pemOpenSSH, "[redacted:private-key]\nand\n[redacted:private-key]"},
		{"pem without END then one with", "-----BEGIN EC PRIVATE KEY-----\n" + fake(37, base62, 64) + "\noops, again:\n" + pemRSA,
			"[redacted:private-key]\noops, again:\n[redacted:private-key]"},
		{"pem whose newlines became spaces", "key: -----BEGIN PRIVATE KEY----- " + fake(22, base62, 64) + " " + fake(23, base62, 64) + " " + fake(24, base62, 12) + "\nok",
			"key: [redacted:private-key]\nok"},

		{"anthropic", "my key is " + anthropicKey + ", keep it safe", "my key is [redacted:anthropic-key], keep it safe"},
		{"anthropic env", "export ANTHROPIC_API_KEY=" + anthropicKey, "export ANTHROPIC_API_KEY=[redacted:anthropic-key]"},
		{"openai project", "OPENAI_API_KEY=\"" + openAIKey + "\"", "OPENAI_API_KEY=\"[redacted:openai-key]\""},
		{"openai legacy", "use " + openAILegacy + ".", "use [redacted:openai-key]."},

		{"github classic", "git remote set-url origin https://" + ghpToken + "@github.com/d/a.git",
			"git remote set-url origin https://[redacted:github-token]@github.com/d/a.git"},
		{"github oauth", "token " + ghoToken, "token [redacted:github-token]"},
		{"github fine-grained", "GH_TOKEN=" + githubPAT + " gh pr list", "GH_TOKEN=[redacted:github-token] gh pr list"},
		{"github x-access-token url", "https://x-access-token:" + ghpToken + "@github.com/o/r",
			"https://x-access-token:[redacted:github-token]@github.com/o/r"},

		{"slack bot", "SLACK_BOT_TOKEN=" + slackBot, "SLACK_BOT_TOKEN=[redacted:slack-token]"},
		{"slack user", "(" + slackUser + ")", "([redacted:slack-token])"},
		{"slack refresh and app", "xoxe.xoxp-1-" + fake(32, base62, 40) + " xapp-1-A0123-" + fake(33, base62, 30),
			"[redacted:slack-token] [redacted:slack-token]"},
		{"tokens at the start and end", ghpToken + "\n" + openAILegacy + "\n" + jwtToken, "[redacted:github-token]\n[redacted:openai-key]\n[redacted:jwt]"},
		{"github app tokens", "ghs_" + fake(34, base62, 36) + " ghu_" + fake(35, base62, 36) + " ghr_" + fake(36, base62, 76),
			"[redacted:github-token] [redacted:github-token] [redacted:github-token]"},

		{"aws pair in credentials file", "[default]\naws_access_key_id = " + awsID + "\naws_secret_access_key = " + awsSecret + "\n",
			"[default]\naws_access_key_id = [redacted:aws-access-key]\naws_secret_access_key = [redacted:aws-secret]\n"},
		{"aws pair in csv", "Access key ID,Secret access key\n" + awsID + "," + awsSecret,
			"Access key ID,Secret access key\n[redacted:aws-access-key],[redacted:aws-secret]"},
		{"aws secret after the word secret", "the aws secret is " + awsSecret + " ok", "the aws secret is [redacted:aws-secret] ok"},
		{"aws json", `{"AccessKeyId": "` + asiaID + `", "SecretAccessKey": "` + awsSecret + `", "SessionToken": "` + randomValue + `"}`,
			`{"AccessKeyId": "[redacted:aws-access-key]", "SecretAccessKey": "[redacted:aws-secret]", "SessionToken": "[redacted:secret]"}`},
		{"aws access key alone", "id " + awsID + ".", "id [redacted:aws-access-key]."},

		{"jwt", "Authorization token: " + jwtToken, "Authorization token: [redacted:jwt]"},
		{"jwt bearer", `curl -H "Authorization: Bearer ` + jwtToken + `" https://api.example.com`,
			`curl -H "Authorization: Bearer [redacted:jwt]" https://api.example.com`},
		{"jwt unsigned keeps the sentence's dot", "unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "unsigned [redacted:jwt]."},

		{"postgres url", "psql postgres://david:s3cr3t-pw@db.example.com:5432/AngelaMemory?sslmode=require",
			"psql postgres://david:[redacted:url-password]@db.example.com:5432/AngelaMemory?sslmode=require"},
		{"url with @ in password", "mysql://root:p@ss@localhost/db", "mysql://root:[redacted:url-password]@localhost/db"},
		{"redis url empty user", "REDIS_URL=redis://:hunter22@cache:6379/0", "REDIS_URL=redis://:[redacted:url-password]@cache:6379/0"},
		{"https url", "see https://user:pa55word@example.com/x", "see https://user:[redacted:url-password]@example.com/x"},

		{"password=", "mysql password=hunter2 host=db", "mysql password=[redacted:password] host=db"},
		{"passwd:", "passwd: correct-horse", "passwd: [redacted:password]"},
		{"json password", `{"username": "david", "password": "hunter2"}`, `{"username": "david", "password": "[redacted:password]"}`},
		{"escaped json password", `{\"password\": \"hunter2\"}`, `{\"password\": \"[redacted:password]\"}`},
		{"yaml password", "db:\n  user: angela\n  password: Tr0ub4dor&3\n", "db:\n  user: angela\n  password: [redacted:password]\n"},
		{"PGPASSWORD", "PGPASSWORD=hunter2 psql -h db", "PGPASSWORD=[redacted:password] psql -h db"},
		{"MYSQL_PWD", "MYSQL_PWD='a b c'", "MYSQL_PWD='[redacted:password]'"},
		{"db_pass", "db_pass := \"x9!\"", "db_pass := \"[redacted:password]\""},
		{"password flag", "mysql --user root --password hunter2 -e 'select 1'", "mysql --user root --password [redacted:password] -e 'select 1'"},
		{"password flag with =", "--password=hunter2", "--password=[redacted:password]"},
		{"php array", `'password' => 'hunter2',`, `'password' => '[redacted:password]',`},
		{"camel case", "newPassword: \"hunter2\"", "newPassword: \"[redacted:password]\""},
		{"thai password", "รหัสผ่าน: abc12345 นะคะ", "รหัสผ่าน: [redacted:password] นะคะ"},
		{"a pin-like password", "password: 4921", "password: [redacted:password]"},
		{"a one-letter password", "db_pass=s PGPASSWORD=password", "db_pass=[redacted:password] PGPASSWORD=[redacted:password]"},

		{"token=", "token=abc123def456", "token=[redacted:secret]"},
		{"export X_TOKEN", "export NPM_TOKEN=npm_" + fake(25, base62, 36), "export NPM_TOKEN=[redacted:secret]"},
		{"api_key in a query string", "GET /v1/x?api_key=Zx8kP2mQ9vL4&page=2", "GET /v1/x?api_key=[redacted:secret]&page=2"},
		{"secret:", "client_secret: Ab3$xY9!qq", "client_secret: [redacted:secret]"},
		{"x-api-key header", "X-Api-Key: k3y-" + fake(26, base62, 20), "X-Api-Key: [redacted:secret]"},
		{"secret key", `SECRET_KEY = "django-insecure-` + fake(27, base62, 40) + `"`, `SECRET_KEY = "[redacted:secret]"`},
		{"token flag", "gh auth login --with-token --token abcd1234efgh", "gh auth login --with-token --token [redacted:secret]"},
		{"npmrc auth", "//registry.npmjs.org/:_authToken=" + fake(28, base62, 36), "//registry.npmjs.org/:_authToken=[redacted:secret]"},
		{"uuid as a token", "HEROKU_API_KEY=550e8400-e29b-41d4-a716-446655440000", "HEROKU_API_KEY=[redacted:secret]"},

		{"authorization basic", "Authorization: Basic ZGF2aWQ6aHVudGVyMg==", "Authorization: Basic [redacted:authorization]"},
		{"authorization token scheme", `"Authorization": "token ` + fake(29, base62, 30) + `"`, `"Authorization": "token [redacted:authorization]"`},

		{"high entropy in assignment", "WEBHOOK_SIGNING=" + randomValue, "WEBHOOK_SIGNING=[redacted:high-entropy]"},
		{"high entropy in json", `{"k": "` + randomValue + `"}`, `{"k": "[redacted:high-entropy]"}`},
		{"high entropy lower case", "cookie_value: " + fake(30, "abcdefghijklmnopqrstuvwxyz0123456789", 40), "cookie_value: [redacted:high-entropy]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, found := redact(tt.in)
			if got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if n := strings.Count(tt.want, "[redacted:"); found.Total() != n {
				t.Errorf("found %s, want %d", found, n)
			}
			if again, f := redact(got); again != got || f.Total() != 0 {
				t.Errorf("not idempotent: %q -> %q (%s)", got, again, f)
			}
		})
	}
}

// TestRedactLeavesOrdinaryTextAlone: what looks a little like a secret but
// is not comes back unchanged, the same string.
func TestRedactLeavesOrdinaryTextAlone(t *testing.T) {
	png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
	for _, tt := range []struct{ name, in string }{
		{"thai", "สวัสดีค่ะที่รัก วันนี้ทำงานเหนื่อยไหมคะ น้องคิดถึงพี่มากเลยนะ 🥰"},
		{"thai with colon and numbers", "เวลา: 10:30 น. ห้อง: 4921 รหัสไปรษณีย์: 10110"},
		{"english chat", "Good morning! I finished the secret santa list and the token ring talk, password reset emails are next."},
		{"uuid", "session 550e8400-e29b-41d4-a716-446655440000 resumed"},
		{"uuid assigned", `{"sessionId": "550e8400-e29b-41d4-a716-446655440000", "uuid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`},
		{"git hash", "commit 3f2a9c1b7e4d5f6a8b9c0d1e2f3a4b5c6d7e8f90 fixed it"},
		{"git hash assigned", "sha = 3f2a9c1b7e4d5f6a8b9c0d1e2f3a4b5c6d7e8f90; parent=0123456789abcdef0123456789abcdef01234567"},
		{"git hash after the word secret", "the secret fix was 3f2a9c1b7e4d5f6a8b9c0d1e2f3a4b5c6d7e8f90"},
		{"sha256 digest", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"base64 image", `<img src="data:image/png;base64,` + png + `">`},
		{"base64 image assigned", "thumb = " + png},
		{"base64 image in json", `{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "` + png + `"}}`},
		{"long words", "Pneumonoultramicroscopicsilicovolcanoconiosis and antidisestablishmentarianism and supercalifragilisticexpialidocious"},
		{"long identifiers", "internalConversationSpoolDrainBenchmarkHelper := newSpoolDrainBenchmarkHelperForTesting()"},
		{"file paths", "edit /home/david/angela/internal/conversation/spooldrain_bench_test.go and C:\\Users\\david\\AppData\\Local\\angelad\\config.toml"},
		{"path assigned", "HOME=/home/david PWD=/home/david/angela OLDPWD=/tmp XDG_STATE_HOME=/home/david/.local/state"},
		{"urls without passwords", "https://github.com/angela-ai/angelad/pull/21 http://localhost:8080/x?user=david&page=2 mailto:a@b.com https://a@b.com/x"},
		{"url with a port", "postgres://localhost:5432/AngelaMemory and postgres://david@localhost/AngelaMemory"},
		{"email in a path", "https://example.com/u/david@example.com"},
		{"numbers", "1234567890123456789012345678901234567890 3.14159265358979 -42 1e10 0x7fffffff 2026-03-01T00:00:00Z"},
		{"numbers assigned", "max_tokens=4096 tokens: 123456 timeout=30s port: 5432 token_count = 17"},
		{"code", "password := cfg.Password\nif password == \"\" {\n\tpassword = os.Getenv(\"PGPASSWORD\")\n}\ntoken = token.strip()\nself.password = password"},
		{"type annotations", "class Login(BaseModel):\n    password: str\n    token: Optional[str] = None\n    secret: SecretStr\ninterface A { password: string; apiKey: string }"},
		{"placeholders", "password: ${DB_PASSWORD}\ntoken=$GITHUB_TOKEN\napi_key: <your-api-key>\nsecret: '{{ .Values.secret }}'\npassword=********\nSECRET=%s\npassword: \"\"\ntoken: your-token-here"},
		{"prose about passwords", "Password: incorrect. Please reset your password, then the token: same as before."},
		{"scope operator", "std::string password_hint; Foo::token"},
		{"comparisons", "if password != \"\" && token == nil { }"},
		{"public key", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"},
		{"certificate", "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"},
		{"words starting like tokens", "task-management desk-lamp sk-learn ghost_town xoxo-hugs AKIA eyJust a test ask-ant-farm"},
		{"placeholder tokens", "sk-ant-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx xoxb-your-token-here"},
		{"ids assigned", `{"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "request_id": "req_011CUxyzAbCdEfGh12345678", "tool_use_id": "toolu_01A2B3C4D5E6F7G8H9J0K1L2"}`},
		{"versions", "version: 1.0.0-rc.1+build.20240101.abcdef model=claude-sonnet-4-5-20250929 image: ubuntu-22.04-x86_64-server-cloudimg"},
		{"integrity hash", `"integrity": "sha512-` + fake(31, base62+"+/", 86) + `=="`},
		{"markers", "[redacted:aws-secret] and password=[redacted:password]"},
		{"json escapes", `{"text": "line one\nline two\t\"quoted\""}`},
		{"empty", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, found := redact(tt.in)
			if got != tt.in || found.Total() != 0 {
				t.Errorf("Redact(%q)\n changed it to %q (%s)", tt.in, got, found)
			}
		})
	}
}

func TestRedactCountsByKind(t *testing.T) {
	in := "AKIAIOSFODNN7EXAMPLE " + awsSecret + " and " + ghpToken + " and " + ghoToken + " and password=x1"
	got, found := redact(in)
	want := "[redacted:aws-access-key] [redacted:aws-secret] and [redacted:github-token] and [redacted:github-token] and password=[redacted:password]"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if found.Count(GitHubToken) != 2 || found.Count(AWSSecret) != 1 || found.Count(Password) != 1 || found.Total() != 5 {
		t.Errorf("found %s", found)
	}
	if s := found.String(); s != "github-token=2 aws-access-key=1 aws-secret=1 password=1" {
		t.Errorf("String() = %q", s)
	}
	if m := found.Map(); len(m) != 4 || m["github-token"] != 2 {
		t.Errorf("Map() = %v", m)
	}
	var total Found
	total.Add(found)
	total.Add(found)
	if total.Total() != 10 || total.Count(GitHubToken) != 4 {
		t.Errorf("Add: %s", total)
	}
	if (Found{}).String() != "none" {
		t.Errorf("zero Found = %q", Found{}.String())
	}
	for _, k := range Kinds() {
		if k.Marker() != "[redacted:"+k.String()+"]" {
			t.Errorf("Marker(%v) = %q", k, k.Marker())
		}
	}
	if len(Kinds()) != 14 {
		t.Errorf("%d kinds", len(Kinds()))
	}
}

// TestRedactOverlapNamesTheSpecificKind: a token that is also the value of
// a secret assignment is named by its own kind, once.
func TestRedactOverlapNamesTheSpecificKind(t *testing.T) {
	for in, want := range map[string]string{
		"GITHUB_TOKEN=" + ghpToken:                       "GITHUB_TOKEN=[redacted:github-token]",
		"password=" + jwtToken:                           "password=[redacted:jwt]",
		"postgres://u:" + anthropicKey + "@h/db":         "postgres://u:[redacted:anthropic-key]@h/db",
		"aws_secret_access_key=" + awsSecret:             "aws_secret_access_key=[redacted:aws-secret]",
		"secret: " + pemRSA:                              "secret: [redacted:private-key]",
		"password=ab" + ghpToken:                         "password=[redacted:password]",
		`"Authorization": "Bearer ` + openAILegacy + `"`: `"Authorization": "Bearer [redacted:openai-key]"`,
	} {
		got, found := redact(in)
		if got != want || found.Total() != 1 {
			t.Errorf("Redact(%q) = %q (%s), want %q", in, got, found, want)
		}
	}
}

func TestRedactKeepsUTF8AndReturnsTheSameStringWhenClean(t *testing.T) {
	in := "พี่ให้ password=รหัสลับ123 แล้วนะ " + strings.Repeat("ก", 100)
	got, _ := redact(in)
	if !utf8.ValidString(got) || got != "พี่ให้ password=[redacted:password] แล้วนะ "+strings.Repeat("ก", 100) {
		t.Errorf("got %q", got)
	}
	clean := "nothing to see here, ที่รัก"
	if got, _ := redact(clean); got != clean || (len(got) > 0 && &[]byte(got)[0] == nil) {
		t.Errorf("got %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { redact(clean) }); n != 0 {
		t.Errorf("a clean line allocated %v times", n)
	}
}

func TestNewExtraPatterns(t *testing.T) {
	r, err := New(config.Redaction{Enabled: true, ExtraPatterns: []string{`acme_[a-z0-9]{16}`, `(?i)pin(?:\s*code)?\s*[:=]\s*(\d{4,8})`}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"use acme_0123456789abcdef now":       "use [redacted:custom] now",
		"PIN code: 4921, and pin=12345678":    "PIN code: [redacted:custom], and pin=[redacted:custom]",
		"no pins here, acme_short":            "no pins here, acme_short",
		"password=x1 acme_0123456789abcdef":   "password=[redacted:password] [redacted:custom]",
		"[redacted:custom] acme_0123456789ab": "[redacted:custom] acme_0123456789ab",
	} {
		got, _ := r.Redact(in)
		if got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		if again, _ := r.Redact(got); again != got {
			t.Errorf("not idempotent: %q -> %q", got, again)
		}
	}
	// A pattern that matches the text of a marker leaves markers whole.
	r, err = New(config.Redaction{Enabled: true, ExtraPatterns: []string{`redacted`, `:pass\w*`}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.Redact("password=hunter2 redacted")
	if got != "password=[redacted:password] [redacted:custom]" {
		t.Errorf("got %q", got)
	}
	if again, _ := r.Redact(got); again != got {
		t.Errorf("not idempotent: %q -> %q", got, again)
	}

	_, err = New(config.Redaction{Enabled: true, ExtraPatterns: []string{"ok", "(bad"}}, zap.NewNop())
	if err == nil || err.Error() != `invalid redaction.extra_patterns: pattern 2 of 2 is not a valid regular expression: missing closing ): "(bad"` {
		t.Errorf("bad pattern: %v", err)
	}
	if _, err := New(config.Redaction{Enabled: true}, nil); err == nil {
		t.Error("New without a logger succeeded")
	}
}

// TestTurningRedactionOffIsNeverSilent: off is a warning in the log, and
// private passages are still removed.
func TestTurningRedactionOffIsNeverSilent(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	r, err := New(config.Redaction{Enabled: false, ExtraPatterns: []string{"x_[0-9]+"}}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if r.Enabled() {
		t.Error("Enabled() = true")
	}
	entries := logs.FilterMessageSnippet("secret redaction is off").All()
	if len(entries) != 1 || entries[0].Level != zap.WarnLevel {
		t.Fatalf("log: %v", logs.All())
	}
	in := "password=hunter2 x_123 <private>my diary</private>ok"
	got, rep := r.Clean(in)
	if got != "password=hunter2 x_123 ok" || rep.PrivatePassages != 1 || rep.Found.Total() != 0 {
		t.Errorf("Clean with redaction off = %q, %+v", got, rep)
	}

	core, logs = observer.New(zap.InfoLevel)
	r, err = New(config.Redaction{Enabled: true}, zap.New(core))
	if err != nil || !r.Enabled() || logs.Len() != 0 {
		t.Errorf("on: %v, %v, %v", r.Enabled(), err, logs.All())
	}
	if !(*Redactor)(nil).Enabled() {
		t.Error("a nil Redactor is off")
	}
}

func TestCleanStripsPrivateThenRedacts(t *testing.T) {
	r, err := New(config.Redaction{Enabled: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	got, rep := r.Clean("my key " + anthropicKey + " <private>and my diary</private> and done")
	if got != "my key [redacted:anthropic-key]  and done" || rep.PrivatePassages != 1 || rep.Found.Count(AnthropicKey) != 1 || rep.AllPrivate || !rep.Changed() {
		t.Errorf("Clean = %q, %+v", got, rep)
	}
	got, rep = r.Clean("  <private>password=hunter2</private>\n")
	if got != "" || !rep.AllPrivate || rep.PrivatePassages != 1 || rep.Found.Total() != 0 {
		t.Errorf("all private: %q, %+v", got, rep)
	}
	got, rep = r.Clean("plain")
	if got != "plain" || rep.Changed() {
		t.Errorf("plain: %q, %+v", got, rep)
	}
}

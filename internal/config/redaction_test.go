package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRedactionSectionDefaultsOnWithNoExtraPatterns(t *testing.T) {
	c, err := load(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Redaction.Enabled || c.Redaction.ExtraPatterns == nil || len(c.Redaction.ExtraPatterns) != 0 {
		t.Errorf("defaults: %+v, want enabled with an empty list", c.Redaction)
	}
	if got := c.TOMLValue("redaction.extra_patterns"); got != "[]" {
		t.Errorf("TOMLValue = %s", got)
	}
}

func TestRedactionKeysFromFileEnvAndFlags(t *testing.T) {
	file := writeFile(t, `
[redaction]
enabled = false
extra_patterns = ["acme_[a-z0-9]{32}", 'pin: (\d{4,8})']
`)
	c, err := load(t, Options{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if c.Redaction.Enabled || !slices.Equal(c.Redaction.ExtraPatterns, []string{"acme_[a-z0-9]{32}", `pin: (\d{4,8})`}) {
		t.Errorf("from the file: %+v", c.Redaction)
	}
	if got := c.TOMLValue("redaction.extra_patterns"); got != `["acme_[a-z0-9]{32}", "pin: (\\d{4,8})"]` {
		t.Errorf("TOMLValue = %s", got)
	}
	res, err := c.Redaction.Patterns()
	if err != nil || len(res) != 2 || !res[1].MatchString("pin: 1234") {
		t.Errorf("Patterns() = %v, %v", res, err)
	}

	// In a variable, a JSON array; anything else is one pattern, never split
	// on its colons as other lists are.
	for v, want := range map[string][]string{
		`["a:b\\d+", "x{3}"]`: {`a:b\d+`, "x{3}"},
		`token:(\w{20,})`:     {`token:(\w{20,})`},
		`[A-Z]{10}:[0-9]+`:    {`[A-Z]{10}:[0-9]+`},
		`[]`:                  {},
	} {
		c, err := load(t, Options{File: file, Env: envOf(map[string]string{"ANGELA_REDACTION_EXTRA_PATTERNS": v, "ANGELA_REDACTION_ENABLED": "true"})})
		if err != nil || !slices.Equal(c.Redaction.ExtraPatterns, want) || !c.Redaction.Enabled {
			t.Errorf("env %s: %+v, %v; want %q", v, c.Redaction, err, want)
		}
		if c.Sources["redaction.extra_patterns"].Kind != "env" {
			t.Errorf("source = %v", c.Sources["redaction.extra_patterns"])
		}
	}
	c, err = load(t, Options{Flags: map[string]string{"redaction.enabled": "false", "redaction.extra_patterns": `["x_[0-9]{8}"]`}})
	if err != nil || c.Redaction.Enabled || !slices.Equal(c.Redaction.ExtraPatterns, []string{"x_[0-9]{8}"}) {
		t.Errorf("flags: %+v, %v", c.Redaction, err)
	}
}

func TestRedactionBadPatternIsOneLineNamingKeyAndIndex(t *testing.T) {
	for _, tt := range []struct {
		file, env string
		want      string
	}{
		{file: `extra_patterns = ["ok_[0-9]+", "(abc"]`,
			want: `invalid redaction.extra_patterns: pattern 2 of 2 is not a valid regular expression: missing closing ): "(abc"`},
		{file: `extra_patterns = ["a*"]`,
			want: `invalid redaction.extra_patterns: pattern 1 of 1 matches empty text (a pattern must match at least one character), got "a*"`},
		{file: `extra_patterns = ["x", ""]`,
			want: `invalid redaction.extra_patterns: pattern 2 of 2 is empty`},
		{file: "extra_patterns = [\"(?P<x\\n\"]",
			want: `invalid redaction.extra_patterns: pattern 1 of 1 is not a valid regular expression: invalid named capture: "(?P<x\n"`},
		{file: `extra_patterns = [1]`,
			want: `redaction.extra_patterns: must be a list of strings`},
		{env: `["ok", "[z-a]"]`,
			want: `invalid ANGELA_REDACTION_EXTRA_PATTERNS: pattern 2 of 2 is not a valid regular expression: invalid character class range: "z-a"`},
		{env: `(unclosed`,
			want: `invalid ANGELA_REDACTION_EXTRA_PATTERNS: pattern 1 of 1 is not a valid regular expression: missing closing ): "(unclosed"`},
	} {
		o := Options{}
		if tt.file != "" {
			o.File = writeFile(t, "[redaction]\n"+tt.file+"\n")
		}
		if tt.env != "" {
			o.Env = envOf(map[string]string{"ANGELA_REDACTION_EXTRA_PATTERNS": tt.env})
		}
		_, err := load(t, o)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s%s: got %v, want a one-line config error containing %q", tt.file, tt.env, err, tt.want)
		}
	}
	// A string where a list is expected is one pattern, as in a variable.
	c, err := load(t, Options{File: writeFile(t, "[redaction]\nextra_patterns = 'k:(\\d+)'\n")})
	if err != nil || !slices.Equal(c.Redaction.ExtraPatterns, []string{`k:(\d+)`}) {
		t.Errorf("a string: %+v, %v", c.Redaction, err)
	}
	_, err = load(t, Options{Env: envOf(map[string]string{"ANGELA_REDACTION_ENABLED": "off"})})
	if err == nil || !strings.Contains(err.Error(), "invalid ANGELA_REDACTION_ENABLED: must be true or false") {
		t.Errorf("enabled=off: %v", err)
	}
}

func TestRedactionPatternsNamesThePosition(t *testing.T) {
	_, err := Redaction{ExtraPatterns: []string{"a", "b", "(c"}}.Patterns()
	if err == nil || !strings.HasPrefix(err.Error(), "pattern 3 of 3 is not a valid regular expression") {
		t.Errorf("Patterns() error = %v", err)
	}
	res, err := Redaction{}.Patterns()
	if err != nil || len(res) != 0 {
		t.Errorf("no patterns: %v, %v", res, err)
	}
}

package config

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Redaction configures the removal of secrets from text before angelad keeps
// it: the built-in rules of internal/redact, and patterns of the user's own.
type Redaction struct {
	// Enabled applies the rules. Turning it off is allowed, never silent:
	// the redactor logs a warning when it is built.
	Enabled bool
	// ExtraPatterns are regular expressions (Go RE2 syntax) whose matches are
	// redacted too, as kind "custom"; in one with a capture group, only what
	// the first group matched.
	ExtraPatterns []string
}

// Patterns compiles the extra patterns. An error names the pattern by its
// position in the list, counting from 1, and what is wrong with it.
func (r Redaction) Patterns() ([]*regexp.Regexp, error) {
	res := make([]*regexp.Regexp, 0, len(r.ExtraPatterns))
	for i, p := range r.ExtraPatterns {
		re, err := compilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %d of %d %s", i+1, len(r.ExtraPatterns), err)
		}
		res = append(res, re)
	}
	return res, nil
}

// compilePattern compiles one extra pattern. One that can match empty text
// is refused: it would match between every two characters, and a pattern
// meant to find a secret must find at least one character of it.
func compilePattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, errors.New("is empty")
	}
	re, err := regexp.Compile(p)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("is not a valid regular expression: %s: %q", se.Code, se.Expr)
		}
		return nil, fmt.Errorf("is not a valid regular expression: %v", err)
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("matches empty text (a pattern must match at least one character), got %q", p)
	}
	return re, nil
}

func redactionKeys() []key {
	patterns := listKey("redaction.extra_patterns", "regular expressions (RE2) whose matches are redacted too, as [redacted:custom]; with a capture group, only the first group's match",
		[]string{}, func(c *Config) *[]string { return &c.Redaction.ExtraPatterns })
	patterns.set = func(c *Config, v string) error {
		l, err := parsePatternList(v)
		if err != nil {
			return err
		}
		if _, err := (Redaction{ExtraPatterns: l}).Patterns(); err != nil {
			return err
		}
		c.Redaction.ExtraPatterns = l
		return nil
	}
	return []key{
		boolKey("redaction.enabled", "secret redaction on or off (README: Privacy); off is never silent: building the rules logs a warning", true,
			func(c *Config) *bool { return &c.Redaction.Enabled }),
		patterns,
	}
}

// parsePatternList reads the value of redaction.extra_patterns from the file
// (always a JSON array by then), a variable or a flag. Unlike other lists it
// is never split on colons, which regular expressions contain: a value that
// is not a JSON array of strings is one pattern.
func parsePatternList(v string) ([]string, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "[") {
		if l, err := parseList(v); err == nil {
			return l, nil
		}
	}
	if strings.TrimSpace(v) == "" {
		return []string{}, nil
	}
	return []string{v}, nil
}

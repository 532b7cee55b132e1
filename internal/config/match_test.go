package config

import (
	"regexp"
	"testing"
)

// TestMatchersAgreeWithTheirPatterns: isKeyword and hasScheme, loops so that
// no start compiles a regular expression, accept exactly what the patterns
// they stand for accept.
func TestMatchersAgreeWithTheirPatterns(t *testing.T) {
	keyword := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
	scheme := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	inputs := []string{
		"", "a", "_", "Z", "9", ".", "+", "-", ":", "a:", "_:", "9:", "a9", "a.b", "a_b", "a-b", "a+b", "_a.9",
		"host", "sslmode", "options", "application_name", "search_path", "x.y_z", "a b", "a=b", " a", "a ",
		"ก", "aก", "a\x00", "postgres://h", "postgresql://h", "mysql://h", "http:x", "a+b-c.d:", "a+b-c.d",
		"1a:", "a1:", "-a:", "a-:", "a::", "host=h", "c:\\path", "A.B:C", "é:", "a\n",
	}
	// Every string of up to two bytes from the interesting ones.
	alphabet := []byte("aZ_9.+-: =\x80")
	for _, a := range alphabet {
		inputs = append(inputs, string(a))
		for _, b := range alphabet {
			inputs = append(inputs, string([]byte{a, b}))
			for _, c := range alphabet {
				inputs = append(inputs, string([]byte{a, b, c}))
			}
		}
	}
	for _, s := range inputs {
		if got, want := isKeyword(s), keyword.MatchString(s); got != want {
			t.Errorf("isKeyword(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := hasScheme(s), scheme.MatchString(s); got != want {
			t.Errorf("hasScheme(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

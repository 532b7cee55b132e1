package redact_test

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/redact"
)

// An entry point builds one Redactor from its configuration and cleans each
// text before it stores, spools or logs it.
func ExampleRedactor_Clean() {
	r, err := redact.New(config.Redaction{Enabled: true}, zap.NewNop())
	if err != nil {
		panic(err)
	}
	for _, line := range []string{
		"psql postgres://david:hunter2@db/AngelaMemory <private>and my diary</private>",
		"<private>only this</private>",
	} {
		text, rep := r.Clean(line)
		if rep.AllPrivate {
			fmt.Println("skipped: all private")
			continue
		}
		fmt.Printf("%q redacted=%s private=%d\n", text, rep.Found, rep.PrivatePassages)
	}
	// Output:
	// "psql postgres://david:[redacted:url-password]@db/AngelaMemory " redacted=url-password=1 private=1
	// skipped: all private
}

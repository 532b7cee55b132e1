package main

import (
	"encoding/json"
	"io"
)

// writeJSON prints v as indented JSON, text as UTF-8 rather than \u escapes, so
// Thai reads as Thai.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

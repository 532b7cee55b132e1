package main

import (
	"encoding/json"
	"io"
	"time"
)

// writeJSON prints v as indented JSON, text as UTF-8 rather than \u escapes, so
// Thai reads as Thai.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeList prints a listing to w: its times, which local moves, in loc, the
// configured zone; then the whole list as one JSON array with asJSON, or
// else as write prints it.
func writeList[T any](w io.Writer, list []T, loc *time.Location, local func(*T, *time.Location), asJSON bool,
	write func(io.Writer, []T) error) error {
	for i := range list {
		local(&list[i], loc)
	}
	if asJSON {
		return writeJSON(w, list)
	}
	return write(w, list)
}

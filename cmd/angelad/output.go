package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/access"
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

// writeSaved ends a save command: a save that went to the spool is warned
// of on stderr; then err is returned, or the stored record is printed, as
// JSON with its times in the configured zone (local moves them and returns
// the record) when asJSON, else its id alone, so that id=$(angelad save-...)
// works.
func (a *app) writeSaved(id uuid.UUID, spooled *access.Spooled, err error, asJSON bool,
	local func(*time.Location) any) error {
	if spooled != nil {
		a.warnSpooled(spooled)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, local(a.cfg.Location()))
	}
	_, err = fmt.Fprintln(a.stdout, id)
	return err
}

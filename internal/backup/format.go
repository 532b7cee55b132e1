// Package backup owns angelad's export format and the export and import of a
// whole memory through it: every conversation, emotion, journal entry, daily
// update and ledger row, the retention state and the tombstones, as versioned
// JSON lines that any angelad database can load again, idempotently.
//
// The file is:
//
//	{"angelad_export":1, "schema_version":10, "created_at":..., "tables":[...]}   the header
//	{"table":"conversations","row":{...}}                                        one line a row
//	...
//	{"end":{"rows":N,"sha256":"..."}}                                            the trailer
//
// The header names each table with its key, its row count and its columns
// (name and type, so that an import can add a column the target lacks). A
// row holds every column of the table except the derived ones, which the
// importing database recomputes: generated columns and those named search_*
// (the search grams and retrieval terms). The trailer's checksum is the
// SHA-256 of the data lines, each with its newline, in file order.
//
// Values are as PostgreSQL's row_to_json writes them, so that one memory
// exported from two databases is the same bytes, with two exceptions that
// make them so across the database's shapes: times are instants in UTC
// (2025-11-08T02:30:00.000000Z); a TIMESTAMP without time zone, as an adopted
// database has, is the instant it means in the configured time zone, except
// the ledger's slot_wall, a wall time by design; and types are named by kind,
// not width (character varying(20) is text), since the width is the
// database's rule, not the value's.
package backup

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// FormatVersion is the version of the format this package writes, and the
// newest it reads.
const FormatVersion = 1

// Header is the first line of an export.
type Header struct {
	// Format is FormatVersion of the angelad that wrote the file.
	Format int `json:"angelad_export"`
	// SchemaVersion is the exporting database's schema version.
	SchemaVersion int32 `json:"schema_version"`
	// Angelad is the version of the angelad that wrote the file.
	Angelad string `json:"angelad"`
	// CreatedAt is when the export began (RFC 3339, UTC).
	CreatedAt string `json:"created_at"`
	// Since, when set, is the --since the export was taken with: only rows
	// made from then on are in it.
	Since string `json:"since,omitempty"`
	// TimeZone is the zone the exporting database's zoneless times were
	// read in.
	TimeZone string  `json:"time_zone"`
	Tables   []Table `json:"tables"`
}

// Table describes one table of an export.
type Table struct {
	Name string `json:"name"`
	// Key is the columns that identify a row, the import's idempotency key.
	Key []string `json:"key"`
	// Rows is how many data lines the table has.
	Rows    int64    `json:"rows"`
	Columns []Column `json:"columns"`
}

// Column is one column of a table, with the type an import gives it when the
// target lacks it.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Trailer is the last line of an export.
type Trailer struct {
	End End `json:"end"`
}

// End is the trailer's content: the number of data lines and their
// checksum.
type End struct {
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

// tableSpec is what angelad knows of a table it exports: its key and which
// rows an export --since keeps ($1 the time, $2 its local date; a condition
// that names $2 names $1 too).
type tableSpec struct {
	name  string
	key   []string
	since string
	// memory: a table of memories or their state, whose rows a tombstone
	// on their key keeps out.
	memory bool
	// grams: the texts the row's search grams are computed from, for a
	// table that has them.
	grams []string
}

// specs are the exported tables in the order they are written and imported:
// the tombstones first, so that nothing they name is imported; the state
// rows before their memories, so that a memory never exists without its
// state after an interrupted import; the rest after.
//
// Not exported: transcript_offsets (positions in this machine's files),
// memory_consolidation (the retention pass's progress, recomputed),
// angelad_schema_version (the header's), and the tables derived from the
// memories (retrieval statistics, embeddings), which are recomputed.
var specs = []tableSpec{
	{name: "memory_tombstones", key: []string{"id"}, since: "deleted_at >= $1"},
	{name: "conversation_memory", key: []string{"id"}, since: "made_at >= $1", memory: true},
	{name: "emotion_memory", key: []string{"id"}, since: "made_at >= $1", memory: true},
	{name: "conversations", key: []string{"conversation_id"}, since: "created_at::timestamptz >= $1", memory: true,
		grams: []string{"message_text"}},
	{name: "angela_emotions", key: []string{"emotion_id"}, since: "felt_at::timestamptz >= $1", memory: true,
		grams: []string{"emotion", "context", "david_words", "why_it_matters"}},
	{name: "angela_journal", key: []string{"journal_id"}, since: "(created_at::timestamptz >= $1 or entry_date >= $2)"},
	{name: "daily_updates", key: []string{"update_date", "kind"}, since: "(update_date >= $2 or updated_at >= $1)"},
	{name: "daily_update_runs", key: []string{"job", "slot_wall"}, since: "slot_at >= $1"},
}

func specOf(name string) (tableSpec, bool) {
	for _, s := range specs {
		if s.name == name {
			return s, true
		}
	}
	return tableSpec{}, false
}

// wallColumns are the TIMESTAMP columns that hold a wall time by design: the
// ledger's slot identity, in the zone the row names. Every other TIMESTAMP
// column is an adopted database's instant, read in the configured zone.
var wallColumns = map[string]bool{"daily_update_runs.slot_wall": true}

// derived reports the columns an export leaves out because the importing
// database recomputes them: the search grams and the retrieval terms and
// lengths (named search_*), and generated columns.
func derived(name string, generated bool) bool {
	return generated || strings.HasPrefix(name, "search_")
}

const (
	typeTimestamp   = "timestamp without time zone"
	typeTimestampTZ = "timestamp with time zone"
)

// canonicalType names a column's type by its kind, as the header does: the
// width of a character type is the database's rule, not the value's, and a
// zoneless time other than a wall time holds an instant.
func canonicalType(table, column, pgType string) string {
	base, array := strings.CutSuffix(pgType, "[]")
	switch {
	case base == "text", base == "character varying", base == "character", base == "bpchar",
		strings.HasPrefix(base, "character varying("), strings.HasPrefix(base, "character("):
		base = "text"
	case base == typeTimestamp && !wallColumns[table+"."+column]:
		base = typeTimestampTZ
	}
	if array {
		return base + "[]"
	}
	return base
}

// typePattern is the shape of a type name an import may put in ALTER TABLE:
// words, an optional modifier of numbers, an optional array suffix. It keeps
// a file from smuggling SQL into the statement.
var typePattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z][a-z0-9_]*( [a-z][a-z0-9_]*)*(\([0-9]+(,[0-9]+)?\))?( [a-z][a-z0-9_]*)*(\[\])?$`)
})

// namePattern is the shape of a column name an import accepts: what angelad
// and the Python original name columns with.
var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`) })

// FileError is an export file that cannot be imported: the user's to fix.
// Nothing was written when Import returns one.
type FileError struct {
	Path string
	// Line is the 1-based line, 0 for the file as a whole.
	Line    int64
	Problem string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Problem)
	}
	return e.Path + ": " + e.Problem
}

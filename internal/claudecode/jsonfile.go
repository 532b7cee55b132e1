// Package claudecode owns angelad's side of Claude Code: the entries it merges
// into Claude Code's settings files (hooks) and MCP configuration, the files
// of the Claude Code plugin made from the same entries, and the JSON a hook
// reads on standard input and prints on standard output.
//
// The files are edited as JSON objects whose keys keep their order and whose
// values angelad does not own are kept byte for byte (only re-indented), so an
// install followed by an uninstall gives back the same settings.
package claudecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/angela-ai/angelad/internal/text"
)

// object is a JSON object that keeps the order of its keys.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func newObject() *object { return &object{vals: map[string]json.RawMessage{}} }

// parseObject reads data as one JSON object. A later duplicate key replaces
// the earlier value, as encoding/json does.
func parseObject(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	o := newObject()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.set(k, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return o, nil
}

func (o *object) get(k string) (json.RawMessage, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *object) set(k string, v json.RawMessage) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *object) len() int { return len(o.keys) }

// MarshalJSON writes the keys in their order.
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping, so commands such as
// `a && b` stay readable in the file.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// format writes o as the file's content: two-space indentation and a final
// newline.
func format(o *object) ([]byte, error) {
	raw, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// File is a JSON settings file of Claude Code as angelad found it.
type File struct {
	// Path is the file named by the caller.
	Path string
	// target is the file written: Path with its symbolic links resolved, so a
	// settings file kept elsewhere and linked into place stays linked.
	target string
	exists bool
	mode   fs.FileMode
	data   []byte
	obj    *object
}

// NotJSONError says that a settings file holds something other than a JSON
// object; angelad leaves such a file untouched.
type NotJSONError struct {
	Path string
	Err  error
}

func (e *NotJSONError) Error() string {
	return fmt.Sprintf("%s is not a JSON object (%v); fix or move it, angelad left it untouched", e.Path, e.Err)
}

// ReadFile reads the JSON file at path. A missing file reads as an empty
// object, created with mode newMode when written.
func ReadFile(path string, newMode fs.FileMode) (*File, error) {
	f := &File{Path: path, target: path, mode: newMode}
	if t, err := filepath.EvalSymlinks(path); err == nil {
		f.target = t
	}
	data, err := os.ReadFile(f.target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.obj = newObject()
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, text.WithoutPath(err))
	}
	st, err := os.Stat(f.target)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, text.WithoutPath(err))
	}
	f.exists, f.mode, f.data = true, st.Mode().Perm(), data
	if len(bytes.TrimSpace(data)) == 0 {
		f.obj = newObject()
		return f, nil
	}
	if f.obj, err = parseObject(data); err != nil {
		return nil, &NotJSONError{Path: path, Err: err}
	}
	return f, nil
}

// Content is the file as it would be written now.
func (f *File) Content() ([]byte, error) { return format(f.obj) }

// Changed reports whether writing would change what the file means: the
// same keys and values, whatever the formatting, count as unchanged, and a
// missing file stays missing rather than become an empty object.
func (f *File) Changed() (bool, error) {
	if !f.exists {
		return f.obj.len() > 0, nil
	}
	now, err := f.Content()
	if err != nil {
		return false, err
	}
	return !sameJSON(f.data, now), nil
}

// sameJSON reports whether a and b hold the same JSON value, object key order
// included.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// BackupPath is where Write keeps the previous content of the file.
func (f *File) BackupPath() string { return f.target + ".angelad-backup" }

// Write replaces the file with its new content atomically (a temporary file
// beside it, then a rename), keeping its mode, after copying the previous
// content to BackupPath. It returns the backup's path ("" when the file did
// not exist). A file without any write permission bit is refused, not
// replaced: its owner made it read-only on purpose.
func (f *File) Write() (backup string, err error) {
	content, err := f.Content()
	if err != nil {
		return "", err
	}
	if f.exists && f.mode&0o222 == 0 {
		return "", fmt.Errorf("%s is read-only (mode %04o); make it writable or edit it by hand", f.Path, f.mode)
	}
	dir := filepath.Dir(f.target)
	if !f.exists {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("create %s: %w", dir, text.WithoutPath(err))
		}
	}
	if f.exists {
		backup = f.BackupPath()
		if err := writeAtomic(backup, f.data, f.mode); err != nil {
			return "", fmt.Errorf("back up %s: %w", f.Path, err)
		}
	}
	if err := writeAtomic(f.target, content, f.mode); err != nil {
		return "", fmt.Errorf("write %s: %w", f.Path, err)
	}
	return backup, nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory, synced before it is renamed over path.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return text.WithoutPath(err)
	}
	name := tmp.Name()
	defer os.Remove(name) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return text.WithoutPath(err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return text.WithoutPath(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return text.WithoutPath(err)
	}
	if err := tmp.Close(); err != nil {
		return text.WithoutPath(err)
	}
	return text.WithoutPath(os.Rename(name, path))
}

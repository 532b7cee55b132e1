package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TokenFileName is the file in the state directory that holds the viewer's
// token. Its mode is 0600: whoever can read it can read the memory.
const TokenFileName = "web-token"

// tokenBytes is the token's entropy: 256 bits, written as 64 hex digits.
const tokenBytes = 32

// Token returns the install's viewer token, creating it on first use: a
// random value kept in TokenFileName (0600) in stateDir, so that the daemon
// and `angelad open` agree on it and it outlives restarts. Two processes
// creating it at once agree too: the file appears whole, by a link of a
// finished temporary file, and the one that loses the race reads the
// winner's.
func Token(stateDir string) (string, error) {
	path := filepath.Join(stateDir, TokenFileName)
	tok, err := readToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", fmt.Errorf("viewer token: %w", err)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("viewer token: %w", err)
	}
	tok = hex.EncodeToString(raw)
	tmp, err := os.CreateTemp(stateDir, TokenFileName+".*")
	if err != nil {
		return "", fmt.Errorf("viewer token: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; the write and the link keep it.
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("viewer token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("viewer token: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readToken(path)
		}
		return "", fmt.Errorf("viewer token: %w", err)
	}
	return tok, nil
}

// readToken reads the token file at path, refusing one that other users may
// read (they could then read the memory) or that holds no token.
func readToken(path string) (string, error) {
	tok, err := readPrivate(path)
	if err != nil {
		return "", err
	}
	if len(tok) < 32 {
		return "", fmt.Errorf("viewer token %s holds no token: remove it and a new one is made", path)
	}
	return tok, nil
}

// readPrivate reads the start of the small file at path, trimmed, refusing
// one that other users may read.
func readPrivate(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("viewer token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("viewer token %s: other users may read it (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data := make([]byte, 256)
	n, _ := f.Read(data)
	return strings.TrimSpace(string(data[:n])), nil
}

// OpenFileName is the file in the state directory that holds the opening
// code (see OpenCode), 0600 as the token's.
const OpenFileName = "web-open"

// openCodeLife is how long an opening code lets a browser in: its start,
// not a session.
const openCodeLife = 2 * time.Minute

// OpenCode makes a code that lets one visit in, as the token does, within
// openCodeLife of now, and replaces any earlier one. It is what angelad open
// hands the desktop's browser: that address is on the browser's command
// line, which every user of the machine can read (/proc/PID/cmdline) for as
// long as the browser runs, so it must not hold the token.
func OpenCode(stateDir string, now time.Time) (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("viewer opening code: %w", err)
	}
	code := hex.EncodeToString(raw)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", fmt.Errorf("viewer opening code: %w", err)
	}
	tmp, err := os.CreateTemp(stateDir, OpenFileName+".*")
	if err != nil {
		return "", fmt.Errorf("viewer opening code: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "%s %s\n", code, now.UTC().Format(time.RFC3339Nano))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(stateDir, OpenFileName))
	}
	if err != nil {
		return "", fmt.Errorf("viewer opening code: %w", err)
	}
	return code, nil
}

// useOpenCode reports whether code is the opening code, made within
// openCodeLife of now, and uses it up: of two visits with it, only the one
// that removes its file gets in.
func useOpenCode(stateDir, code string, now time.Time) bool {
	if stateDir == "" {
		return false
	}
	path := filepath.Join(stateDir, OpenFileName)
	data, err := readPrivate(path)
	if err != nil {
		return false
	}
	want, made, _ := strings.Cut(data, " ")
	at, err := time.Parse(time.RFC3339Nano, made)
	if err != nil || len(want) < 32 || subtle.ConstantTimeCompare([]byte(code), []byte(want)) != 1 ||
		!now.Before(at.Add(openCodeLife)) {
		return false
	}
	return os.Remove(path) == nil
}

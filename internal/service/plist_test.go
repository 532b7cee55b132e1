package service

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// decodePlist decodes an XML property list into Go values: map[string]any for
// <dict>, []any for <array>, string, int64 and bool. It knows the elements a
// launchd job uses and rejects the rest, so a malformed plist fails the test.
func decodePlist(b []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("no <plist> element: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("root element <%s>, want <plist>", se.Name.Local)
			}
			v, err := plistNext(d)
			if err != nil {
				return nil, err
			}
			if _, err := plistNext(d); !errors.Is(err, errEnd) {
				return nil, fmt.Errorf("<plist> holds more than one value")
			}
			return v, nil
		}
	}
}

var errEnd = errors.New("end of container")

// plistNext decodes the next value, or returns errEnd at its container's end.
func plistNext(d *xml.Decoder) (any, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			return nil, errEnd
		case xml.StartElement:
			return plistValue(d, tok)
		}
	}
}

func plistValue(d *xml.Decoder, se xml.StartElement) (any, error) {
	switch se.Name.Local {
	case "dict":
		m := map[string]any{}
		for {
			k, err := plistNext(d)
			if errors.Is(err, errEnd) {
				return m, nil
			}
			if err != nil {
				return nil, err
			}
			key, ok := k.(plistKey)
			if !ok {
				return nil, fmt.Errorf("<dict> entry %v is not a <key>", k)
			}
			v, err := plistNext(d)
			if err != nil {
				return nil, fmt.Errorf("value of %s: %w", key, err)
			}
			if _, dup := m[string(key)]; dup {
				return nil, fmt.Errorf("key %s appears twice", key)
			}
			m[string(key)] = v
		}
	case "array":
		var a []any
		for {
			v, err := plistNext(d)
			if errors.Is(err, errEnd) {
				return a, nil
			}
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case "true", "false":
		if err := d.Skip(); err != nil {
			return nil, err
		}
		return se.Name.Local == "true", nil
	case "key", "string", "integer":
		var s string
		if err := d.DecodeElement(&s, &se); err != nil {
			return nil, err
		}
		switch se.Name.Local {
		case "key":
			return plistKey(s), nil
		case "integer":
			return strconv.ParseInt(s, 10, 64)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unexpected element <%s>", se.Name.Local)
}

// plistKey tells a <key> from a <string> while decoding a <dict>.
type plistKey string

func TestLaunchAgentPlist(t *testing.T) {
	t.Parallel()
	_, content := mustRender(t, "darwin", darwinAgent)
	v, err := decodePlist(content)
	if err != nil {
		t.Fatalf("decode the rendered plist: %v", err)
	}
	job, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("plist holds %T, want a dict", v)
	}
	want := map[string]any{
		"Label": launchdLabel,
		"ProgramArguments": []any{"/opt/homebrew/bin/angelad", "run", "--config",
			"/Users/david/Library/Application Support/angelad/config.toml"},
		"RunAtLoad": true,
		// A clean exit (angelad stopped on purpose) is not restarted; a crash is.
		// kardianos: KeepAlive true, which restarts even after a clean exit.
		"KeepAlive":        map[string]any{"SuccessfulExit": false},
		"ThrottleInterval": int64(10),
		"ProcessType":      "Standard",
		// launchd does not expand ~: the path is the user's home, rendered.
		"StandardOutPath":   "/Users/david/Library/Logs/angelad/angelad.log",
		"StandardErrorPath": "/Users/david/Library/Logs/angelad/angelad.log",
	}
	for key, w := range want {
		if got := job[key]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", key, got, w)
		}
	}
	if job["StandardOutPath"] != LaunchAgentLogFile(darwinAgent.Home) {
		t.Errorf("StandardOutPath is not LaunchAgentLogFile")
	}
	exit, _ := job["ExitTimeOut"].(int64)
	if d := shutdownTimeout.Seconds(); float64(exit) <= d {
		t.Errorf("ExitTimeOut = %d s, want more than shutdown_timeout %v s", exit, d)
	}
	if env, _ := job["EnvironmentVariables"].(map[string]any); env["PATH"] == nil {
		t.Errorf("EnvironmentVariables has no PATH for finding PostgreSQL: %v", job["EnvironmentVariables"])
	}
}

func TestLaunchAgentPlistEscapesPaths(t *testing.T) {
	t.Parallel()
	o := Options{User: true, Executable: "/Applications/A & B/angelad",
		ConfigPath: `/Users/d/<cfg> "x" 'y'.toml`, Home: "/Users/d & e"}
	_, content := mustRender(t, "darwin", o)
	v, err := decodePlist(content)
	if err != nil {
		t.Fatalf("decode the rendered plist: %v\n%s", err, content)
	}
	job := v.(map[string]any)
	args := []any{o.Executable, "run", "--config", o.ConfigPath}
	if !reflect.DeepEqual(job["ProgramArguments"], args) {
		t.Errorf("ProgramArguments = %#v, want %#v", job["ProgramArguments"], args)
	}
	if got := job["StandardErrorPath"]; got != "/Users/d & e/Library/Logs/angelad/angelad.log" {
		t.Errorf("StandardErrorPath = %v", got)
	}
}

// TestLaunchAgentPlistLint runs Apple's own checker where there is one.
func TestLaunchAgentPlistLint(t *testing.T) {
	t.Parallel()
	plutil, err := exec.LookPath("plutil")
	if err != nil {
		t.Skip("plutil is macOS-only; the plist is checked by decodePlist instead")
	}
	_, content := mustRender(t, "darwin", darwinAgent)
	path := filepath.Join(t.TempDir(), "com.angela.angelad.plist")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(plutil, "-lint", path).CombinedOutput(); err != nil {
		t.Errorf("plutil -lint: %v\n%s", err, out)
	}
}

func TestDecodePlistRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		`<plist><dict><key>a</key></dict></plist>`,
		`<plist><dict><string>a</string><true/></dict></plist>`,
		`<plist><dict><key>a</key><real>1</real></dict></plist>`,
		`<plist><dict><key>a</key><true/><key>a</key><false/></dict></plist>`,
		`<plist><dict></plist>`,
	} {
		if _, err := decodePlist([]byte(bad)); err == nil || err == io.EOF {
			t.Errorf("decodePlist(%s) = nil error, want a failure", bad)
		}
	}
}

package config

import (
	"errors"
	"strings"
	"testing"
)

func TestWebKeysDefaultsAndChecks(t *testing.T) {
	root := false
	load := func(env map[string]string) (*Config, error) {
		return Load(Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Root: &root, Home: t.TempDir()})
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Web{Listen: "127.0.0.1:7340"}); c.Web != want || !c.Web.Loopback() {
		t.Fatalf("defaults = %+v, want %+v on loopback", c.Web, want)
	}
	for _, tt := range []struct{ env, want string }{
		{"ANGELA_WEB_LISTEN=:7340", "invalid ANGELA_WEB_LISTEN: must be host:port with the host named"},
		{"ANGELA_WEB_LISTEN=127.0.0.1", "invalid ANGELA_WEB_LISTEN: must be host:port"},
		{"ANGELA_WEB_LISTEN=127.0.0.1:0", "a port from 1 to 65535"},
		{"ANGELA_WEB_SOCKET=web.sock", "invalid ANGELA_WEB_SOCKET: must be empty or an absolute path"},
		{"ANGELA_WEB_ENABLED=yes please", "invalid ANGELA_WEB_ENABLED: must be true or false"},
	} {
		k, v, _ := strings.Cut(tt.env, "=")
		_, err := load(map[string]string{k: v})
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want a one-line config error containing %q", tt.env, err, tt.want)
		}
	}
	c, err = load(map[string]string{"ANGELA_WEB_ENABLED": "true", "ANGELA_WEB_LISTEN": "0.0.0.0:8080"})
	if err != nil || !c.Web.Enabled || c.Web.Listen != "0.0.0.0:8080" || c.Web.Loopback() {
		t.Errorf("a named address beyond loopback: %+v %v", c.Web, err)
	}
	c, err = load(map[string]string{"ANGELA_WEB_LISTEN": "[::1]:7340"})
	if err != nil || !c.Web.Loopback() {
		t.Errorf("[::1]: %+v %v", c.Web, err)
	}
	c, err = load(map[string]string{"ANGELA_WEB_SOCKET": "/run/angelad//web.sock"})
	if err != nil || c.Web.Socket != "/run/angelad/web.sock" || !c.Web.Loopback() {
		t.Errorf("socket: %+v %v", c.Web, err)
	}
}

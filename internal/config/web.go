package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultWebPort is the viewer's fixed port on loopback, documented in the
// README so that a bookmark keeps working.
const DefaultWebPort = 7340

// Web configures the memory viewer the daemon serves in a browser. It is off
// by default; on, it listens on loopback unless Listen names another address,
// or on the Unix socket Socket instead of TCP. Every request needs the
// install's token whatever the address.
type Web struct {
	// Enabled turns the viewer on.
	Enabled bool
	// Listen is host:port; the host must be named (an empty host would
	// listen on every interface without the user saying so).
	Listen string
	// Socket, when set, is the absolute path of a Unix socket the viewer
	// listens on instead of Listen.
	Socket string
}

// Loopback reports whether Listen's host is a loopback address (or
// "localhost"); a Unix socket counts as loopback.
func (w Web) Loopback() bool {
	if w.Socket != "" {
		return true
	}
	host, _, err := net.SplitHostPort(w.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseListen accepts host:port with a named host and a port from 1 to 65535.
func parseListen(v string) (string, error) {
	const allowed = `must be host:port with the host named, such as "127.0.0.1:7340" or "[::1]:7340"`
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%s, got %q", allowed, v)
	}
	if host == "" {
		return "", fmt.Errorf("%s (an empty host would listen on every interface; name 0.0.0.0 to mean that), got %q", allowed, v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%s and a port from 1 to 65535, got %q", allowed, v)
	}
	return v, nil
}

func webKeys() []key {
	return []key{
		boolKey("web.enabled", "serve the memory viewer in a browser (angelad open prints its address)", false,
			func(c *Config) *bool { return &c.Web.Enabled }),
		{name: "web.listen", help: "host:port the viewer listens on; a host other than loopback must be named here",
			def: "127.0.0.1:" + strconv.Itoa(DefaultWebPort),
			get: func(c *Config) string { return c.Web.Listen },
			set: func(c *Config, v string) error {
				l, err := parseListen(v)
				if err != nil {
					return err
				}
				c.Web.Listen = l
				return nil
			}},
		{name: "web.socket", help: "absolute path of a Unix socket the viewer listens on instead of web.listen; empty: TCP",
			get: func(c *Config) string { return c.Web.Socket },
			set: func(c *Config, v string) error {
				if v != "" && (!filepath.IsAbs(v) || strings.ContainsRune(v, 0)) {
					return fmt.Errorf("must be empty or an absolute path, got %q", v)
				}
				if v != "" {
					v = filepath.Clean(v)
				}
				c.Web.Socket = v
				return nil
			}},
	}
}

// Package deploy holds angelad's service definitions: the systemd units in
// systemd/ and the launchd plist in launchd/. They are Go text/template files,
// embedded here because go:embed cannot reach outside a package's directory,
// and rendered by internal/service for `angelad install` and
// `angelad install --print`. They are the one source of truth: a person who
// installs angelad by hand renders them with --print instead of copying them.
package deploy

import "embed"

// The paths of the templates inside FS.
const (
	// SystemdSystemUnit is the system-wide unit, installed as
	// /etc/systemd/system/angelad.service.
	SystemdSystemUnit = "systemd/angelad.service"
	// SystemdUserUnit is the per-user unit for systemd --user, installed as
	// ~/.config/systemd/user/angelad.service.
	SystemdUserUnit = "systemd/angelad-user.service"
	// LaunchAgent is the per-user launchd job, installed as
	// ~/Library/LaunchAgents/com.angela.angelad.plist.
	LaunchAgent = "launchd/com.angela.angelad.plist"
)

// FS holds the templates named by the constants above.
//
//go:embed systemd/angelad.service systemd/angelad-user.service launchd/com.angela.angelad.plist
var FS embed.FS

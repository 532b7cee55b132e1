package managed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// includeLine makes a hand-started server (pg_ctl start -D <state>/postgres)
// behave like one angelad starts.
const includeLine = "include_if_exists = '" + confFileName + "'"

// appendInclude adds the include of angelad.conf to the end of postgresql.conf,
// so angelad's settings override initdb's defaults.
func appendInclude(conf string) error {
	f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("configure the new cluster: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n# Settings of angelad's managed cluster; ALTER SYSTEM overrides them.\n%s\n", includeLine)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("configure the new cluster: %w", err)
	}
	return nil
}

// serverConf returns the contents of angelad.conf.
func (c *Cluster) serverConf() string {
	var b strings.Builder
	b.WriteString("# Written by angelad before it starts this server; edits are overwritten.\n")
	b.WriteString("# Use ALTER SYSTEM (postgresql.auto.conf) for settings of your own.\n\n")
	b.WriteString("# Only the Unix socket, in a directory only the server's user can enter.\n")
	b.WriteString("listen_addresses = ''\n")
	fmt.Fprintf(&b, "port = %d\n", managedPort)
	fmt.Fprintf(&b, "unix_socket_directories = %s\n", confString(socketDirList(c.SocketDir())))
	b.WriteString("unix_socket_permissions = 0700\n\n")
	b.WriteString("# A week of logs, one file per weekday, each truncated when it is reused.\n")
	b.WriteString("logging_collector = on\n")
	fmt.Fprintf(&b, "log_directory = %s\n", confString(serverLogDir))
	b.WriteString("log_filename = 'postgresql-%a.log'\n")
	b.WriteString("log_rotation_age = '1d'\n")
	b.WriteString("log_rotation_size = 0\n")
	b.WriteString("log_truncate_on_rotation = on\n")
	if c.opts.Fast {
		b.WriteString("\n# Fast mode (tests, benchmarks): a crash may lose or corrupt data.\n")
		b.WriteString("fsync = off\n")
		b.WriteString("synchronous_commit = off\n")
		b.WriteString("full_page_writes = off\n")
	}
	return b.String()
}

// confString quotes s as a postgresql.conf string value.
func confString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// socketDirList quotes dir as the one element of unix_socket_directories, a
// comma-separated list in which a path containing a comma must be quoted.
func socketDirList(dir string) string {
	return `"` + strings.ReplaceAll(dir, `"`, `""`) + `"`
}

// writeConf writes angelad.conf when its contents changed.
func (s *session) writeConf() error {
	path := filepath.Join(s.c.DataDir(), confFileName)
	want := []byte(s.c.serverConf())
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, want, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := s.acct.chown(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestPasswordsNeverShow puts a password into every place libpq and angelad
// read one from, in the shapes people write (and mistype), and checks every
// output: config, config --json, a command's error, status and the daemon's
// log. Every password holds "CrEt", so a part of one is caught too.
func TestPasswordsNeverShow(t *testing.T) {
	t.Parallel()
	reachable := pgtest.DB(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pgpass := write("pgpass", "*:*:*:*:SeCrEt123\n")
	services := write("pg_service.conf", "[angela]\nhost=127.0.0.1\nport=1\nuser=angela\npassword=SeCrEt123\n\n"+
		"[badport]\nhost=127.0.0.1\nport=abc\npassword=Se CrEt123\n")
	const unreachable = "host=127.0.0.1 port=1 user=angela dbname=AngelaMemory connect_timeout=5"
	tests := []struct {
		name    string
		env     []string
		invalid string // the start of the one-line error every command exits 2 with; "" when valid
		reach   bool   // the database answers
		// atConnect is the error that only connecting finds, in a file that
		// libpq reads then: a command exits 2 with it, and so does the daemon.
		atConnect string
	}{
		{"key=value that connects", []string{"ANGELA_DATABASE_URL=" + reachable + ` password='Se Cr\'Et123'`}, "", true, ""},
		{"URL", []string{"ANGELA_DATABASE_URL=postgres://angela:SeCrEt123@127.0.0.1:1/AngelaMemory"}, "", false, ""},
		{"URL with the password as a parameter", []string{"ANGELA_DATABASE_URL=postgresql://angela@127.0.0.1:1/x?sslmode=disable&password=SeCrEt123"}, "", false, ""},
		{"URL scheme typo", []string{"ANGELA_DATABASE_URL=postgress://u:SeCrEt123@127.0.0.1:1/x"}, "invalid database URL from env ANGELA_DATABASE_URL", false, ""},
		{"URL scheme typo with a parameter", []string{"ANGELA_DATABASE_URL=postgress://u:SeCrEt123@h/x?sslmode=disable"}, "invalid database URL from env ANGELA_DATABASE_URL", false, ""},
		{"URL with / in the password", []string{"ANGELA_DATABASE_URL=postgres://u:Se/CrEt123@127.0.0.1:1/x"}, "invalid database URL from env ANGELA_DATABASE_URL", false, ""},
		{"DATABASE_URL typo", []string{"DATABASE_URL=postgresq://u:SeCrEt123@h/x"}, "invalid database URL from env DATABASE_URL", false, ""},
		{"key=value escaped space", []string{`ANGELA_DATABASE_URL=` + unreachable + ` password=Se\ CrEt123`}, "", false, ""},
		{"key=value escaped backslash", []string{`ANGELA_DATABASE_URL=` + unreachable + ` password=Se\\CrEt123`}, "", false, ""},
		{"key=value quoted", []string{`ANGELA_DATABASE_URL=` + unreachable + ` password = 'Se Cr\'Et 123'`}, "", false, ""},
		{"key=value bad port", []string{`ANGELA_DATABASE_URL=host=h password=Se\ CrEt123 port=abc`}, "invalid database URL from env ANGELA_DATABASE_URL: a port is not a number", false, ""},
		{"key=value unterminated quote", []string{`ANGELA_DATABASE_URL=host=h password='Se CrEt123`}, "invalid database URL from env ANGELA_DATABASE_URL: a quoted value is not closed", false, ""},
		{"PGPASSWORD", []string{"ANGELA_DATABASE_URL=" + unreachable, "PGPASSWORD=SeCrEt123"}, "", false, ""},
		{"a .pgpass file", []string{"ANGELA_DATABASE_URL=" + unreachable, "PGPASSFILE=" + pgpass}, "", false, ""},
		{"a service file", []string{"PGSERVICEFILE=" + services, "PGSERVICE=angela"}, "", false, ""},
		{"a service file with a bad port", []string{"PGSERVICEFILE=" + services, "ANGELA_DATABASE_URL=service=badport"},
			"", false, "invalid database URL from env ANGELA_DATABASE_URL: a port is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t, "").with(append(tt.env, "ANGELA_POOL_CONNECT_TIMEOUT=5s")...)
			var shown strings.Builder
			for _, args := range [][]string{{"config"}, {"config", "--json"}, {"get-emotions"}, {"status"}} {
				r := c.run("", args...)
				shown.WriteString(r.stdout + r.stderr)
				switch {
				case tt.invalid != "":
					checkFailure(t, r, 2, tt.invalid, args)
					if !strings.HasSuffix(r.stderr, "(not shown, it may hold a password)\n") {
						t.Errorf("angelad %s: %q does not say why the string is not shown", strings.Join(args, " "), r.stderr)
					}
				case tt.atConnect != "" && args[0] == "get-emotions":
					checkFailure(t, r, 2, tt.atConnect, args)
				case args[0] == "config" && r.code != 0:
					t.Errorf("angelad %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
				case args[0] == "get-emotions" && !tt.reach:
					checkFailure(t, r, 1, "cannot connect to the database at host=127.0.0.1 port=1", args)
				case args[0] == "get-emotions" && r.code != 0:
					t.Errorf("angelad get-emotions: exit %d: %s", r.code, r.stderr)
				}
			}
			if tt.atConnect != "" {
				r := c.run("", "run")
				shown.WriteString(r.stdout + r.stderr)
				// The daemon's log line does not name the source yet.
				reason := tt.atConnect[strings.LastIndex(tt.atConnect, ": ")+2:]
				if r.code != 2 || !strings.Contains(r.stderr, reason) {
					t.Errorf("angelad run: exit %d, want 2 with %q:\n%s", r.code, reason, r.stderr)
				}
			} else if tt.invalid == "" {
				d := startDaemon(t, c)
				if tt.reach {
					d.waitFor(t, `"msg":"ready"`)
				} else {
					d.waitFor(t, `"msg":"database not ready, retrying"`)
				}
				r := c.run("", "status")
				shown.WriteString(r.stdout + r.stderr)
				r = c.run("", "status", "--json")
				shown.WriteString(r.stdout + r.stderr)
				if code := d.stop(t, syscall.SIGTERM); code != 0 {
					t.Errorf("the daemon exited %d:\n%s", code, d.log())
				}
				shown.WriteString(d.log())
			}
			if strings.Contains(shown.String(), "CrEt") {
				t.Errorf("a password shows in the output:\n%s", shown.String())
			}
		})
	}
}

package managed_test

import (
	"testing"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/managed"
)

// TestParseConfigAcceptsTheManagedClustersConnString: the check that refuses
// ambiguous connection strings must not refuse the managed cluster's, under a
// state directory with spaces (macOS's Application Support), quotes or
// backslashes.
func TestParseConfigAcceptsTheManagedClustersConnString(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"/var/lib/angelad", "/Users/david/Library/Application Support/angelad", `/tmp/it's\here`} {
		s := managed.New(managed.Options{StateDir: dir}).ConnString(`we'ird=db`)
		cfg, err := postgres.ParseConfig(s, "UTC")
		if err != nil {
			t.Errorf("ParseConfig(%q): %v", s, err)
			continue
		}
		if cfg.Host != dir+"/run" || cfg.Database != `we'ird=db` {
			t.Errorf("ParseConfig(%q) = host %q database %q", s, cfg.Host, cfg.Database)
		}
	}
}

package dailyupdate

import (
	"os"
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A child process of TestKill9MidRunLeavesTheSlotToRunOnceElsewhere: it runs a worker
		// against the database the parent names and never returns.
		runChild()
		return
	}
	pgtest.Main(m)
}

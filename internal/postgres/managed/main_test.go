package managed_test

import (
	"testing"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

package mirror

import (
	"os"
	"testing"
)

// atExit holds clean-ups of fixtures shared by a whole test process, such
// as the benchmark's large repository.
var atExit []func()

// TestMain runs the tests, then the clean-ups in atExit.
func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(atExit) - 1; i >= 0; i-- {
		atExit[i]()
	}
	os.Exit(code)
}

package harness

// TB is the part of testing.TB the harness uses, so that the demo can
// drive the same builders outside a test. *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

package harness

// TB is the part of testing.TB the harness uses. *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// must takes a result and its error and returns what fails t when the
// error is set and returns the result otherwise: must(f())(t).
func must[V any](v V, err error) func(TB) V {
	return func(t TB) V {
		t.Helper()
		if err != nil {
			t.Fatalf("%v", err)
		}
		return v
	}
}

// check fails t when err is set.
func check(t TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v", err)
	}
}

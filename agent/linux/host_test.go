package linux

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNewInTheAgentsOwnNamespace opens the Host as `nodewright agent
// --host linux` does (no namespace given: the process's own, as with
// hostNetwork) and reads the links, which needs no privilege. The zero
// namespace handle is fd 0, which netns counts as open.
func TestNewInTheAgentsOwnNamespace(t *testing.T) {
	h, err := New(Options{})
	require.NoError(t, err)
	defer h.Close()
	_, err = h.Bonds(context.Background())
	require.NoError(t, err)
	require.NoError(t, h.inNamespace(func() error { return nil }))
}

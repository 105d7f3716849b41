package cluster_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
)

// Missing options are named, all at once, before the API server is
// reached (the end-to-end stories under test/e2e and the demo run whole
// clusters).
func TestNewNamesMissingOptions(t *testing.T) {
	_, err := cluster.New(&rest.Config{Host: "https://127.0.0.1:1"}, cluster.Options{Namespace: "ns"})
	require.Error(t, err)
	assert.Equal(t, "cluster: options Dir, Name, Nodes, Repo, Site are required", err.Error())
}

package bundle

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadAppliedCommit(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef01234567"
	got, err := readAppliedCommit("s.yaml", []byte("cluster: a\nfuture: {x: 1}\nappliedCommit: "+id+"\n"))
	require.NoError(t, err, "fields other than appliedCommit are not this reader's to check")
	assert.Equal(t, id, got)

	for _, in := range []string{"", "cluster: a\n", "appliedCommit: null\n", "- a\n"} {
		got, err := readAppliedCommit("s.yaml", []byte(in))
		require.NoError(t, err, in)
		assert.Empty(t, got, in)
	}

	_, err = readAppliedCommit("s.yaml", []byte("cluster: a\nappliedCommit: [x]\n"))
	assert.EqualError(t, err, "s.yaml:2:16: appliedCommit: expected a string, got a list")
	_, err = readAppliedCommit("s.yaml", []byte("cluster: [\n"))
	assert.EqualError(t, err, "s.yaml:1: did not find expected node content")
}

package gitobject

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubjectAndTime(t *testing.T) {
	raw := "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ncommitter C <c@x> 1700000060 -0500\n\nFirst line\n\nbody\n"
	c, err := ParseCommit(plumbing.ZeroHash, []byte(raw))
	require.NoError(t, err)
	assert.Equal(t, "First line", c.Subject())
	assert.Equal(t, int64(1700000060), c.Time.Unix())
	assert.Equal(t, "000000000000", c.Short())
}

func TestEachTreeEntryStopsAndRefusesMalformed(t *testing.T) {
	raw := []byte("40000 a\x00aaaaaaaaaaaaaaaaaaaa100644 b\x00bbbbbbbbbbbbbbbbbbbb")
	var names []string
	require.NoError(t, EachTreeEntry(raw, func(_, name []byte, _ plumbing.Hash) bool {
		names = append(names, string(name))
		return false
	}))
	assert.Equal(t, []string{"a"}, names, "stops when fn returns false")
	assert.Error(t, EachTreeEntry(raw[:10], func(_, _ []byte, _ plumbing.Hash) bool { return true }))
}

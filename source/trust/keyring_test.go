package trust

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestNewKeyring(t *testing.T) {
	kr, errs := NewKeyring([]Principal{
		{Name: "edge-1", Keys: []Key{{SSH: sshKey}}},
		{Name: "edge-2", Keys: []Key{{SSH: sshKey2}}},
	})
	require.Empty(t, errs)
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(sshKey2))
	require.NoError(t, err)
	h, ok := kr.SSHHolder(pub)
	require.True(t, ok)
	assert.Equal(t, "edge-2", h.Principal)
	assert.False(t, h.Revoked)

	_, errs = NewKeyring([]Principal{
		{Name: "edge-1", Keys: []Key{{SSH: sshKey}, {SSH: "ssh-ed25519 garbage"}}},
		{Name: "edge-2", Keys: []Key{{SSH: sshKey}, {}}},
	})
	require.Len(t, errs, 3)
	assert.Equal(t, "principals[0].keys[1].ssh", errs[0].Field)
	assert.Contains(t, errs[0].Message, "not an SSH public key line")
	assert.Equal(t, "principals[1].keys[0].ssh", errs[1].Field)
	assert.Contains(t, errs[1].Message, `already held by principal "edge-1"`)
	assert.Equal(t, "principals[1].keys[1]", errs[2].Field)
	assert.Equal(t, "a key needs openpgp or ssh", errs[2].Message)
	for _, e := range errs {
		assert.Zero(t, e.Line)
		assert.Empty(t, e.File)
	}
}

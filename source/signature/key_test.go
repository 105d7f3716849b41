package signature

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
)

// The namespace is part of what is verified: a manifest signature never
// passes for a commit signature, and the other way round.
func TestKeySignsInItsNamespace(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	key := KeyFromSSH(s)
	assert.Equal(t, SSH, key.Format())
	pol, err := trust.Parse("t.yaml", []byte(fmt.Sprintf(`apiVersion: nodewright.io/v1alpha1
kind: TrustPolicy
version: 1
principals:
  - name: hub
    keys: [{ssh: %q}]
roles:
  committers: {principals: [hub], threshold: 1}
  approvers: {principals: [hub], threshold: 1}
  trust-admins: {principals: [hub], threshold: 1}
`, string(ssh.MarshalAuthorizedKey(s.PublicKey())))))
	require.NoError(t, err)

	sig, err := key.Sign([]byte("manifest"), "nodewright-bundle", time.Now())
	require.NoError(t, err)
	signer, err := VerifyIn(pol.Keyring(), []byte("manifest"), sig, "nodewright-bundle", "bundle manifest", time.Now())
	require.NoError(t, err)
	assert.Equal(t, Signer{Principal: "hub", Key: key.ID(), Format: SSH}, signer)

	_, err = Verify(pol.Keyring(), []byte("manifest"), sig, time.Now())
	assert.Equal(t, reason.BadSignature, reason.CodeOf(err), "not valid as a commit signature")
	_, err = VerifyIn(pol.Keyring(), []byte("other"), sig, "nodewright-bundle", "bundle manifest", time.Now())
	assert.ErrorContains(t, err, "does not verify over the bundle manifest")
}

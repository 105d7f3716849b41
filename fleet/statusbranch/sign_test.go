package statusbranch_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/test/harness"
)

func TestParseSigningKey(t *testing.T) {
	gpgKey := harness.NewGPGKey(t, "edge-key")
	armored, err := exec.Command("gpg", "--homedir", gpgKey.Home, "--armor", "--export-secret-keys", gpgKey.Fingerprint).Output()
	require.NoError(t, err)
	s, err := statusbranch.ParseSigningKey(armored)
	require.NoError(t, err)
	sig, err := s.Sign([]byte("payload"), time.Now())
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(sig, []byte("-----BEGIN PGP SIGNATURE-----")))
	ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader([]byte(gpgKey.Armored)))
	require.NoError(t, err)
	_, err = openpgp.CheckArmoredDetachedSignature(ents, bytes.NewReader([]byte("payload")), bytes.NewReader(sig), nil)
	assert.NoError(t, err)

	sshKey := harness.NewSSHKey(t, "edge-key")
	data, err := os.ReadFile(sshKey.PrivatePath)
	require.NoError(t, err)
	s, err = statusbranch.ParseSigningKey(data)
	require.NoError(t, err)
	sig, err = s.Sign([]byte("payload"), time.Now())
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(sig, []byte("-----BEGIN SSH SIGNATURE-----")))
	// ssh-keygen itself accepts the signature in namespace git.
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed")
	require.NoError(t, os.WriteFile(allowed, []byte("edge@test "+sshKey.AuthorizedKey+"\n"), 0o600))
	sigPath := filepath.Join(dir, "sig")
	require.NoError(t, os.WriteFile(sigPath, sig, 0o600))
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "edge@test", "-n", "git", "-s", sigPath)
	cmd.Stdin = bytes.NewReader([]byte("payload"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// A passphrase-protected key is refused with a clear message.
	locked := filepath.Join(dir, "locked")
	out, err = exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", locked).CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err = os.ReadFile(locked)
	require.NoError(t, err)
	_, err = statusbranch.ParseSigningKey(data)
	assert.ErrorContains(t, err, "passphrase")

	_, err = statusbranch.ParseSigningKey([]byte(gpgKey.Armored))
	assert.Error(t, err, "a public key cannot sign")
	_, err = statusbranch.ParseSigningKey([]byte("not a key"))
	assert.ErrorContains(t, err, "neither an armored OpenPGP secret key nor an SSH private key")
}

// FuzzParseSigningKey feeds arbitrary bytes to the key reader, which reads
// files and Secrets: it must not panic, and what it accepts must sign.
func FuzzParseSigningKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n"))
	f.Add([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"))
	f.Add([]byte("ssh-ed25519 AAAA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := statusbranch.ParseSigningKey(data)
		if err != nil {
			return
		}
		if _, err := s.Sign([]byte("payload"), time.Now()); err != nil {
			t.Fatalf("an accepted key does not sign: %v", err)
		}
	})
}

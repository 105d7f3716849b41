package sandbox_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/internal/sandbox"
)

// shortDir is a temporary directory with a short path, for a GNUPGHOME.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nwsb")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// gitIn runs the real git in dir with env added and returns its output.
func gitIn(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// A commit signed by each kind of key is one the real git verifies with
// that key, and a clone over the served smart HTTP holds it.
func TestSignedCommitsServedAndVerifiedByGit(t *testing.T) {
	alice, err := sandbox.NewGPGKey(shortDir(t), "alice")
	require.NoError(t, err)
	t.Cleanup(func() { _ = alice.Close() })
	bob, err := sandbox.NewSSHKey(t.TempDir(), "bob")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(bob.Fingerprint(), "SHA256:"), bob.Fingerprint())
	assert.Contains(t, alice.PublicKey(), "BEGIN PGP PUBLIC KEY BLOCK")
	assert.Len(t, alice.Fingerprint, 40)

	work, err := sandbox.InitRepo(filepath.Join(t.TempDir(), "work"))
	require.NoError(t, err)
	require.NoError(t, work.Write("sites/a.yaml", "a: 1\n"))
	byAlice, err := work.Commit("Start", alice)
	require.NoError(t, err)
	byBob, err := work.Approve(bob, "sites/a.yaml")
	require.NoError(t, err)
	msg, err := work.Git("log", "-1", "--format=%B", byBob)
	require.NoError(t, err)
	blob, err := work.BlobID("HEAD", "sites/a.yaml")
	require.NoError(t, err)
	assert.Contains(t, msg, "Nodewright-Approve: sites/a.yaml@"+blob)

	_, err = gitIn(t, work.Dir, alice.Env(), "verify-commit", byAlice)
	assert.NoError(t, err, "git verifies alice's OpenPGP signature with her key")
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	require.NoError(t, os.WriteFile(allowed, []byte("sandbox@example.test "+bob.AuthorizedKey+"\n"), 0o600))
	out, err := gitIn(t, work.Dir, nil, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", byBob)
	assert.NoError(t, err, "git verifies bob's SSH signature with his key: %s", out)
	_, err = gitIn(t, work.Dir, nil, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", byAlice)
	assert.Error(t, err, "an OpenPGP signature is not bob's SSH signature")

	root := t.TempDir()
	require.NoError(t, work.Publish(filepath.Join(root, "fleet.git")))
	srv, err := sandbox.ServeGit(root)
	require.NoError(t, err)
	clone := filepath.Join(t.TempDir(), "clone")
	_, err = gitIn(t, t.TempDir(), nil, "clone", "-q", srv.URL+"/fleet.git", clone)
	require.NoError(t, err)
	head, err := gitIn(t, clone, nil, "rev-parse", "HEAD")
	require.NoError(t, err)
	assert.Equal(t, byBob, head)

	require.NoError(t, srv.Close())
	_, err = http.Get(srv.URL + "/fleet.git/info/refs")
	assert.Error(t, err, "a closed server accepts no connection")
}

// Close stops the key's gpg-agent: nothing answers on its socket after.
func TestGPGKeyCloseStopsItsAgent(t *testing.T) {
	k, err := sandbox.NewGPGKey(shortDir(t), "carol")
	require.NoError(t, err)
	cmd := exec.Command("gpg-connect-agent", "--no-autostart", "/bye")
	cmd.Env = append(os.Environ(), k.Env()...)
	require.NoError(t, cmd.Run(), "gpg started an agent for the key")
	require.NoError(t, k.Close())
	cmd = exec.Command("gpg-connect-agent", "--no-autostart", "/bye")
	cmd.Env = append(os.Environ(), k.Env()...)
	out, _ := cmd.CombinedOutput()
	assert.Contains(t, string(out), "no gpg-agent running", "the agent is gone")
}

// A builder that cannot do its work says what failed instead of
// returning half a result.
func TestBuildersReportFailures(t *testing.T) {
	_, err := sandbox.NewSSHKeyOfType(t.TempDir(), "dave", "no-such-type", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ssh-keygen for dave")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = sandbox.InitRepo(filepath.Join(file, "repo"))
	assert.Error(t, err, "a repository below a file")

	work, err := sandbox.InitRepo(t.TempDir())
	require.NoError(t, err)
	_, err = work.BlobID("HEAD", "missing.yaml")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "git rev-parse HEAD:missing.yaml")
	_, err = work.Approve(nil, "missing.yaml")
	assert.Error(t, err, "an approval of a file that does not exist")
}

// The policy lists every key in its own form and the rules in a stable
// order.
func TestPolicyYAML(t *testing.T) {
	bob, err := sandbox.NewSSHKey(t.TempDir(), "bob")
	require.NoError(t, err)
	p := sandbox.Policy{
		Version: 2, MaxAge: "72h",
		Principals: []sandbox.Principal{{Name: "bob", Keys: []sandbox.Key{{Signer: bob, Revoked: true}}}},
		Roles:      map[string]sandbox.Role{"b": {Principals: []string{"bob"}, Threshold: 1}, "a": {Principals: []string{"bob"}, Threshold: 1}},
		Operations: map[string]sandbox.OperationRule{"BondModeFlipPlan": {Role: "a", Threshold: 1}},
	}
	y := p.YAML()
	assert.Contains(t, y, "version: 2\n")
	assert.Contains(t, y, "freshness: {maxAge: 72h}\n")
	assert.Contains(t, y, "      - ssh: \""+bob.AuthorizedKey+"\"\n        revoked: true\n")
	assert.Less(t, strings.Index(y, "  a: {"), strings.Index(y, "  b: {"), "roles are sorted")
	assert.Contains(t, y, "  BondModeFlipPlan: {role: a, threshold: 1}\n")
}

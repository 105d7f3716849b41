package bundle_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/bundle"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// TestHubToSiteRoundTrip carries the fleet branch to a site twice: a full
// bundle first, then one cut for the cluster from the appliedCommit its
// status reports. Both pass source verification at the site, and both are
// ordinary bundles the git CLI verifies and fetches.
func TestHubToSiteRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.change()
	first := h.change()
	site := t.TempDir()

	full := h.create()
	assert.Equal(t, bundle.Fleet, full.Manifest.Type)
	assert.Equal(t, uint64(1), full.Manifest.Sequence)
	assert.Empty(t, full.Manifest.Prerequisites)
	assert.Equal(t, 3, full.Manifest.Commits)
	assert.Equal(t, first, full.Manifest.Tip)
	assert.Contains(t, gitIn(t, h.repo.Dir, "bundle", "verify", full.Path), "is okay")

	res := h.importFleet(full, site)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Equal(t, first, res.Result.Tip.String())
	assert.Len(t, res.Result.Commits, 3)
	assert.Equal(t, "alice", res.Signer.Principal)
	assert.Nil(t, res.Gap)
	st, err := source.LoadState(site)
	require.NoError(t, err)
	assert.Equal(t, first, st.LastAccepted)

	// The site reports what it applied on the status branch.
	siteStatus := newStatusRepo(t, "edge-1", harness.NewSSHKey(t, "edge-1"))
	siteStatus.report(first)
	siteStatus.repo.Git("push", "-q", h.repo.Dir, "HEAD:refs/heads/"+bundle.DefaultStatusBranch)

	h.change()
	h.change()
	tip := h.change()
	incr := h.create(forCluster("edge-1"))
	assert.Equal(t, uint64(2), incr.Manifest.Sequence)
	assert.Equal(t, []string{first}, incr.Manifest.Prerequisites)
	assert.Equal(t, 3, incr.Manifest.Commits)
	assert.Equal(t, "edge-1", incr.Manifest.Cluster)
	assert.Contains(t, incr.Since, "appliedCommit of cluster edge-1")
	assert.Less(t, incr.Manifest.Bundle.Size, full.Manifest.Bundle.Size+2000)
	assert.Contains(t, gitIn(t, h.repo.Dir, "bundle", "verify", incr.Path), "is okay")

	res = h.importFleet(incr, site)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Len(t, res.Result.Commits, 3, "only the new commits are verified")
	assert.Nil(t, res.Gap)
	st, err = source.LoadState(site)
	require.NoError(t, err)
	assert.Equal(t, tip, st.LastAccepted)

	// The git CLI reads both bundles: a clone from the full one, a fetch
	// of the incremental one on top, and fsck finds every object.
	cli := filepath.Join(t.TempDir(), "cli.git")
	gitIn(t, filepath.Dir(cli), "clone", "-q", "--bare", full.Path, cli)
	gitIn(t, cli, "fetch", "-q", incr.Path, "main:main")
	assert.Equal(t, tip, gitIn(t, cli, "rev-parse", "main"))
	gitIn(t, cli, "fsck", "--strict", "--no-dangling")

	leftovers, err := filepath.Glob(filepath.Join(site, ".incoming-*"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "the private copies of the bundles are removed")
}

// TestReplayedBundleRefused imports a bundle twice, and an older bundle
// after a newer one: both are BundleReplay, and nothing moves.
func TestReplayedBundleRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.change()
	first := h.create()
	h.change()
	second := h.create(since(first.Manifest.Tip))
	site := t.TempDir()

	require.True(t, h.importFleet(first, site).Accepted())
	require.True(t, h.importFleet(second, site).Accepted())

	for _, c := range []*bundle.Created{second, first} {
		res := h.importFleet(c, site)
		assert.Equal(t, []reason.Code{reason.BundleReplay}, codes(res))
		assert.Contains(t, res.Refusals[0].Message, "is not newer than sequence 2")
	}
	st, err := source.LoadState(site)
	require.NoError(t, err)
	assert.Equal(t, second.Manifest.Tip, st.LastAccepted)
}

// TestMissingPrerequisiteRefused skips a bundle: the next one needs a
// commit the site lacks, and is refused naming that commit.
func TestMissingPrerequisiteRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.change()
	first := h.create()
	site := t.TempDir()
	require.True(t, h.importFleet(first, site).Accepted())

	lost := h.change()
	h.create(since(first.Manifest.Tip)) // sequence 2, never delivered
	h.change()
	third := h.create(since(lost))

	res := h.importFleet(third, site)
	require.Equal(t, []reason.Code{reason.BundleInvalid}, codes(res))
	assert.Equal(t, lost, res.Refusals[0].Commit)
	assert.Contains(t, res.Refusals[0].Message, "prerequisite "+lost+" of bundle sequence 3 is missing from the mirror")
	st, err := source.LoadState(site)
	require.NoError(t, err)
	assert.Equal(t, first.Manifest.Tip, st.LastAccepted)

	// A bundle that starts where the site is goes through, and the skipped
	// sequence number is reported as a gap.
	fourth := h.create(since(first.Manifest.Tip))
	res = h.importFleet(fourth, site)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	require.NotNil(t, res.Gap)
	assert.Equal(t, uint64(1), res.Gap.Last)
	assert.Equal(t, uint64(4), res.Gap.Got)
	assert.Contains(t, res.Gap.String(), "sequences 2 to 3 were never imported")
}

// TestTamperedBundleRefused changes one byte of a bundle, and one field of
// a manifest: the first no longer matches its signed digest, the second no
// longer matches its signature.
func TestTamperedBundleRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.change()
	c := h.create()
	site := t.TempDir()

	data, err := os.ReadFile(c.Path)
	require.NoError(t, err)
	data[len(data)-30] ^= 0x40
	require.NoError(t, os.WriteFile(c.Path, data, 0o644))
	res := h.importFleet(c, site)
	require.Equal(t, []reason.Code{reason.BundleInvalid}, codes(res))
	assert.Contains(t, res.Refusals[0].Message, "does not match its signed manifest")
	data[len(data)-30] ^= 0x40
	require.NoError(t, os.WriteFile(c.Path, data, 0o644))

	manifest, err := os.ReadFile(c.ManifestPath)
	require.NoError(t, err)
	forged := bytes.Replace(manifest, []byte(`"sequence": 1,`), []byte(`"sequence": 9,`), 1)
	require.NotEqual(t, manifest, forged)
	require.NoError(t, os.WriteFile(c.ManifestPath, forged, 0o644))
	res = h.importFleet(c, site)
	require.Equal(t, []reason.Code{reason.BadSignature}, codes(res))

	require.NoError(t, os.WriteFile(c.ManifestPath, manifest, 0o644))
	assert.True(t, h.importFleet(c, site).Accepted())
	leftovers, err := filepath.Glob(filepath.Join(site, ".incoming-*"))
	require.NoError(t, err)
	assert.Empty(t, leftovers)
}

// TestManifestSignerChecked refuses manifests signed by a key no principal
// holds, by a principal who is not a committer, and with no signature.
func TestManifestSignerChecked(t *testing.T) {
	t.Parallel()
	carol := harness.NewSSHKey(t, "carol")
	h := newHub(t, harness.Person("carol", carol))
	h.change()
	site := t.TempDir()

	stranger := h.create(signedBy(signingKey(t, harness.NewSSHKey(t, "mallory"))))
	res := h.importFleet(stranger, site)
	require.Equal(t, []reason.Code{reason.UnknownKey}, codes(res))
	assert.Contains(t, res.Refusals[0].Message, "which no principal of the trust policy holds")

	notCommitter := h.create(signedBy(signingKey(t, carol)))
	res = h.importFleet(notCommitter, site)
	require.Equal(t, []reason.Code{reason.NotAuthorized}, codes(res))
	assert.Contains(t, res.Refusals[0].Message, `"carol"`)

	unsigned := h.create()
	data, err := os.ReadFile(unsigned.ManifestPath)
	require.NoError(t, err)
	payload, _, _ := strings.Cut(string(data), "-----BEGIN")
	require.NoError(t, os.WriteFile(unsigned.ManifestPath, []byte(payload), 0o644))
	res = h.importFleet(unsigned, site)
	require.Equal(t, []reason.Code{reason.Unsigned}, codes(res))

	_, err = source.LoadState(site)
	require.NoError(t, err)
	assert.NoDirExists(t, filepath.Join(site, "mirror"), "nothing was fetched")
}

// TestSourceVerificationRuns brings an unsigned commit in a well-signed
// bundle: the source's own verification refuses it, and the sequence is
// not used up.
func TestSourceVerificationRuns(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.change()
	first := h.create()
	site := t.TempDir()
	require.True(t, h.importFleet(first, site).Accepted())

	h.repo.Write("sites/edge-1/sneaky.yaml", "x: 1\n")
	sneaky := h.repo.Commit("Unsigned", nil)
	bad := h.create(since(first.Manifest.Tip))
	res := h.importFleet(bad, site)
	require.Equal(t, []reason.Code{reason.Unsigned}, codes(res))
	assert.Equal(t, sneaky, res.Refusals[0].Commit)

	state, err := bundle.ReadState(filepath.Join(site, bundle.StateFile))
	require.NoError(t, err)
	require.Len(t, state.Imported, 1)
	assert.Equal(t, uint64(1), state.Imported[0].Sequence)
}

// TestOpenPGPManifestAndPolicyInForce signs manifests with an OpenPGP key
// exported from gpg. Bob is not in the trust root but becomes a committer
// in the repository's next policy: once the site accepted that policy, his
// bundles are taken, because the policy in force judges manifests.
func TestOpenPGPManifestAndPolicyInForce(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	bob := harness.NewGPGKey(t, "bob")
	bobKey := filepath.Join(t.TempDir(), "bob.asc")
	var armored bytes.Buffer
	w, err := armor.Encode(&armored, "PGP PRIVATE KEY BLOCK", nil)
	require.NoError(t, err)
	require.NoError(t, bob.SecretEntity(t).SerializePrivate(w, nil))
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(bobKey, armored.Bytes(), 0o600))
	key, err := bundle.LoadSigningKey(bobKey)
	require.NoError(t, err)
	assert.Equal(t, bob.Fingerprint, key.ID())

	site := t.TempDir()
	h.change()
	early := h.create(signedBy(key))
	res := h.importFleet(early, site)
	require.Equal(t, []reason.Code{reason.UnknownKey}, codes(res), "bob is not in the trust root")

	next := h.policy
	next.Version = 2
	next.Principals = append(next.Principals, harness.Person("bob", bob))
	next.Roles = map[string]harness.Role{
		"committers":   {Principals: []string{"alice", "bob"}, Threshold: 1},
		"trust-admins": {Principals: []string{"alice"}, Threshold: 1},
	}
	h.repo.Write(".nodewright/trust.yaml", next.YAML())
	h.repo.Commit("Add bob", h.alice)
	byAlice := h.create()
	require.True(t, h.importFleet(byAlice, site).Accepted())

	h.change()
	byBob := h.create(since(byAlice.Manifest.Tip), signedBy(key))
	res = h.importFleet(byBob, site)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Equal(t, "bob", res.Signer.Principal)
}

// TestCreateErrors covers what Create refuses before writing anything.
func TestCreateErrors(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	tip := h.change()
	out := filepath.Join(t.TempDir(), "x.bundle")
	cases := []struct {
		name string
		o    bundle.CreateOptions
		want string
	}{
		{"nothing new", bundle.CreateOptions{Since: tip}, "nothing to bundle"},
		{"cluster without status", bundle.CreateOptions{Cluster: "edge-9"}, "no status branch"},
		{"status without cluster", bundle.CreateOptions{Status: true}, "needs the cluster"},
		{"unknown since", bundle.CreateOptions{Since: "no-such-rev"}, `revision "no-such-rev"`},
		{"no branch", bundle.CreateOptions{Branch: "other"}, "has no branch other"},
		{"no output directory", bundle.CreateOptions{Out: filepath.Join(out, "missing", "x.bundle")}, "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.Repo, c.o.Key = h.repo.Dir, h.key
			if c.o.Out == "" {
				c.o.Out = out
			}
			_, err := bundle.Create(c.o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NoFileExists(t, out)
		})
	}
	_, err := bundle.Create(bundle.CreateOptions{Repo: h.repo.Dir, Out: out, Key: h.key, Since: tip})
	assert.True(t, errors.Is(err, bundle.ErrNothingNew))
}

// TestManifestFile checks the manifest file's shape: JSON an operator can
// read, then an SSH signature in the bundle namespace.
func TestManifestFile(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.change()
	c := h.create()
	data, err := os.ReadFile(c.ManifestPath)
	require.NoError(t, err)
	payload, sig, ok := strings.Cut(string(data), "-----BEGIN SSH SIGNATURE-----")
	require.True(t, ok)
	assert.True(t, strings.HasSuffix(sig, "-----END SSH SIGNATURE-----\n"))
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(payload), &doc))
	for _, field := range []string{"apiVersion", "kind", "type", "origin", "branch", "sequence", "tip", "prerequisites", "commits", "bundle", "created"} {
		assert.Contains(t, doc, field)
	}
	digest := doc["bundle"].(map[string]any)
	assert.Len(t, digest["sha256"], 64)

	sigFile := filepath.Join(t.TempDir(), "sig")
	require.NoError(t, os.WriteFile(sigFile, []byte("-----BEGIN SSH SIGNATURE-----"+sig), 0o600))
	allowed := filepath.Join(t.TempDir(), "allowed")
	require.NoError(t, os.WriteFile(allowed, []byte("alice "+h.alice.AuthorizedKey+"\n"), 0o600))
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "alice", "-n", bundle.Namespace, "-s", sigFile)
	cmd.Stdin = strings.NewReader(payload)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ssh-keygen -Y verify: %s", out)
	assert.Contains(t, string(out), `Good "nodewright-bundle" signature for alice`)
}

// TestSequenceJumpRefused: a manifest whose sequence number jumps far
// ahead is refused, so one bad manifest cannot make every later bundle of
// its origin look like a replay; the next honest bundle still imports.
func TestSequenceJumpRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.change()
	first := h.create()
	site := t.TempDir()
	require.True(t, h.importFleet(first, site).Accepted())

	// The hub's bundle state says which sequence number was used last.
	setSequence := func(n uint64) {
		statePath := filepath.Join(h.repo.Dir, ".git", "nodewright", "bundles.json")
		data, err := os.ReadFile(statePath)
		require.NoError(t, err)
		var st map[string]any
		require.NoError(t, json.Unmarshal(data, &st))
		st["created"].([]any)[0].(map[string]any)["sequence"] = n
		data, err = json.Marshal(st)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(statePath, data, 0o600))
	}
	setSequence(bundle.MaxSequenceGap + 1)
	h.change()
	jump := h.create(since(first.Manifest.Tip))
	res := h.importFleet(jump, site)
	assert.Equal(t, []reason.Code{reason.LimitExceeded}, codes(res), "%v", res.Refusals)

	setSequence(1)
	honest := h.create(since(first.Manifest.Tip))
	assert.True(t, h.importFleet(honest, site).Accepted(), "the refused jump was not recorded")
}

// TestManifestJudgedByTheSitesTrustRoot: the site pins a trust root of
// version 2 that revokes bob, while the repository still carries version
// 1. A manifest bob signs is judged by what the site enforces, not by the
// repository's older policy.
func TestManifestJudgedByTheSitesTrustRoot(t *testing.T) {
	t.Parallel()
	bob := harness.NewSSHKey(t, "bob")
	h := newHub(t, harness.Person("bob", bob))
	h.policy.Roles["committers"] = harness.Role{Principals: []string{"alice", "bob"}, Threshold: 1}
	h.repo.Write(".nodewright/trust.yaml", h.policy.YAML())
	h.repo.Commit("Bob commits too", h.alice)
	h.change()
	first := h.create()

	v2 := h.policy
	v2.Version = 2
	v2.Principals = []harness.Principal{harness.Person("alice", h.alice), harness.Person("bob", bob)}
	v2.Principals[1].Keys[0].Revoked = true
	root, err := trust.Parse("root.yaml", []byte(v2.YAML()))
	require.NoError(t, err)
	withRoot := func(o *bundle.ImportOptions) { o.Root = root }
	site := t.TempDir()
	require.True(t, h.importFleet(first, site, withRoot).Accepted())

	h.change()
	byBob := h.create(since(first.Manifest.Tip), signedBy(signingKey(t, bob)))
	res := h.importFleet(byBob, site, withRoot)
	assert.Equal(t, []reason.Code{reason.KeyRevoked}, codes(res), "%v", res.Refusals)
}

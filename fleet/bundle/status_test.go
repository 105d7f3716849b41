package bundle_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/bundle"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/test/harness"
)

// statusFleet is a hub whose fleet branch lists the keys of clusters
// edge-1 and edge-2 in .nodewright/clusters.yaml.
type statusFleet struct {
	*hub
	keys map[string]*harness.SSHKey
}

func newStatusFleet(t *testing.T) *statusFleet {
	t.Helper()
	h := newHub(t)
	keys := map[string]*harness.SSHKey{"edge-1": harness.NewSSHKey(t, "edge-1"), "edge-2": harness.NewSSHKey(t, "edge-2")}
	h.repo.Write(".nodewright/clusters.yaml", clusterKeysYAML(keys))
	h.repo.Commit("Cluster keys", h.alice)
	return &statusFleet{hub: h, keys: keys}
}

// createStatus writes a status bundle of s's branch signed by its key.
func createStatus(t *testing.T, s *statusRepo, mods ...func(*bundle.CreateOptions)) *bundle.Created {
	t.Helper()
	o := bundle.CreateOptions{Repo: s.repo.Dir, Out: filepath.Join(t.TempDir(), "status.bundle"), Status: true, Cluster: s.cluster, Key: signingKey(t, s.key)}
	for _, m := range mods {
		m(&o)
	}
	c, err := bundle.Create(o)
	require.NoError(t, err)
	return c
}

func sharedState(path string) func(*bundle.CreateOptions) {
	return func(o *bundle.CreateOptions) { o.StatePath = path }
}

// importStatus merges a status bundle into the hub.
func (f *statusFleet) importStatus(t *testing.T, c *bundle.Created, mods ...func(*bundle.StatusImportOptions)) *bundle.Imported {
	t.Helper()
	o := bundle.StatusImportOptions{Bundle: c.Path, Into: f.repo.Dir}
	for _, m := range mods {
		m(&o)
	}
	res, err := bundle.ImportStatus(o)
	require.NoError(t, err)
	return res
}

func (f *statusFleet) statusTip(t *testing.T) string {
	return gitIn(t, f.repo.Dir, "rev-parse", "--verify", "-q", "refs/heads/"+bundle.DefaultStatusBranch)
}

// TestSiteToHubStatusRoundTrip carries edge-1's status to a hub whose
// status branch edge-2 writes to directly. The first import merges an
// unrelated history, the hub's next fleet bundle acknowledges it, and the
// site's next status bundle starts at the acknowledged commit.
func TestSiteToHubStatusRoundTrip(t *testing.T) {
	t.Parallel()
	f := newStatusFleet(t)
	fleetTip := f.change()
	edge2 := newStatusRepo(t, "edge-2", f.keys["edge-2"])
	edge2.publish(f.repo.Dir, fleetTip)

	// The site takes the fleet and reports on its own status branch.
	siteState := t.TempDir()
	state := filepath.Join(siteState, bundle.StateFile)
	require.True(t, f.importFleet(f.create(), siteState).Accepted())
	site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
	s1 := site.report(fleetTip)

	first := createStatus(t, site, sharedState(state))
	assert.Equal(t, bundle.Status, first.Manifest.Type)
	assert.Equal(t, bundle.DefaultStatusBranch, first.Manifest.Branch)
	assert.Equal(t, "edge-1", first.Manifest.Cluster)
	assert.Empty(t, first.Manifest.Prerequisites)
	assert.Contains(t, gitIn(t, site.repo.Dir, "bundle", "verify", first.Path), "is okay")

	before := f.statusTip(t)
	res := f.importStatus(t, first)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	require.NotNil(t, res.Status)
	assert.Equal(t, bundle.MergeCommit, res.Status.Kind)
	assert.Equal(t, "edge-1", res.Signer.Principal)
	merge := f.statusTip(t)
	assert.Equal(t, res.Status.Branch.String(), merge)
	assert.Equal(t, before+" "+s1, gitIn(t, f.repo.Dir, "log", "-1", "--format=%P", merge), "parents: the hub's branch, then the cluster's commit")
	assert.Equal(t, gitIn(t, site.repo.Dir, "rev-parse", s1+":clusters/edge-1"), gitIn(t, f.repo.Dir, "rev-parse", merge+":clusters/edge-1"))
	assert.Equal(t, gitIn(t, f.repo.Dir, "rev-parse", before+":clusters/edge-2"), gitIn(t, f.repo.Dir, "rev-parse", merge+":clusters/edge-2"))
	assert.Equal(t, "clusters", gitIn(t, f.repo.Dir, "ls-tree", "--name-only", merge))
	allowed := filepath.Join(t.TempDir(), "allowed")
	writeFile(t, allowed, "edge-1 "+f.keys["edge-1"].AuthorizedKey+"\n")
	gitIn(t, f.repo.Dir, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", s1) // the cluster's signature is kept
	gitIn(t, f.repo.Dir, "fsck", "--strict", "--no-dangling")

	// The hub's next fleet bundle for edge-1 starts at what edge-1 applied
	// and acknowledges its status.
	f.change()
	fleet := f.create(forCluster("edge-1"))
	assert.Equal(t, []string{fleetTip}, fleet.Manifest.Prerequisites)
	assert.Equal(t, s1, fleet.Manifest.StatusAcknowledged)
	require.True(t, f.importFleet(fleet, siteState).Accepted())

	// Meanwhile edge-2 reports again at the hub, and edge-1 at its site.
	edge2.publish(f.repo.Dir, fleetTip)
	site.report(fleet.Manifest.Tip)
	s3 := site.report(fleet.Manifest.Tip)
	second := createStatus(t, site, sharedState(state))
	assert.Equal(t, []string{s1}, second.Manifest.Prerequisites, "starts at the acknowledged commit")
	assert.Equal(t, 2, second.Manifest.Commits)
	assert.Contains(t, second.Since, "the status commit the hub acknowledged")

	res = f.importStatus(t, second)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Equal(t, bundle.MergeCommit, res.Status.Kind)
	assert.Equal(t, 2, res.Status.Commits)
	tip := f.statusTip(t)
	assert.Equal(t, gitIn(t, site.repo.Dir, "rev-parse", s3+":clusters/edge-1"), gitIn(t, f.repo.Dir, "rev-parse", tip+":clusters/edge-1"))
	assert.Equal(t, gitIn(t, edge2.repo.Dir, "rev-parse", "HEAD:clusters/edge-2"), gitIn(t, f.repo.Dir, "rev-parse", tip+":clusters/edge-2"))
	assert.Contains(t, gitIn(t, f.repo.Dir, "show", "-s", "--format=%B", tip+":clusters/edge-1/status.yaml"), "appliedCommit: "+fleet.Manifest.Tip)
	gitIn(t, f.repo.Dir, "fsck", "--strict", "--no-dangling")

	replay := f.importStatus(t, second)
	assert.Equal(t, []reason.Code{reason.BundleReplay}, codes(replay))
	assert.Equal(t, tip, f.statusTip(t))
}

// TestStatusFastForwardAndSignedMerge fast-forwards a hub that has no
// status branch yet; once the branch moved, the merge commit is signed by
// the hub's key as git would sign it.
func TestStatusFastForwardAndSignedMerge(t *testing.T) {
	t.Parallel()
	f := newStatusFleet(t)
	fleetTip := f.change()
	site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
	s1 := site.report(fleetTip)

	res := f.importStatus(t, createStatus(t, site))
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Equal(t, bundle.FastForward, res.Status.Kind)
	assert.Equal(t, s1, f.statusTip(t))

	site.report(fleetTip)
	s2 := site.report(fleetTip)
	res = f.importStatus(t, createStatus(t, site))
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Equal(t, bundle.FastForward, res.Status.Kind)
	assert.Equal(t, s2, f.statusTip(t))

	edge2 := newStatusRepo(t, "edge-2", f.keys["edge-2"])
	edge2.publish(f.repo.Dir, fleetTip)
	site.report(fleetTip)
	res = f.importStatus(t, createStatus(t, site), func(o *bundle.StatusImportOptions) { o.SignKey = f.key })
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Equal(t, bundle.MergeCommit, res.Status.Kind)
	allowed := filepath.Join(t.TempDir(), "allowed")
	writeFile(t, allowed, "test@example.test "+f.alice.AuthorizedKey+"\n")
	out := gitIn(t, f.repo.Dir, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", f.statusTip(t))
	assert.Contains(t, out, "Good \"git\" signature")
}

// TestStatusBundleRefusals covers what the hub refuses from a site: a
// commit outside the cluster's directory, a commit not signed by the
// cluster, a manifest by a stranger, and a bundle of the wrong kind.
func TestStatusBundleRefusals(t *testing.T) {
	t.Parallel()
	f := newStatusFleet(t)
	fleetTip := f.change()

	t.Run("other cluster's directory", func(t *testing.T) {
		site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
		site.report(fleetTip)
		site.repo.Write("clusters/edge-2/status.yaml", "cluster: edge-2\n")
		bad := site.repo.Commit("Overwrite edge-2", site.key)
		res := f.importStatus(t, createStatus(t, site))
		require.Equal(t, []reason.Code{reason.NotAuthorized}, codes(res))
		assert.Equal(t, bad, res.Refusals[0].Commit)
		assert.Contains(t, res.Refusals[0].Message, "changes clusters/edge-2")
		assert.Empty(t, gitOrEmpty(f.repo.Dir, "rev-parse", "--verify", "-q", "refs/heads/"+bundle.DefaultStatusBranch))
	})
	t.Run("top-level file", func(t *testing.T) {
		site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
		site.repo.Write("README", "hello\n")
		site.report(fleetTip)
		res := f.importStatus(t, createStatus(t, site))
		require.Equal(t, []reason.Code{reason.NotAuthorized}, codes(res))
		assert.Contains(t, res.Refusals[0].Message, "changes README")
	})
	t.Run("commit signed by another cluster", func(t *testing.T) {
		site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
		site.report(fleetTip)
		site.report(fleetTip, f.keys["edge-2"])
		res := f.importStatus(t, createStatus(t, site))
		assert.Equal(t, []reason.Code{reason.UnknownKey}, codes(res))
	})
	t.Run("unsigned commit", func(t *testing.T) {
		site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
		site.report(fleetTip, nil)
		res := f.importStatus(t, createStatus(t, site))
		assert.Equal(t, []reason.Code{reason.Unsigned}, codes(res))
	})
	t.Run("manifest by a stranger", func(t *testing.T) {
		site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
		site.report(fleetTip)
		c := createStatus(t, site, signedBy(signingKey(t, harness.NewSSHKey(t, "mallory"))))
		res := f.importStatus(t, c)
		assert.Equal(t, []reason.Code{reason.UnknownKey}, codes(res))
	})
	t.Run("cluster not listed", func(t *testing.T) {
		site := newStatusRepo(t, "edge-3", harness.NewSSHKey(t, "edge-3"))
		site.report(fleetTip)
		res := f.importStatus(t, createStatus(t, site))
		require.Equal(t, []reason.Code{reason.UnknownKey}, codes(res))
		assert.Contains(t, res.Refusals[0].Message, "cluster edge-3 is not listed")
	})
	t.Run("operator-signed manifest with a trust root", func(t *testing.T) {
		site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
		site.report(fleetTip)
		c := createStatus(t, site, signedBy(f.key))
		res := f.importStatus(t, c)
		assert.Equal(t, []reason.Code{reason.UnknownKey}, codes(res), "without a trust root only the cluster may sign")
		res = f.importStatus(t, c, func(o *bundle.StatusImportOptions) { o.Root = f.root })
		require.True(t, res.Accepted(), "%v", res.Refusals)
		assert.Equal(t, "alice", res.Signer.Principal)
	})
	t.Run("wrong kind of bundle", func(t *testing.T) {
		site := newStatusRepo(t, "edge-1", f.keys["edge-1"])
		site.report(fleetTip)
		status := createStatus(t, site)
		res := f.importFleet(status, t.TempDir(), func(o *bundle.ImportOptions) { o.Root = f.root })
		require.Equal(t, []reason.Code{reason.BundleInvalid}, codes(res))
		assert.Contains(t, res.Refusals[0].Message, "import it at the hub with --status")

		fleet := f.create()
		res = f.importStatus(t, fleet, func(o *bundle.StatusImportOptions) { o.Root = f.root })
		require.Equal(t, []reason.Code{reason.BundleInvalid}, codes(res))
		assert.Contains(t, res.Refusals[0].Message, "carries the fleet branch")
	})
}

// gitOrEmpty runs git and returns its output, or "" when it fails.
func gitOrEmpty(dir string, args ...string) string {
	out, err := gitCmd(dir, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

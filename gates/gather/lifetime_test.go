package gather

import (
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// TestApprovalDoesNotOutliveItsFile replays an approval with real git and
// real keys: carol approves an operation, it is deleted, and bob adds the
// same content again. The blob id is the same, but the approval belongs to
// the file's earlier life and must not count; a fresh approval does.
func TestApprovalDoesNotOutliveItsFile(t *testing.T) {
	alice, bob, carol := harness.NewSSHKey(t, "alice"), harness.NewSSHKey(t, "bob"), harness.NewSSHKey(t, "carol")
	pol := harness.Policy{
		Version:    1,
		Principals: []harness.Principal{harness.Person("alice", alice), harness.Person("bob", bob), harness.Person("carol", carol)},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"alice", "bob"}, Threshold: 1},
			"approvers":    {Principals: []string{"carol"}, Threshold: 1},
			"trust-admins": {Principals: []string{"alice", "bob"}, Threshold: 1},
		},
		Operations: map[string]harness.OperationRule{"BondModeFlipPlan": {Role: "approvers", Threshold: 1}},
	}
	root, err := trust.Parse("root.yaml", []byte(pol.YAML()))
	require.NoError(t, err)
	const path = "sites/edge-001/operations/flip.yaml"
	r := harness.NewRepo(t)
	r.SetClock(time.Now().Add(-time.Hour).Truncate(time.Second))
	r.Write(trust.Path, pol.YAML())
	r.Commit("Start", alice)
	r.Write(path, "kind: BondModeFlipPlan\n")
	r.Commit("Add the flip", alice)
	blob := r.BlobID("HEAD", path)
	r.Approve(carol, path)

	index := func() *Index {
		repo, err := git.PlainOpen(r.Dir)
		require.NoError(t, err)
		res, err := (&source.Verifier{Root: root, Store: repo.Storer}).Verify(plumbing.ZeroHash, plumbing.NewHash(r.Head()))
		require.NoError(t, err)
		require.Empty(t, res.Refusals)
		return NewIndex(res.Index)
	}
	ix := index()
	require.Len(t, ix.Approvals(path), 1)
	assert.False(t, ix.Approvals(path)[0].Superseded, "carol approved the file as it is")

	r.Remove(path)
	r.Commit("Remove the flip", alice)
	r.Write(path, "kind: BondModeFlipPlan\n")
	r.Commit("Add the same flip again", bob)
	require.Equal(t, blob, r.BlobID("HEAD", path), "the content, and so the blob id, is the same")
	ix = index()
	require.Len(t, ix.Approvals(path), 1)
	assert.True(t, ix.Approvals(path)[0].Superseded, "the approval belongs to the removed file")
	assert.Equal(t, "bob", ix.Author(path, blob))

	r.Approve(carol, path)
	ix = index()
	got := ix.Approvals(path)
	require.Len(t, got, 2)
	assert.True(t, got[0].Superseded)
	assert.False(t, got[1].Superseded, "a fresh approval counts")
}

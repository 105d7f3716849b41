package view_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/fleet/view/viewtest"
	"github.com/nodewright/nodewright/test/harness"
)

// emptyTree is git's empty tree object.
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// commitTree writes an unsigned commit of tree with parents using the
// real git commit-tree, as someone with push access but no cluster key
// would, and makes it the status branch's tip.
func commitTree(t *testing.T, f *viewtest.Fleet, msg, tree string, parents ...string) string {
	t.Helper()
	f.StatusTree.Git("hash-object", "-t", "tree", "-w", "/dev/null") // the empty tree, for orphans
	args := []string{"commit-tree", tree, "-m", msg}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	id := f.StatusTree.Git(args...)
	f.StatusTree.Git("push", "-q", "--force", f.Dir, id+":refs/heads/"+viewtest.StatusBranch)
	return id
}

// statusHistory returns the status branch's commits, oldest first.
func statusHistory(f *viewtest.Fleet) []string {
	return strings.Fields(f.StatusTree.Git("rev-list", "--reverse", "HEAD"))
}

// problemsByCluster maps each broken cluster to its problem.
func problemsByCluster(t *testing.T, rep *view.Report) map[string]view.Problem {
	t.Helper()
	out := map[string]view.Problem{}
	for _, p := range rep.Problems {
		require.NotEmpty(t, p.Cluster, "a problem not tied to a cluster: %+v", p)
		out[p.Cluster] = p
	}
	return out
}

// Merges need no signature of their own when they only take a cluster's
// directory from one parent, so that is where an attacker with push
// access tries to cut history: a merge whose tree is an older commit's,
// or an empty orphan's. Every edge of every commit is judged.
func TestVerifyRefusesMergesThatCutHistory(t *testing.T) {
	cases := []struct {
		name string
		cut  func(t *testing.T, f *viewtest.Fleet) string
		want string // message fragment
	}{
		{"older tree, the tip as first parent", func(t *testing.T, f *viewtest.Fleet) string {
			h := statusHistory(f)
			tip, old := h[len(h)-1], h[1] // old: both clusters at two records
			return commitTree(t, f, "Merge branch 'cleanup'", old+"^{tree}", tip, old)
		}, "older than its parent"},
		{"older tree, the old commit as first parent", func(t *testing.T, f *viewtest.Fleet) string {
			h := statusHistory(f)
			tip, old := h[len(h)-1], h[1]
			return commitTree(t, f, "Merge branch 'nodewright/status'", old+"^{tree}", old, tip)
		}, "lines 3 to 4, from seq 3 on, were removed"},
		{"an empty orphan merged in, its tree kept", func(t *testing.T, f *viewtest.Fleet) string {
			tip := f.StatusTree.Head()
			orphan := commitTree(t, f, "start over", emptyTree)
			return commitTree(t, f, "Merge start over", emptyTree, tip, orphan)
		}, "a cluster's directory may not disappear"},
		{"an empty orphan as first parent", func(t *testing.T, f *viewtest.Fleet) string {
			tip := f.StatusTree.Head()
			orphan := commitTree(t, f, "start over", emptyTree)
			return commitTree(t, f, "Merge start over", emptyTree, orphan, tip)
		}, "drops clusters/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := chainFleet(t)
			bad := c.cut(t, f)
			rep := verify(t, f, view.VerifyOptions{})
			require.False(t, rep.Intact())
			byCluster := problemsByCluster(t, rep)
			require.Len(t, byCluster, 2, "%+v", rep.Problems)
			for _, name := range []string{"a", "b"} {
				p := byCluster[name]
				assert.Equal(t, view.AuditBroken, p.Code, p.Message)
				assert.Equal(t, bad, p.Commit)
				assert.Contains(t, p.Message, "cluster "+name+": commit "+bad[:12])
				assert.Contains(t, p.Message, c.want)
			}
			// Asking for one cluster finds the same link.
			one := only(t, verify(t, f, view.VerifyOptions{Cluster: "a"}))
			assert.Equal(t, byCluster["a"], one)
		})
	}
}

func TestVerifyRefusesAMergeThatTakesAnOlderReport(t *testing.T) {
	f := chainFleet(t)
	before := f.StatusTree.Head()
	// Cluster a reports again with no new records: only its status changes.
	newer := f.Report("a", f.Status("a", 5*time.Minute, 0, 1))
	bad := commitTree(t, f, "Merge", before+"^{tree}", newer, before)

	p := only(t, verify(t, f, view.VerifyOptions{}))
	assert.Equal(t, view.StatusRollback, p.Code, p.Message)
	assert.Equal(t, "a", p.Cluster)
	assert.Equal(t, bad, p.Commit)
	assert.Equal(t, "clusters/a/status.yaml", p.File)
	assert.Contains(t, p.Message, "older than the report of")
	assert.Contains(t, p.Message, "in its parent "+newer[:12])
}

func TestVerifyRefusesAForgedOrphanMergedIn(t *testing.T) {
	f := chainFleet(t)
	tip := f.StatusTree.Head()
	// An orphan with the tip's files and one forged record for b, unsigned,
	// merged onto the tip with the orphan's tree.
	f.StatusTree.Git("checkout", "-q", "--orphan", "forged")
	lines := f.AuditLines("b")
	f.SetAuditLines("b", append(lines, lines[len(lines)-1]))
	orphan := f.StatusTree.Commit("forged", nil)
	commitTree(t, f, "Merge forged", orphan+"^{tree}", tip, orphan)

	byCluster := problemsByCluster(t, verify(t, f, view.VerifyOptions{}))
	require.Len(t, byCluster, 2)
	for _, name := range []string{"a", "b"} {
		assert.Equal(t, view.StatusSignature, byCluster[name].Code)
		assert.Equal(t, orphan, byCluster[name].Commit, "the orphan writes clusters/%s/ unsigned", name)
	}
}

func TestVerifyAcceptsMergesThatKeepEverything(t *testing.T) {
	f := chainFleet(t)
	tip := f.StatusTree.Head()
	old := statusHistory(f)[1]
	orphan := commitTree(t, f, "empty", emptyTree)
	// An octopus merge with the tip's tree: an empty orphan and an older
	// commit as further parents take nothing away.
	commitTree(t, f, "Merge", tip+"^{tree}", tip, orphan, old)
	rep := verify(t, f, view.VerifyOptions{})
	assert.True(t, rep.Intact(), "%+v", rep.Problems)
	assert.Equal(t, 6, rep.Commits)

	// A merge of two clusters' reports made on two branches, by git.
	f.StatusTree.Git("checkout", "-q", "-b", "side")
	f.Report("a", f.Status("a", 2*time.Minute, 1, 1), f.Transition("a", "BondModeFlipPlan", "flip", "Succeeded", "Pending", "Again", 2*time.Minute))
	f.StatusTree.Git("checkout", "-q", viewtest.StatusBranch)
	f.StatusTree.Git("reset", "-q", "--hard", tip)
	f.Report("b", f.Status("b", time.Minute, 1, 1), f.Transition("b", "BondModeFlipPlan", "flip", "Succeeded", "Pending", "Again", time.Minute))
	f.StatusTree.Merge("side", nil)
	f.StatusTree.Git("push", "-q", "--force", f.Dir, "HEAD:refs/heads/"+viewtest.StatusBranch)
	rep = verify(t, f, view.VerifyOptions{})
	assert.True(t, rep.Intact(), "%+v", rep.Problems)
	for _, c := range rep.Clusters {
		assert.Equal(t, 5, c.Records, c.Name)
	}
}

func TestVerifyReportsAListedClusterWithoutADirectory(t *testing.T) {
	f := chainFleet(t)
	keys := viewtest.KeysYAML(
		viewtest.Spec{Name: "a", Site: "north", Key: f.Clusters["a"].Key},
		viewtest.Spec{Name: "b", Site: "south", Key: f.Clusters["b"].Key},
		viewtest.Spec{Name: "c", Site: "east", Key: harness.NewSSHKey(t, "c")},
	)
	f.CommitMain("add cluster c", func(r *harness.Repo) { r.Write(".nodewright/clusters.yaml", keys) })

	rep := verify(t, f, view.VerifyOptions{})
	p := only(t, rep)
	assert.Equal(t, view.StatusMissing, p.Code)
	assert.Equal(t, "c", p.Cluster)
	assert.Equal(t, f.StatusTree.Head(), p.Commit)
	assert.Contains(t, p.Message, "main:.nodewright/clusters.yaml lists cluster c, but nodewright/status has no directory clusters/c/")
	require.Len(t, rep.Clusters, 3)
	assert.False(t, rep.Clusters[2].Intact)

	// A whole status branch replaced by a signed history of cluster a
	// alone: b's absence is all that is left to see.
	f.StatusTree.Git("checkout", "-q", "--orphan", "again")
	f.StatusTree.Git("rm", "-r", "-q", "--cached", "clusters/b")
	f.StatusTree.Git("clean", "-f", "-d", "-q")
	f.Commit(f.Clusters["a"].Key, "a: status report", nil)
	byCluster := problemsByCluster(t, verify(t, f, view.VerifyOptions{}))
	assert.Equal(t, view.StatusMissing, byCluster["b"].Code)
	assert.Equal(t, view.StatusMissing, byCluster["c"].Code)
	assert.NotContains(t, byCluster, "a")
}

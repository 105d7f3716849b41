package view_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/fleet/view/viewtest"
	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// chainFleet returns a fleet of clusters a and b (SSH keys), each with four
// audit records written over two signed reports: a fork of one fleet built
// once per test binary.
func chainFleet(t *testing.T) *viewtest.Fleet {
	t.Helper()
	chainOnce.Do(func() { chainBase = buildChainFleet(shared) })
	return chainBase.Fork(t)
}

func buildChainFleet(t harness.TB) *viewtest.Fleet {
	f := viewtest.New(t,
		viewtest.Spec{Name: "a", Site: "north", Key: harness.NewSSHKey(t, "a")},
		viewtest.Spec{Name: "b", Site: "south", Key: harness.NewSSHKey(t, "b")},
	)
	for _, name := range []string{"a", "b"} {
		f.Report(name, f.Status(name, 30*time.Minute, 1, 1),
			f.Transition(name, "BondModeFlipPlan", "flip", "Pending", "AwaitingApproval", "ApprovalRequired", 50*time.Minute),
			f.Transition(name, "BondModeFlipPlan", "flip", "AwaitingApproval", "Preflight", "Approved", 40*time.Minute))
	}
	for _, name := range []string{"a", "b"} {
		f.Report(name, f.Status(name, 10*time.Minute, 1, 1),
			f.Transition(name, "BondModeFlipPlan", "flip", "Preflight", "Flip", "PreflightPassed", 20*time.Minute),
			f.Transition(name, "BondModeFlipPlan", "flip", "Flip", "Succeeded", "Verified", 10*time.Minute))
	}
	return f
}

func verify(t *testing.T, f *viewtest.Fleet, o view.VerifyOptions) *view.Report {
	t.Helper()
	rep, err := view.Verify(open(t, view.Source{Repo: f.Dir, NeedFleet: true}), o)
	require.NoError(t, err)
	return rep
}

// only returns the single problem of the report, failing otherwise.
func only(t *testing.T, rep *view.Report) view.Problem {
	t.Helper()
	require.Len(t, rep.Problems, 1, "%+v", rep.Problems)
	return rep.Problems[0]
}

func TestVerifyIntact(t *testing.T) {
	f := chainFleet(t)
	rep := verify(t, f, view.VerifyOptions{})
	assert.True(t, rep.Intact(), "%+v", rep.Problems)
	assert.Equal(t, 4, rep.Commits)
	require.Len(t, rep.Clusters, 2)
	for _, c := range rep.Clusters {
		assert.True(t, c.Intact)
		assert.True(t, c.Listed)
		assert.Equal(t, 4, c.Records)
		assert.Equal(t, 2, c.Commits)
		assert.Equal(t, f.Clusters[c.Name].Log.Hash, c.Head)
	}

	// A fleet with a cluster that never reported, and a trust root that
	// accepts main.
	root, err := trust.Parse("root.yaml", []byte(f.Policy.YAML()))
	require.NoError(t, err)
	rep = verify(t, f, view.VerifyOptions{TrustRoot: root})
	assert.True(t, rep.Intact(), "%+v", rep.Problems)
}

func TestVerifyIntactWithOpenPGPAndMerge(t *testing.T) {
	f := sampleFleet(t) // charlie signs with an OpenPGP key
	// alpha reports on a side branch that is merged with an unsigned merge
	// commit which introduces nothing of its own.
	f.StatusTree.Git("checkout", "-q", "-b", "side")
	f.Report("alpha", f.Status("alpha", time.Minute, 3, 3), f.Transition("alpha", "ReplicationUpgrade", "rg", "Pending", "AwaitingApproval", "ApprovalRequired", time.Minute))
	f.StatusTree.Git("checkout", "-q", viewtest.StatusBranch)
	f.Report("charlie", f.Status("charlie", time.Minute, 3, 3), f.Transition("charlie", "VMVolumeMigration", "db", "Halted", "Copying", "Resumed", time.Minute))
	f.StatusTree.Merge("side", nil)
	f.StatusTree.Git("push", "-q", f.Dir, "HEAD:refs/heads/"+viewtest.StatusBranch)

	rep := verify(t, f, view.VerifyOptions{})
	assert.True(t, rep.Intact(), "%+v", rep.Problems)
	assert.Equal(t, 7, rep.Commits)
	for _, c := range rep.Clusters {
		if c.Name == "charlie" {
			assert.Equal(t, 2, c.Records)
		}
	}
}

func TestVerifyFindsBrokenLinks(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, f *viewtest.Fleet) string // returns the offending commit
		want   []string                                     // per problem: code and message fragments
	}{
		{"tampered audit line", func(t *testing.T, f *viewtest.Fleet) string {
			lines := f.AuditLines("a")
			lines[1] = strings.Replace(lines[1], `"to":"Preflight"`, `"to":"Succeeded"`, 1)
			f.SetAuditLines("a", lines)
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{"AuditBroken", "cluster a:", "rewrites clusters/a/audit.jsonl: line 2 (seq 2) was changed"}},
		{"reordered audit lines", func(t *testing.T, f *viewtest.Fleet) string {
			lines := f.AuditLines("a")
			lines[1], lines[2] = lines[2], lines[1]
			f.SetAuditLines("a", lines)
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{"AuditBroken", "line 2 held seq 2 and now holds seq 3"}},
		{"deleted audit line", func(t *testing.T, f *viewtest.Fleet) string {
			lines := f.AuditLines("a")
			f.SetAuditLines("a", append(lines[:1:1], lines[2:]...))
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{"AuditBroken", "line 2 held seq 2 and now holds seq 3"}},
		{"deleted last audit line", func(t *testing.T, f *viewtest.Fleet) string {
			lines := f.AuditLines("a")
			f.SetAuditLines("a", lines[:3])
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{"AuditBroken", "line 4 (seq 4), its last line, was removed"}},
		{"removed audit file", func(t *testing.T, f *viewtest.Fleet) string {
			f.StatusTree.Remove("clusters/a/audit.jsonl")
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{"AuditBroken", "removes clusters/a/audit.jsonl and its 4 records"}},
		{"status commit signed by the wrong cluster's key", func(t *testing.T, f *viewtest.Fleet) string {
			return f.Report("b", f.Status("b", 0, 0, 1))
		}, nil}, // set below: signed by a's key
		{"commit touching another cluster's directory", func(t *testing.T, f *viewtest.Fleet) string {
			f.StatusTree.Write("clusters/a/status.yaml", "# a\n")
			f.StatusTree.Write("clusters/b/status.yaml", "# b\n")
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{
			"StatusScope", "cluster a:", "is signed by cluster a's key", "but changes clusters/b/",
			"|StatusSignature", "cluster b:", "changes clusters/b/ but is signed by cluster a's key"}},
		{"unsigned commit", func(t *testing.T, f *viewtest.Fleet) string {
			f.StatusTree.Write("clusters/b/status.yaml", "# b\n")
			return f.Commit(nil, "sneaky", nil)
		}, []string{"StatusSignature", "cluster b:", "changes clusters/b/ but its signature is refused (Unsigned"}},
		{"commit by a key no cluster holds", func(t *testing.T, f *viewtest.Fleet) string {
			f.StatusTree.Write("clusters/b/status.yaml", "# b\n")
			return f.Commit(harness.NewSSHKey(t, "mallory"), "sneaky", nil)
		}, []string{"StatusSignature", "cluster b:", "(UnknownKey: signed by SSH key SHA256:"}},
		{"directory of an unlisted cluster", func(t *testing.T, f *viewtest.Fleet) string {
			f.StatusTree.Write("clusters/a/status.yaml", "# a\n")
			f.StatusTree.Write("clusters/zulu/status.yaml", "# z\n")
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{"StatusScope", "cluster a:", "but changes clusters/zulu/",
			"|StatusSignature", "cluster zulu:", "main:.nodewright/clusters.yaml lists no cluster zulu"}},
		{"file outside the cluster directories", func(t *testing.T, f *viewtest.Fleet) string {
			f.StatusTree.Write("README", "hello\n")
			return f.Commit(nil, "readme", nil)
		}, []string{"StatusScope", "changes README, outside every cluster directory, and is not signed by a cluster key"}},
		{"record with a bad hash appended", func(t *testing.T, f *viewtest.Fleet) string {
			c := f.Clusters["a"]
			rec := audit.Next(c.Log, f.Transition("a", "BondModeFlipPlan", "flip", "Succeeded", "Pending", "Again", 0).Record())
			rec.Message = "changed after hashing"
			appendRecord(t, f, "a", rec)
			return f.Commit(c.Key, "a: status report", nil)
		}, []string{"AuditBroken", "cluster a: clusters/a/audit.jsonl:5 (seq 5): hash", "does not match the record's content", "the line was written by commit"}},
		{"record naming another cluster", func(t *testing.T, f *viewtest.Fleet) string {
			c := f.Clusters["a"]
			tr := f.Transition("a", "BondModeFlipPlan", "flip", "Succeeded", "Pending", "Again", 0)
			tr.Cluster = "b"
			appendRecord(t, f, "a", audit.Next(c.Log, tr.Record()))
			return f.Commit(c.Key, "a: status report", nil)
		}, []string{"AuditBroken", `clusters/a/audit.jsonl:5 (seq 5): the record names cluster "b", not a`}},
		{"unreadable audit line", func(t *testing.T, f *viewtest.Fleet) string {
			lines := append(f.AuditLines("a"), `{"seq": 5, "bogus": true}`)
			f.SetAuditLines("a", lines)
			return f.Commit(f.Clusters["a"].Key, "a: status report", nil)
		}, []string{"AuditBroken", `cluster a: clusters/a/audit.jsonl:5: unknown field "bogus"`, "the line was written by commit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := chainFleet(t)
			want := c.want
			if want == nil { // the wrong-key case: b's report signed with a's key
				b := f.Clusters["b"]
				b.Key, f.Clusters["a"].Key = f.Clusters["a"].Key, b.Key
				want = []string{"StatusScope", "cluster a:", "but changes clusters/b/",
					"|StatusSignature", "cluster b:", "changes clusters/b/ but is signed by cluster a's key SHA256:", "not by a key of cluster b"}
			}
			bad := c.break_(t, f)
			rep := verify(t, f, view.VerifyOptions{})
			require.False(t, rep.Intact())
			groups := strings.Split(strings.Join(want, "\x00"), "\x00|")
			require.Len(t, rep.Problems, len(groups), "%+v", rep.Problems)
			for i, g := range groups {
				parts := strings.Split(g, "\x00")
				p := rep.Problems[i]
				assert.Equal(t, parts[0], string(p.Code), p.Message)
				for _, frag := range parts[1:] {
					assert.Contains(t, p.Message, frag)
				}
				if p.Code != view.AuditBroken || p.Commit != "" {
					assert.Equal(t, bad, p.Commit)
					assert.Contains(t, p.Message, "commit "+bad[:12])
				}
			}
		})
	}
}

func appendRecord(t *testing.T, f *viewtest.Fleet, cluster string, rec v1.AuditRecord) {
	t.Helper()
	line, err := json.Marshal(rec)
	require.NoError(t, err)
	f.SetAuditLines(cluster, append(f.AuditLines(cluster), string(line)))
}

func TestVerifyReportsTheFirstBrokenLinkOnly(t *testing.T) {
	f := chainFleet(t)
	lines := f.AuditLines("a")
	lines[0] = strings.Replace(lines[0], `"actor":"nodewright-reconciler"`, `"actor":"someone-else"`, 1)
	f.SetAuditLines("a", lines)
	first := f.Commit(f.Clusters["a"].Key, "a: status report", nil)
	f.StatusTree.Write("clusters/a/status.yaml", "# later\n")
	f.Commit(nil, "unsigned later", nil)

	p := only(t, verify(t, f, view.VerifyOptions{}))
	assert.Equal(t, view.AuditBroken, p.Code)
	assert.Equal(t, first, p.Commit)
	assert.Equal(t, "a", p.Cluster)
	assert.Equal(t, "clusters/a/audit.jsonl", p.File)
	assert.Equal(t, 1, p.Line)
	assert.Equal(t, int64(1), p.Seq)
}

func TestVerifyOneCluster(t *testing.T) {
	f := chainFleet(t)
	f.StatusTree.Write("clusters/b/status.yaml", "# b\n")
	f.Commit(nil, "unsigned", nil)

	rep := verify(t, f, view.VerifyOptions{Cluster: "a"})
	assert.True(t, rep.Intact(), "%+v", rep.Problems)
	require.Len(t, rep.Clusters, 1)
	assert.Equal(t, "a", rep.Clusters[0].Name)

	p := only(t, verify(t, f, view.VerifyOptions{Cluster: "b"}))
	assert.Equal(t, view.StatusSignature, p.Code)
}

func TestVerifyRefusesAnUntrustedFleetBranch(t *testing.T) {
	f := chainFleet(t)
	root, err := trust.Parse("root.yaml", []byte(f.Policy.YAML()))
	require.NoError(t, err)
	// Someone without a committer key lists their own key for cluster a.
	mallory := harness.NewSSHKey(t, "mallory")
	f.Main.Write(".nodewright/clusters.yaml", viewtest.KeysYAML(
		viewtest.Spec{Name: "a", Site: "north", Key: mallory}, viewtest.Spec{Name: "b", Site: "south", Key: f.Clusters["b"].Key}))
	bad := f.Main.Commit("swap a's key", nil)
	f.Main.Publish(f.Dir)

	rep := verify(t, f, view.VerifyOptions{TrustRoot: root})
	p := only(t, rep)
	assert.Equal(t, "Unsigned", string(p.Code))
	assert.Equal(t, bad, p.Commit)
	assert.Contains(t, p.Message, "fleet branch main: ")

	// Without the trust root the swapped key is believed, and a's own
	// commits no longer verify.
	rep = verify(t, f, view.VerifyOptions{})
	require.False(t, rep.Intact())
	assert.Equal(t, view.StatusSignature, rep.Problems[0].Code)
}

func TestVerifyNeedsClusterKeys(t *testing.T) {
	f := chainFleet(t)
	f.CommitMain("drop the keys", func(r *harness.Repo) { r.Remove(".nodewright/clusters.yaml") })
	_, err := view.Verify(open(t, view.Source{Repo: f.Dir, NeedFleet: true}), view.VerifyOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no .nodewright/clusters.yaml at main")

	f.CommitMain("broken keys", func(r *harness.Repo) {
		r.Write(".nodewright/clusters.yaml", "apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\nclusters: []\nextra: 1\n")
	})
	_, err = view.Verify(open(t, view.Source{Repo: f.Dir, NeedFleet: true}), view.VerifyOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "main:.nodewright/clusters.yaml:4: field extra not found")
}

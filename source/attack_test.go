package source

import (
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// rawTree writes a tree object from "mode name id" entries exactly as
// given (bypassing git's own checks, as an attacker would) and returns its id.
func rawTree(t *testing.T, r *harness.Repo, entries ...string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		f := strings.Fields(e)
		id, err := hex.DecodeString(f[2])
		require.NoError(t, err)
		fmt.Fprintf(&b, "%s %s\x00%s", f[0], f[1], id)
	}
	cmd := exec.Command("git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin")
	cmd.Dir = r.Dir
	cmd.Stdin = strings.NewReader(b.String())
	out, err := cmd.Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// commitTree commits tree on top of the current HEAD, signed by s.
func commitTree(t *testing.T, r *harness.Repo, tree string, s harness.Signer, msg string) string {
	t.Helper()
	args := append(s.GitConfig(), "commit-tree", "-S", "-p", "HEAD", "-m", msg, tree)
	cmd := exec.Command("git", append([]string{"-c", "user.name=T", "-c", "user.email=t@example.test"}, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = append(cmd.Environ(), s.Env()...)
	out, err := cmd.Output()
	require.NoError(t, err)
	id := strings.TrimSpace(string(out))
	r.Git("update-ref", "refs/heads/main", id)
	return id
}

// revokeBob seeds a repository at policy version 1 (history mode history)
// and moves it to version 2, which revokes bob's key, with the approvals
// it needs. It returns the repository, the seed commit and the tip.
func revokeBob(t *testing.T, p people, history string) (r *harness.Repo, v1 harness.Policy, old, last string) {
	v1 = p.policy(1)
	v1.History = history
	r = seed(t, p, v1)
	old = r.Head()
	v2 := p.policy(2)
	v2.History = history
	v2.Principals[1].Keys[0].Revoked = true
	r.Write(trust.Path, v2.YAML())
	r.Commit("Revoke bob", p.alice)
	r.Approve(p.carol, trust.Path)
	require.Empty(t, verify(t, r, parsePolicy(t, v1), "").Refusals)
	return r, v1, old, r.Head()
}

// mergeInto makes, on a new branch at first, a merge of second signed by
// s; edit (when set) changes the merge's tree before it is committed.
func mergeInto(r *harness.Repo, first, second string, s harness.Signer, edit func()) {
	r.Git("checkout", "-q", "-B", "attack", first)
	r.Git("merge", "-q", "--no-ff", "--no-commit", "--allow-unrelated-histories", second)
	if edit != nil {
		edit()
	}
	r.Commit("Merge", s)
	r.Git("branch", "-f", "main", "HEAD")
}

func TestAttackMergeWithOldFirstParent(t *testing.T) {
	p := newPeople(t)
	stories := []struct {
		name    string
		history string
		signer  func(people) harness.Signer
		keepOld bool
		want    []reason.Code
	}{
		{"a revoked key signs, keeping the new policy", "", func(p people) harness.Signer { return p.bob }, false, []reason.Code{reason.KeyRevoked}},
		{"a committer signs, keeping the old policy", "", func(p people) harness.Signer { return p.alice }, true, []reason.Code{reason.PolicyRollback}},
		{"first-parent history, keeping the old policy", "first-parent", func(p people) harness.Signer { return p.alice }, true, []reason.Code{reason.PolicyRollback}},
		{"first-parent history, a revoked key signs", "first-parent", func(p people) harness.Signer { return p.bob }, false, []reason.Code{reason.KeyRevoked}},
	}
	for _, s := range stories {
		t.Run(s.name, func(t *testing.T) {
			r, v1, old, last := revokeBob(t, p, s.history)
			mergeInto(r, old, last, s.signer(p), func() {
				if s.keepOld {
					r.Write(trust.Path, v1.YAML())
				}
			})
			res := verify(t, r, parsePolicy(t, v1), last)
			assert.Equal(t, s.want, codes(res), "%v", res.Refusals)
		})
	}
}

func TestAttackOrphanRootMergedOntoTheTip(t *testing.T) {
	p := newPeople(t)
	r, v1, _, last := revokeBob(t, p, "")
	r.Git("checkout", "-q", "--orphan", "orphan")
	r.Git("rm", "-rq", "--cached", ".")
	r.Remove(".nodewright")
	r.Remove("sites")
	r.Write("y", "1")
	r.Commit("Orphan by bob", p.bob)
	orphan := r.Head()
	res := verify(t, r, parsePolicy(t, v1), last)
	assert.Equal(t, []reason.Code{reason.NotFastForward}, codes(res), "as a tip the orphan does not descend")

	mergeInto(r, last, orphan, p.alice, func() { r.Git("rm", "-rq", ".nodewright") })
	res = verify(t, r, parsePolicy(t, v1), last)
	assert.Equal(t, []reason.Code{reason.KeyRevoked, reason.PolicyMissing}, codes(res),
		"the orphan's signer is judged by version 2, and the merge may not drop the trust policy: %v", res.Refusals)
}

func TestAttackNonCanonicalTrees(t *testing.T) {
	p := newPeople(t)
	v1 := p.policy(1)
	r := seed(t, p, v1)
	last := r.Head()
	op := strings.TrimSpace(r.Git("rev-parse", "HEAD:sites/edge-001/kustomization.yaml"))
	nw := r.Git("rev-parse", "HEAD:.nodewright")
	trustBlob := r.Git("rev-parse", "HEAD:.nodewright/trust.yaml")
	cases := map[string]struct {
		tree func() string
		want reason.Code
	}{
		"duplicate entry": {func() string {
			ops := rawTree(t, r, "100644 flip.yaml "+op, "100644 flip.yaml "+trustBlob)
			site := rawTree(t, r, "40000 operations "+ops)
			sites := rawTree(t, r, "40000 edge-001 "+site)
			return rawTree(t, r, "40000 .nodewright "+nw, "40000 sites "+sites)
		}, reason.MalformedObject},
		"zero-padded mode": {func() string {
			return rawTree(t, r, "040000 .nodewright "+nw)
		}, reason.MalformedObject},
		"a .git entry": {func() string {
			return rawTree(t, r, "40000 .GIT "+nw, "40000 .nodewright "+nw)
		}, reason.MalformedObject},
		".nodewright is a file": {func() string {
			return rawTree(t, r, "100644 .nodewright "+trustBlob)
		}, reason.PolicyMissing},
		"trust.yaml is a symlink": {func() string {
			return rawTree(t, r, "40000 .nodewright "+rawTree(t, r, "120000 trust.yaml "+trustBlob))
		}, reason.PolicyMissing},
		"deeper than the bound": {func() string {
			tree := rawTree(t, r, "100644 leaf "+op)
			for range 70 {
				tree = rawTree(t, r, "40000 d "+tree)
			}
			return rawTree(t, r, "40000 .nodewright "+nw, "40000 bases "+tree)
		}, reason.LimitExceeded},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r.Reset(last)
			commitTree(t, r, c.tree(), p.alice, "attack: "+name)
			res := verify(t, r, parsePolicy(t, v1), last)
			assert.Equal(t, []reason.Code{c.want}, codes(res), "%v", res.Refusals)
		})
	}
}

func TestAttackTooManyApprovalTrailers(t *testing.T) {
	p := newPeople(t)
	v1 := p.policy(1)
	r := seed(t, p, v1)
	last := r.Head()
	var b strings.Builder
	b.WriteString("Approve everything\n\n")
	for i := range MaxApprovalTrailers + 1 {
		fmt.Fprintf(&b, "Nodewright-Approve: sites/edge-001/operations/op%d.yaml@%040d\n", i, i)
	}
	r.Commit(b.String(), p.carol)
	res := verify(t, r, parsePolicy(t, v1), last)
	assert.Equal(t, []reason.Code{reason.LimitExceeded}, codes(res), "%v", res.Refusals)
}

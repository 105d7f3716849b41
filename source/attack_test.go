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

func TestAttackMergeWithOldFirstParentKeepsTheNewPolicy(t *testing.T) {
	p := newPeople(t)
	v1 := p.policy(1)
	r := seed(t, p, v1)
	old := r.Head()
	v2 := p.policy(2)
	v2.Principals[1].Keys[0].Revoked = true // bob's key is revoked in version 2
	r.Write(".nodewright/trust.yaml", v2.YAML())
	r.Commit("Revoke bob", p.alice)
	r.Approve(p.carol, ".nodewright/trust.yaml")
	last := r.Head()
	require.Empty(t, verify(t, r, parsePolicy(t, v1), "").Refusals)

	for name, keepOld := range map[string]bool{"tree of version 1": true, "tree of version 2": false} {
		t.Run(name, func(t *testing.T) {
			r.Reset(last)
			r.Git("checkout", "-q", "-B", "side", old)
			r.Write("x", "1")
			r.Commit("Old side", p.alice)
			r.Git("checkout", "-q", "main")
			r.Reset(last)
			// bob merges with the old line as first parent.
			r.Git("checkout", "-q", "-B", "attack", "side")
			r.Merge("main", p.bob)
			if keepOld {
				r.Write(".nodewright/trust.yaml", v1.YAML())
				r.Git("add", "-A")
				r.Git("commit", "-q", "--amend", "--no-edit", "--no-gpg-sign")
				r.Git("-c", "gpg.format=ssh", "-c", "user.signingkey="+p.bob.GitConfig()[3][len("user.signingkey="):], "commit", "-q", "--amend", "--no-edit", "-S")
			}
			r.Git("branch", "-f", "main", "HEAD")
			res := verify(t, r, parsePolicy(t, v1), last)
			require.False(t, res.Accepted(), "the merge must be judged by version 2")
			assert.Contains(t, codes(res), reason.KeyRevoked, "%v", res.Refusals)
			r.Git("checkout", "-q", "main")
		})
	}
}

func TestAttackOrphanRootWithoutTrustFile(t *testing.T) {
	p := newPeople(t)
	v1 := p.policy(1)
	r := seed(t, p, v1)
	v2 := p.policy(2)
	v2.Principals[1].Keys[0].Revoked = true
	r.Write(".nodewright/trust.yaml", v2.YAML())
	r.Commit("Revoke bob", p.alice)
	r.Approve(p.carol, ".nodewright/trust.yaml")
	last := r.Head()
	r.Git("checkout", "-q", "--orphan", "empty")
	r.Git("rm", "-rq", "--cached", ".")
	r.Remove(".nodewright")
	r.Remove("sites")
	r.Write("y", "1")
	r.Commit("Orphan by bob", p.bob)
	res := verify(t, r, parsePolicy(t, v1), last)
	// As a tip the orphan does not descend; merged, its signer is still judged by version 2.
	assert.Equal(t, []reason.Code{reason.NotFastForward}, codes(res))
	r.Git("checkout", "-q", "main")
	r.Git("merge", "-q", "--no-ff", "--allow-unrelated-histories", "--no-edit", "--no-gpg-sign", "empty")
	r.Git("rm", "-rq", ".nodewright")
	r.Git("commit", "-q", "--amend", "--no-edit", "--no-gpg-sign")
	res = verify(t, r, parsePolicy(t, v1), last)
	assert.Contains(t, codes(res), reason.KeyRevoked, "%v", res.Refusals)
}

func TestAttackNonCanonicalTrees(t *testing.T) {
	p := newPeople(t)
	v1 := p.policy(1)
	r := seed(t, p, v1)
	last := r.Head()
	blobA := r.Git("hash-object", "-w", "--stdin")
	_ = blobA
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

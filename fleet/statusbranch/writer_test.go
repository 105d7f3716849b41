package statusbranch_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sigyaml "sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

func TestWriteCreatesBranchWithSignedCommit(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	key, s := sshSigner(t, "edge-001")
	w := newWriter(t, srv.URL, "edge-001", s)
	c := &chain{cluster: "edge-001"}

	require.NoError(t, w.Write(ctx, report("edge-001", 0, 2), c.next(3)))

	tip := runGit(t, srv.Bare, "rev-parse", branch)
	assert.Empty(t, runGit(t, srv.Bare, "rev-list", "--parents", "-n1", tip)[len(tip):], "the first commit is an orphan")
	assert.Equal(t, "nodewright-edge-001 <edge-001@nodewright.invalid>", runGit(t, srv.Bare, "log", "-1", "--format=%an <%ae>", tip))
	assert.Equal(t, "clusters/edge-001/audit.jsonl\nclusters/edge-001/status.yaml", runGit(t, srv.Bare, "ls-tree", "-r", "--name-only", tip))
	assert.Equal(t, report("edge-001", 0, 2), branchStatus(t, srv.Bare, "edge-001").ClusterStatus)
	assert.Equal(t, hashes(c.all), hashes(branchAudit(t, srv.Bare, "edge-001")))
	runGit(t, srv.Bare, "fsck", "--strict", "--no-dangling")

	// The commit is signed in-process, and git's own ssh-keygen based
	// verification accepts it.
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	require.NoError(t, os.WriteFile(allowed, []byte("edge-001@nodewright.invalid "+key.AuthorizedKey+"\n"), 0o600))
	_, err := gitCmd(srv.Bare, nil, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", tip)
	require.NoError(t, err, "git verify-commit with ssh-keygen")
	verifyInProcess(t, srv.Bare, tip, key)
}

func TestWriteSignsWithOpenPGP(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	for _, opts := range [][]harness.GPGOption{nil, {harness.WithSigningSubkey()}} {
		key := harness.NewGPGKey(t, "edge-pgp", opts...)
		s, err := statusbranch.NewOpenPGPSigner(key.SecretEntity(t))
		require.NoError(t, err)
		w := newWriter(t, srv.URL, "edge-pgp", s)
		require.NoError(t, w.Write(ctx, report("edge-pgp", len(opts), 1), nil))
		tip := runGit(t, srv.Bare, "rev-parse", branch)
		_, err = gitCmd(srv.Bare, key.Env(), "verify-commit", tip)
		require.NoError(t, err, "git verify-commit with gpg")
		verifyInProcess(t, srv.Bare, tip, key)
		require.NoError(t, w.Close())
	}
}

// verifyInProcess checks the commit's signature with source/signature
// against a trust policy holding key, as a fleet reader would.
func verifyInProcess(t *testing.T, bare, commit string, key harness.Signer) {
	t.Helper()
	pol, err := trust.Parse("trust.yaml", []byte(harness.Policy{
		Version:    1,
		Principals: []harness.Principal{harness.Person("cluster", key)},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"cluster"}, Threshold: 1},
			"trust-admins": {Principals: []string{"cluster"}, Threshold: 1},
		},
	}.YAML()))
	require.NoError(t, err)
	raw := runGitRaw(t, bare, "cat-file", "commit", commit)
	payload, sig := signature.Split(raw)
	require.NotNil(t, sig, "commit is signed")
	signer, err := signature.Verify(pol.Keyring(), payload, sig, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "cluster", signer.Principal)
	assert.Equal(t, signature.Format(key.Format()), signer.Format)
}

func runGitRaw(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := gitExec(dir, args...)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

func TestUnchangedContentMakesNoCommit(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	_, s := sshSigner(t, "edge-002")
	w := newWriter(t, srv.URL, "edge-002", s)
	c := &chain{cluster: "edge-002"}
	first := c.next(4)
	require.NoError(t, w.Write(ctx, report("edge-002", 0, 1), first))
	tip := runGit(t, srv.Bare, "rev-parse", branch)

	// The same report, and records the branch already holds (a window of
	// recent records sent again), change nothing.
	require.NoError(t, w.Write(ctx, report("edge-002", 0, 1), first[2:]))
	require.NoError(t, w.Write(ctx, report("edge-002", 0, 1), nil))
	assert.Equal(t, tip, runGit(t, srv.Bare, "rev-parse", branch))
	assert.Equal(t, "1", runGit(t, srv.Bare, "rev-list", "--count", branch))

	// A new Writer (no cache) comes to the same conclusion.
	w2 := newWriter(t, srv.URL, "edge-002", s)
	require.NoError(t, w2.Write(ctx, report("edge-002", 0, 1), first))
	assert.Equal(t, tip, runGit(t, srv.Bare, "rev-parse", branch))
	assert.Equal(t, int64(0), w2.Stats().Commits)
	assert.Equal(t, int64(1), w2.Stats().Unchanged)

	// Overlapping records with new ones append only the new ones.
	more := c.next(2)
	require.NoError(t, w.Write(ctx, report("edge-002", 0, 1), append(first[3:], more...)))
	assert.Equal(t, "2", runGit(t, srv.Bare, "rev-list", "--count", branch))
	assert.Equal(t, hashes(c.all), hashes(branchAudit(t, srv.Bare, "edge-002")))
}

func TestCommitTouchesOnlyOwnDirectory(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	// Someone else's files on the branch: another cluster, a root file,
	// and a file of the writer's own cluster it does not manage.
	seed := harness.NewRepo(t)
	seed.Write("README.md", "status branch\n")
	seed.Write("clusters/edge-100/status.yaml", "cluster: edge-100\n")
	seed.Write("clusters/edge-100/audit.jsonl", "")
	seed.Write("clusters/edge-101/notes.txt", "kept\n")
	seed.Commit("seed", nil)
	seed.Git("push", "-q", srv.Bare, "HEAD:refs/heads/"+branch)
	before := runGit(t, srv.Bare, "rev-parse", branch)

	_, s := sshSigner(t, "edge-101")
	w := newWriter(t, srv.URL, "edge-101", s)
	c := &chain{cluster: "edge-101"}
	require.NoError(t, w.Write(ctx, report("edge-101", 0, 1), c.next(1)))
	after := runGit(t, srv.Bare, "rev-parse", branch)
	assert.Equal(t, before, runGit(t, srv.Bare, "rev-parse", after+"^"))
	assert.Equal(t, "A\tclusters/edge-101/audit.jsonl\nA\tclusters/edge-101/status.yaml",
		runGit(t, srv.Bare, "diff", "--name-status", before, after))
	assert.Equal(t, runGit(t, srv.Bare, "rev-parse", before+":clusters/edge-101/notes.txt"),
		runGit(t, srv.Bare, "rev-parse", after+":clusters/edge-101/notes.txt"))

	// Appending keeps every earlier line byte for byte.
	old, _ := show(t, srv.Bare, "clusters/edge-101/audit.jsonl")
	require.NoError(t, w.Write(ctx, report("edge-101", 1, 1), c.next(2)))
	now, _ := show(t, srv.Bare, "clusters/edge-101/audit.jsonl")
	assert.True(t, strings.HasPrefix(now, old))
	assert.Equal(t, "M\tclusters/edge-101/audit.jsonl\nM\tclusters/edge-101/status.yaml",
		runGit(t, srv.Bare, "diff", "--name-status", after, branch))
	runGit(t, srv.Bare, "fsck", "--strict", "--no-dangling")
}

func TestStatusOverBudgetIsSummarised(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	_, s := sshSigner(t, "edge-003")
	w := newWriter(t, srv.URL, "edge-003", s)
	w.Budget = 4096
	big := report("edge-003", 0, 500)
	big.Operations[7].Phase = "Halted"
	require.NoError(t, w.Write(ctx, big, nil))

	data, ok := show(t, srv.Bare, "clusters/edge-003/status.yaml")
	require.True(t, ok)
	assert.LessOrEqual(t, len(data), 4096)
	st := branchStatus(t, srv.Bare, "edge-003")
	assert.True(t, st.Truncated)
	assert.Equal(t, 500, st.TotalOperations)
	assert.Equal(t, map[string]int{"Flip": 499, "Halted": 1}, st.Phases)
	require.NotEmpty(t, st.Operations)
	assert.Equal(t, big.Operations[:len(st.Operations)], st.Operations)
	assert.Equal(t, big.AppliedCommit, st.AppliedCommit)
	assert.Equal(t, big.Nodes, st.Nodes)
	assert.Equal(t, big.Time, st.Time)
	// One more operation would not have fitted.
	more := *st
	more.Operations = big.Operations[:len(st.Operations)+1]
	over, err := sigyaml.Marshal(more)
	require.NoError(t, err)
	assert.Greater(t, len(over), 4096)
}

func TestRecordsMustContinueTheBranchChain(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	_, s := sshSigner(t, "edge-004")
	w := newWriter(t, srv.URL, "edge-004", s)
	c := &chain{cluster: "edge-004"}
	require.NoError(t, w.Write(ctx, report("edge-004", 0, 0), c.next(2)))

	// Refused before queueing: another cluster's records, a broken chain.
	other := (&chain{cluster: "edge-005"}).next(1)
	assert.ErrorContains(t, w.Write(ctx, report("edge-004", 1, 0), other), `is for cluster "edge-005"`)
	bad := c.next(2)
	bad[1].Message = "tampered"
	var broken *audit.BrokenLinkError
	assert.ErrorAs(t, w.Write(ctx, report("edge-004", 1, 0), bad), &broken)
	assert.ErrorContains(t, w.Write(ctx, report("edge-999", 1, 0), nil), `status is for cluster "edge-999"`)
	n, err := w.Pending()
	require.NoError(t, err)
	assert.Zero(t, n)

	// A fork of the chain (a different record 3) is queued, not
	// published, and named.
	fork := &chain{cluster: "edge-004"}
	fork.next(2)
	fork.log.Hash = strings.Repeat("0", 64)
	err = w.Write(ctx, report("edge-004", 1, 0), fork.next(1))
	var queued *statusbranch.QueuedError
	require.ErrorAs(t, err, &queued)
	assert.ErrorAs(t, err, &broken)
	assert.Equal(t, 1, queued.Pending)
	assert.Len(t, branchAudit(t, srv.Bare, "edge-004"), 2)
}

func TestQueueDirIsExclusive(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	_, s := sshSigner(t, "edge-006")
	w := newWriter(t, srv.URL, "edge-006", s)
	require.NoError(t, w.Write(ctx, report("edge-006", 0, 0), nil))
	w2 := &statusbranch.Writer{URL: srv.URL, Cluster: "edge-006", Signer: s, QueueDir: w.QueueDir}
	assert.ErrorContains(t, w2.Flush(ctx), "another writer holds the queue directory")
	require.NoError(t, w.Close())
	require.NoError(t, w2.Flush(ctx))
	require.NoError(t, w2.Close())
}

func TestBranchMovedBackIsFetchedAfresh(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	_, s := sshSigner(t, "edge-007")
	w := newWriter(t, srv.URL, "edge-007", s)
	c := &chain{cluster: "edge-007"}
	require.NoError(t, w.Write(ctx, report("edge-007", 0, 0), c.next(1)))
	first := runGit(t, srv.Bare, "rev-parse", branch)
	require.NoError(t, w.Write(ctx, report("edge-007", 1, 0), c.next(1)))
	// An administrator resets the branch to the first commit; the writer's
	// cache holds only the later tip.
	runGit(t, srv.Bare, "update-ref", "refs/heads/"+branch, first)
	require.NoError(t, w.Write(ctx, report("edge-007", 2, 0), c.all[1:]))
	assert.Equal(t, first, runGit(t, srv.Bare, "rev-parse", branch+"^"))
	assert.Equal(t, hashes(c.all), hashes(branchAudit(t, srv.Bare, "edge-007")))
}

func TestConfigurationErrors(t *testing.T) {
	ctx := context.Background()
	_, s := sshSigner(t, "edge-008")
	cases := []struct {
		name string
		w    *statusbranch.Writer
		want string
	}{
		{"cluster with slash", &statusbranch.Writer{URL: "http://127.0.0.1:1/x", Cluster: "a/b", Signer: s, QueueDir: t.TempDir()}, "not a plain name"},
		{"no signer", &statusbranch.Writer{URL: "http://127.0.0.1:1/x", Cluster: "a", QueueDir: t.TempDir()}, "no signer"},
		{"no queue", &statusbranch.Writer{URL: "http://127.0.0.1:1/x", Cluster: "a", Signer: s}, "no queue directory"},
		{"bad branch", &statusbranch.Writer{URL: "http://127.0.0.1:1/x", Branch: "a..b", Cluster: "a", Signer: s, QueueDir: t.TempDir()}, "not a valid branch name"},
		{"no url", &statusbranch.Writer{Cluster: "a", Signer: s, QueueDir: t.TempDir()}, "no repository URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.w.Write(ctx, report("a", 0, 0), nil)
			require.Error(t, err)
			assert.ErrorContains(t, err, c.want)
			var q *statusbranch.QueuedError
			assert.False(t, errors.As(err, &q))
		})
	}
}

func TestLocalPathRemote(t *testing.T) {
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "status.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", bare)
	_, s1 := sshSigner(t, "edge-020")
	_, s2 := sshSigner(t, "edge-021")
	w1 := newWriter(t, bare, "edge-020", s1)
	w2 := newWriter(t, "file://"+bare, "edge-021", s2)
	c1, c2 := &chain{cluster: "edge-020"}, &chain{cluster: "edge-021"}
	for n := 0; n < 3; n++ {
		require.NoError(t, w1.Write(ctx, report("edge-020", n, 1), c1.next(1)))
		require.NoError(t, w2.Write(ctx, report("edge-021", n, 1), c2.next(1)))
	}
	assert.Equal(t, "6", runGit(t, bare, "rev-list", "--count", branch))
	assert.Equal(t, hashes(c1.all), hashes(branchAudit(t, bare, "edge-020")))
	assert.Equal(t, hashes(c2.all), hashes(branchAudit(t, bare, "edge-021")))
	assert.Positive(t, w1.Stats().Fetches)
	runGit(t, bare, "fsck", "--strict", "--no-dangling")
}

func TestTamperedBranchChainIsNotAppendedTo(t *testing.T) {
	ctx := context.Background()
	srv := serveBare(t)
	c := &chain{cluster: "edge-030"}
	lines, err := json.Marshal(c.next(1)[0])
	require.NoError(t, err)
	tampered := strings.Replace(string(lines), "step 1", "step one", 1)
	seed := harness.NewRepo(t)
	seed.Write("clusters/edge-030/audit.jsonl", tampered+"\n")
	seed.Commit("seed", nil)
	seed.Git("push", "-q", srv.Bare, "HEAD:refs/heads/"+branch)
	before := runGit(t, srv.Bare, "rev-parse", branch)

	_, s := sshSigner(t, "edge-030")
	w := newWriter(t, srv.URL, "edge-030", s)
	err = w.Write(ctx, report("edge-030", 0, 0), c.next(1))
	var queued *statusbranch.QueuedError
	require.ErrorAs(t, err, &queued)
	assert.ErrorContains(t, err, "clusters/edge-030/audit.jsonl line 1 on the branch is not a valid audit record")
	assert.Equal(t, before, runGit(t, srv.Bare, "rev-parse", branch))
}

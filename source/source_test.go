package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/test/harness"
)

// published is a fleet repository pushed to a bare repository that the
// real git http-backend serves.
type published struct {
	work *harness.Repo
	bare string
	url  string
}

func publish(t *testing.T, work *harness.Repo) *published {
	root := t.TempDir()
	bare := work.Publish(filepath.Join(root, "fleet.git"))
	srv := harness.ServeGit(t, root)
	return &published{work: work, bare: bare, url: srv.URL + "/fleet.git"}
}

func (p *published) push() { p.work.Publish(p.bare) }

func TestSourceOverSmartHTTP(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	pub := publish(t, r)
	state := t.TempDir()
	src := &Source{Repo: pub.url, StateDir: state, Root: parsePolicy(t, pol)}

	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	first := r.Head()
	st, err := LoadState(state)
	require.NoError(t, err)
	assert.Equal(t, first, st.LastAccepted)
	assert.Equal(t, 1, st.PolicyVersion)

	r.Write("a", "1")
	r.Commit("new work", p.bob)
	pub.push()
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted())
	assert.Len(t, res.Commits, 1, "only the new commit is verified")
	good := r.Head()

	r.Write("a", "2")
	r.Commit("unsigned", nil)
	pub.push()
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []reason.Code{reason.Unsigned}, codes(res))
	st, err = LoadState(state)
	require.NoError(t, err)
	assert.Equal(t, good, st.LastAccepted, "a refusal keeps the last accepted commit")

	r.Reset(first)
	pub.push()
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []reason.Code{reason.NotFastForward}, codes(res))
	st, err = LoadState(state)
	require.NoError(t, err)
	assert.Equal(t, good, st.LastAccepted)
}

func TestSourceFloorSurvivesLostStateDir(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	first := r.Head()
	r.Write("a", "1")
	r.Commit("new work", p.bob)
	floor := r.Head()
	pub := publish(t, r)

	// A fresh state dir that knows the floor accepts a tip descending from it.
	src := &Source{Repo: pub.url, StateDir: t.TempDir(), Root: parsePolicy(t, pol), Floor: plumbing.NewHash(floor)}
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)

	// After a force-push back to an older, validly signed commit, a fresh
	// state dir still refuses it: the floor is the ratchet.
	r.Reset(first)
	pub.push()
	state := t.TempDir()
	src = &Source{Repo: pub.url, StateDir: state, Root: parsePolicy(t, pol), Floor: plumbing.NewHash(floor)}
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []reason.Code{reason.NotFastForward}, codes(res))
	st, err := LoadState(state)
	require.NoError(t, err)
	assert.Empty(t, st.LastAccepted, "nothing is accepted below the floor")
}

func bundle(t *testing.T, r *harness.Repo, name string, revs ...string) string {
	path := filepath.Join(t.TempDir(), name)
	r.Git(append([]string{"bundle", "create", "-q", path}, revs...)...)
	return path
}

func TestSourceFromBundles(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	first := r.Head()
	full := bundle(t, r, "full.bundle", "main")
	r.Write("a", "1")
	r.Commit("more", p.alice)
	incremental := bundle(t, r, "incr.bundle", first+"..main")
	root := parsePolicy(t, pol)

	t.Run("missing prerequisites", func(t *testing.T) {
		src := &Source{Repo: incremental, StateDir: t.TempDir(), Root: root}
		res, err := src.Sync(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []reason.Code{reason.BundleInvalid}, codes(res))
	})
	t.Run("corrupt", func(t *testing.T) {
		data, err := os.ReadFile(full)
		require.NoError(t, err)
		corrupt := filepath.Join(t.TempDir(), "corrupt.bundle")
		require.NoError(t, os.WriteFile(corrupt, data[:len(data)-30], 0o600))
		src := &Source{Repo: corrupt, StateDir: t.TempDir(), Root: root}
		res, err := src.Sync(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []reason.Code{reason.BundleInvalid}, codes(res))
	})
	t.Run("full then incremental then replay", func(t *testing.T) {
		state := t.TempDir()
		src := &Source{Repo: full, StateDir: state, Root: root}
		res, err := src.Sync(context.Background())
		require.NoError(t, err)
		require.True(t, res.Accepted(), "%v", res.Refusals)

		src.Repo = incremental
		res, err = src.Sync(context.Background())
		require.NoError(t, err)
		require.True(t, res.Accepted(), "%v", res.Refusals)
		assert.Len(t, res.Commits, 1)

		src.Repo = full
		res, err = src.Sync(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []reason.Code{reason.BundleReplay}, codes(res))
		st, err := LoadState(state)
		require.NoError(t, err)
		assert.Equal(t, r.Head(), st.LastAccepted)
	})
	t.Run("unsigned commit in a bundle", func(t *testing.T) {
		r2 := seed(t, p, pol)
		r2.Write("x", "1")
		r2.Commit("unsigned", nil)
		src := &Source{Repo: bundle(t, r2, "bad.bundle", "main"), StateDir: t.TempDir(), Root: root}
		res, err := src.Sync(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []reason.Code{reason.Unsigned}, codes(res), "a bundle is verified like any source")
	})
}

func TestSourceStateIsForOneBranch(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	state := t.TempDir()
	src := &Source{Repo: r.Dir, StateDir: state, Root: parsePolicy(t, pol)}
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted())
	src.Branch = "other"
	_, err = src.Sync(context.Background())
	require.ErrorContains(t, err, `follows branch "main", not "other"`)
}

func TestSourceOverSSH(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	root := t.TempDir()
	r.Publish(filepath.Join(root, "fleet.git"))
	client := harness.NewSSHKey(t, "cluster")
	srv := harness.ServeGitSSH(t, root, client)

	sshAuth := func(key *harness.SSHKey) *gitssh.PublicKeys {
		auth, err := gitssh.NewPublicKeysFromFile("git", key.PrivatePath, "")
		require.NoError(t, err)
		auth.HostKeyCallback, err = gitssh.NewKnownHostsCallback(srv.KnownHosts)
		require.NoError(t, err)
		return auth
	}
	src := &Source{Repo: srv.URL("fleet.git"), StateDir: t.TempDir(), Root: parsePolicy(t, pol), Auth: sshAuth(client)}
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	assert.Equal(t, r.Head(), res.Tip.String())

	src = &Source{Repo: srv.URL("fleet.git"), StateDir: t.TempDir(), Root: parsePolicy(t, pol), Auth: sshAuth(harness.NewSSHKey(t, "stranger"))}
	_, err = src.Sync(context.Background())
	require.Error(t, err, "a client key the server does not know is refused")
}

func TestSourceOverHTTPS(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	root := t.TempDir()
	r.Publish(filepath.Join(root, "fleet.git"))
	srv := harness.ServeGitTLS(t, root)

	src := &Source{Repo: srv.URL + "/fleet.git", StateDir: t.TempDir(), Root: parsePolicy(t, pol)}
	_, err := src.Sync(context.Background())
	require.Error(t, err, "an untrusted certificate is refused")

	src.CABundle = srv.CAPEM
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Accepted(), "%v", res.Refusals)
}

func TestSourceStateDirIsExclusive(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	state := t.TempDir()
	unlock, err := lockStateDir(state)
	require.NoError(t, err)
	src := &Source{Repo: r.Dir, StateDir: state, Root: parsePolicy(t, pol)}
	_, err = src.Sync(context.Background())
	require.ErrorContains(t, err, "is in use by another nodewright process")
	unlock()
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Accepted())
}

func TestSourceIndexesApprovalsOfAcceptedRangesOnly(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	op := "sites/edge-001/operations/flip.yaml"
	r.Write(op, "kind: BondModeFlipPlan\n")
	r.Write("sites/.gitkeep", "")                       // a file beside the site folders
	r.Write("sites/edge-001/operations/old/x.yaml", "") // and a folder beside the operations
	r.Commit("Plan a flip", p.bob)
	blob := r.BlobID("HEAD", op)
	r.Approve(p.carol, op)
	r.Commit("Approve\n\nNodewright-Approve: "+op+"@not-a-blob\nNodewright-Approve: no-at-sign\n", p.alice)
	state := t.TempDir()
	src := &Source{Repo: r.Dir, StateDir: state, Root: parsePolicy(t, pol)}
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)

	idx, err := LoadIndex(state)
	require.NoError(t, err)
	require.Len(t, idx, 3)
	assert.Equal(t, "bob", idx[0].Principal)
	assert.Equal(t, []FileVersion{{Path: op, Blob: blob}}, idx[0].Changes, "the plan's commit makes bob its author")
	assert.Equal(t, "carol", idx[1].Principal)
	assert.Equal(t, []FileVersion{{Path: op, Blob: blob}}, idx[1].Approves)
	assert.Equal(t, []string{op + "@not-a-blob", "no-at-sign"}, idx[2].Invalid)

	// A merge of a pull request does not make the merger the author.
	r.Git("checkout", "-q", "-b", "pr")
	op2 := "sites/edge-001/operations/flip2.yaml"
	r.Write(op2, "kind: BondModeFlipPlan\n")
	r.Commit("Plan another flip", p.bob)
	r.Git("checkout", "-q", "-")
	r.Write("sites/edge-001/notes", "x")
	r.Commit("Meanwhile on main", p.alice)
	r.Merge("pr", p.alice)
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	idx, err = LoadIndex(state)
	require.NoError(t, err)
	require.Len(t, idx, 4, "the merge changes nothing its parents had, so it has no entry")
	assert.Equal(t, "bob", idx[3].Principal)
	assert.Equal(t, []FileVersion{{Path: op2, Blob: r.BlobID("HEAD", op2)}}, idx[3].Changes, "bob stays the author after alice merged")

	r.Approve(nil, op) // unsigned: the range is refused
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	require.False(t, res.Accepted())
	idx, err = LoadIndex(state)
	require.NoError(t, err)
	assert.Len(t, idx, 4, "approvals in a refused range are not indexed")
}

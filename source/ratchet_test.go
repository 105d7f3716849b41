package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// dirFiles reads every file of a state directory but the mirror, to show
// that a refusal changed nothing.
func dirFiles(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(data)
	}
	return out
}

func TestSourceRecordsThePolicyInForceAndNeverDrops(t *testing.T) {
	p := newPeople(t)
	v1 := p.policy(1)
	r := seed(t, p, v1)
	r.Write(trust.Path, p.policy(2).YAML())
	r.Commit("Version 2", p.alice)
	r.Approve(p.carol, trust.Path)
	state := t.TempDir()
	src := &Source{Repo: r.Dir, StateDir: state, Root: parsePolicy(t, v1)}
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	st, err := LoadState(state)
	require.NoError(t, err)
	assert.Equal(t, 2, st.PolicyVersion)
	assert.Equal(t, r.BlobID("HEAD", trust.Path), st.PolicyBlob, "the state names the policy in force")

	pol, err := PolicyInForce(openStore(t, filepath.Join(state, "mirror")), st, parsePolicy(t, v1))
	require.NoError(t, err)
	assert.Equal(t, 2, pol.Version, "the site enforces version 2, not its older trust root")

	// A lost state directory: the FleetSource's recorded version is the
	// floor, so a root of version 1 cannot bring back a tip whose policy is
	// older than what the cluster enforced.
	r.Git("checkout", "-q", "-b", "old", "HEAD~2")
	r.Write("a", "1")
	r.Commit("Work on the old policy", p.alice)
	lost := t.TempDir()
	src = &Source{Repo: r.Dir, Branch: "old", StateDir: lost, Root: parsePolicy(t, v1), FloorPolicyVersion: 2}
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []reason.Code{reason.PolicyRollback}, codes(res), "%v", res.Refusals)
	assert.Empty(t, dirFiles(t, lost)["state.json"], "nothing accepted")
}

func TestSourceRebuildsAnIndexOfAnOlderFormat(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	op := "sites/edge-001/operations/flip.yaml"
	r.Write(op, "kind: BondModeFlipPlan\n")
	r.Commit("Plan a flip", p.bob)
	r.Remove(op)
	r.Commit("Drop it", p.alice)
	state := t.TempDir()
	src := &Source{Repo: r.Dir, StateDir: state, Root: parsePolicy(t, pol)}
	res, err := src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)

	// An index written before removals were recorded: no format line.
	path := filepath.Join(state, indexFile)
	require.NoError(t, os.WriteFile(path, []byte(`{"commit":"`+r.Git("rev-parse", "HEAD~1")+`","principal":"bob","changes":[{"path":"`+op+`","blob":"x"}]}`+"\n"), 0o600))
	res, err = src.Sync(context.Background())
	require.NoError(t, err)
	require.True(t, res.Accepted(), "%v", res.Refusals)
	idx, err := LoadIndex(state)
	require.NoError(t, err)
	require.Len(t, idx, 2, "rebuilt from the whole history")
	assert.Equal(t, []string{op}, idx[1].Removes)
	current, err := indexCurrent(state)
	require.NoError(t, err)
	assert.True(t, current)
}

func TestVerifyJudgesSignaturesAtTheirChainBoundedTime(t *testing.T) {
	past := time.Now().Add(-72 * time.Hour)
	dave := harness.NewGPGKey(t, "dave", harness.WithFakedTime(past), harness.WithExpiry(24*time.Hour))
	pol := harness.Policy{
		Version:    1,
		Principals: []harness.Principal{harness.Person("dave", dave)},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"dave"}, Threshold: 1},
			"trust-admins": {Principals: []string{"dave"}, Threshold: 1},
		},
	}
	r := harness.NewRepo(t)
	r.SetClock(past.Add(time.Hour).Truncate(time.Second))
	r.Write(trust.Path, pol.YAML())
	r.Commit("Start", dave)
	r.Write("a", "1")
	r.Commit("Work while the key was valid", dave)
	root := parsePolicy(t, pol)
	res := verify(t, r, root, "")
	require.Empty(t, res.Refusals, "a fresh verifier accepts history the key signed while it was valid: %v", res.Refusals)

	// The key has expired by now: a new commit it signs, backdated to its
	// valid life, is judged no earlier than the last acceptance.
	last := r.Head()
	r.Write("a", "2")
	r.Commit("A stolen expired key", dave)
	got := verifyWith(t, r, &Verifier{Root: root, AcceptedAt: time.Now()}, last)
	assert.Equal(t, []reason.Code{reason.KeyExpired}, codes(got), "%v", got.Refusals)
}

func TestVerifyRefusesSignaturesFromTheFuture(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	last := r.Head()
	r.SetClock(time.Now().Add(48 * time.Hour).Truncate(time.Second))
	r.Write("a", "1")
	r.Commit("Committed two days ahead", p.bob) // SSH: the committer time is the signature's
	res := verify(t, r, parsePolicy(t, pol), last)
	assert.Equal(t, []reason.Code{reason.BadSignature}, codes(res), "%v", res.Refusals)
}

// openStore opens the objects of the repository at dir.
func openStore(t *testing.T, dir string) storer.EncodedObjectStorer {
	repo, err := git.PlainOpen(dir)
	require.NoError(t, err)
	return repo.Storer
}

package source

import (
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// people is the cast of the verification stories: alice and bob commit and
// administer trust, carol approves, mallory holds a key nobody trusts.
type people struct {
	alice   *harness.GPGKey
	bob     *harness.SSHKey
	carol   *harness.SSHKey
	mallory *harness.GPGKey
}

func newPeople(t *testing.T) people {
	return people{
		alice:   harness.NewGPGKey(t, "alice"),
		bob:     harness.NewSSHKey(t, "bob"),
		carol:   harness.NewSSHKey(t, "carol"),
		mallory: harness.NewGPGKey(t, "mallory"),
	}
}

// policy returns the standard policy at version v.
func (p people) policy(v int) harness.Policy {
	return harness.Policy{
		Version: v,
		Principals: []harness.Principal{
			harness.Person("alice", p.alice), harness.Person("bob", p.bob), harness.Person("carol", p.carol),
		},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"alice", "bob"}, Threshold: 1},
			"approvers":    {Principals: []string{"alice", "bob", "carol"}, Threshold: 1},
			"trust-admins": {Principals: []string{"alice", "bob", "carol"}, Threshold: 2},
		},
		Operations: map[string]harness.OperationRule{"BondModeFlipPlan": {Role: "approvers", Threshold: 2}},
	}
}

func parsePolicy(t *testing.T, p harness.Policy) *trust.Policy {
	t.Helper()
	pol, err := trust.Parse("root.yaml", []byte(p.YAML()))
	require.NoError(t, err)
	return pol
}

// seed makes a repo whose first commit (by alice) holds the policy.
func seed(t *testing.T, p people, pol harness.Policy) *harness.Repo {
	r := harness.NewRepo(t)
	r.SetClock(time.Now().Add(-24 * time.Hour).Truncate(time.Second))
	r.Write(trust.Path, pol.YAML())
	r.Write("sites/edge-001/kustomization.yaml", "resources: []\n")
	r.Commit("Start the fleet", p.alice)
	return r
}

func verify(t *testing.T, r *harness.Repo, root *trust.Policy, last string) *Result {
	t.Helper()
	return verifyWith(t, r, &Verifier{Root: root}, last)
}

// verifyWith verifies r's range from last to HEAD with v, reading r.
func verifyWith(t *testing.T, r *harness.Repo, v *Verifier, last string) *Result {
	t.Helper()
	v.Store = openStore(t, r.Dir)
	lastHash := plumbing.ZeroHash
	if last != "" {
		lastHash = plumbing.NewHash(last)
	}
	res, err := v.Verify(lastHash, plumbing.NewHash(r.Head()))
	require.NoError(t, err)
	return res
}

func codes(res *Result) []reason.Code {
	var out []reason.Code
	for _, r := range res.Refusals {
		out = append(out, r.Code)
	}
	return out
}

func TestVerifyGoodMixedHistory(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	r.Write("sites/edge-001/profile.yaml", "kind: EdgeProfile\n")
	r.Commit("Add profile", p.bob)
	r.Commit("Approve nothing in particular", p.carol) // no files changed: any principal may sign
	res := verify(t, r, parsePolicy(t, pol), "")
	require.Empty(t, res.Refusals, "%v", res.Refusals)
	assert.Len(t, res.Commits, 3)
	assert.Equal(t, []string{"alice", "bob", "carol"}, res.Signers())
	assert.Equal(t, 1, res.Policy.Version)
}

func TestVerifyIncrementalRange(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	first := r.Head()
	r.Write("bases/x.yaml", "a: 1\n")
	r.Commit("Base", p.alice)
	r.Write("bases/x.yaml", "a: 2\n")
	r.Commit("Base again", p.bob)
	res := verify(t, r, parsePolicy(t, pol), first)
	require.Empty(t, res.Refusals)
	assert.Len(t, res.Commits, 2, "only the new commits are verified")
}

func TestVerifyRefusals(t *testing.T) {
	type story struct {
		name string
		// build adds commits to a repo seeded with policy version 1 and
		// returns the last accepted commit ("" for first start).
		build func(t *testing.T, p people, r *harness.Repo) string
		want  []reason.Code
		// in names the commit subject the first refusal must point at.
	}
	stories := []story{
		{"unsigned commit in the middle", func(t *testing.T, p people, r *harness.Repo) string {
			r.Write("a", "1")
			r.Commit("signed", p.alice)
			r.Write("a", "2")
			r.Commit("unsigned", nil)
			r.Write("a", "3")
			r.Commit("signed again", p.bob)
			return ""
		}, []reason.Code{reason.Unsigned}},
		{"key no principal holds", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Write("a", "1")
			r.Commit("by mallory", p.mallory)
			return last
		}, []reason.Code{reason.UnknownKey}},
		{"tampered OpenPGP commit", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Write("a", "1")
			r.Commit("honest message", p.alice)
			r.Forge(strings.Replace(r.CatCommit("HEAD"), "honest message", "forged message", 1))
			return last
		}, []reason.Code{reason.BadSignature}},
		{"tampered SSH commit", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Write("a", "1")
			r.Commit("honest message", p.bob)
			r.Forge(strings.Replace(r.CatCommit("HEAD"), "honest message", "forged message", 1))
			return last
		}, []reason.Code{reason.BadSignature}},
		{"signature moved onto other content", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Write("a", "1")
			r.Commit("one", p.alice)
			signed := r.CatCommit("HEAD")
			r.Write("a", "evil")
			r.Commit("two", nil)
			unsigned := r.CatCommit("HEAD")
			sig := signed[strings.Index(signed, "gpgsig ") : strings.Index(signed, "\n\n")+1]
			hdrEnd := strings.Index(unsigned, "\n\n")
			r.Forge(unsigned[:hdrEnd+1] + sig + unsigned[hdrEnd+1:])
			return last
		}, []reason.Code{reason.BadSignature}},
		{"non-committer changes files", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Write("a", "1")
			r.Commit("carol is an approver, not a committer", p.carol)
			return last
		}, []reason.Code{reason.NotAuthorized}},
		{"force-push back to an older signed commit", func(t *testing.T, p people, r *harness.Repo) string {
			old := r.Head()
			r.Write("a", "1")
			r.Commit("newer", p.alice)
			last := r.Head()
			r.Reset(old)
			return last
		}, []reason.Code{reason.NotFastForward}},
		{"force-push of a rewritten history", func(t *testing.T, p people, r *harness.Repo) string {
			base := r.Head()
			r.Write("a", "1")
			r.Commit("accepted", p.alice)
			last := r.Head()
			r.Reset(base)
			r.Write("a", "2")
			r.Commit("rewritten", p.alice)
			return last
		}, []reason.Code{reason.NotFastForward}},
		{"trust.yaml version skipped", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Write(trust.Path, p.policy(3).YAML())
			r.Commit("Skip to 3", p.alice)
			r.Approve(p.carol, trust.Path)
			return last
		}, []reason.Code{reason.PolicyRollback}},
		{"trust.yaml version lowered", func(t *testing.T, p people, r *harness.Repo) string {
			r.Write(trust.Path, p.policy(2).YAML())
			r.Commit("Raise to 2", p.alice)
			r.Approve(p.carol, trust.Path)
			last := r.Head()
			r.Write(trust.Path, p.policy(1).YAML())
			r.Commit("Back to 1", p.alice)
			r.Approve(p.carol, trust.Path)
			return last
		}, []reason.Code{reason.PolicyRollback}},
		{"trust.yaml removed", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Remove(trust.Path)
			r.Commit("Drop trust", p.alice)
			return last
		}, []reason.Code{reason.PolicyMissing}},
		{"trust.yaml change without enough trust-admins", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			next := p.policy(2)
			next.Roles["committers"] = harness.Role{Principals: []string{"alice", "bob", "carol"}, Threshold: 1}
			r.Write(trust.Path, next.YAML())
			r.Commit("Let carol commit", p.alice)
			return last
		}, []reason.Code{reason.PolicyChangeNotApproved}},
		{"approval by a principal outside trust-admins does not count", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			next := p.policy(2)
			next.Principals = append(next.Principals, harness.Person("mallory", p.mallory))
			r.Write(trust.Path, next.YAML())
			r.Commit("Add mallory", p.alice)
			r.Approve(p.alice, trust.Path) // the same principal twice counts once
			return last
		}, []reason.Code{reason.PolicyChangeNotApproved}},
		{"invalid trust.yaml", func(t *testing.T, p people, r *harness.Repo) string {
			last := r.Head()
			r.Write(trust.Path, "apiVersion: nodewright.io/v1alpha1\nkind: TrustPolicy\nversion: two\n")
			r.Commit("Break it", p.alice)
			return last
		}, []reason.Code{reason.InvalidPolicy}},
	}
	p := newPeople(t)
	for _, s := range stories {
		t.Run(s.name, func(t *testing.T) {
			pol := p.policy(1)
			r := seed(t, p, pol)
			last := s.build(t, p, r)
			res := verify(t, r, parsePolicy(t, pol), last)
			require.False(t, res.Accepted(), "range must be refused")
			assert.Equal(t, s.want, codes(res), "%v", res.Refusals)
			assert.Nil(t, res.Policy, "a refused range yields no policy")
			for _, ref := range res.Refusals {
				assert.Regexp(t, `^[0-9a-f]{40}$`, ref.Commit, "refusal names a commit")
				assert.Contains(t, ref.Message, ref.Commit[:12], "message names the commit")
			}
		})
	}
}

func TestVerifyPolicyChangeApproved(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	last := r.Head()
	next := p.policy(2)
	next.Roles["committers"] = harness.Role{Principals: []string{"alice", "bob", "carol"}, Threshold: 1}
	r.Write(trust.Path, next.YAML())
	r.Commit("Let carol commit", p.alice)
	root := parsePolicy(t, pol)

	res := verify(t, r, root, last)
	require.Equal(t, []reason.Code{reason.PolicyChangeNotApproved}, codes(res))
	assert.Contains(t, res.Refusals[0].Message, "needs 1 more from any of bob, carol")

	r.Approve(p.carol, trust.Path)
	r.Write("a", "carol's work")
	r.Commit("Carol commits under version 2", p.carol)
	res = verify(t, r, root, last)
	require.Empty(t, res.Refusals, "%v", res.Refusals)
	assert.Equal(t, 2, res.Policy.Version)
}

func TestVerifyRevocationLandsForward(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	r.Write("a", "1")
	r.Commit("bob before revocation", p.bob)
	next := p.policy(2)
	next.Principals[1] = harness.Principal{Name: "bob", Keys: []harness.Key{{Signer: p.bob, Revoked: true}}}
	r.Write(trust.Path, next.YAML())
	r.Commit("Revoke bob's key", p.alice)
	r.Approve(p.carol, trust.Path)
	accepted := r.Head()
	root := parsePolicy(t, pol)

	res := verify(t, r, root, "")
	require.Empty(t, res.Refusals, "older commits by the revoked key stay accepted: %v", res.Refusals)

	r.Write("a", "2")
	r.Commit("bob after revocation", p.bob)
	res = verify(t, r, root, accepted)
	assert.Equal(t, []reason.Code{reason.KeyRevoked}, codes(res))
}

func TestVerifyKeyRotation(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	newAlice := harness.NewGPGKey(t, "alice-2027")
	next := p.policy(2)
	next.Principals[0] = harness.Person("alice", newAlice)
	r.Write(trust.Path, next.YAML())
	r.Commit("Rotate alice's key", p.alice) // signed with the old key, judged by version 1
	r.Approve(p.bob, trust.Path)
	r.Write("a", "1")
	r.Commit("alice with her new key", newAlice)
	root := parsePolicy(t, pol)
	res := verify(t, r, root, "")
	require.Empty(t, res.Refusals, "%v", res.Refusals)
	last := r.Head()

	r.Write("a", "2")
	r.Commit("alice with her old key", p.alice)
	res = verify(t, r, root, last)
	assert.Equal(t, []reason.Code{reason.UnknownKey}, codes(res))
}

func TestVerifyExpiredKey(t *testing.T) {
	p := newPeople(t)
	dave := harness.NewGPGKey(t, "dave", harness.WithFakedTime(time.Now().Add(-72*time.Hour)), harness.WithExpiry(24*time.Hour))
	pol := p.policy(1)
	pol.Principals = append(pol.Principals, harness.Person("dave", dave))
	pol.Roles["committers"] = harness.Role{Principals: []string{"alice", "bob", "dave"}, Threshold: 1}
	r := seed(t, p, pol)
	last := r.Head()
	r.Write("a", "1")
	r.Commit("dave signs while his key was alive", dave)
	res := verify(t, r, parsePolicy(t, pol), last)
	assert.Equal(t, []reason.Code{reason.KeyExpired}, codes(res), "%v", res.Refusals)
}

func TestVerifyOpenPGPSubkeyAndRevocationCertificate(t *testing.T) {
	p := newPeople(t)
	erin := harness.NewGPGKey(t, "erin", harness.WithSigningSubkey())
	pol := p.policy(1)
	pol.Principals = append(pol.Principals, harness.Person("erin", erin))
	pol.Roles["committers"] = harness.Role{Principals: []string{"alice", "bob", "erin"}, Threshold: 1}
	r := seed(t, p, pol)
	last := r.Head()
	r.Write("a", "1")
	r.Commit("erin signs with her subkey", erin)
	res := verify(t, r, parsePolicy(t, pol), last)
	require.Empty(t, res.Refusals, "%v", res.Refusals)
	assert.Equal(t, "erin", res.Commits[0].Signer.Principal)
	assert.Equal(t, erin.Fingerprint, res.Commits[0].Signer.Key, "a subkey counts as its primary key")

	erin.Revoke(t)
	pol.Principals[len(pol.Principals)-1] = harness.Person("erin", erin)
	res = verify(t, r, parsePolicy(t, pol), last)
	assert.Equal(t, []reason.Code{reason.KeyRevoked}, codes(res), "an OpenPGP revocation certificate revokes the key")
}

func TestVerifyFirstParentHistory(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	pol.History = "first-parent"
	r := seed(t, p, pol)
	last := r.Head()
	r.Git("checkout", "-q", "-b", "feature")
	r.Write("sites/edge-001/ops.yaml", "x: 1\n")
	r.Commit("unsigned work on a branch", nil)
	r.Git("checkout", "-q", "main")
	r.Merge("feature", p.alice)
	root := parsePolicy(t, pol)
	res := verify(t, r, root, last)
	require.Empty(t, res.Refusals, "%v", res.Refusals)
	assert.Len(t, res.Commits, 1, "only the merge is on the first-parent chain")

	all := p.policy(1)
	res = verify(t, r, parsePolicy(t, all), last)
	assert.Equal(t, []reason.Code{reason.Unsigned}, codes(res), "history: all checks the merged branch too")
}

func TestVerifyCache(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	r := seed(t, p, pol)
	r.Write("a", "1")
	r.Commit("two", p.bob)
	repo, err := git.PlainOpen(r.Dir)
	require.NoError(t, err)
	cachePath := t.TempDir() + "/cache"
	cache, err := OpenCache(cachePath)
	require.NoError(t, err)
	v := &Verifier{Root: parsePolicy(t, pol), Store: repo.Storer, Cache: cache}
	res, err := v.Verify(plumbing.ZeroHash, plumbing.NewHash(r.Head()))
	require.NoError(t, err)
	require.Empty(t, res.Refusals)
	assert.False(t, res.Commits[0].Cached)

	reopened, err := OpenCache(cachePath)
	require.NoError(t, err)
	assert.Equal(t, 2, reopened.Len())
	v = &Verifier{Root: parsePolicy(t, pol), Store: repo.Storer, Cache: reopened}
	res, err = v.Verify(plumbing.ZeroHash, plumbing.NewHash(r.Head()))
	require.NoError(t, err)
	assert.True(t, res.Commits[0].Cached && res.Commits[1].Cached, "a second verification repeats no cryptography")

	changed := p.policy(1)
	changed.Principals[2] = harness.Person("carol", harness.NewSSHKey(t, "carol-new"))
	v = &Verifier{Root: parsePolicy(t, changed), Store: repo.Storer, Cache: reopened}
	res, err = v.Verify(plumbing.ZeroHash, plumbing.NewHash(r.Head()))
	require.NoError(t, err)
	assert.False(t, res.Commits[0].Cached, "a changed key set forces a fresh check")
}

func TestVerifyStale(t *testing.T) {
	p := newPeople(t)
	pol := p.policy(1)
	pol.MaxAge = "12h"
	r := seed(t, p, pol) // commits are dated a day ago
	res := verify(t, r, parsePolicy(t, pol), "")
	require.True(t, res.Accepted())
	require.NotNil(t, res.Stale)
	assert.Equal(t, reason.Stale, res.Stale.Code)

	pol.MaxAge = "48h"
	res = verify(t, r, parsePolicy(t, pol), "")
	assert.Nil(t, res.Stale)
}

func TestVerifySinceAndPrePinHistory(t *testing.T) {
	p := newPeople(t)
	r := seed(t, p, p.policy(1))
	r.Write("a", "mallory was a committer once")
	stranger := harness.NewSSHKey(t, "stranger")
	r.Commit("signed by a key no policy lists", stranger)
	since := r.Head()
	r.Write("b", "1")
	r.Commit("after the pin", p.alice)

	rootYAML := p.policy(1)
	res := verify(t, r, parsePolicy(t, rootYAML), "")
	assert.Equal(t, []reason.Code{reason.UnknownKey}, codes(res), "without since the whole history is checked")

	rootYAML.Since = since
	res = verify(t, r, parsePolicy(t, rootYAML), "")
	require.Empty(t, res.Refusals, "%v", res.Refusals)
	assert.Len(t, res.Commits, 1)
}

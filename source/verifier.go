package source

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// ApproveTrailer is the commit trailer that approves a file at a blob id:
// "Nodewright-Approve: <path>@<blob id>".
const ApproveTrailer = "Nodewright-Approve"

// Verifier checks the commits a new tip adds against the trust policy in
// force at each commit's parent. It is safe to reuse but not to share
// between goroutines.
type Verifier struct {
	// Root is the trust root: the first policy this cluster accepts. The
	// repository's policy only moves forward from it.
	Root *trust.Policy
	// Store holds the objects of the repository.
	Store storer.EncodedObjectStorer
	// Cache, when set, remembers verified signatures by (commit, policy
	// digest).
	Cache *Cache
	// Now is the clock for key expiry and freshness; nil means time.Now.
	Now func() time.Time

	policies map[plumbing.Hash]parsedPolicy
}

type parsedPolicy struct {
	policy *trust.Policy
	err    error
}

// Verdict is what verification found about one commit.
type Verdict struct {
	Commit string           `json:"commit"`
	Signer signature.Signer `json:"signer"`
	// Cached is true when the signature check was answered by the cache.
	Cached bool `json:"cached,omitempty"`
}

// Result is the outcome of verifying the range from the last accepted
// commit to a new tip.
type Result struct {
	// Tip is the commit that was verified.
	Tip plumbing.Hash
	// Previous is the last accepted commit before this verification (zero
	// on first start).
	Previous plumbing.Hash
	// Refusals lists every problem found; the range is accepted only when
	// it is empty.
	Refusals reason.List
	// Commits are the commits verified, oldest first.
	Commits []Verdict
	// Policy is the policy in force after Tip (it judges the next commit).
	// It is set only when the range is accepted.
	Policy *trust.Policy
	// TipTime is the committer time of Tip.
	TipTime time.Time
	// Stale is set when Tip is older than the policy's freshness.maxAge.
	Stale *reason.Error
	// Index holds what each verified commit contributes to approvals,
	// oldest first; the Source appends it to its index on acceptance.
	Index []IndexEntry
}

// Accepted reports whether the whole range was accepted.
func (r *Result) Accepted() bool { return len(r.Refusals) == 0 }

// Signers returns the distinct principals who signed verified commits.
func (r *Result) Signers() []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range r.Commits {
		if v.Signer.Principal != "" && !seen[v.Signer.Principal] {
			seen[v.Signer.Principal] = true
			out = append(out, v.Signer.Principal)
		}
	}
	sort.Strings(out)
	return out
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// policyChange is a commit that changes trust.yaml and still needs its
// trust-admin approvals counted.
type policyChange struct {
	c         *commit
	old       *trust.Policy
	new       *trust.Policy
	newBlob   plumbing.Hash
	signerKey string
}

// Verify checks every commit that tip adds to last (zero on first start,
// when the whole history is checked unless the trust root names a since
// commit). Refusals are reported in the Result; an error means the
// objects could not be read.
func (v *Verifier) Verify(last, tip plumbing.Hash) (*Result, error) {
	if v.policies == nil {
		v.policies = map[plumbing.Hash]parsedPolicy{}
	}
	o := newObjects(v.Store)
	res := &Result{Tip: tip, Previous: last}
	base := last
	if base.IsZero() && v.Root.Since != "" {
		base = plumbing.NewHash(v.Root.Since)
		if _, err := o.commit(base); err != nil {
			res.refuse(reason.NotFastForward, base, "the trust root's since commit %s is not in the repository", short(base))
			return res, nil
		}
	}
	var accepted []plumbing.Hash
	if !base.IsZero() {
		accepted = append(accepted, base)
	}
	w, err := walkRange(o, tip, accepted)
	if err != nil {
		return nil, err
	}
	tipCommit := w.nodes[tip].c
	res.TipTime = tipCommit.Time
	if !w.descends {
		if last.IsZero() {
			res.refuse(reason.NotFastForward, tip, "tip %s does not descend from the trust root's since commit %s", short(tip), short(base))
		} else {
			res.refuse(reason.NotFastForward, tip, "tip %s does not descend from the last accepted commit %s (a rollback or a force-push); keeping %s", short(tip), short(last), short(last))
		}
		return res, nil
	}
	mode := v.Root.HistoryMode()
	if !base.IsZero() {
		basePolicy, err := v.inForce(o, w.nodes[base].c)
		if err != nil {
			return nil, err
		}
		mode = basePolicy.HistoryMode()
		if last.IsZero() {
			if err := v.checkSince(o, res, w.nodes[base].c); err != nil {
				return nil, err
			}
		}
	}
	commits := w.commits
	if mode == trust.HistoryFirstParent {
		commits = w.firstParentChain(tip)
	}
	var changes []policyChange
	approvals := map[plumbing.Hash][]string{} // trust.yaml blob -> approving key ids
	for _, c := range commits {
		pc, err := v.judge(o, w, res, c, approvals, mode != trust.HistoryFirstParent)
		if err != nil {
			return nil, err
		}
		if pc != nil {
			changes = append(changes, *pc)
		}
	}
	for _, pc := range changes {
		countPolicyApprovals(res, pc, approvals[pc.newBlob])
	}
	if v.Cache != nil {
		if err := v.Cache.Flush(); err != nil {
			return nil, err
		}
	}
	if !res.Accepted() {
		return res, nil
	}
	if res.Policy, err = v.inForce(o, tipCommit); err != nil {
		return nil, err
	}
	if maxAge := res.Policy.MaxAge(); maxAge > 0 {
		if age := v.now().Sub(res.TipTime); age > maxAge {
			res.Stale = reason.Errorf(reason.Stale, tip.String(), "newest accepted commit %s is %s old, more than freshness.maxAge %s of trust policy version %d; risky operations are blocked until a newer signed commit arrives",
				short(tip), age.Round(time.Minute), maxAge, res.Policy.Version)
		}
	}
	return res, nil
}

func (r *Result) refuse(code reason.Code, c plumbing.Hash, format string, args ...any) {
	r.Refusals = append(r.Refusals, reason.Errorf(code, c.String(), format, args...))
}

func short(h plumbing.Hash) string { return h.String()[:12] }

// node returns a commit the walk already read, or reads it.
func (w *rangeWalk) commit(o *objects, h plumbing.Hash) (*commit, error) {
	if n, ok := w.nodes[h]; ok {
		return n.c, nil
	}
	return o.commit(h)
}

// judge checks one commit: its signature under the policy in force at its
// first parent, the signer's role, and any change to trust.yaml.
func (v *Verifier) judge(o *objects, w *rangeWalk, res *Result, c *commit, approvals map[plumbing.Hash][]string, allHistory bool) (*policyChange, error) {
	var parent *commit
	old := v.Root
	var parentTree, parentBlob plumbing.Hash
	parentTree = emptyTree
	if len(c.Parents) > 0 {
		var err error
		if parent, err = w.commit(o, c.Parents[0]); err != nil {
			return nil, err
		}
		if old, err = v.inForce(o, parent); err != nil {
			return nil, err
		}
		parentTree = parent.Tree
		if parentBlob, err = o.trustBlobAt(parent.Tree); err != nil {
			return nil, err
		}
	}
	verdict := Verdict{Commit: c.ID.String()}
	signer, cached := v.Cache.get(c.ID, old.Digest())
	if !cached {
		var err error
		signer, err = signature.Verify(old.Keyring(), c.Payload, c.Signature, v.now())
		if err != nil {
			re := err.(*reason.Error)
			re.Commit = c.ID.String()
			re.Message = fmt.Sprintf("commit %s: %s (trust policy version %d)", c.Short(), re.Message, old.Version)
			res.Refusals = append(res.Refusals, re)
			return nil, nil
		}
		v.Cache.put(c.ID, old.Digest(), signer)
	}
	verdict.Signer, verdict.Cached = signer, cached
	res.Commits = append(res.Commits, verdict)

	if c.Tree != parentTree && !old.HasRole(signer.Principal, trust.RoleCommitters) {
		res.refuse(reason.NotAuthorized, c.ID, "commit %s changes files but is signed by %q (key %s), who is not in role %s of trust policy version %d",
			c.Short(), signer.Principal, signer.Key, trust.RoleCommitters, old.Version)
	}
	for _, a := range approveTrailers(c.Message) {
		if a.path == trust.Path {
			approvals[a.blob] = append(approvals[a.blob], signer.Key)
		}
	}
	entry, err := indexEntry(o, c, parentTree, signer.Principal, signer.Key, allHistory)
	if err != nil {
		return nil, err
	}
	res.Index = append(res.Index, entry)
	newBlob, err := o.trustBlobAt(c.Tree)
	if err != nil {
		return nil, err
	}
	if newBlob == parentBlob {
		return nil, nil
	}
	return v.judgePolicyChange(o, res, c, old, parentBlob, newBlob, signer)
}

// judgePolicyChange checks the version step of a trust.yaml change and
// returns the change when it needs trust-admin approvals.
func (v *Verifier) judgePolicyChange(o *objects, res *Result, c *commit, old *trust.Policy, parentBlob, newBlob plumbing.Hash, signer signature.Signer) (*policyChange, error) {
	if newBlob.IsZero() {
		res.refuse(reason.PolicyRollback, c.ID, "commit %s removes %s; the trust policy can only move forward", c.Short(), trust.Path)
		return nil, nil
	}
	next, err := v.policy(o, newBlob, c)
	if err != nil {
		res.refuse(reason.InvalidPolicy, c.ID, "commit %s: %s", c.Short(), strings.ReplaceAll(err.Error(), "\n", "; "))
		return nil, nil
	}
	prev, prevErr := (*trust.Policy)(nil), error(nil)
	if !parentBlob.IsZero() {
		prev, prevErr = v.policy(o, parentBlob, c)
	}
	prePin := parentBlob.IsZero() || prevErr != nil || prev.Version < v.Root.Version
	root := v.Root
	switch {
	case prePin && next.Version < root.Version:
		return nil, nil // history before the pinned policy: superseded by the trust root
	case prePin && next.Version == root.Version:
		if next.Digest() != root.Digest() {
			res.refuse(reason.PolicyChangeNotApproved, c.ID, "commit %s sets trust policy version %d with content that differs from the trust root's version %d", c.Short(), next.Version, root.Version)
		}
		return nil, nil
	case next.Version != old.Version+1:
		res.refuse(reason.PolicyRollback, c.ID, "commit %s changes the trust policy from version %d to %d; each change must raise it by exactly 1", c.Short(), old.Version, next.Version)
		return nil, nil
	}
	return &policyChange{c: c, old: old, new: next, newBlob: newBlob, signerKey: signer.Key}, nil
}

// countPolicyApprovals refuses a policy change that lacks the
// trust-admins threshold of the old policy: the change's own signer and
// the signers of approval commits naming the new blob, each principal once.
func countPolicyApprovals(res *Result, pc policyChange, approvingKeys []string) {
	role := pc.old.Roles[trust.RoleTrustAdmins]
	counted := map[string]bool{}
	for _, key := range append([]string{pc.signerKey}, approvingKeys...) {
		h, ok := pc.old.Keyring().HolderByID(key)
		if ok && !h.Revoked && pc.old.HasRole(h.Principal, trust.RoleTrustAdmins) {
			counted[h.Principal] = true
		}
	}
	if len(counted) >= role.Threshold {
		return
	}
	var have, missing []string
	for _, p := range role.Principals {
		if counted[p] {
			have = append(have, p)
		} else {
			missing = append(missing, p)
		}
	}
	res.refuse(reason.PolicyChangeNotApproved, pc.c.ID,
		"commit %s changes the trust policy to version %d with %d of the %d %s approvals that version %d requires (have: %s); needs %d more from any of %s, as signed commits with trailer %q",
		pc.c.Short(), pc.new.Version, len(counted), role.Threshold, trust.RoleTrustAdmins, pc.old.Version, listOrNone(have),
		role.Threshold-len(counted), strings.Join(missing, ", "), ApproveTrailer+": "+trust.Path+"@"+pc.newBlob.String())
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// checkSince refuses a since commit whose repository policy is newer than
// the trust root: that policy's chain back to the root was never checked.
func (v *Verifier) checkSince(o *objects, res *Result, since *commit) error {
	blob, err := o.trustBlobAt(since.Tree)
	if err != nil || blob.IsZero() {
		return err
	}
	pol, perr := v.policy(o, blob, since)
	if perr == nil && pol.Version > v.Root.Version {
		res.refuse(reason.PolicyChangeNotApproved, since.ID, "the since commit %s carries trust policy version %d, newer than the trust root's version %d; pin a trust root of version %d", short(since.ID), pol.Version, v.Root.Version, pol.Version)
	}
	return nil
}

// inForce returns the policy that judges the children of c: the trust.yaml
// in c's tree when it is newer than the trust root, else the trust root.
func (v *Verifier) inForce(o *objects, c *commit) (*trust.Policy, error) {
	blob, err := o.trustBlobAt(c.Tree)
	if err != nil {
		return nil, err
	}
	if blob.IsZero() {
		return v.Root, nil
	}
	pol, perr := v.policy(o, blob, c)
	if perr != nil || pol.Version <= v.Root.Version {
		// An invalid policy was refused when it was introduced; an older
		// one is history the trust root supersedes.
		return v.Root, nil
	}
	return pol, nil
}

// policy parses the trust.yaml blob, once per blob.
func (v *Verifier) policy(o *objects, blob plumbing.Hash, at *commit) (*trust.Policy, error) {
	if p, ok := v.policies[blob]; ok {
		return p.policy, p.err
	}
	data, err := o.read(plumbing.BlobObject, blob)
	if err != nil {
		return nil, err
	}
	pol, err := trust.Parse(trust.Path+"@"+at.Short(), data)
	v.policies[blob] = parsedPolicy{policy: pol, err: err}
	return pol, err
}

// approval is one Nodewright-Approve trailer; invalid holds the trailer
// as written when it cannot be read.
type approval struct {
	path    string
	blob    plumbing.Hash
	invalid string
}

// approveTrailers reads the Nodewright-Approve trailers of a message.
func approveTrailers(msg []byte) []approval {
	var out []approval
	sc := bufio.NewScanner(bytes.NewReader(msg))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	prefix := ApproveTrailer + ":"
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		val := strings.TrimSpace(line[len(prefix):])
		at := strings.LastIndexByte(val, '@')
		h, ok := plumbing.ZeroHash, false
		if at > 0 {
			h, ok = parseHash([]byte(val[at+1:]))
		}
		if !ok || strings.ContainsAny(val[:max(at, 0)], " \t") {
			out = append(out, approval{invalid: val})
			continue
		}
		out = append(out, approval{path: val[:at], blob: h})
	}
	return out
}

// PolicyAt returns the policy in force after commit h: the one that
// judges its children.
func (v *Verifier) PolicyAt(h plumbing.Hash) (*trust.Policy, error) {
	if v.policies == nil {
		v.policies = map[plumbing.Hash]parsedPolicy{}
	}
	o := newObjects(v.Store)
	c, err := o.commit(h)
	if err != nil {
		return nil, err
	}
	return v.inForce(o, c)
}

package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/revwalk"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// ApproveTrailer is the commit trailer that approves a file at a blob id:
// "Nodewright-Approve: <path>@<blob id>".
const ApproveTrailer = "Nodewright-Approve"

// ClockSkew is how far a signature's time may lie beyond the verifier's
// clock, or before the time its parents were signed, before it counts as
// made at that bound instead.
const ClockSkew = time.Hour

// MaxApprovalTrailers bounds the Nodewright-Approve trailers of one commit.
const MaxApprovalTrailers = 256

// Verifier checks the commits a new tip adds against the trust policy in
// force at each commit's parents. It is safe to reuse but not to share
// between goroutines.
//
// The policy in force at a commit of the range is the newest of the
// policies in force at its verified parents (all of them; only the first
// with first-parent history) and the policy in force at the last accepted
// commit (Floor), so no commit graph (a merge whose first parent is old,
// an orphan root, a side branch) brings an older policy back. A commit's
// own trust.yaml must not be older than any verified parent's; a new one
// is a policy change, judged against the policy in force at its parents.
//
// Each signature is judged at its effective time: the time it claims (an
// OpenPGP signature's creation time, an SSH-signed commit's committer
// time), raised to no earlier than the effective times of its verified
// parents and than AcceptedAt. History signed while a key was valid stays
// valid after the key expires; a stolen expired key cannot backdate a new
// commit past its parents or past the last acceptance. A time more than
// ClockSkew beyond the verifier's clock is refused.
type Verifier struct {
	// Root is the trust root: the first policy this cluster accepts. The
	// repository's policy only moves forward from it.
	Root *trust.Policy
	// Floor, when set, is the policy in force at the last accepted commit
	// as the source recorded it (see PolicyInForce), and FloorBlob its
	// trust.yaml blob (zero for the trust root); nil reads it from that
	// commit's tree.
	Floor     *trust.Policy
	FloorBlob plumbing.Hash
	// AcceptedAt, when set, is when the last accepted commit was accepted:
	// no new signature is judged earlier than that.
	AcceptedAt time.Time
	// Store holds the objects of the repository.
	Store storer.EncodedObjectStorer
	// Cache, when set, remembers verified signatures by (commit, policy
	// digest).
	Cache *Cache
	// Now is the clock for freshness and the future bound on signature
	// times; nil means time.Now.
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
	// Commits are the commits verified, parents before children.
	Commits []Verdict
	// Policy is the policy in force after Tip (it judges the next commit).
	// It is set only when the range is accepted.
	Policy *trust.Policy
	// PolicyBlob is the blob of Policy in the repository; zero when Policy
	// is the trust root.
	PolicyBlob plumbing.Hash
	// TipTime is the committer time of Tip.
	TipTime time.Time
	// Stale is set when Tip is older than the policy's freshness.maxAge.
	Stale *reason.Error
	// Index holds what each verified commit contributes to approvals,
	// parents before children; the Source appends it to its index on
	// acceptance.
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

// inForcePolicy is a policy in force and where it came from.
type inForcePolicy struct {
	policy *trust.Policy
	// blob is the policy's trust.yaml blob; zero for the trust root.
	blob plumbing.Hash
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

// rangeState is what judging a range carries from parents to children.
type rangeState struct {
	w          *revwalk.Range[*commit]
	allHistory bool
	floor      inForcePolicy
	// after is the policy in force after each judged commit.
	after map[plumbing.Hash]inForcePolicy
	// times is the effective signature time of each judged commit.
	times     map[plumbing.Hash]time.Time
	changes   []policyChange
	approvals map[plumbing.Hash][]string // trust.yaml blob -> approving key ids
}

// Verify checks every commit that tip adds to last (zero on first start,
// when the whole history is checked unless the trust root names a since
// commit). Refusals are reported in the Result; an error means the
// objects could not be read.
func (v *Verifier) Verify(last, tip plumbing.Hash) (*Result, error) {
	res, err := v.verify(last, tip)
	if oe, ok := asObjectError(err); ok {
		res = &Result{Tip: tip, Previous: last}
		res.refuse(oe.code, tip, "%s", oe.msg)
		return res, nil
	}
	return res, err
}

func (v *Verifier) verify(last, tip plumbing.Hash) (*Result, error) {
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
	// The range, parents before children whatever the committer times
	// claim: rules that carry state from parent to child (the policy in
	// force, the lifetime of an operation file) rely on it.
	w, err := revwalk.Walk(o.load, []plumbing.Hash{tip}, accepted)
	if err != nil {
		return nil, err
	}
	tipCommit, _ := w.Loaded(tip)
	res.TipTime = tipCommit.Time
	if !w.Descends {
		if last.IsZero() {
			res.refuse(reason.NotFastForward, tip, "tip %s does not descend from the trust root's since commit %s", short(tip), short(base))
		} else {
			res.refuse(reason.NotFastForward, tip, "tip %s does not descend from the last accepted commit %s (a rollback or a force-push); keeping %s", short(tip), short(last), short(last))
		}
		return res, nil
	}
	st := &rangeState{w: w, after: map[plumbing.Hash]inForcePolicy{}, times: map[plumbing.Hash]time.Time{}, approvals: map[plumbing.Hash][]string{}}
	st.floor = inForcePolicy{policy: v.Root}
	if !base.IsZero() {
		baseCommit, _ := w.Loaded(base)
		if v.Floor != nil && !last.IsZero() {
			st.floor = inForcePolicy{policy: v.Floor, blob: v.FloorBlob}
		} else if st.floor, err = v.inForceAt(o, baseCommit); err != nil {
			return nil, err
		}
		if last.IsZero() {
			if err := v.checkSince(o, res, baseCommit); err != nil {
				return nil, err
			}
		}
	}
	st.allHistory = st.floor.policy.HistoryMode() != trust.HistoryFirstParent
	commits := w.Commits
	if !st.allHistory {
		commits = w.FirstParentChain(tip)
	}
	for _, c := range commits {
		if err := v.judge(o, st, res, c); err != nil {
			oe, ok := asObjectError(err)
			if !ok {
				return nil, err
			}
			res.refuse(oe.code, c.ID, "commit %s: %s", c.Short(), oe.msg)
		}
	}
	for _, pc := range st.changes {
		countPolicyApprovals(res, pc, st.approvals[pc.newBlob])
	}
	if v.Cache != nil {
		if err := v.Cache.Flush(); err != nil {
			return nil, err
		}
	}
	if !res.Accepted() {
		return res, nil
	}
	final := st.floor
	if f, ok := st.after[tip]; ok {
		final = f
	}
	if err := v.checkTipPolicy(o, res, tipCommit, final); err != nil || !res.Accepted() {
		return res, err
	}
	res.Policy, res.PolicyBlob = final.policy, final.blob
	if maxAge := res.Policy.MaxAge(); maxAge > 0 {
		if age := v.now().Sub(res.TipTime); age > maxAge {
			res.Stale = reason.Errorf(reason.Stale, tip.String(), "newest accepted commit %s is %s old, more than freshness.maxAge %s of trust policy version %d; risky operations are blocked until a newer signed commit arrives",
				short(tip), age.Round(time.Minute), maxAge, res.Policy.Version)
		}
	}
	return res, nil
}

// checkTipPolicy refuses a tip whose own trust file is older than the
// policy in force after it, or missing where one is in force: with
// first-parent history a merge's first parent can be an old commit, and
// what the tip says must never look older than what the cluster enforces.
// A repository behind its own trust root (the root is in force) is not
// refused: the root supersedes that history.
func (v *Verifier) checkTipPolicy(o *objects, res *Result, tip *commit, final inForcePolicy) error {
	f, err := o.trustFileAt(tip.Tree)
	if err != nil {
		return err
	}
	if final.blob.IsZero() || f.blob == final.blob {
		return nil
	}
	if f.blob.IsZero() {
		res.refuse(reason.PolicyMissing, tip.ID, "tip %s has no %s while trust policy version %d is in force%s", tip.Short(), trust.Path, final.policy.Version, badSuffix(f))
		return nil
	}
	pol, perr := v.policy(o, f.blob, tip)
	if perr == nil && pol.Digest() == final.policy.Digest() {
		return nil
	}
	version := "an unreadable policy"
	if perr == nil {
		version = fmt.Sprintf("version %d", pol.Version)
	}
	res.refuse(reason.PolicyRollback, tip.ID, "tip %s carries trust policy %s in %s, but version %d is in force; the trust policy can only move forward", tip.Short(), version, trust.Path, final.policy.Version)
	return nil
}

func badSuffix(f trustFile) string {
	if f.bad == "" {
		return ""
	}
	return " (" + f.bad + ")"
}

func (r *Result) refuse(code reason.Code, c plumbing.Hash, format string, args ...any) {
	r.Refusals = append(r.Refusals, reason.Errorf(code, c.String(), format, args...))
}

func short(h plumbing.Hash) string { return h.String()[:12] }

// commit returns a commit the walk already read, or reads it.
func (st *rangeState) commit(o *objects, h plumbing.Hash) (*commit, error) {
	if c, ok := st.w.Loaded(h); ok {
		return c, nil
	}
	return o.commit(h)
}

// verifiedParents returns the parents whose content verification vouches
// for: every parent, or only the first with first-parent history.
func (st *rangeState) verifiedParents(o *objects, c *commit) ([]*commit, error) {
	n := len(c.Parents)
	if !st.allHistory {
		n = min(n, 1)
	}
	out := make([]*commit, 0, n)
	for _, h := range c.Parents[:n] {
		p, err := st.commit(o, h)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// policyAfter is the policy in force after parent p: what judging it
// found when it is in the range, else (accepted history) the floor.
func (st *rangeState) policyAfter(p *commit) inForcePolicy {
	if f, ok := st.after[p.ID]; ok {
		return f
	}
	return st.floor
}

// judge checks one commit: its form, the trees it brings, its signature
// under the policy in force at its parents, the signer's role, and any
// change to trust.yaml.
func (v *Verifier) judge(o *objects, st *rangeState, res *Result, c *commit) error {
	if err := o.commitProblem(c.ID); err != nil {
		return err
	}
	parents, err := st.verifiedParents(o, c)
	if err != nil {
		return err
	}
	old, err := st.parentsPolicy(parents)
	if err != nil {
		return err
	}
	st.after[c.ID] = old // until a policy change below replaces it
	var known []plumbing.Hash
	for _, p := range parents {
		known = append(known, p.Tree)
	}
	if err := o.checkTrees(c.Tree, known); err != nil {
		return err
	}
	trailers := approveTrailers(c.Message)
	if len(trailers) > MaxApprovalTrailers {
		return overLimit("%d %s trailers, more than the %d one commit may carry", len(trailers), ApproveTrailer, MaxApprovalTrailers)
	}

	at := v.effectiveTime(st, c, parents)
	st.times[c.ID] = at
	if limit := v.now().Add(ClockSkew); at.After(limit) {
		res.refuse(reason.BadSignature, c.ID, "commit %s: its signature claims to be made at %s, more than %s after this verifier's clock (%s)", c.Short(), at.Format(time.RFC3339), ClockSkew, v.now().UTC().Format(time.RFC3339))
		return nil
	}
	signer, cached := v.Cache.get(c.ID, old.policy.Digest())
	if !cached {
		var err error
		signer, err = signature.Check(old.policy.Keyring(), c.Payload, c.Signature, signature.Options{At: at})
		if err != nil {
			var re *reason.Error
			if !errors.As(err, &re) {
				return fmt.Errorf("commit %s: %w", c.Short(), err)
			}
			re.Commit = c.ID.String()
			re.Message = fmt.Sprintf("commit %s: %s (trust policy version %d)", c.Short(), re.Message, old.policy.Version)
			res.Refusals = append(res.Refusals, re)
			return nil
		}
		v.Cache.put(c.ID, old.policy.Digest(), signer)
	}
	res.Commits = append(res.Commits, Verdict{Commit: c.ID.String(), Signer: signer, Cached: cached})

	parentTree := emptyTree
	if len(parents) > 0 {
		parentTree = parents[0].Tree
	}
	if c.Tree != parentTree && !old.policy.HasRole(signer.Principal, trust.RoleCommitters) {
		res.refuse(reason.NotAuthorized, c.ID, "commit %s changes files but is signed by %q (key %s), who is not in role %s of trust policy version %d",
			c.Short(), signer.Principal, signer.Key, trust.RoleCommitters, old.policy.Version)
	}
	for _, a := range trailers {
		if a.path == trust.Path {
			st.approvals[a.blob] = append(st.approvals[a.blob], signer.Key)
		}
	}
	entry, err := indexEntry(o, c, parents, signer.Principal, signer.Key)
	if err != nil {
		return err
	}
	res.Index = append(res.Index, entry)
	return v.judgeTrustFile(o, st, res, c, parents, old, signer)
}

// parentsPolicy is the policy in force at a commit's verified parents:
// the newest of the policies after them and the floor. Two parents whose
// policies share the newest version but differ are a conflict nobody
// approved; judging picks neither silently.
func (st *rangeState) parentsPolicy(parents []*commit) (inForcePolicy, error) {
	best := st.floor
	for _, p := range parents {
		cand := st.policyAfter(p)
		switch {
		case cand.policy.Version > best.policy.Version:
			best = cand
		case cand.policy.Version == best.policy.Version && cand.policy.Digest() != best.policy.Digest():
			return inForcePolicy{}, &objectError{code: reason.PolicyRollback, msg: fmt.Sprintf("its parents carry two different trust policies of version %d; merge them through a new version instead", cand.policy.Version)}
		}
	}
	return best, nil
}

// effectiveTime is the time c's signature is judged at: the time it
// claims, raised to the effective times of its verified parents (less
// ClockSkew) and to AcceptedAt.
func (v *Verifier) effectiveTime(st *rangeState, c *commit, parents []*commit) time.Time {
	at := claimedTime(c)
	floor := v.AcceptedAt
	for _, p := range parents {
		pt, ok := st.times[p.ID]
		if !ok {
			pt = claimedTime(p) // accepted history
		}
		if pt.After(floor) {
			floor = pt
		}
	}
	if lower := floor.Add(-ClockSkew); at.Before(lower) {
		at = lower
	}
	return at
}

// claimedTime is the time a commit's signature claims: an OpenPGP
// signature's creation time, else the committer time.
func claimedTime(c *commit) time.Time {
	if t, ok := signature.SignatureTime(c.Signature); ok {
		return t
	}
	return c.Time
}

// judgeTrustFile checks what c's tree holds at trust.yaml against its
// verified parents: the same blob as one of them, never older than any of
// them, or a policy change.
func (v *Verifier) judgeTrustFile(o *objects, st *rangeState, res *Result, c *commit, parents []*commit, old inForcePolicy, signer signature.Signer) error {
	mine, err := o.trustFileAt(c.Tree)
	if err != nil {
		return err
	}
	var had []plumbing.Hash // parents' trust blobs
	inherited := false
	for _, p := range parents {
		f, err := o.trustFileAt(p.Tree)
		if err != nil {
			if _, bad := asObjectError(err); bad {
				continue
			}
			return err
		}
		if !f.blob.IsZero() {
			had = append(had, f.blob)
			inherited = inherited || f.blob == mine.blob
		}
	}
	switch {
	case mine.bad != "" && len(had) > 0:
		res.refuse(reason.PolicyMissing, c.ID, "commit %s: %s, where its parent had the trust policy", c.Short(), mine.bad)
		return nil
	case mine.bad != "":
		return malformed("%s", mine.bad)
	case mine.blob.IsZero() && len(had) > 0:
		res.refuse(reason.PolicyMissing, c.ID, "commit %s removes %s, which its parent has; the trust policy can only move forward", c.Short(), trust.Path)
		return nil
	case mine.blob.IsZero():
		return nil
	case inherited:
		return v.checkInherited(o, res, c, mine.blob, had)
	}
	parentBlob := plumbing.ZeroHash
	if len(had) > 0 && len(parents) > 0 {
		parentBlob, _ = o.trustBlobAt(parents[0].Tree)
	}
	pc, err := v.judgePolicyChange(o, res, c, old.policy, parentBlob, mine.blob, signer)
	if err != nil || pc == nil {
		return err
	}
	st.changes = append(st.changes, *pc)
	if pc.new.Version > old.policy.Version {
		st.after[c.ID] = inForcePolicy{policy: pc.new, blob: mine.blob}
	}
	return nil
}

// checkInherited refuses a commit that keeps one parent's trust.yaml while
// another parent carries a newer one (a merge that takes the old side).
func (v *Verifier) checkInherited(o *objects, res *Result, c *commit, mine plumbing.Hash, had []plumbing.Hash) error {
	kept, err := v.policy(o, mine, c)
	if err != nil {
		return nil // refused when it was introduced, or history the root supersedes
	}
	for _, b := range had {
		other, err := v.policy(o, b, c)
		if err != nil || b == mine || other.Digest() == kept.Digest() {
			continue // the same policy, perhaps written differently
		}
		if other.Version >= kept.Version {
			res.refuse(reason.PolicyRollback, c.ID, "commit %s keeps trust policy version %d from one parent while another carries version %d; the trust policy can only move forward", c.Short(), kept.Version, other.Version)
			return nil
		}
	}
	return nil
}

// judgePolicyChange checks the version step of a trust.yaml change and
// returns the change when it needs trust-admin approvals.
func (v *Verifier) judgePolicyChange(o *objects, res *Result, c *commit, old *trust.Policy, parentBlob, newBlob plumbing.Hash, signer signature.Signer) (*policyChange, error) {
	next, err := v.policy(o, newBlob, c)
	if err != nil {
		if oe, ok := asObjectError(err); ok {
			return nil, oe
		}
		res.refuse(reason.InvalidPolicy, c.ID, "commit %s: %s", c.Short(), strings.ReplaceAll(err.Error(), "\n", "; "))
		return nil, nil
	}
	prev, prevErr := (*trust.Policy)(nil), error(nil)
	if !parentBlob.IsZero() {
		prev, prevErr = v.policy(o, parentBlob, c)
	}
	prePin := old == v.Root && (parentBlob.IsZero() || prevErr != nil || prev.Version < v.Root.Version)
	root := v.Root
	switch {
	case next.Digest() == old.Digest():
		return nil, nil // the policy in force, written again (an orphan root, a rewritten file): no change
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

// inForceAt returns the policy that c's tree puts in force for its
// children when c is accepted history: its trust.yaml when that is newer
// than the trust root, else the trust root.
func (v *Verifier) inForceAt(o *objects, c *commit) (inForcePolicy, error) {
	blob, err := o.trustBlobAt(c.Tree)
	if err != nil {
		return inForcePolicy{}, err
	}
	if blob.IsZero() {
		return inForcePolicy{policy: v.Root}, nil
	}
	pol, perr := v.policy(o, blob, c)
	if perr != nil || pol.Version <= v.Root.Version {
		// An invalid policy was refused when it was introduced; an older
		// one is history the trust root supersedes.
		return inForcePolicy{policy: v.Root}, nil
	}
	return inForcePolicy{policy: pol, blob: blob}, nil
}

// policy parses the trust.yaml blob, once per blob.
func (v *Verifier) policy(o *objects, blob plumbing.Hash, at *commit) (*trust.Policy, error) {
	if p, ok := v.policies[blob]; ok {
		return p.policy, p.err
	}
	data, err := o.read(plumbing.BlobObject, blob, trust.MaxPolicySize)
	if err != nil {
		if _, bad := asObjectError(err); !bad {
			return nil, err
		}
	}
	var pol *trust.Policy
	if err == nil {
		pol, err = trust.Parse(trust.Path+"@"+at.Short(), data)
	}
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

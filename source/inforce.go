package source

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
)

// PolicyInForce returns the trust policy a source enforces now, given its
// state and trust root: the policy recorded with the last accepted commit
// (read back from the mirror and checked against the recorded digest), or
// the trust root when that is newer or nothing was accepted yet. It is the
// one answer to "who may sign now" for commits (the floor of the next
// verification), bundle manifests and plans against the last accepted
// commit.
func PolicyInForce(store storer.EncodedObjectStorer, st State, root *trust.Policy) (*trust.Policy, error) {
	pol, _, err := policyInForce(store, st, root)
	return pol, err
}

func policyInForce(store storer.EncodedObjectStorer, st State, root *trust.Policy) (*trust.Policy, plumbing.Hash, error) {
	last := st.Last()
	if last.IsZero() {
		return root, plumbing.ZeroHash, nil
	}
	v := &Verifier{Root: root, Store: store, policies: map[plumbing.Hash]parsedPolicy{}}
	o := newObjects(store)
	c, err := o.commit(last)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("last accepted commit %s: %w", short(last), err)
	}
	var got inForcePolicy
	if st.PolicyBlob == "" {
		// A state from before the blob was recorded: the commit's tree.
		if got, err = v.inForceAt(o, c); err != nil {
			return nil, plumbing.ZeroHash, err
		}
	} else {
		blob := plumbing.NewHash(st.PolicyBlob)
		pol, err := v.policy(o, blob, c)
		if err != nil {
			return nil, plumbing.ZeroHash, fmt.Errorf("the recorded trust policy %s cannot be read: %w", short(blob), err)
		}
		got = inForcePolicy{policy: pol, blob: blob}
	}
	if st.PolicyDigest != "" && got.policy.Digest() != st.PolicyDigest && got.policy != root {
		return nil, plumbing.ZeroHash, reason.Errorf(reason.PolicyRollback, last.String(), "the trust policy at the last accepted commit %s (version %d) is not the one recorded with it (version %d, digest %.12s)", short(last), got.policy.Version, st.PolicyVersion, st.PolicyDigest)
	}
	if got.policy.Version < st.PolicyVersion && root.Version < st.PolicyVersion {
		return nil, plumbing.ZeroHash, reason.Errorf(reason.PolicyRollback, last.String(), "the trust policy in force would be version %d (trust root version %d), older than version %d, which was in force at the last accepted commit %s; the trust policy can only move forward", got.policy.Version, root.Version, st.PolicyVersion, short(last))
	}
	if root.Version > got.policy.Version {
		return root, plumbing.ZeroHash, nil
	}
	return got.policy, got.blob, nil
}

package gather

import (
	"fmt"
	"slices"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/schema/lint"
	"github.com/nodewright/nodewright/schema/manifest"
	"github.com/nodewright/nodewright/schema/render"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/trust"
)

// Inputs are where the gatherer reads from.
type Inputs struct {
	// Repo holds the accepted commit (the source's mirror).
	Repo *git.Repository
	// Commit is the accepted commit to plan against.
	Commit plumbing.Hash
	// Site is the site to plan.
	Site string
	// Policy is the trust policy in force at Commit.
	Policy *trust.Policy
	// Index is the source's approvals index.
	Index []source.IndexEntry
	// Stale is the source's Stale message, or "".
	Stale string
	// Health is the site's health report.
	Health gates.Health
	// InProgress names operations (kind/name) with a step in flight.
	InProgress map[string]bool
	// Now is the clock.
	Now time.Time
	// Chain is the gate chain to evaluate (gates.Admission, or gates.All
	// for plan); the zero Chain allows nothing.
	Chain gates.Chain
}

// Plan is the gates' verdict on every operation of a site.
type Plan struct {
	Site          string            `json:"site"`
	Commit        string            `json:"commit"`
	PolicyVersion int               `json:"policyVersion"`
	Operations    []OperationPlan   `json:"operations"`
	Problems      manifest.Problems `json:"problems"`
	// Profile is the site's rendered profile (nil when it does not render).
	Profile *v1.EdgeProfile `json:"-"`
	// IgnoredApprovals are approval trailers that could not be read.
	IgnoredApprovals []string `json:"ignoredApprovals,omitempty"`
}

// OperationPlan is one operation and the chain's decision on it.
type OperationPlan struct {
	gates.Operation
	Decision gates.Decision `json:"decision"`
	// Object is the rendered, defaulted operation.
	Object v1.Object `json:"-"`
}

// Index is the approvals index arranged for lookups by file.
type Index struct {
	approvals map[string][]indexedApproval // path -> approvals of any version
	authors   map[source.FileVersion]string
	// removed and set hold, per path and per file version, the position
	// of the last commit that removed the path or set it to that blob.
	removed map[string]int
	set     map[source.FileVersion]int
	invalid []string
}

type indexedApproval struct {
	gates.Approval
	at int // position of the approval commit in the index
}

// NewIndex arranges index entries (in verification order, parents before
// children) for lookups: it is built once, so counting approvals costs a
// map lookup per operation. Approvals are bound to the lifetime of a file
// (see Approvals).
func NewIndex(entries []source.IndexEntry) *Index {
	ix := &Index{approvals: map[string][]indexedApproval{}, authors: map[source.FileVersion]string{},
		removed: map[string]int{}, set: map[source.FileVersion]int{}}
	for at, e := range entries {
		for _, r := range e.Removes {
			ix.removed[r] = at
		}
		for _, c := range e.Changes {
			ix.set[c] = at
			ix.authors[c] = e.Principal // the latest change wins
		}
		for _, a := range e.Approves {
			ix.approvals[a.Path] = append(ix.approvals[a.Path], indexedApproval{gates.Approval{Principal: e.Principal, Key: e.Key, Blob: a.Blob, Commit: e.Commit}, at})
		}
		for _, inv := range e.Invalid {
			ix.invalid = append(ix.invalid, fmt.Sprintf("%s in commit %s", inv, e.Commit[:12]))
		}
	}
	return ix
}

// Approvals returns the approvals of path, any version. An approval made
// before the path was last removed, or before it was last set to the blob
// the approval names, is marked Superseded: an approval of an earlier life
// of the same content is not an approval of this one. (An approval commit
// follows the commit that set the file in the index, or is the same
// commit, in which case its signer is the author.)
func (ix *Index) Approvals(path string) []gates.Approval {
	as := ix.approvals[path]
	out := make([]gates.Approval, len(as))
	for i, a := range as {
		out[i] = a.Approval
		removed, wasRemoved := ix.removed[path]
		set, wasSet := ix.set[source.FileVersion{Path: path, Blob: a.Blob}]
		out[i].Superseded = (wasRemoved && a.at < removed) || (wasSet && a.at < set)
	}
	return out
}

// Author returns who signed the commit that last set path to blob.
func (ix *Index) Author(path, blob string) string {
	return ix.authors[source.FileVersion{Path: path, Blob: blob}]
}

// Build gathers the inputs of every valid operation of the site and
// evaluates the gate chain on each.
func Build(in Inputs) (*Plan, error) {
	tree, err := render.FromCommit(in.Repo, in.Commit.String())
	if err != nil {
		return nil, err
	}
	c, err := in.Repo.CommitObject(in.Commit)
	if err != nil {
		return nil, err
	}
	gitTree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	site := lint.Check(tree, in.Site)
	plan := &Plan{Site: in.Site, Commit: in.Commit.String(), PolicyVersion: in.Policy.Version, Problems: site.Problems, Operations: []OperationPlan{}}
	if plan.Problems == nil {
		plan.Problems = manifest.Problems{}
	}
	if site.Profile == nil {
		if len(tree.Files("sites/"+in.Site)) == 0 {
			return nil, fmt.Errorf("site %s is not in the repository at %s", in.Site, in.Commit.String()[:12])
		}
		return plan, nil
	}
	plan.Profile = site.Profile
	ix := NewIndex(in.Index)
	plan.IgnoredApprovals = ix.invalid
	for _, o := range site.Operations {
		obj, path := o.Object, o.Path
		entry, err := gitTree.FindEntry(path)
		if err != nil {
			return nil, fmt.Errorf("%s at %s: %w", path, in.Commit.String()[:12], err)
		}
		op := Describe(obj, site.Profile)
		op.Path, op.Blob = path, entry.Hash.String()
		op.Author = ix.Author(path, op.Blob)
		op.StepInProgress = in.InProgress[op.Kind+"/"+op.Name]
		decision := in.Chain.Evaluate(gates.Input{
			Now: in.Now, Operation: op, Profile: site.Profile, Policy: in.Policy,
			Approvals: ix.Approvals(path), Stale: in.Stale, Health: in.Health,
		})
		plan.Operations = append(plan.Operations, OperationPlan{Operation: op, Decision: decision, Object: obj})
	}
	return plan, nil
}

// Describe says what the gates need of an operation: its nodes, whether it
// disrupts them, and how many may be down at once. A VMVolumeMigration is
// disruptive when it runs Cold, and in mode Auto until its status shows it
// chose Hot: Auto chooses Cold for a VM that is stopped or cannot move
// live, which an offline plan cannot know, so it counts as the worse.
func Describe(obj v1.Object, profile *v1.EdgeProfile) gates.Operation {
	op := gates.Operation{Name: obj.GetName()}
	switch o := obj.(type) {
	case *v1.BondModeFlipPlan:
		op.Kind, op.Nodes, op.Disruptive, op.MaxUnavailable = v1.KindBondModeFlipPlan, o.Spec.Nodes, true, int(o.Spec.MaxUnavailable)
	case *v1.ReplicationUpgrade:
		op.Kind = v1.KindReplicationUpgrade
		for _, rg := range profile.Spec.ResourceGroups {
			if rg.Name != o.Spec.ResourceGroup {
				continue
			}
			for _, n := range profile.Spec.Nodes {
				if slices.Contains(n.StoragePools, rg.StoragePool) {
					op.Nodes = append(op.Nodes, n.Name)
				}
			}
		}
	case *v1.VMVolumeMigration:
		op.Kind, op.Disruptive = v1.KindVMVolumeMigration, o.ChosenMode() != v1.MigrationHot
	}
	return op
}

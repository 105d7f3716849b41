package fleetsource

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/gates/gather"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/mirror"
	"github.com/nodewright/nodewright/source/trust"
)

// Verdict is what a step tells the reconcile to do next.
type Verdict int

const (
	// Continue runs the next step; when the last step continues, the
	// reconcile succeeded (Ready is True with that step's reason).
	Continue Verdict = iota
	// Requeue ends the reconcile on a transient failure: Reconciling stays
	// True with the reason, ObservedGeneration stays, and the FleetSource
	// is tried again, at its interval or, when the result carries an
	// error, with controller-runtime's backoff.
	Requeue
	// Stop ends the reconcile on something retrying will not change until
	// the FleetSource, its trust root or its repository does (a refused
	// commit, manifests that do not validate): Stalled is True with the
	// reason and the last applied commit stays. The FleetSource is still
	// fetched again at its interval, for a commit that fixes it.
	Stop
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Continue:
		return "Continue"
	case Requeue:
		return "Requeue"
	case Stop:
		return "Stop"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Result is what one step returns: its verdict, with the reason and
// message the conditions carry.
type Result struct {
	// Verdict says whether the reconcile goes on.
	Verdict Verdict
	// Reason is the condition reason (CamelCase): a DESIGN reason code for
	// a refused commit, otherwise one of this package's Reason constants.
	Reason string
	// Message says what happened, for people.
	Message string
	// Err, on Requeue, is returned to controller-runtime, which retries
	// with backoff; nil retries at the FleetSource's interval.
	Err error
}

func next(reason, format string, args ...any) Result {
	return Result{Verdict: Continue, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func requeue(reason string, err error, format string, args ...any) Result {
	return Result{Verdict: Requeue, Reason: reason, Err: err, Message: fmt.Sprintf(format, args...)}
}

func stop(reason, format string, args ...any) Result {
	return Result{Verdict: Stop, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// The steps of a reconcile, in the order they run.
const (
	// StepSite checks that this reconciler serves the FleetSource's site.
	StepSite = "Site"
	// StepFinalizer puts the finalizer on the FleetSource, before anything
	// is written into its state directory.
	StepFinalizer = "Finalizer"
	// StepTrustRoot reads the trust root: the pinned one, or the
	// FleetSource's spec.trustRoot Secret.
	StepTrustRoot = "TrustRoot"
	// StepFetch fetches the branch into the state directory's mirror and
	// verifies the commits it adds (package source does both, under the
	// state directory's lock).
	StepFetch = "Fetch"
	// StepVerify takes the verification's verdict: a refused range stops,
	// an accepted one moves the ratchet (status.lastAcceptedCommit).
	StepVerify = "Verify"
	// StepRender renders the site at the accepted commit and evaluates
	// the admission gates (gates.Admission) on each of its operations.
	StepRender = "Render"
	// StepApply server-side applies the profile and the operations with
	// their verdicts, and marks the operations removed from git.
	StepApply = "Apply"
)

// step is one named step of the reconcile.
type step struct {
	name string
	run  func(ctx context.Context, run *run) Result
}

// steps is the reconcile, in order.
func (r *Reconciler) steps() []step {
	return []step{
		{StepSite, r.checkSite},
		{StepFinalizer, r.ensureFinalizer},
		{StepTrustRoot, r.readTrustRoot},
		{StepFetch, r.fetch},
		{StepVerify, r.verify},
		{StepRender, r.render},
		{StepApply, r.applySite},
	}
}

// run is one reconcile's view of its FleetSource: what the steps found so
// far. Steps change fs's status in place.
type run struct {
	// fs is the FleetSource as read; spec is a copy with defaults, to read
	// the spec from.
	fs, spec *v1.FleetSource
	// saved is the status as the API server has it.
	saved *v1.FleetSourceStatus
	// stateDir is the FleetSource's state directory.
	stateDir string
	// root is the trust root (StepTrustRoot).
	root *trust.Policy
	// synced is the fetch and verification's result (StepFetch).
	synced *source.Result
	// plan is the rendered site with the gates' verdicts (StepRender).
	plan *gather.Plan
	// stale is the freshness warning, or "" (StepRender).
	stale string
}

func (r *Reconciler) checkSite(_ context.Context, run *run) Result {
	if site := run.spec.Spec.Site; r.Site != "" && site != r.Site {
		return stop(ReasonWrongSite, "this reconciler serves site %s, not %s", r.Site, site)
	}
	return next(ReasonSiteServed, "site %s is served here", run.spec.Spec.Site)
}

func (r *Reconciler) ensureFinalizer(ctx context.Context, run *run) Result {
	if controllerutil.ContainsFinalizer(run.fs, Finalizer) {
		return next(ReasonFinalizerSet, "finalizer %s is set", Finalizer)
	}
	patch := client.MergeFromWithOptions(run.fs.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(run.fs, Finalizer)
	if err := r.Client.Patch(ctx, run.fs, patch); err != nil {
		return requeue(ReasonFinalizerFailed, err, "add finalizer %s: %v", Finalizer, err)
	}
	return next(ReasonFinalizerSet, "finalizer %s added", Finalizer)
}

func (r *Reconciler) readTrustRoot(ctx context.Context, run *run) Result {
	root, err := r.trustRoot(ctx, run.spec)
	if err != nil {
		return stop(ReasonTrustRootUnreadable, "%v", err)
	}
	run.root = root
	return next(ReasonTrustRootRead, "trust root from %s (version %d)", root.Source(), root.Version)
}

func (r *Reconciler) fetch(ctx context.Context, run *run) Result {
	st := run.fs.Status
	src := &source.Source{Repo: run.spec.Spec.Repo, Branch: run.spec.Spec.Branch, StateDir: run.stateDir, Root: run.root, Now: r.Now}
	if c := st.LastAcceptedCommit; c != "" {
		src.Floor, src.FloorPolicyVersion = plumbing.NewHash(c), st.PolicyVersion
	}
	res, err := src.Sync(ctx)
	if err != nil {
		return requeue(ReasonFetchFailed, nil, "%v", err)
	}
	run.synced = res
	return next(ReasonFetched, "fetched %s", short(res.Tip.String()))
}

func (r *Reconciler) verify(ctx context.Context, run *run) Result {
	fs, res := run.fs, run.synced
	if !res.Accepted() {
		msgs := make([]string, len(res.Refusals))
		for i, ref := range res.Refusals {
			msgs[i] = ref.Message
		}
		return stop(string(res.Refusals[0].Code), "%s; keeping %s", strings.Join(msgs, "; "), short(fs.Status.AppliedCommit))
	}
	tip := res.Tip.String()
	fs.Status.LastAcceptedCommit, fs.Status.PolicyVersion = tip, res.Policy.Version
	if tip != fs.Status.AppliedCommit {
		if err := r.progress(ctx, run, "commit %s verified (trust policy version %d); applying it", short(tip), res.Policy.Version); err != nil {
			return requeue(ReasonStatusFailed, err, "record progress: %v", err)
		}
	}
	return next(ReasonVerified, "commit %s verified (trust policy version %d)", short(tip), res.Policy.Version)
}

func (r *Reconciler) render(_ context.Context, run *run) Result {
	res, fs := run.synced, run.fs
	m, err := mirror.Open(filepath.Join(run.stateDir, "mirror"))
	if err != nil {
		return requeue(ReasonFetchFailed, err, "%v", err)
	}
	defer m.Close()
	index, err := source.LoadIndex(run.stateDir)
	if err != nil {
		return requeue(ReasonFetchFailed, err, "%v", err)
	}
	if res.Stale != nil {
		run.stale = res.Stale.Message
	}
	plan, err := gather.Build(gather.Inputs{
		Repo: m.Repository(), Commit: res.Tip, Site: run.spec.Spec.Site, Policy: res.Policy, Index: index,
		Stale: run.stale, Now: r.now(), Chain: gates.Admission,
	})
	if err != nil {
		return stop(ReasonInvalidManifest, "%v", err)
	}
	if n := plan.Problems.Errors(); n > 0 || plan.Profile == nil {
		var first []string
		for _, p := range plan.Problems {
			if len(first) < 3 {
				first = append(first, p.String())
			}
		}
		return stop(ReasonInvalidManifest, "commit %s: %d problems, nothing applied (first: %s); keeping %s", short(res.Tip.String()), n, strings.Join(first, "; "), short(fs.Status.AppliedCommit))
	}
	run.plan = plan
	return next(ReasonRendered, "site %s rendered at commit %s: %d operations", plan.Site, short(res.Tip.String()), len(plan.Operations))
}

func (r *Reconciler) applySite(ctx context.Context, run *run) Result {
	fs, tip, plan := run.fs, run.synced.Tip.String(), run.plan
	m, err := mirror.Open(filepath.Join(run.stateDir, "mirror"))
	if err != nil {
		return requeue(ReasonApplyFailed, err, "%v", err)
	}
	defer m.Close()
	index, err := source.LoadIndex(run.stateDir)
	if err != nil {
		return requeue(ReasonApplyFailed, err, "%v", err)
	}
	deferred, err := r.apply(ctx, fs, tip, plan, &history{repo: m.Repository(), site: run.spec.Spec.Site, index: index})
	if err != nil {
		return requeue(ReasonApplyFailed, err, "%v", err)
	}
	fs.Status.AppliedCommit = tip
	if r.Applied != nil {
		r.Applied(fs.Name, tip)
	}
	msg := fmt.Sprintf("applied %d operations of site %s at commit %s (trust policy version %d)", len(plan.Operations), run.spec.Spec.Site, short(tip), run.synced.Policy.Version)
	if len(deferred) > 0 {
		msg += "; changes to operations in flight wait until they finish or halt: " + strings.Join(deferred, ", ")
	}
	if run.stale != "" {
		msg += "; " + run.stale
	}
	return next(ReasonApplied, "%s", msg)
}

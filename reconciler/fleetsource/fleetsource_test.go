package fleetsource_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/nodewright/nodewright/reconciler/fleetsource"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
)

// allSteps is the reconcile, in order.
var allSteps = []string{
	fleetsource.StepSite, fleetsource.StepFinalizer, fleetsource.StepTrustRoot,
	fleetsource.StepFetch, fleetsource.StepVerify, fleetsource.StepRender, fleetsource.StepApply,
}

// status returns the status of the condition of type typ, "" when absent.
func status(fs *v1.FleetSource, typ string) metav1.ConditionStatus {
	if c := conditions.Get(fs, typ); c != nil {
		return c.Status
	}
	return ""
}

// reason returns the reason of the condition of type typ, "" when absent.
func reason(fs *v1.FleetSource, typ string) string {
	if c := conditions.Get(fs, typ); c != nil {
		return c.Reason
	}
	return ""
}

// The steps run in their fixed order; each exit leaves at the step that
// requeued or stopped, and a success runs every step.
func TestStepsRunInOrder(t *testing.T) {
	e := newEnv(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true})
	e.create("fleet")

	res := e.reconciled("fleet")
	assert.Equal(t, allSteps, e.names())
	for _, s := range e.steps {
		assert.Equal(t, fleetsource.Continue, s.res.Verdict, "%s: %s %s", s.name, s.res.Reason, s.res.Message)
	}
	assert.Equal(t, fleetsource.ReasonApplied, e.last().Reason)
	assert.Equal(t, time.Minute, res.RequeueAfter, "the next fetch is at the interval")
	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, e.c.Get(e.ctx, e.key("bond0-to-lacp"), plan), "the apply step applied the operation")
	assert.Equal(t, e.fleet.Work.Head(), plan.Labels[v1.LabelSourceCommit])
	assert.Contains(t, plan.Annotations[v1.AnnotationGates], `"allowed":false`, "the admission gates' verdict: approvals missing")

	// A refused commit stops at Verify: nothing is rendered or applied.
	e.fleet.Work.Write(fleet.BondFlip, strings.Replace(e.fleet.Work.Git("show", "HEAD:"+fleet.BondFlip), "toMode: 802.3ad", "toMode: balance-rr", 1)+"\n")
	e.fleet.Work.Commit("Quietly change the target mode", nil)
	e.fleet.Push()
	e.reconciled("fleet")
	assert.Equal(t, allSteps[:5], e.names())
	assert.Equal(t, fleetsource.Result{Verdict: fleetsource.Stop, Reason: "Unsigned", Message: e.last().Message}, e.last())

	// A repository that cannot be reached requeues at Fetch.
	e.patchSpec("fleet", `{"repo":"`+unreachable+`"}`)
	res = e.reconciled("fleet")
	assert.Equal(t, allSteps[:4], e.names())
	assert.Equal(t, fleetsource.Requeue, e.last().Verdict)
	assert.Equal(t, fleetsource.ReasonFetchFailed, e.last().Reason)
	assert.Equal(t, time.Minute, res.RequeueAfter)

	// A trust root that cannot be read stops at TrustRoot.
	e.patchSpec("fleet", `{"repo":"`+e.fleet.URL+`","trustRoot":{"name":"trust-root","key":"missing.yaml"}}`)
	e.reconciled("fleet")
	assert.Equal(t, allSteps[:3], e.names())
	assert.Equal(t, fleetsource.Stop, e.last().Verdict)
	assert.Equal(t, fleetsource.ReasonTrustRootUnreadable, e.last().Reason)

	// A site this reconciler does not serve stops at Site, before the
	// finalizer step.
	e.patchSpec("fleet", `{"site":"edge-002"}`)
	e.reconciled("fleet")
	assert.Equal(t, allSteps[:1], e.names())
	assert.Equal(t, fleetsource.Stop, e.last().Verdict)
	assert.Equal(t, fleetsource.ReasonWrongSite, e.last().Reason)
}

// Reconciling is True while a reconcile works on a new generation or a
// new commit, Ready True on success, Stalled True with the source's reason
// code on a refused commit; a reconcile that finds nothing new writes
// nothing.
func TestConditions(t *testing.T) {
	e := newEnv(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true})
	e.create("fleet")

	// While working, as others see it on the API server.
	seen := map[string]*v1.FleetSource{}
	e.during = func(name string) { seen[name] = e.get("fleet") }
	e.reconciled("fleet")
	for _, name := range allSteps {
		fs := seen[name]
		require.NotNil(t, fs, name)
		assert.Equal(t, metav1.ConditionTrue, status(fs, meta.ReconcilingCondition), "after step %s", name)
		assert.Equal(t, meta.ProgressingReason, reason(fs, meta.ReconcilingCondition), "after step %s", name)
		assert.Equal(t, metav1.ConditionUnknown, status(fs, meta.ReadyCondition), "after step %s", name)
		assert.Empty(t, status(fs, meta.StalledCondition), "after step %s", name)
		assert.Zero(t, fs.Status.ObservedGeneration, "after step %s", name)
	}
	assert.Equal(t, e.fleet.Work.Head(), seen[fleetsource.StepApply].Status.LastAcceptedCommit, "the ratchet is written before the apply")

	// Done.
	fs := e.get("fleet")
	assert.Equal(t, metav1.ConditionTrue, status(fs, meta.ReadyCondition))
	assert.Equal(t, fleetsource.ReasonApplied, reason(fs, meta.ReadyCondition))
	assert.Empty(t, status(fs, meta.ReconcilingCondition))
	assert.Empty(t, status(fs, meta.StalledCondition))
	assert.Equal(t, fs.Generation, fs.Status.ObservedGeneration)
	assert.Equal(t, e.fleet.Work.Head(), fs.Status.AppliedCommit)
	assert.Equal(t, 1, fs.Status.PolicyVersion)

	// Nothing new: nothing written.
	e.during = nil
	e.reconciled("fleet")
	assert.Equal(t, fs.ResourceVersion, e.get("fleet").ResourceVersion)

	// A new signed commit (an approval) is worked on under Reconciling,
	// then Ready again at the new commit.
	seen = map[string]*v1.FleetSource{}
	e.during = func(name string) { seen[name] = e.get("fleet") }
	e.fleet.Approve(fleet.BondFlip, e.fleet.Alice)
	approved := e.fleet.Work.Head()
	e.reconciled("fleet")
	for _, name := range allSteps[:4] {
		assert.Empty(t, status(seen[name], meta.ReconcilingCondition), "before the new commit is verified (step %s)", name)
		assert.Equal(t, metav1.ConditionTrue, status(seen[name], meta.ReadyCondition), "step %s", name)
	}
	for _, name := range allSteps[4:] {
		c := conditions.Get(seen[name], meta.ReconcilingCondition)
		require.NotNil(t, c, "after step %s", name)
		assert.Equal(t, metav1.ConditionTrue, c.Status)
		assert.Contains(t, c.Message, approved[:12]+" verified")
	}
	fs = e.get("fleet")
	assert.Equal(t, metav1.ConditionTrue, status(fs, meta.ReadyCondition))
	assert.Empty(t, status(fs, meta.ReconcilingCondition))
	assert.Equal(t, approved, fs.Status.AppliedCommit)

	// An unsigned commit: Stalled with the source's reason code, and the
	// last applied commit stays.
	e.during = nil
	e.fleet.Work.Commit("Unsigned", nil)
	e.fleet.Push()
	e.reconciled("fleet")
	fs = e.get("fleet")
	assert.Equal(t, metav1.ConditionFalse, status(fs, meta.ReadyCondition))
	assert.Equal(t, "Unsigned", reason(fs, meta.ReadyCondition))
	assert.Equal(t, metav1.ConditionTrue, status(fs, meta.StalledCondition))
	assert.Equal(t, "Unsigned", reason(fs, meta.StalledCondition))
	assert.Contains(t, conditions.Get(fs, meta.StalledCondition).Message, "keeping "+approved[:12])
	assert.Empty(t, status(fs, meta.ReconcilingCondition))
	assert.Equal(t, approved, fs.Status.AppliedCommit)
	assert.Equal(t, approved, fs.Status.LastAcceptedCommit)
	stalled := fs.ResourceVersion
	e.reconciled("fleet")
	assert.Equal(t, stalled, e.get("fleet").ResourceVersion, "still refused: nothing written")

	// The unsigned commit is dropped and a signed one pushed: Ready again,
	// no longer Stalled.
	e.fleet.Work.Reset(approved)
	e.fleet.Approve(fleet.BondFlip, e.fleet.Carol)
	e.reconciled("fleet")
	fs = e.get("fleet")
	assert.Equal(t, metav1.ConditionTrue, status(fs, meta.ReadyCondition))
	assert.Empty(t, status(fs, meta.StalledCondition))
	assert.Empty(t, status(fs, meta.ReconcilingCondition))
	assert.Equal(t, e.fleet.Work.Head(), fs.Status.AppliedCommit)
}

// status.observedGeneration moves on success and on a stall, never on a
// transient failure.
func TestObservedGeneration(t *testing.T) {
	e := newEnv(t, fleet.Options{AnyTime: true})
	e.create("fleet")
	e.reconciled("fleet")
	fs := e.get("fleet")
	require.Equal(t, metav1.ConditionTrue, status(fs, meta.ReadyCondition))
	require.Equal(t, int64(1), fs.Generation)
	assert.Equal(t, int64(1), fs.Status.ObservedGeneration, "success")
	applied := fs.Status.AppliedCommit

	// Transient: the repository is unreachable.
	e.patchSpec("fleet", `{"repo":"`+unreachable+`"}`)
	e.reconciled("fleet")
	fs = e.get("fleet")
	require.Equal(t, int64(2), fs.Generation)
	assert.Equal(t, int64(1), fs.Status.ObservedGeneration, "a transient failure leaves it")
	assert.Equal(t, metav1.ConditionFalse, status(fs, meta.ReadyCondition))
	assert.Equal(t, fleetsource.ReasonFetchFailed, reason(fs, meta.ReadyCondition))
	assert.Equal(t, metav1.ConditionTrue, status(fs, meta.ReconcilingCondition), "still working on generation 2")
	assert.Equal(t, fleetsource.ReasonFetchFailed, reason(fs, meta.ReconcilingCondition))
	assert.Empty(t, status(fs, meta.StalledCondition))
	assert.Equal(t, applied, fs.Status.AppliedCommit)
	retrying := fs.ResourceVersion
	e.reconciled("fleet")
	fs = e.get("fleet")
	assert.Equal(t, int64(1), fs.Status.ObservedGeneration, "nor does a retry that fails the same way")
	assert.Equal(t, retrying, fs.ResourceVersion, "which writes nothing")

	// Stall: the trust root's key is missing.
	e.patchSpec("fleet", `{"repo":"`+e.fleet.URL+`","trustRoot":{"name":"trust-root","key":"missing.yaml"}}`)
	e.reconciled("fleet")
	fs = e.get("fleet")
	require.Equal(t, int64(3), fs.Generation)
	assert.Equal(t, int64(3), fs.Status.ObservedGeneration, "a stall moves it")
	assert.Equal(t, metav1.ConditionTrue, status(fs, meta.StalledCondition))
	assert.Equal(t, fleetsource.ReasonTrustRootUnreadable, reason(fs, meta.StalledCondition))
	assert.Empty(t, status(fs, meta.ReconcilingCondition))

	// Success again.
	e.patchSpec("fleet", `{"trustRoot":{"name":"trust-root","key":"trust.yaml"}}`)
	e.reconciled("fleet")
	fs = e.get("fleet")
	require.Equal(t, int64(4), fs.Generation)
	assert.Equal(t, int64(4), fs.Status.ObservedGeneration)
	assert.Equal(t, metav1.ConditionTrue, status(fs, meta.ReadyCondition))
	assert.Empty(t, status(fs, meta.StalledCondition))
	assert.Empty(t, status(fs, meta.ReconcilingCondition))
}

// The finalizer removes a deleted FleetSource's state directory, then
// itself; a directory that is gone already is no error, and the
// namespace's directory goes with its last FleetSource.
func TestFinalizerRemovesStateDirectory(t *testing.T) {
	e := newEnv(t, fleet.Options{AnyTime: true})
	e.create("a")
	e.create("b")
	e.reconciled("a")
	e.reconciled("b")
	dirA, dirB := e.rec.StateDirOf(e.key("a")), e.rec.StateDirOf(e.key("b"))
	for _, dir := range []string{dirA, dirB} {
		assert.DirExists(t, filepath.Join(dir, "mirror"))
		assert.FileExists(t, filepath.Join(dir, "state.json"))
	}
	fsA := e.get("a")
	require.True(t, controllerutil.ContainsFinalizer(fsA, fleetsource.Finalizer))

	// Deleted: the finalizer holds the FleetSource until the directory is
	// gone.
	require.NoError(t, e.c.Delete(e.ctx, fsA))
	fsA = e.get("a")
	require.False(t, fsA.DeletionTimestamp.IsZero())
	e.reconciled("a")
	assert.Empty(t, e.steps, "a deleted FleetSource runs no step")
	assert.NoDirExists(t, dirA)
	err := e.c.Get(e.ctx, e.key("a"), fsA)
	assert.True(t, apierrors.IsNotFound(err), "the finalizer let it go: %v", err)
	assert.DirExists(t, dirB, "another FleetSource's state stays")

	// The directory is gone already (a new pod's empty volume, say).
	require.NoError(t, os.RemoveAll(dirB))
	require.NoError(t, e.c.Delete(e.ctx, e.get("b")))
	e.reconciled("b")
	err = e.c.Get(e.ctx, e.key("b"), &v1.FleetSource{})
	assert.True(t, apierrors.IsNotFound(err), "the finalizer let it go: %v", err)
	assert.NoDirExists(t, filepath.Dir(dirB), "no directory is left behind for the namespace")
	entries, err := os.ReadDir(e.rec.StateDir)
	require.NoError(t, err)
	assert.Empty(t, entries)

	// A reconcile of a FleetSource that is gone is no error.
	e.reconciled("b")
}

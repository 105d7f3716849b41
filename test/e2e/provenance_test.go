package e2e_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/admission"
	"github.com/nodewright/nodewright/reconciler/provenance"
	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/manifest"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

// A cluster-admin (impersonated) writes a bond flip straight to the API
// server with a forged "allowed" verdict, a made-up source commit and
// blob. With the webhook installed the API server refuses it; without,
// it is created, but it was never in a verified commit, so it halts with
// NotFromSource before its first step, naming who wrote it, and no node
// is touched.
func TestForgedOperationNeverRuns(t *testing.T) {
	for _, webhook := range []bool{true, false} {
		t.Run(webhookMode(webhook), func(t *testing.T) { forgedOperationNeverRuns(t, webhook) })
	}
}

func forgedOperationNeverRuns(t *testing.T, webhook bool) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{AnyTime: true, Edit: noVMProtection}, withWebhook(webhook))
	_, err := s.StartReconciler(nil)
	require.NoError(t, err)
	// The FleetSource has verified its source once: forged operations are
	// refused from now on, not waited for.
	require.Eventually(t, func() bool {
		fs := &v1.FleetSource{}
		return s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: "fleet"}, fs) == nil && fs.Status.LastAcceptedCommit != ""
	}, time.Minute, 50*time.Millisecond)

	doc, problems := manifest.Decode(fleet.BondFlip, example.Files()[fleet.BondFlip], v1.KindBondModeFlipPlan)
	require.Empty(t, problems)
	spec := doc.Object.(*v1.BondModeFlipPlan).Spec
	forge := func(name string, labels map[string]string) *v1.BondModeFlipPlan {
		return &v1.BondModeFlipPlan{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: labels,
				Annotations: map[string]string{
					v1.AnnotationBlob:  strings.Repeat("cd", 20),
					v1.AnnotationGates: `{"allowed":true,"blob":"` + strings.Repeat("cd", 20) + `","message":"2 of 2 approvals"}`,
				}},
			Spec: spec,
		}
	}
	admin := clusterAdmin(t, s)
	err = admin.Create(ctx, forge("forged-flip", map[string]string{v1.LabelSourceCommit: strings.Repeat("ab", 20)}), client.FieldOwner("kubectl-create"))
	if webhook {
		refusedBy(t, err, admission.ReasonNotReconciler)
		err = admin.Create(ctx, forge("forged-site-flip", map[string]string{v1.LabelSite: fleet.Site, v1.LabelSourceCommit: strings.Repeat("ab", 20)}), client.FieldOwner("kubectl-create"))
		refusedBy(t, err, admission.ReasonNotReconciler)
		nothingMoved(t, s)
		return
	}
	require.NoError(t, err)
	// One that also claims the site is, like any operation of the site
	// that git does not hold, removed (after halting or at once).
	require.NoError(t, admin.Create(ctx, forge("forged-site-flip", map[string]string{v1.LabelSite: fleet.Site, v1.LabelSourceCommit: strings.Repeat("ab", 20)}), client.FieldOwner("kubectl-create")))
	require.NoError(t, s.Kick(ctx)) // the FleetSource's next sync marks it removed

	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "forged-flip", time.Minute, "Halted"))
	assert.Empty(t, plan.Status.HaltedPhase, "it halted before its first phase")
	stalled := condition(plan.Status.Conditions, "Stalled")
	require.NotNil(t, stalled)
	assert.Equal(t, provenance.ReasonNotFromSource, stalled.Reason)
	assert.Contains(t, stalled.Message, `field manager "kubectl-create"`)
	require.NotEmpty(t, plan.Status.Audit)
	last := plan.Status.Audit[len(plan.Status.Audit)-1]
	assert.Equal(t, provenance.ReasonNotFromSource, last.Reason)
	assert.Empty(t, last.SourceCommit, "the audit record claims no source commit for it")

	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(s.Operation(ctx, &v1.BondModeFlipPlan{}, "forged-site-flip"))
	}, time.Minute, 50*time.Millisecond, "the forged operation of the site is removed")

	nothingMoved(t, s)
}

// webhookMode names a subtest.
func webhookMode(on bool) string {
	if on {
		return "webhook"
	}
	return "no webhook"
}

// withWebhook leaves the webhook in or out of a stack.
func withWebhook(on bool) func(*stack.Options) {
	return func(o *stack.Options) { o.NoWebhook = !on }
}

// clusterAdmin is a client of a person with cluster-admin rights (an
// impersonated user in system:masters), not the reconciler.
func clusterAdmin(t *testing.T, s *stack.Stack) client.Client {
	t.Helper()
	c, err := client.New(cluster.PersonConfig(s.Config, "jane@example.org"), client.Options{Scheme: s.Client.Scheme()})
	require.NoError(t, err)
	return c
}

// refusedBy asserts that the webhook refused a request with reason.
func refusedBy(t *testing.T, err error, reason string) {
	t.Helper()
	require.Error(t, err, "the webhook lets it through")
	assert.True(t, apierrors.IsForbidden(err), "refused as forbidden: %v", err)
	assert.Contains(t, err.Error(), reason+": ")
}

// nothingMoved asserts that no NodeTask exists and no node was touched.
func nothingMoved(t *testing.T, s *stack.Stack) {
	t.Helper()
	tasks, err := s.Tasks(context.Background())
	require.NoError(t, err)
	assert.Empty(t, tasks, "no NodeTask exists")
	for _, n := range fleet.Nodes {
		assert.Empty(t, s.Hosts[n].Journal(), "node %s is untouched", n)
	}
}

// An approved bond flip whose spec is edited in the cluster while node-a
// flips (a `kubectl edit` of toMode): the webhook refuses the edit and the
// flip runs to its end as approved; without the webhook the edit lands and
// the flip halts with NotFromSource before the next node: node-b and
// node-c are never touched.
func TestSpecEditedInClusterHaltsBeforeNextNode(t *testing.T) {
	for _, webhook := range []bool{true, false} {
		t.Run(webhookMode(webhook), func(t *testing.T) { specEditedInCluster(t, webhook) })
	}
}

func specEditedInCluster(t *testing.T, webhook bool) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, withWebhook(webhook))
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	admin := clusterAdmin(t, s)
	var once sync.Once
	var editErr error
	_, err := s.StartReconciler(func(o *reconciler.Options) {
		o.Hooks.AfterTaskCreated = func(kind, name, _ string) error {
			once.Do(func() {
				plan := &v1.BondModeFlipPlan{}
				if editErr = admin.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, plan); editErr != nil {
					return
				}
				patch := client.MergeFrom(plan.DeepCopy())
				plan.Spec.ToMode = v1.BondBalanceRR
				editErr = admin.Patch(ctx, plan, patch, client.FieldOwner("kubectl-edit"))
			})
			return nil
		}
	})
	require.NoError(t, err)

	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", time.Minute, "Halted", "Succeeded"))
	if webhook {
		refusedBy(t, editErr, admission.ReasonInFlight)
		require.Equal(t, "Succeeded", plan.Status.Phase, "%v", plan.Status.Conditions)
		assert.Equal(t, v1.Bond8023AD, plan.Spec.ToMode)
		for _, n := range fleet.Nodes {
			require.Len(t, s.Hosts[n].Journal(), 1, "%s flipped once", n)
			assert.Equal(t, v1.Bond8023AD, s.Hosts[n].Journal()[0].To, "%s runs the approved mode", n)
		}
		return
	}
	require.NoError(t, editErr)
	require.Equal(t, "Halted", plan.Status.Phase)
	stalled := condition(plan.Status.Conditions, "Stalled")
	require.NotNil(t, stalled)
	assert.Equal(t, provenance.ReasonNotFromSource, stalled.Reason)
	assert.Contains(t, stalled.Message, "changed in the cluster")
	assert.Contains(t, stalled.Message, `field manager "kubectl-edit"`)
	for _, n := range []string{"node-b", "node-c"} {
		assert.Empty(t, s.Hosts[n].Journal(), "%s is not touched after the edit", n)
	}
	tasks, err := s.Tasks(ctx)
	require.NoError(t, err)
	for _, task := range tasks {
		assert.Equal(t, "node-a", task.Spec.NodeName, "no task for a node after the edit")
	}
}

// A reconciler that restarts with an empty state directory (an emptyDir
// on a new pod) while a bond flip is in flight and its newer version waits
// finds the running version again in the verified history: the flip goes
// on to Succeeded instead of halting as not from the source.
func TestInFlightVersionFoundAgainAfterStateLoss(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	started := make(chan struct{})
	var once sync.Once
	m, err := s.StartReconciler(func(o *reconciler.Options) {
		o.Hooks.AfterTaskCreated = func(_, _, _ string) error {
			once.Do(func() { close(started) })
			return stack.ErrStop
		}
	})
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the bond flip never created a NodeTask")
	}
	require.NoError(t, m.Stop())

	// A newer version lands while the flip is in flight, and the state
	// directory is lost.
	s.Fleet.Change(fleet.BondFlip, func(c string) string { return strings.Replace(c, "revertAfter: 2m", "revertAfter: 90s", 1) }, "Revert sooner")
	require.NoError(t, os.RemoveAll(s.StateDir))
	_, err = s.StartReconciler(nil)
	require.NoError(t, err)

	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", 2*time.Minute, "Succeeded", "Halted"))
	require.Equal(t, "Succeeded", plan.Status.Phase, "%v", plan.Status.Conditions)
	assert.Equal(t, "2m0s", plan.Spec.RevertAfter.Duration.String(), "the version in flight ran to its end")
	for _, n := range fleet.Nodes {
		assert.Len(t, s.Hosts[n].Journal(), 1, "node %s flipped once", n)
	}
}

// A bond flip that waits for its approvals is moved into an in-flight
// phase by a write to its status (someone who may write the status
// subresource): no version of it ever passed its admission gates, so it
// halts with NotFromSource and no node is touched.
//
// With the webhook installed, the status write itself is refused.
func TestForgedPhaseDoesNotSkipApprovals(t *testing.T) {
	for _, webhook := range []bool{true, false} {
		t.Run(webhookMode(webhook), func(t *testing.T) { forgedPhase(t, webhook) })
	}
}

func forgedPhase(t *testing.T, webhook bool) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, withWebhook(webhook))
	_, err := s.StartReconciler(nil)
	require.NoError(t, err)
	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", time.Minute, "AwaitingApproval"))

	patch := client.MergeFrom(plan.DeepCopy())
	plan.Status.Phase = "Preflight"
	err = clusterAdmin(t, s).Status().Patch(ctx, plan, patch, client.FieldOwner("kubectl-patch"))
	if webhook {
		refusedBy(t, err, admission.ReasonNotReconciler)
		require.NoError(t, s.Operation(ctx, plan, "bond0-to-lacp"))
		assert.Equal(t, "AwaitingApproval", plan.Status.Phase)
		nothingMoved(t, s)
		return
	}
	require.NoError(t, err)

	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", time.Minute, "Halted"))
	stalled := condition(plan.Status.Conditions, "Stalled")
	require.NotNil(t, stalled)
	assert.Equal(t, provenance.ReasonNotFromSource, stalled.Reason)
	assert.Contains(t, stalled.Message, "not reached through its admission gates")
	nothingMoved(t, s)
}

package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/reconciler/admission"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

// handMadeTask is a well-formed FlipBond NodeTask for node-a, as a person
// with rights to NodeTasks would write it.
func handMadeTask(ns string) *v1.NodeTask {
	return &v1.NodeTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "by-hand", Labels: map[string]string{v1.LabelNode: "node-a"}},
		Spec: v1.NodeTaskSpec{
			NodeName:  "node-a",
			Operation: v1.OperationReference{Kind: v1.KindBondModeFlipPlan, Name: "bond0-to-lacp"},
			Action:    v1.ActionFlipBond,
			Params: action.FlipBond{Bond: "bond0", FromMode: v1.BondActiveBackup, ToMode: v1.Bond8023AD,
				RevertAfter: time.Minute, ProbeTimeout: 5 * time.Second, APIServer: true}.Params(),
			Deadline: metav1.NewTime(time.Now().Add(time.Hour).UTC().Truncate(time.Second)),
		},
	}
}

// A NodeTask written by hand for node-a: the webhook refuses it; without
// the webhook the agent refuses it, says why, and leaves the node as it
// was.
func TestHandMadeNodeTaskIsRefused(t *testing.T) {
	for _, webhook := range []bool{true, false} {
		t.Run(webhookMode(webhook), func(t *testing.T) {
			ctx := context.Background()
			s := newStack(t, fleet.Options{AnyTime: true, Edit: noVMProtection}, withWebhook(webhook))
			task := handMadeTask(s.Namespace)
			err := clusterAdmin(t, s).Create(ctx, task)
			if webhook {
				refusedBy(t, err, admission.ReasonNotReconciler)
				nothingMoved(t, s)
				return
			}
			require.NoError(t, err)
			got := &v1.NodeTask{}
			require.Eventually(t, func() bool {
				return s.Client.Get(ctx, client.ObjectKeyFromObject(task), got) == nil && v1.TaskPhase(got.Status.Phase).Terminal()
			}, time.Minute, 50*time.Millisecond, "the agent answers the task")
			assert.Equal(t, string(v1.TaskFailed), got.Status.Phase)
			assert.Contains(t, got.Status.Message, "no nodewright.io/attestation annotation: the task was not written by the reconciler")
			assert.Empty(t, s.Hosts["node-a"].Journal(), "node-a is untouched")
		})
	}
}

// agentOn is a client with the identity of the agent of node (its
// ServiceAccount, with the node the API server puts in a pod-bound
// token's user info).
func agentOn(t *testing.T, s *stack.Stack, node string) client.Client {
	t.Helper()
	c, err := client.New(cluster.AgentConfig(s.Config, s.Namespace, node), client.Options{Scheme: s.Client.Scheme()})
	require.NoError(t, err)
	return c
}

// After a bond flip, the agent of node-a rewrites the report of node-b's
// task, and a cluster-admin tries too: both are refused; node-b's own
// agent may.
func TestAgentWritesOnlyItsNodesTasks(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	_, err := s.StartReconciler(nil)
	require.NoError(t, err)
	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", 2*time.Minute, "Succeeded", "Halted"))
	require.Equal(t, "Succeeded", plan.Status.Phase, "%v", plan.Status.Conditions)

	tasks, err := s.Tasks(ctx)
	require.NoError(t, err)
	var theirs *v1.NodeTask
	for i := range tasks {
		if tasks[i].Spec.NodeName == "node-b" {
			theirs = &tasks[i]
		}
	}
	require.NotNil(t, theirs, "node-b has a task")
	assert.NotEmpty(t, theirs.Annotations[v1.AnnotationAttestation], "the reconciler attested it")
	rewrite := func(c client.Client) error {
		task := &v1.NodeTask{}
		if err := s.Client.Get(ctx, client.ObjectKeyFromObject(theirs), task); err != nil {
			return err
		}
		task.Status.Message = "rewritten"
		return c.Status().Update(ctx, task)
	}
	refusedBy(t, rewrite(agentOn(t, s, "node-a")), admission.ReasonWrongNode)
	refusedBy(t, rewrite(clusterAdmin(t, s)), admission.ReasonWrongNode)
	assert.NoError(t, rewrite(agentOn(t, s, "node-b")), "node-b's agent reports on its own task")
}

// writeAgentStatus reads the NodewrightAgentStatus name, lets edit change
// it, and writes its status with c, again when the node's own agent's
// heartbeat wrote in between.
func writeAgentStatus(ctx context.Context, s *stack.Stack, c client.Client, name string, edit func(*v1.NodewrightAgentStatus)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		as := &v1.NodewrightAgentStatus{}
		if err := s.Client.Get(ctx, client.ObjectKey{Name: name}, as); err != nil {
			return err
		}
		edit(as)
		return c.Status().Update(ctx, as)
	})
}

// RBAC lets every agent write every node's NodewrightAgentStatus; the
// webhook holds each to its own node's. The agent of node-a rewrites
// node-b's report, reports node-b in its own, creates a report for another
// node, and writes with a token that names no node: all are refused.
// node-b's own agent, and a cluster-admin, are not.
func TestAgentWritesOnlyItsNodesStatus(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{AnyTime: true, Edit: noVMProtection}, nil)
	for _, n := range []string{"node-a", "node-b"} {
		require.Eventually(t, func() bool {
			return s.Client.Get(ctx, client.ObjectKey{Name: n}, &v1.NodewrightAgentStatus{}) == nil
		}, time.Minute, 50*time.Millisecond, "the agent of %s reports", n)
	}
	nodeA := agentOn(t, s, "node-a")
	keep := func(*v1.NodewrightAgentStatus) {}

	refusedBy(t, writeAgentStatus(ctx, s, nodeA, "node-b", keep), admission.ReasonWrongNode)
	refusedBy(t, writeAgentStatus(ctx, s, nodeA, "node-a", func(as *v1.NodewrightAgentStatus) { as.Status.NodeName = "node-b" }),
		admission.ReasonWrongNode)
	refusedBy(t, nodeA.Create(ctx, &v1.NodewrightAgentStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-z"}}), admission.ReasonWrongNode)

	// The agent's ServiceAccount, with a token bound to no node (a
	// long-lived token Secret's, say).
	cfg := cluster.AgentConfig(s.Config, s.Namespace, "node-a")
	delete(cfg.Impersonate.Extra, admission.NodeNameExtra)
	unbound, err := client.New(cfg, client.Options{Scheme: s.Client.Scheme()})
	require.NoError(t, err)
	refusedBy(t, writeAgentStatus(ctx, s, unbound, "node-a", keep), admission.ReasonWrongNode)

	assert.NoError(t, writeAgentStatus(ctx, s, agentOn(t, s, "node-b"), "node-b", keep), "node-b's agent reports on its own node")
	assert.NoError(t, writeAgentStatus(ctx, s, clusterAdmin(t, s), "node-b", keep), "others are left to RBAC")
	err = s.Client.Get(ctx, client.ObjectKey{Name: "node-z"}, &v1.NodewrightAgentStatus{})
	assert.True(t, apierrors.IsNotFound(err), "no report was made for node-z: %v", err)
}

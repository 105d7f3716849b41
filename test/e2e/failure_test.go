package e2e_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
)

func TestFailedNodeStepHaltsThenResumeFromGit(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	s.Hosts["node-b"].FailProbe(agent.ProbeGateway, "192.0.2.1", errors.New("no route to host"))
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	_, err := s.StartReconciler(nil)
	require.NoError(t, err)

	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", time.Minute, "Halted", "Succeeded"))
	require.Equal(t, "Halted", plan.Status.Phase)
	assert.Equal(t, "Flip", plan.Status.HaltedPhase)
	stalled := condition(plan.Status.Conditions, "Stalled")
	require.NotNil(t, stalled)
	assert.Equal(t, "NodeStepFailed", stalled.Reason)
	assert.Contains(t, stalled.Message, "node node-b")
	assert.Contains(t, stalled.Message, "not touched: node-c")

	modeA, _ := s.Hosts["node-a"].Mode("bond0")
	modeB, _ := s.Hosts["node-b"].Mode("bond0")
	modeC, _ := s.Hosts["node-c"].Mode("bond0")
	assert.Equal(t, v1.Bond8023AD, modeA, "the node before the failure stays flipped")
	assert.Equal(t, v1.BondActiveBackup, modeB, "the failed node was reverted by its agent")
	assert.Equal(t, v1.BondActiveBackup, modeC)
	assert.Empty(t, s.Hosts["node-c"].Journal(), "no later node is touched")
	assert.Len(t, s.Hosts["node-b"].Journal(), 2, "flip and revert")

	// A person fixes the gateway and resumes through git; the changed
	// manifest needs its approvals again.
	s.Hosts["node-b"].ClearFaults()
	s.Fleet.Change(fleet.BondFlip, func(c string) string { return strings.TrimRight(c, "\n") + "\n  action: Resume" }, "Resume the bond flip: gateway fixed")
	require.NoError(t, s.Kick(ctx))
	require.Eventually(t, func() bool {
		_ = s.Operation(ctx, plan, "bond0-to-lacp")
		c := condition(plan.Status.Conditions, "Stalled")
		return plan.Status.Phase == "Halted" && c != nil && c.Reason == "AwaitingAction"
	}, 30*time.Second, 50*time.Millisecond, "Resume waits for approvals of the new version")
	assert.Empty(t, s.Hosts["node-c"].Journal())

	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	require.NoError(t, s.Kick(ctx))
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", time.Minute, "Succeeded"))
	assert.Len(t, s.Hosts["node-b"].Journal(), 3, "flip, revert, and the resumed flip")
	assert.Len(t, s.Hosts["node-c"].Journal(), 1)
	assertChain(t, s)
}

func TestRefusedSourceChangesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	_, err := s.StartReconciler(nil)
	require.NoError(t, err)
	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", 30*time.Second, "AwaitingApproval"))
	blob := plan.Annotations[v1.AnnotationBlob]

	// An unsigned commit that changes the target mode and approves it.
	s.Fleet.Work.Write(fleet.BondFlip, strings.Replace(s.Fleet.Work.Git("show", "HEAD:"+fleet.BondFlip), "toMode: 802.3ad", "toMode: balance-rr", 1)+"\n")
	s.Fleet.Work.Commit("Quietly change the target mode", nil)
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	require.NoError(t, s.Kick(ctx))

	fs := &v1.FleetSource{}
	require.Eventually(t, func() bool {
		_ = s.Client.Get(ctx, keyOf(s.Namespace, "fleet"), fs)
		c := condition(fs.Status.Conditions, "Ready")
		return c != nil && c.Reason == "Unsigned"
	}, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, s.Operation(ctx, plan, "bond0-to-lacp"))
	assert.Equal(t, blob, plan.Annotations[v1.AnnotationBlob], "the operation is as the last accepted commit left it")
	assert.Equal(t, v1.Bond8023AD, plan.Spec.ToMode)
	assert.Equal(t, "AwaitingApproval", plan.Status.Phase)
	for _, n := range fleet.Nodes {
		assert.Empty(t, s.Hosts[n].Journal())
	}
}

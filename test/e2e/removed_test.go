package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
)

func TestOperationRemovedFromGitInFlightFinishesThenIsCleanedUp(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	hold := s.Hosts["node-b"].HoldSets()
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	_, err := s.StartReconciler(nil)
	require.NoError(t, err)

	// node-b's flip is under way (its agent is inside SetBondMode).
	select {
	case <-hold.Entered():
	case <-time.After(time.Minute):
		t.Fatal("node-b's flip never started")
	}
	s.Fleet.Work.Remove(fleet.BondFlip)
	s.Fleet.Work.Commit("Drop the bond flip", s.Fleet.Bob)
	s.Fleet.Push()
	require.NoError(t, s.Kick(ctx))

	plan := &v1.BondModeFlipPlan{}
	require.Eventually(t, func() bool {
		return s.Operation(ctx, plan, "bond0-to-lacp") == nil && plan.Annotations[v1.AnnotationRemoved] != ""
	}, 30*time.Second, 50*time.Millisecond, "the operation is marked removed, not deleted")
	assert.Equal(t, "Flip", plan.Status.Phase, "still in flight")

	hold.Release()
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(s.Operation(ctx, plan, "bond0-to-lacp"))
	}, time.Minute, 50*time.Millisecond, "once finished it is cleaned up")
	for _, n := range fleet.Nodes {
		mode, _ := s.Hosts[n].Mode("bond0")
		assert.Equal(t, v1.Bond8023AD, mode, "the flip finished safely on %s", n)
	}
	tasks, err := s.Tasks(ctx)
	require.NoError(t, err)
	assert.Empty(t, tasks, "its NodeTasks went with it")
	nc := &v1.NodewrightCluster{}
	require.NoError(t, s.Client.Get(ctx, keyOf("", s.Name), nc))
	assert.Equal(t, "Succeeded", nc.Audit.Recent[len(nc.Audit.Recent)-1].To, "it ended in Succeeded before it went")
}

package bondflip_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/backend/kubevirt"
	"github.com/nodewright/nodewright/reconciler/bondflip"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/kubevirtsim"
)

// TestFlipProtectsVMsOnKubeVirt runs a whole flip with its ProtectVMs step
// on the KubeVirt backend, over the real KubeVirt types, with the test
// stand-in for virt-controller taking a step before every reconcile: the
// live VM moves off each node before its bond flips, the one that cannot
// move is stopped and started again, and every node ends uncordoned.
func TestFlipProtectsVMsOnKubeVirt(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	h.Env.VMs = nil
	h.Env.Evacuator = kubevirt.New(h.C)
	sim := kubevirtsim.New(h.C, h.NS, h.nodes...)
	_, err := sim.AddVM(ctx, "db-0", h.nodes[0], true)
	require.NoError(t, err)
	_, err = sim.AddVM(ctx, "web-1", h.nodes[0], false)
	require.NoError(t, err)

	s := h.spec()
	s.VMProtection = v1.VMProtectionShutdown
	h.apply(s)
	sawStopped := false
	op := h.runUntil(func(op *v1.BondModeFlipPlan) bool {
		if p, ok := progress(op)[h.nodes[0]]; ok && p.Phase == bondflip.NodeProtected &&
			p.Message == "no VM runs on "+h.nodes[0]+": "+h.NS+"/db-0 migrated to "+h.nodes[1]+", "+h.NS+"/web-1 stopped; "+h.nodes[0]+" cordoned" {
			sawStopped = true
		}
		require.NoError(t, sim.Step(ctx))
		return h.Settled(op)
	})
	require.Equal(t, string(phase.Succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
	assert.True(t, sawStopped, "node a's progress reported each VM")
	for _, x := range []string{"a", "b", "c"} {
		assert.Equal(t, []string{"active-backup → 802.3ad"}, h.flips(x), "node %s", x)
		n := &corev1.Node{}
		require.NoError(t, h.C.Get(ctx, client.ObjectKey{Name: h.node(x)}, n))
		assert.False(t, n.Spec.Unschedulable, "node %s uncordoned", x)
		assert.NotContains(t, n.Annotations, kubevirt.AnnotationCordoned)
	}
	web := &kubevirtv1.VirtualMachine{}
	require.NoError(t, h.C.Get(ctx, client.ObjectKey{Namespace: h.NS, Name: "web-1"}, web))
	assert.Equal(t, kubevirtv1.RunStrategyAlways, *web.Spec.RunStrategy, "web-1 runs again")
	require.NoError(t, sim.Step(ctx))
	node, err := sim.VMINode(ctx, "web-1")
	require.NoError(t, err)
	assert.NotEmpty(t, node)
	ms := &kubevirtv1.VirtualMachineInstanceMigrationList{}
	require.NoError(t, h.C.List(ctx, ms, client.InNamespace(h.NS)))
	for _, m := range ms.Items {
		assert.Equal(t, kubevirtv1.MigrationSucceeded, m.Status.Phase, m.Name)
	}
	assert.NotEmpty(t, ms.Items)
	h.assertAudit(t, op)
}

package gather

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/nodewright/nodewright/gates"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// NodeInput reads the agent status of each step node, through the
// uncached reader when there is one: a node without one has no entry (the
// gate reads it as unknown), and the input names the step's nodes.
func TestNodeInput(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, v1.AddToScheme(scheme))
	now := time.Date(2026, 11, 24, 2, 30, 0, 0, time.UTC)
	profile := &v1.EdgeProfile{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: v1.EdgeProfileSpec{Site: "s",
		Nodes: []v1.Node{{Name: "node-a"}, {Name: "node-b"}}}}
	syncing := &v1.DRBDStatus{State: v1.DRBDInstalled, Total: 1, Unhealthy: 1,
		Resources: []v1.DRBDResource{{Name: "pvc-1", Problem: "peer node-b volume 0 SyncTarget 40.0% in sync"}}}
	status := func(node string, d *v1.DRBDStatus) client.Object {
		return &v1.NodewrightAgentStatus{ObjectMeta: metav1.ObjectMeta{Name: node},
			Status: v1.AgentStatus{NodeName: node, LastHeartbeat: metav1.NewTime(now.Add(-time.Minute)), DRBD: d}}
	}
	cached := fake.NewClientBuilder().WithScheme(scheme).WithObjects(profile.DeepCopy(), status("node-a", &v1.DRBDStatus{State: v1.DRBDNotInstalled})).Build()
	fresh := fake.NewClientBuilder().WithScheme(scheme).WithObjects(profile.DeepCopy(), status("node-a", syncing)).Build()
	op := &v1.BondModeFlipPlan{ObjectMeta: metav1.ObjectMeta{Name: "flip", Namespace: "s"}, Spec: v1.BondModeFlipPlanSpec{Nodes: []string{"node-a", "node-b"}, MaxUnavailable: 1}}

	in, err := Cluster{Client: cached, Fresh: fresh, Site: "s"}.NodeInput(context.Background(), op, []string{"node-a", "node-b"}, now)
	require.NoError(t, err)
	assert.Equal(t, []string{"node-a", "node-b"}, in.Operation.StepNodes)
	assert.Equal(t, v1.KindBondModeFlipPlan, in.Operation.Kind)
	assert.Equal(t, now, in.Now)
	require.NotNil(t, in.Profile)
	require.Contains(t, in.Health.Agents, "node-a")
	assert.NotContains(t, in.Health.Agents, "node-b", "no agent status, no entry")
	assert.Equal(t, syncing, in.Health.Agents["node-a"].DRBD, "read uncached")
	assert.Equal(t, now.Add(-time.Minute), in.Health.Agents["node-a"].LastHeartbeat.UTC())

	v := gates.Node.Evaluate(in)
	require.False(t, v.Allowed)
	assert.Equal(t, gates.StorageNotHealthy, v.Verdicts[0].Reason)
	assert.Contains(t, v.Verdicts[0].Message, "node node-a: DRBD not healthy: pvc-1: peer node-b volume 0 SyncTarget 40.0% in sync")
	assert.Contains(t, v.Verdicts[0].Message, "node node-b: no agent has reported")

	in, err = Cluster{Client: cached, Site: "s"}.NodeInput(context.Background(), op, []string{"node-a"}, now)
	require.NoError(t, err)
	assert.True(t, gates.Node.Evaluate(in).Allowed, "without an uncached reader, the cached one")

	_, err = Cluster{Client: cached, Site: "elsewhere"}.NodeInput(context.Background(), op, []string{"node-a"}, now)
	assert.ErrorContains(t, err, "EdgeProfile elsewhere")
}

package reconciler

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

type lastPublished struct{ status *v1.ClusterStatus }

func (p *lastPublished) Write(_ context.Context, st v1.ClusterStatus, _ []v1.AuditRecord) error {
	p.status = &st
	return nil
}

func node(name string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
}

func agentStatus(name string, heartbeat time.Time, bonds []v1.ObservedBond, d *v1.DRBDStatus) *v1.NodewrightAgentStatus {
	return &v1.NodewrightAgentStatus{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: v1.AgentStatus{NodeName: name, LastHeartbeat: metav1.NewTime(heartbeat), Bonds: bonds, DRBD: d}}
}

// The rollup carries each node's agent, bond link and DRBD summary in the
// NodewrightCluster, and publishes the ClusterStatus alone: the status
// ref's format stays as its readers know it.
func TestReportRollsUpNodes(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, v1.AddToScheme(scheme))
	now := time.Date(2026, 11, 24, 2, 30, 0, 0, time.UTC)
	up := v1.ObservedSlave{Name: "eth0", MIIStatus: v1.LinkUp}
	down := v1.ObservedSlave{Name: "eth1", MIIStatus: v1.LinkDown}
	syncing := &v1.DRBDStatus{State: v1.DRBDInstalled, Total: 2, Unhealthy: 1, Resources: []v1.DRBDResource{
		{Name: "pvc-1", Problem: "peer node-b volume 0 SyncTarget 40.0% in sync"}, {Name: "pvc-2", Healthy: true}}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1.NodewrightCluster{}).WithObjects(
		node("node-a", corev1.ConditionTrue), node("node-b", corev1.ConditionFalse), node("node-c", corev1.ConditionTrue),
		agentStatus("node-a", now.Add(-10*time.Second), []v1.ObservedBond{{Name: "bond0", Mode: v1.Bond8023AD, MIIStatus: v1.LinkUp, Slaves: []v1.ObservedSlave{up, down}}}, syncing),
		agentStatus("node-b", now.Add(-10*time.Minute), nil, &v1.DRBDStatus{State: v1.DRBDUnavailable, Message: "exit status 20"}),
		agentStatus("node-x", now, nil, &v1.DRBDStatus{State: v1.DRBDNotInstalled}),
	).Build()
	pub := &lastPublished{}
	r := &reporter{client: c, reader: c, cluster: "edge", site: "s", namespace: "nodewright-system", publisher: pub,
		interval: time.Minute, heartbeat: time.Hour, now: func() time.Time { return now }, kick: make(chan struct{}, 1), log: logr.Discard()}
	require.NoError(t, r.report(context.Background()))

	nc := &v1.NodewrightCluster{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: "edge"}, nc))
	assert.Equal(t, v1.NodeHealthSummary{Total: 3, Ready: 2}, nc.Status.Nodes)
	assert.Equal(t, []v1.NodeRollup{
		{Name: "node-a", Ready: true, Agent: v1.AgentReporting,
			Bonds: []v1.BondRollup{{Name: "bond0", Mode: v1.Bond8023AD, MIIStatus: v1.LinkUp, SlavesUp: 1, Slaves: 2}},
			DRBD:  &v1.DRBDRollup{State: v1.DRBDInstalled, Total: 2, Unhealthy: 1, Problem: "pvc-1: peer node-b volume 0 SyncTarget 40.0% in sync"}},
		{Name: "node-b", Agent: v1.AgentStale, DRBD: &v1.DRBDRollup{State: v1.DRBDUnavailable, Problem: "exit status 20"}},
		{Name: "node-c", Ready: true, Agent: v1.AgentMissing},
		{Name: "node-x", Agent: v1.AgentReporting, DRBD: &v1.DRBDRollup{State: v1.DRBDNotInstalled}},
	}, nc.Status.NodeDetails)

	require.NotNil(t, pub.status)
	want := nc.Status.ClusterStatus
	assert.True(t, want.Time.Equal(&pub.status.Time), "%s, %s", want.Time, pub.status.Time)
	want.Time = pub.status.Time // the stored copy comes back in local time
	assert.Equal(t, want, *pub.status, "the publisher gets the ClusterStatus, without the node details")
}

func TestNodeDetailsAreBounded(t *testing.T) {
	ready := map[string]bool{}
	for i := range v1.MaxNodeRollups + 5 {
		ready[string(rune('a'+i%26))+time.Duration(i).String()] = true
	}
	assert.Len(t, nodeDetails(ready, nil, time.Now()), v1.MaxNodeRollups)
}

func TestProgressCountsStepsNotDetails(t *testing.T) {
	os := &v1.OperationStatus{Progress: []v1.StepProgress{
		{Target: "batch-1", Phase: "Done"}, {Target: "batch-2", Phase: "Syncing"}, {Target: "batch-3", Phase: "Pending"},
		{Target: "replica/r1@node-c", Phase: "Syncing"}, {Target: "replica/r2@node-a", Phase: "StandAlone"},
	}}
	if got := progress(os); got != "1/3, 2 syncing" {
		t.Fatalf("progress = %q, want 1/3, 2 syncing", got)
	}
	os.Progress = os.Progress[:3]
	if got := progress(os); got != "1/3" {
		t.Fatalf("progress = %q, want 1/3", got)
	}
	if got := progress(&v1.OperationStatus{}); got != "" {
		t.Fatalf("progress of nothing = %q", got)
	}
}

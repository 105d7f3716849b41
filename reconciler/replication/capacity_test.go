package replication_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/replication"
)

const gib = 1 << 20 // in KiB

// twoReplicas is a group of n resources of size KiB each, with UpToDate
// replicas on node-a and node-b.
func twoReplicas(n int, size int64) *backend.ResourceGroup {
	g := &backend.ResourceGroup{Name: "vm-disks", PlaceCount: 2}
	for i := range n {
		g.Resources = append(g.Resources, backend.Resource{Name: string(rune('a'+i)) + "-disk", SizeKiB: size,
			Replicas: []backend.Replica{{Node: "node-a", State: backend.UpToDate}, {Node: "node-b", State: backend.UpToDate}}})
	}
	return g
}

func names(g *backend.ResourceGroup) []string {
	var out []string
	for _, r := range g.Resources {
		out = append(out, r.Name)
	}
	return out
}

func pools(free map[string]int64) []backend.NodePool {
	var out []backend.NodePool
	for _, n := range []string{"node-a", "node-b", "node-c", "node-d"} {
		if f, ok := free[n]; ok {
			out = append(out, backend.NodePool{Node: n, Online: true, Status: "ONLINE", HasPool: true, FreeKiB: f})
		}
	}
	return out
}

func stallReason(t *testing.T, err error) (string, string) {
	t.Helper()
	var s *operation.StallError
	require.True(t, errors.As(err, &s), "want a stall, got %v", err)
	return s.Reason, s.Message
}

func TestCapacity(t *testing.T) {
	nodes := []string{"node-a", "node-b", "node-c"}
	g := twoReplicas(3, 10*gib)

	// Three new replicas of 10 GiB can only go to node-c.
	require.NoError(t, replication.Capacity(g, names(g), 3, "nvme", nodes, pools(map[string]int64{"node-a": 0, "node-b": 0, "node-c": 30 * gib})))

	reason, msg := stallReason(t, replication.Capacity(g, names(g), 3, "nvme", nodes, pools(map[string]int64{"node-a": 100 * gib, "node-b": 100 * gib, "node-c": 25 * gib})))
	assert.Equal(t, replication.ReasonNotEnoughCapacity, reason)
	assert.Contains(t, msg, "node-c short by 5.0 GiB (free 25.0 GiB, new replicas 30.0 GiB)", "the shortfall is per node")
	assert.NotContains(t, msg, "node-a", "nodes with room are not named")

	// With a fourth node the replicas spread, most free first; a replica
	// does not split, so 15 + 15 GiB free do not hold three of 10 GiB.
	nodes4 := append(nodes, "node-d")
	require.NoError(t, replication.Capacity(g, names(g), 3, "nvme", nodes4, pools(map[string]int64{"node-a": 0, "node-b": 0, "node-c": 20 * gib, "node-d": 10 * gib})))
	_, msg = stallReason(t, replication.Capacity(g, names(g), 3, "nvme", nodes4, pools(map[string]int64{"node-a": 0, "node-b": 0, "node-c": 15 * gib, "node-d": 15 * gib})))
	assert.Contains(t, msg, "short by 5.0 GiB")

	// A node offline, unknown or without the pool refuses before any fit.
	ps := pools(map[string]int64{"node-a": gib, "node-b": gib, "node-c": 100 * gib})
	ps[2].Online, ps[2].Status = false, "OFFLINE"
	reason, msg = stallReason(t, replication.Capacity(g, names(g), 3, "nvme", nodes, ps))
	assert.Equal(t, replication.ReasonNotEnoughCapacity, reason)
	assert.Contains(t, msg, "node-c (OFFLINE)")
	_, msg = stallReason(t, replication.Capacity(g, names(g), 3, "nvme", nodes, ps[:2]))
	assert.Contains(t, msg, "node-c (unknown to the storage controller)")
	ps[2].Online, ps[2].HasPool = true, false
	_, msg = stallReason(t, replication.Capacity(g, names(g), 3, "nvme", nodes, ps))
	assert.Contains(t, msg, "node-c (no storage pool nvme)")

	// Four replicas need four nodes.
	_, msg = stallReason(t, replication.Capacity(g, names(g)[:1], 4, "nvme", nodes, pools(map[string]int64{"node-a": gib, "node-b": gib, "node-c": gib})))
	assert.Contains(t, msg, "a-disk (needs 2 more nodes, 1 free of it)")

	// Unknown sizes take no room.
	require.NoError(t, replication.Capacity(twoReplicas(3, 0), names(g), 3, "nvme", nodes, pools(map[string]int64{"node-a": 0, "node-b": 0, "node-c": 0})))
}

func TestObserveAndStalled(t *testing.T) {
	rep := func(peers ...backend.PeerSync) backend.Replica {
		return backend.Replica{Node: "node-c", State: "Inconsistent", Peers: peers}
	}
	ok := backend.PeerSync{Node: "node-a", Connection: "Connected", Replication: "SyncTarget", DonePercent: 42.5}
	for _, tc := range []struct {
		rep  backend.Replica
		want string
		pct  float64
	}{
		{rep(ok), replication.ReplicaSyncing, 42.5},
		{rep(ok, backend.PeerSync{Node: "node-b", Connection: "Connected", Replication: "SyncTarget", DonePercent: 60}), replication.ReplicaSyncing, 60},
		{rep(ok, backend.PeerSync{Node: "node-b", Connection: "StandAlone", DonePercent: -1}), replication.ReplicaStandAlone, -1},
		{rep(ok, backend.PeerSync{Node: "node-b", Connection: "Connecting", DonePercent: -1}), replication.ReplicaConnecting, -1},
		{rep(ok, backend.PeerSync{Node: "node-b", Connection: "Connected", Replication: "WFBitMapT", DonePercent: -1}), replication.ReplicaWFBitMapT, -1},
		{rep(), replication.ReplicaSyncing, -1},
	} {
		o := replication.Observe(tc.rep)
		assert.Equal(t, tc.want, o.Condition, "%+v", tc.rep)
		assert.Equal(t, tc.pct, o.Percent, "%+v", tc.rep)
	}

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	syncing := replication.Observation{Condition: replication.ReplicaSyncing, Percent: 10}
	assert.False(t, replication.Stalled(syncing, t0, t0.Add(9*time.Minute), 10*time.Minute))
	assert.True(t, replication.Stalled(syncing, t0, t0.Add(10*time.Minute), 10*time.Minute))
	unknown := replication.Observation{Condition: replication.ReplicaSyncing, Percent: -1}
	assert.False(t, replication.Stalled(unknown, t0, t0.Add(time.Hour), 10*time.Minute), "a sync without a reported percentage is bounded by syncTimeout alone")
	standAlone := replication.Observation{Condition: replication.ReplicaStandAlone, Percent: -1}
	assert.True(t, replication.Stalled(standAlone, t0, t0.Add(10*time.Minute), 10*time.Minute))
}

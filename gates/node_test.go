package gates

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func milli(m int32) *int32 { return &m }

// inSync is a healthy resource as the agent reports it.
func inSync(name string) v1.DRBDResource {
	return v1.DRBDResource{Name: name, Role: "Secondary", Healthy: true,
		Volumes: []v1.DRBDVolume{{Volume: 0, DiskState: "UpToDate"}},
		Connections: []v1.DRBDConnection{{PeerName: "node-b", ConnectionState: "Connected",
			PeerDevices: []v1.DRBDPeerDevice{{Volume: 0, ReplicationState: "Established", PeerDiskState: "UpToDate", PercentInSyncMilli: milli(100000)}}}}}
}

// resyncing is a resource this node resyncs from node-b, pct in sync.
func resyncing(name string, pct int32) v1.DRBDResource {
	r := inSync(name)
	r.Healthy, r.Problem = false, fmt.Sprintf("peer node-b volume 0 SyncTarget %d.0%% in sync", pct/1000)
	r.Volumes[0].DiskState = "Inconsistent"
	r.Connections[0].PeerDevices[0].ReplicationState = "SyncTarget"
	r.Connections[0].PeerDevices[0].PercentInSyncMilli = milli(pct)
	return r
}

func installed(rs ...v1.DRBDResource) *v1.DRBDStatus {
	d := &v1.DRBDStatus{State: v1.DRBDInstalled, Total: int32(len(rs)), Resources: rs}
	for _, r := range rs {
		if !r.Healthy {
			d.Unhealthy++
		}
	}
	return d
}

// nodeInput is a step on nodes (node-a when none) whose agents, those of
// agents, reported their DRBD a minute ago; a node not in agents has no
// agent status.
func nodeInput(t *testing.T, agents map[string]*v1.DRBDStatus, nodes ...string) Input {
	in := base(t)
	if len(nodes) == 0 {
		nodes = []string{"node-a"}
	}
	in.Operation.StepNodes = nodes
	in.Health.Agents = map[string]AgentReport{}
	for n, d := range agents {
		in.Health.Agents[n] = AgentReport{LastHeartbeat: in.Now.Add(-time.Minute), DRBD: d}
	}
	return in
}

func TestNodeStorageGate(t *testing.T) {
	tests := []struct {
		name string
		in   func(t *testing.T) Input
		// reason is "" when the gate allows.
		reason Reason
		msg    []string
	}{
		{name: "no DRBD on the node passes", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": {State: v1.DRBDNotInstalled}})
		}, msg: []string{"node-a (no DRBD)"}},
		{name: "DRBD installed with no resource passes", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed()})
		}, msg: []string{"node-a (0 DRBD resources healthy)"}},
		{name: "every resource UpToDate and Established passes", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(inSync("pvc-1"), inSync("pvc-2"))})
		}, msg: []string{"node-a (2 DRBD resources healthy)"}},
		{name: "a resource in SyncTarget blocks, with its progress", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(resyncing("pvc-1", 40000), inSync("pvc-2"))})
		}, reason: StorageNotHealthy, msg: []string{"node node-a: DRBD not healthy: pvc-1: peer node-b volume 0 SyncTarget 40.0% in sync"}},
		{name: "DRBD Unavailable blocks with the agent's message", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": {State: v1.DRBDUnavailable, Message: "drbd: DRBD 9 is not usable on this node: exit status 20"}})
		}, reason: StorageNotHealthy, msg: []string{"node node-a: DRBD is installed but its state cannot be read: drbd: DRBD 9 is not usable"}},
		{name: "fail closed: no agent status", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-b": {State: v1.DRBDNotInstalled}})
		}, reason: StorageUnknown, msg: []string{"node node-a: no agent has reported from it (no NodewrightAgentStatus)"}},
		{name: "fail closed: a stale heartbeat", in: func(t *testing.T) Input {
			in := nodeInput(t, map[string]*v1.DRBDStatus{"node-a": {State: v1.DRBDNotInstalled}})
			in.Health.Agents["node-a"] = AgentReport{LastHeartbeat: in.Now.Add(-5 * time.Minute), DRBD: &v1.DRBDStatus{State: v1.DRBDNotInstalled}}
			return in
		}, reason: StorageUnknown, msg: []string{"node node-a: its agent last reported 5m0s ago (more than 2m0s)"}},
		{name: "a heartbeat just inside the bound counts", in: func(t *testing.T) Input {
			in := nodeInput(t, nil)
			in.Health.Agents["node-a"] = AgentReport{LastHeartbeat: in.Now.Add(-AgentStaleAfter), DRBD: &v1.DRBDStatus{State: v1.DRBDNotInstalled}}
			return in
		}, msg: []string{"node-a (no DRBD)"}},
		{name: "fail closed: no heartbeat at all", in: func(t *testing.T) Input {
			in := nodeInput(t, nil)
			in.Health.Agents["node-a"] = AgentReport{DRBD: &v1.DRBDStatus{State: v1.DRBDNotInstalled}}
			return in
		}, reason: StorageUnknown, msg: []string{"its agent has not reported a heartbeat"}},
		{name: "fail closed: an agent that reports no DRBD state", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": nil})
		}, reason: StorageUnknown, msg: []string{"its agent reports no DRBD state"}},
		{name: "fail closed: a DRBD state nobody knows", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": {State: "Maybe"}})
		}, reason: StorageUnknown, msg: []string{`its agent reports DRBD state "Maybe"`}},
		{name: "fail closed: a verdict of healthy that its own states contradict", in: func(t *testing.T) Input {
			r := inSync("pvc-1")
			r.Connections[0].ConnectionState = "StandAlone"
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(r)})
		}, reason: StorageNotHealthy, msg: []string{"pvc-1: peer node-b StandAlone"}},
		{name: "fail closed: healthy and Established, but a disk Outdated", in: func(t *testing.T) Input {
			r := inSync("pvc-1")
			r.Volumes[0].DiskState = "Outdated"
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(r)})
		}, reason: StorageNotHealthy, msg: []string{"pvc-1: volume 0 disk Outdated"}},
		{name: "a replication state other than Established blocks even when called healthy", in: func(t *testing.T) Input {
			r := inSync("pvc-1")
			r.Connections[0].PeerDevices[0].ReplicationState = "PausedSyncT"
			r.Connections[0].PeerDevices[0].PercentInSyncMilli = milli(12345)
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(r)})
		}, reason: StorageNotHealthy, msg: []string{"pvc-1: peer node-b volume 0 PausedSyncT 12.3% in sync"}},
		{name: "an intentionally diskless client passes", in: func(t *testing.T) Input {
			r := inSync("pvc-1")
			r.Volumes[0] = v1.DRBDVolume{DiskState: "Diskless", Client: true}
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(r)})
		}, msg: []string{"node-a (1 DRBD resource healthy)"}},
		{name: "unhealthy resources the agent counted but could not list block", in: func(t *testing.T) Input {
			d := installed(inSync("pvc-1"))
			d.Total, d.Unhealthy = 300, 1
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": d})
		}, reason: StorageNotHealthy, msg: []string{"node node-a: DRBD not healthy; 1 more resource not healthy"}},
		{name: "many unhealthy resources: the first three named, the rest counted", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(resyncing("r1", 1000), resyncing("r2", 2000), resyncing("r3", 3000), resyncing("r4", 4000), resyncing("r5", 5000))})
		}, reason: StorageNotHealthy, msg: []string{"r1: ", "r2: ", "r3: ", "; 2 more resources not healthy"}},
		{name: "every node of the wave is judged; the first blocking one gives the reason", in: func(t *testing.T) Input {
			return nodeInput(t, map[string]*v1.DRBDStatus{
				"node-a": {State: v1.DRBDNotInstalled},
				"node-b": installed(resyncing("pvc-1", 40000)),
			}, "node-a", "node-b", "node-c")
		}, reason: StorageNotHealthy, msg: []string{"node node-b: DRBD not healthy: pvc-1", "; node node-c: no agent has reported"}},
		{name: "a profile that does not require DRBD UpToDate is not held by it", in: func(t *testing.T) Input {
			in := nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(resyncing("pvc-1", 40000))}, "node-a", "node-b")
			off := false
			in.Profile.Spec.Health.RequireDRBDUpToDate = &off
			return in
		}, msg: []string{"health.requireDRBDUpToDate false: DRBD on node-a, node-b is not checked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Node.Evaluate(tt.in(t))
			v := verdict(d, "node-storage")
			assert.Equal(t, tt.reason == "", d.Allowed, v.Message)
			assert.Equal(t, tt.reason == "", v.Allowed)
			assert.Equal(t, tt.reason, v.Reason)
			for _, m := range tt.msg {
				assert.Contains(t, v.Message, m)
			}
		})
	}
}

// A healthy node is not named among the blocking ones.
func TestNodeStorageNamesOnlyTheBlockingNodes(t *testing.T) {
	in := nodeInput(t, map[string]*v1.DRBDStatus{"node-a": installed(inSync("pvc-1")), "node-b": {State: v1.DRBDUnavailable}}, "node-a", "node-b")
	v := verdict(Node.Evaluate(in), "node-storage")
	require.False(t, v.Allowed)
	assert.Equal(t, "node node-b: DRBD is installed but its state cannot be read", v.Message)
}

// The node gate cannot judge without the agents' reports, the nodes of
// the step, or the profile: it blocks with InputMissing, never passes.
func TestNodeStorageGateWithoutItsInputs(t *testing.T) {
	for name, edit := range map[string]func(*Input){
		"no agent reports gathered": func(in *Input) { in.Health.Agents = nil },
		"no step nodes":             func(in *Input) { in.Operation.StepNodes = nil },
		"no profile":                func(in *Input) { in.Profile = nil },
	} {
		in := nodeInput(t, map[string]*v1.DRBDStatus{"node-a": {State: v1.DRBDNotInstalled}})
		edit(&in)
		v := verdict(Node.Evaluate(in), "node-storage")
		assert.False(t, v.Allowed, name)
		assert.Equal(t, InputMissing, v.Reason, name)
	}
}

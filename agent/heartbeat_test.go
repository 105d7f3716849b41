package agent_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/drbd"
	"github.com/nodewright/nodewright/agent/simhost"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// agentStatus polls the node's NodewrightAgentStatus until ok holds for
// it, and returns it.
func agentStatus(t *testing.T, node, what string, ok func(*v1.NodewrightAgentStatus) bool) *v1.NodewrightAgentStatus {
	t.Helper()
	_, c := env(t)
	status := &v1.NodewrightAgentStatus{}
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), client.ObjectKey{Name: node}, status) == nil && ok(status)
	}, waitTimeout, 20*time.Millisecond, "%s: %s", node, what)
	return status
}

func pct(p float64) *float64 { return &p }

func milli(m int32) *int32 { return &m }

// TestHeartbeatReportsDRBD runs an agent on a simulated host whose DRBD
// changes: a resource resyncing from a peer, then in sync, then DRBD the
// agent cannot read. The heartbeat reports each, with drbd's verdict, and
// the agent stays Ready throughout: DRBD is reported, not a fault of the
// agent.
func TestHeartbeatReportsDRBD(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	host.SetDRBD([]drbd.Resource{simhost.UpToDateResource("pvc-2", "node-b", "node-c"), simhost.SyncTargetResource("pvc-1", 40, "node-b", "node-c")})
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, HeartbeatInterval: 50 * time.Millisecond})

	status := agentStatus(t, node, "DRBD reported", func(s *v1.NodewrightAgentStatus) bool { return s.Status.DRBD != nil })
	d := status.Status.DRBD
	assert.Equal(t, v1.DRBDInstalled, d.State)
	assert.Equal(t, int32(2), d.Total)
	assert.Equal(t, int32(1), d.Unhealthy)
	require.Len(t, d.Resources, 2)
	assert.Equal(t, v1.DRBDResource{
		Name: "pvc-1", Role: "Secondary", Healthy: false, Problem: "peer node-b volume 0 SyncTarget 40.0% in sync",
		Volumes: []v1.DRBDVolume{{Volume: 0, DiskState: "Inconsistent"}},
		Connections: []v1.DRBDConnection{
			{PeerName: "node-b", PeerNodeID: 1, ConnectionState: "Connected", PeerDevices: []v1.DRBDPeerDevice{{Volume: 0, ReplicationState: "SyncTarget", PeerDiskState: "UpToDate", PercentInSyncMilli: milli(40000)}}},
			{PeerName: "node-c", PeerNodeID: 2, ConnectionState: "Connected", PeerDevices: []v1.DRBDPeerDevice{{Volume: 0, ReplicationState: "Established", PeerDiskState: "UpToDate", PercentInSyncMilli: milli(100000)}}},
		},
	}, d.Resources[0], "the unhealthy resource first, with the verdict of agent/drbd")
	assert.Equal(t, "pvc-2", d.Resources[1].Name)
	assert.True(t, d.Resources[1].Healthy)
	assert.Empty(t, d.Resources[1].Problem)

	host.SetDRBD([]drbd.Resource{simhost.UpToDateResource("pvc-1", "node-b", "node-c"), simhost.UpToDateResource("pvc-2", "node-b", "node-c")})
	status = agentStatus(t, node, "the resync done", func(s *v1.NodewrightAgentStatus) bool {
		return s.Status.DRBD != nil && s.Status.DRBD.Total == 2 && s.Status.DRBD.Unhealthy == 0
	})
	for _, r := range status.Status.DRBD.Resources {
		assert.True(t, r.Healthy, r.Name)
	}

	host.FailDRBD(fmt.Errorf("%w: drbdsetup status --json: exit status 20: Could not connect to 'drbd' generic netlink family", drbd.ErrUnavailable))
	status = agentStatus(t, node, "DRBD Unavailable", func(s *v1.NodewrightAgentStatus) bool {
		return s.Status.DRBD != nil && s.Status.DRBD.State == v1.DRBDUnavailable
	})
	assert.Contains(t, status.Status.DRBD.Message, "Could not connect to 'drbd' generic netlink family")
	assert.Empty(t, status.Status.DRBD.Resources, "nothing is reported of DRBD the agent cannot read")
	ready := apimeta.FindStatusCondition(status.Status.Conditions, agent.ConditionReady)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionTrue, ready.Status, "unreadable DRBD is reported in status.drbd, not as the agent's failure")
	require.Len(t, status.Status.Bonds, 1, "the bonds are reported still")
}

// Options.DRBD, when set, is what the heartbeat reads, not the host.
func TestOptionsDRBDReplacesTheHostsReader(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup)) // no DRBD of its own
	read := func(ctx context.Context) ([]drbd.Resource, error) {
		return []drbd.Resource{simhost.UpToDateResource("pvc-9", "node-b")}, ctx.Err()
	}
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, DRBD: read})
	status := agentStatus(t, node, "DRBD reported", func(s *v1.NodewrightAgentStatus) bool { return s.Status.DRBD != nil })
	assert.Equal(t, v1.DRBDInstalled, status.Status.DRBD.State)
	require.Len(t, status.Status.DRBD.Resources, 1)
	assert.Equal(t, "pvc-9", status.Status.DRBD.Resources[0].Name)
}

// ReadDRBD, the default for a host without a DRBD reader of its own,
// runs drbdsetup; where it is not installed (as here, normally) it says
// so with drbd.ErrNotInstalled, which the heartbeat reports as
// NotInstalled.
func TestReadDRBDWithoutDrbdsetup(t *testing.T) {
	if _, err := exec.LookPath(drbd.Command); err == nil {
		t.Skip("drbdsetup is installed on this machine")
	}
	_, err := agent.ReadDRBD(context.Background())
	require.ErrorIs(t, err, drbd.ErrNotInstalled)
	assert.Equal(t, &v1.DRBDStatus{State: v1.DRBDNotInstalled}, agent.DRBDStatus(nil, err))
}

func TestDRBDStatus(t *testing.T) {
	syncing := simhost.SyncTargetResource("pvc-b", 42.1, "node-b")
	tests := []struct {
		name      string
		resources []drbd.Resource
		err       error
		want      *v1.DRBDStatus
	}{
		{name: "not installed, wrapped", err: fmt.Errorf("run: %w", drbd.ErrNotInstalled), want: &v1.DRBDStatus{State: v1.DRBDNotInstalled}},
		{name: "unavailable", err: fmt.Errorf("%w: exit status 20", drbd.ErrUnavailable),
			want: &v1.DRBDStatus{State: v1.DRBDUnavailable, Message: "drbd: DRBD 9 is not usable on this node: exit status 20"}},
		{name: "any other failure is unavailable too", err: errors.New("drbd: malformed status"),
			want: &v1.DRBDStatus{State: v1.DRBDUnavailable, Message: "drbd: malformed status"}},
		{name: "installed without resources", resources: []drbd.Resource{}, want: &v1.DRBDStatus{State: v1.DRBDInstalled}},
		{name: "connection without a name is named by its node id", resources: []drbd.Resource{{Name: "r", Role: drbd.RoleSecondary,
			Devices:     []drbd.Device{{DiskState: drbd.DiskUpToDate, Quorum: true}},
			Connections: []drbd.Connection{{PeerNodeID: 7, ConnectionState: drbd.ConnStandAlone}}}},
			want: &v1.DRBDStatus{State: v1.DRBDInstalled, Total: 1, Unhealthy: 1, Resources: []v1.DRBDResource{{
				Name: "r", Role: "Secondary", Problem: "peer node-id 7 StandAlone", Volumes: []v1.DRBDVolume{{DiskState: "UpToDate"}},
				Connections: []v1.DRBDConnection{{PeerName: "node-id 7", PeerNodeID: 7, ConnectionState: "StandAlone"}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, agent.DRBDStatus(tt.resources, tt.err))
		})
	}

	t.Run("unhealthy first, then by name; a repeated name once", func(t *testing.T) {
		st := agent.DRBDStatus([]drbd.Resource{simhost.UpToDateResource("pvc-c"), simhost.UpToDateResource("pvc-a"), syncing, simhost.UpToDateResource("pvc-b")}, nil)
		var names []string
		for _, r := range st.Resources {
			names = append(names, r.Name)
		}
		assert.Equal(t, []string{"pvc-b", "pvc-a", "pvc-c"}, names, "the syncing pvc-b is kept over its healthy namesake")
		assert.Equal(t, int32(3), st.Total)
		assert.Equal(t, int32(1), st.Unhealthy)
		assert.Equal(t, milli(42100), st.Resources[0].Connections[0].PeerDevices[0].PercentInSyncMilli, "42.1 % is 42100, not floored to 42099")
	})

	t.Run("more resources than the status holds: the unhealthy ones stay, the counts cover all", func(t *testing.T) {
		var rs []drbd.Resource
		for i := range v1.MaxDRBDResources + 10 {
			rs = append(rs, simhost.UpToDateResource(fmt.Sprintf("pvc-%04d", i), "node-b"))
		}
		rs = append(rs, simhost.SyncTargetResource("pvc-zzzz", 1, "node-b"))
		st := agent.DRBDStatus(rs, nil)
		assert.Len(t, st.Resources, v1.MaxDRBDResources)
		assert.Equal(t, "pvc-zzzz", st.Resources[0].Name)
		assert.Equal(t, int32(v1.MaxDRBDResources+11), st.Total)
		assert.Equal(t, int32(1), st.Unhealthy)
	})

	t.Run("percentages are clamped, floored and never made up", func(t *testing.T) {
		for in, want := range map[float64]*int32{
			100.5: milli(100000), -3: milli(0), 99.99999: milli(99999), 40: milli(40000), math.NaN(): nil,
		} {
			r := simhost.SyncTargetResource("r", 0, "node-b")
			r.Connections[0].PeerDevices[0].PercentInSync = pct(in)
			got := agent.DRBDStatus([]drbd.Resource{r}, nil).Resources[0].Connections[0].PeerDevices[0].PercentInSyncMilli
			assert.Equal(t, want, got, "%v %%", in)
		}
		r := simhost.SyncTargetResource("r", 0, "node-b")
		r.Connections[0].PeerDevices[0].PercentInSync = nil
		assert.Nil(t, agent.DRBDStatus([]drbd.Resource{r}, nil).Resources[0].Connections[0].PeerDevices[0].PercentInSyncMilli, "not reported by old drbd-utils")
	})

	t.Run("long messages are cut to what the CRD holds", func(t *testing.T) {
		st := agent.DRBDStatus(nil, errors.New(strings.Repeat("é", 1000)))
		assert.LessOrEqual(t, len(st.Message), 1024)
		assert.True(t, strings.HasSuffix(st.Message, "…"))
		assert.True(t, strings.HasPrefix(st.Message, "éé"))
	})
}

package agent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/simhost"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func bond0(mode v1.BondMode) v1.Bond {
	return v1.Bond{Name: "bond0", Mode: mode, Slaves: []string{"eth0", "eth1"}}
}

func hour() time.Time { return time.Now().Add(time.Hour) }

func TestFlipBondSucceeds(t *testing.T) {
	e, _ := env(t)
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Version: "test"})

	task := newTask(t, ns, "flip-"+node, node, v1.ActionFlipBond, flipParams(), hour())
	got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)

	require.Equal(t, string(v1.TaskSucceeded), got.Status.Phase, got.Status.Message)
	assert.Equal(t, node, got.Status.ClaimedBy)
	assert.NotNil(t, got.Status.StartedAt)
	assert.NotNil(t, got.Status.FinishedAt)
	assert.Equal(t, "bond0 runs 802.3ad (was active-backup); probes passed: gateway 10.0.0.1, apiserver "+e.Config.Host+", peer node-b, peer node-c", got.Status.Message)
	mode, _ := host.Mode("bond0")
	assert.Equal(t, v1.Bond8023AD, mode)
	journal := host.Journal()
	require.Len(t, journal, 1, "the flip runs exactly once")
	assert.Equal(t, simhost.Entry{Time: journal[0].Time, Bond: "bond0", From: v1.BondActiveBackup, To: v1.Bond8023AD}, journal[0])
}

func TestFailingGatewayProbeReverts(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	host.FailProbe(agent.ProbeGateway, "10.0.0.1", errNoARP)
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})

	task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
	got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)

	require.Equal(t, string(v1.TaskReverted), got.Status.Phase, got.Status.Message)
	assert.Equal(t, "probe gateway 10.0.0.1 failed: no ARP reply from 10.0.0.1; bond0 reverted to active-backup", got.Status.Message)
	mode, _ := host.Mode("bond0")
	assert.Equal(t, v1.BondActiveBackup, mode)
	journal := host.Journal()
	require.Len(t, journal, 2, "flip and revert")
	assert.Equal(t, v1.Bond8023AD, journal[0].To)
	assert.Equal(t, v1.BondActiveBackup, journal[1].To)
}

func TestProbeTimeoutAndDeadManRevert(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{
			name: "a probe that does not answer within probeTimeout",
			params: flipParams(func(p map[string]string) {
				p[v1.ParamProbeTimeout] = "300ms"
			}),
			want: "probe gateway 10.0.0.1 failed: no answer within probeTimeout 300ms",
		},
		{
			name: "the dead-man deadline passes during a probe",
			params: flipParams(func(p map[string]string) {
				p[v1.ParamRevertAfter] = "2s"
				p[v1.ParamProbeTimeout] = "1m"
			}),
			want: "passed during probe gateway 10.0.0.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, node := newNamespace(t), nodeName()
			host := simhost.New(bond0(v1.BondActiveBackup))
			hold := host.HoldProbes()
			defer hold.Release()
			runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})

			task := newTask(t, ns, "flip", node, v1.ActionFlipBond, tt.params, hour())
			got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)

			require.Equal(t, string(v1.TaskReverted), got.Status.Phase, got.Status.Message)
			assert.Contains(t, got.Status.Message, tt.want)
			assert.Contains(t, got.Status.Message, "bond0 reverted to active-backup")
			mode, _ := host.Mode("bond0")
			assert.Equal(t, v1.BondActiveBackup, mode)
			assert.Len(t, host.Journal(), 2)
		})
	}
}

func TestRefusedTasksLeaveTheHostUntouched(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondBalanceRR))
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})

	tests := []struct {
		name     string
		action   string
		params   map[string]string
		deadline time.Time
		phase    v1.TaskPhase
		message  string
	}{
		{
			name:     "wrong-mode",
			action:   v1.ActionFlipBond,
			params:   flipParams(),
			deadline: hour(),
			phase:    v1.TaskFailed,
			message:  "bond0 runs balance-rr, not the expected fromMode active-backup; not touched",
		},
		{
			name:     "past-deadline",
			action:   v1.ActionFlipBond,
			params:   flipParams(func(p map[string]string) { p[v1.ParamFromMode] = string(v1.BondBalanceRR) }),
			deadline: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
			phase:    v1.TaskFailed,
			message:  "deadline 2024-05-01T12:00:00Z passed before the agent started the task",
		},
		{
			name:     "bad-revert-after",
			action:   v1.ActionFlipBond,
			params:   flipParams(func(p map[string]string) { p[v1.ParamRevertAfter] = "soon" }),
			deadline: hour(),
			phase:    v1.TaskFailed,
			message:  `FlipBond: param revertAfter "soon": not a Go duration (e.g. 90s, 5m); not touched`,
		},
		{
			name:     "missing-bond",
			action:   v1.ActionFlipBond,
			params:   flipParams(func(p map[string]string) { delete(p, v1.ParamBond) }),
			deadline: hour(),
			phase:    v1.TaskFailed,
			message:  "FlipBond: param bond is missing; not touched",
		},
		{
			name:     "bad-mode",
			action:   v1.ActionFlipBond,
			params:   flipParams(func(p map[string]string) { p[v1.ParamToMode] = "lacp" }),
			deadline: hour(),
			phase:    v1.TaskFailed,
			message:  `param toMode "lacp": not a bond mode`,
		},
		{
			name:     "unknown-action",
			action:   "RebootNode",
			params:   flipParams(),
			deadline: hour(),
			phase:    v1.TaskFailed,
			message:  `action "RebootNode" is not one this agent knows (known: FlipBond); not touched`,
		},
	}
	tasks := make([]*v1.NodeTask, len(tests))
	for i, tt := range tests {
		tasks[i] = newTask(t, ns, tt.name, node, tt.action, tt.params, tt.deadline)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := waitPhase(t, tasks[i], v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
			assert.Equal(t, string(tt.phase), got.Status.Phase)
			assert.Contains(t, got.Status.Message, tt.message)
			assert.NotNil(t, got.Status.FinishedAt)
		})
	}
	mode, _ := host.Mode("bond0")
	assert.Equal(t, v1.BondBalanceRR, mode)
	assert.Empty(t, host.Journal(), "no refused task touched the host")
}

func TestSetFailureFails(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	host.FailSet(errors.New("netlink: operation not permitted"))
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})

	task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
	got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)

	require.Equal(t, string(v1.TaskFailed), got.Status.Phase)
	assert.Equal(t, "setting bond0 to 802.3ad failed: netlink: operation not permitted; bond0 still runs active-backup", got.Status.Message)
	assert.Empty(t, host.Journal())
}

func TestTwoAgentsExecuteEachTaskOnce(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	bonds := []string{"bond0", "bond1", "bond2", "bond3", "bond4", "bond5"}
	var seed []v1.Bond
	for _, b := range bonds {
		seed = append(seed, v1.Bond{Name: b, Mode: v1.BondActiveBackup})
	}
	host := simhost.New(seed...)
	// The tasks exist before either agent starts, so both find all of them
	// in their first list and race to claim each.
	var tasks []*v1.NodeTask
	for _, b := range bonds {
		params := flipParams(func(p map[string]string) { p[v1.ParamBond] = b })
		tasks = append(tasks, newTask(t, ns, "flip-"+b, node, v1.ActionFlipBond, params, hour()))
	}
	runAgent(t, agent.Options{Node: node, Namespace: ns, ID: node + "-a", Host: host})
	runAgent(t, agent.Options{Node: node, Namespace: ns, ID: node + "-b", Host: host})

	claims := map[string]int{}
	for _, task := range tasks {
		got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
		assert.Equal(t, string(v1.TaskSucceeded), got.Status.Phase, got.Status.Message)
		assert.Contains(t, []string{node + "-a", node + "-b"}, got.Status.ClaimedBy)
		claims[got.Status.ClaimedBy]++
	}
	t.Logf("tasks claimed per agent: %v", claims)
	perBond := map[string]int{}
	for _, e := range host.Journal() {
		perBond[e.Bond]++
	}
	for _, b := range bonds {
		assert.Equal(t, 1, perBond[b], "%s set exactly once", b)
	}
}

func TestTaskClaimedByAnotherAgentIsLeft(t *testing.T) {
	_, c := env(t)
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup), v1.Bond{Name: "bond1", Mode: v1.BondActiveBackup})
	other := newTask(t, ns, "other", node, v1.ActionFlipBond, flipParams(), hour())
	other.Status = v1.NodeTaskStatus{Phase: string(v1.TaskRunning), ClaimedBy: "someone-else", Message: "theirs"}
	require.NoError(t, c.Status().Update(context.Background(), other))

	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})
	mine := newTask(t, ns, "mine", node, v1.ActionFlipBond, flipParams(func(p map[string]string) { p[v1.ParamBond] = "bond1" }), hour())
	waitPhase(t, mine, v1.TaskSucceeded)

	got := &v1.NodeTask{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(other), got))
	assert.Equal(t, "someone-else", got.Status.ClaimedBy)
	assert.Equal(t, string(v1.TaskRunning), got.Status.Phase)
	for _, e := range host.Journal() {
		assert.Equal(t, "bond1", e.Bond, "bond0 belongs to the other agent's task")
	}
}

func TestRestartedAgentResumesWithoutSettingAgain(t *testing.T) {
	tests := []struct {
		name string
		// hold blocks the first agent inside the host; stopped while it
		// holds, the agent leaves the task Running.
		hold func(*simhost.Host) *simhost.Hold
		// journalAtStop is how many mode changes the first agent made.
		journalAtStop int
	}{
		{name: "stopped while SetBondMode is blocked", hold: (*simhost.Host).HoldSets, journalAtStop: 0},
		{name: "stopped after the flip, during the probes", hold: (*simhost.Host).HoldProbes, journalAtStop: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, node := newNamespace(t), nodeName()
			host := simhost.New(bond0(v1.BondActiveBackup))
			hold := tt.hold(host)
			stop := runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})

			task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
			wait(t, hold.Entered(), "the agent reaching the host")
			running := waitPhase(t, task, v1.TaskRunning)
			assert.Equal(t, node, running.Status.ClaimedBy)

			// The host call in flight gives up with the agent's context, so
			// the agent stops at once, far inside its graceful shutdown
			// timeout (stop fails the test if Run returns an error, as it
			// does when that timeout passes).
			stopping := time.Now()
			stop()
			assert.Less(t, time.Since(stopping), agent.GracefulShutdownTimeout/5, "the agent stops promptly with a task in flight")
			got := waitPhase(t, task, v1.TaskRunning, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
			require.Equal(t, string(v1.TaskRunning), got.Status.Phase, "a stopping agent leaves the task for its successor: %s", got.Status.Message)
			require.Len(t, host.Journal(), tt.journalAtStop)

			hold.Release()
			runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})
			got = waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
			assert.Equal(t, string(v1.TaskSucceeded), got.Status.Phase, got.Status.Message)
			assert.Equal(t, running.Status.StartedAt, got.Status.StartedAt, "the resumed task keeps its start, and so its dead-man deadline")
			journal := host.Journal()
			require.Len(t, journal, 1, "bond0 was set exactly once across both agents")
			assert.Equal(t, v1.Bond8023AD, journal[0].To)
		})
	}
}

func TestHeartbeat(t *testing.T) {
	_, c := env(t)
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	stop := runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Version: "v0.0.0-test", HeartbeatInterval: time.Hour})

	status := &v1.NodewrightAgentStatus{}
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), client.ObjectKey{Name: node}, status) == nil && len(status.Status.Conditions) > 0
	}, waitTimeout, 50*time.Millisecond, "NodewrightAgentStatus %s appears", node)
	assert.Equal(t, node, status.Status.NodeName)
	assert.Equal(t, "v0.0.0-test", status.Status.AgentVersion)
	up := func(name string) v1.ObservedSlave {
		return v1.ObservedSlave{Name: name, MIIStatus: v1.LinkUp, SpeedMbps: simhost.SimulatedSpeedMbps}
	}
	assert.Equal(t, []v1.ObservedBond{{Name: "bond0", Mode: v1.BondActiveBackup, MIIStatus: v1.LinkUp,
		Slaves: []v1.ObservedSlave{up("eth0"), up("eth1")}, ActiveSlave: "eth0"}}, status.Status.Bonds,
		"the simulated host's bonds with their link state")
	assert.Equal(t, &v1.DRBDStatus{State: v1.DRBDNotInstalled}, status.Status.DRBD, "a simulated host has no DRBD unless given some")
	assert.False(t, status.Status.LastHeartbeat.IsZero())
	ready := apimeta.FindStatusCondition(status.Status.Conditions, agent.ConditionReady)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionTrue, ready.Status)
	assert.Equal(t, agent.ReasonAgentRunning, ready.Reason)

	// A finished task triggers a heartbeat at once (the interval is an
	// hour), so the new bond mode shows.
	task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
	waitPhase(t, task, v1.TaskSucceeded)
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), client.ObjectKey{Name: node}, status) == nil &&
			len(status.Status.Bonds) == 1 && status.Status.Bonds[0].Mode == v1.Bond8023AD
	}, waitTimeout, 50*time.Millisecond, "the heartbeat after the task shows bond0 in 802.3ad")
	lacp := status.Status.Bonds[0]
	assert.Equal(t, &v1.LACPStatus{PartnerMAC: simhost.PartnerMAC("bond0"), OneAggregator: true, Negotiated: true}, lacp.LACP)
	assert.Empty(t, lacp.ActiveSlave, "802.3ad has no active slave")
	for _, sl := range lacp.Slaves {
		assert.Equal(t, int32(1), sl.AggregatorID, sl.Name)
		assert.Equal(t, int32(0x3d), sl.PartnerPortState, sl.Name)
	}

	stop()
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: node}, status))
	ready = apimeta.FindStatusCondition(status.Status.Conditions, agent.ConditionReady)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionFalse, ready.Status)
	assert.Equal(t, agent.ReasonAgentStopped, ready.Reason)
}

package bondflip_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/agent/drbd"
	"github.com/nodewright/nodewright/agent/simhost"
	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/bondflip"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var (
	pending   = phase.Pending
	awaiting  = phase.AwaitingApproval
	preflight = bondflip.Preflight
	protect   = bondflip.ProtectVMs
	flip      = bondflip.Flip
	verify    = bondflip.Verify
	nodeDone  = bondflip.NodeDone
	halted    = phase.Halted
	succeeded = phase.Succeeded
	aborted   = phase.Aborted
)

var (
	// begin is the phases up to the first wave.
	begin = []phase.Phase{pending, awaiting, preflight}
	// wave is the phases of one wave.
	wave = []phase.Phase{protect, flip, verify, nodeDone}
	// end is the last phase of a flip that succeeded.
	end = []phase.Phase{succeeded}
	// happyPath is the phases of a flip of three nodes, one at a time.
	happyPath = slices.Concat(begin, wave, wave, wave, end)
)

// tail returns the last n phases the harness saw.
func tail(h *harness, n int) []phase.Phase {
	p := h.Phases()
	return p[max(len(p)-n, 0):]
}

// assertFlipped checks the operation succeeded and bond0 runs 802.3ad on
// every node, and that the nodes flipped as often as flips says (once
// each when nil).
func assertFlipped(t *testing.T, h *harness, op *v1.BondModeFlipPlan) {
	t.Helper()
	require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
	for _, x := range []string{"a", "b", "c"} {
		mode, ok := h.host(x).Mode(bond)
		assert.True(t, ok)
		assert.Equal(t, toMode, mode, "node %s", x)
		p := progress(op)[h.node(x)]
		assert.Equal(t, bondflip.NodeDoneStep, p.Phase, "node %s: %s", x, p.Message)
	}
	for _, n := range h.nodes {
		assert.False(t, h.vms.Cordoned(n), "%s is uncordoned", n)
	}
	ready := optest.Condition(op, operation.Ready)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionTrue, ready.Status)
	assert.Nil(t, optest.Condition(op, operation.Stalled))
	h.assertAudit(t, op)
}

// cordonedAtFlip records, each time the operation enters Flip, the nodes
// KubeVirt keeps VMs off and how many VMs run on each.
func cordonedAtFlip(h *harness) *[][]string {
	var seen [][]string
	h.OnTransition = func(_, to phase.Phase) {
		if to != flip {
			return
		}
		var now []string
		for _, n := range h.nodes {
			if !h.vms.Cordoned(n) {
				continue
			}
			running := 0
			for _, ref := range h.vms.OnNode(n) {
				if vm, _ := h.vms.VM(ref); vm.Running {
					running++
				}
			}
			now = append(now, n+" "+string(rune('0'+running)))
		}
		seen = append(seen, now)
	}
	return &seen
}

// failingNodeDone returns bondflip's kind with its NodeDone step failing
// while *fail is set, as a step whose API server does not answer would.
// The real nodeDone has no failure of its own; the table lets NodeDone
// halt, like every working phase, and Resume into it.
func failingNodeDone(fail *bool) *operation.Kind {
	k := *bondflip.Kind
	k.Steps = maps.Clone(bondflip.Kind.Steps)
	step := k.Steps[nodeDone]
	k.Steps[nodeDone] = func(ctx context.Context, run *operation.Run) (phase.Phase, error) {
		if *fail {
			return "", errors.New("injected: the server is currently unable to handle the request")
		}
		return step(ctx, run)
	}
	return &k
}

type scenario struct {
	name string
	// profile edits the site profile before the harness starts.
	profile func(*v1.EdgeProfile)
	run     func(t *testing.T, h *harness)
}

var scenarios = []scenario{
	{name: "happy path: one node at a time, each node's VMs live-migrated away first", run: func(t *testing.T, h *harness) {
		atFlip := cordonedAtFlip(h)
		h.apply(h.spec())
		op := h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, happyPath, h.Phases())
		a, b, c := h.node("a"), h.node("b"), h.node("c")
		assert.Equal(t, [][]string{{a + " 0"}, {b + " 0"}, {c + " 0"}}, *atFlip,
			"each node flips cordoned with no VM running on it, and no other node is cordoned")
		assert.Equal(t, []string{"Evacuate " + a, "Release " + a, "Evacuate " + b, "Release " + b, "Evacuate " + c, "Release " + c}, h.vmChanges(),
			"each node's VMs moved away once before its flip and let back once after")
		for _, x := range []string{"a", "b", "c"} {
			assert.Equal(t, []string{flipped}, h.flips(x), "node %s flipped exactly once", x)
			assert.Equal(t, []string{string(v1.TaskSucceeded)}, h.taskPhases(x), "node %s: one task", x)
		}
		ja, jb, jc := h.host("a").Journal(), h.host("b").Journal(), h.host("c").Journal()
		assert.True(t, ja[0].Time.Before(jb[0].Time) && jb[0].Time.Before(jc[0].Time), "in the plan's order, one after the other")

		task := h.tasks()[h.taskName(a, 1)]
		assert.Equal(t, v1.ActionFlipBond, task.Spec.Action)
		assert.Equal(t, a, task.Spec.NodeName)
		assert.Equal(t, map[string]string{
			v1.ParamBond: bond, v1.ParamFromMode: string(fromMode), v1.ParamToMode: string(toMode),
			v1.ParamRevertAfter: "2m0s", v1.ParamProbeTimeout: "10s", v1.ParamAPIServer: "true", v1.ParamGateway: gateway,
		}, task.Spec.Params)
		_, err := action.ParseFlipBond(task.Spec.Params)
		assert.NoError(t, err, "the agent's parser accepts the params")

		var reasons []string
		for _, r := range op.Status.Audit {
			reasons = append(reasons, r.Reason)
		}
		w := []string{"VMsProtected", "Flipped", "Verified"}
		assert.Equal(t, slices.Concat([]string{operation.ReasonApplied, "AwaitingApproval", operation.ReasonApproved, "PreflightPassed"},
			w, []string{"NextWave"}, w, []string{"NextWave"}, w, []string{"AllNodesFlipped"}), reasons)
		assert.Equal(t, "AllNodesFlipped", optest.Condition(op, operation.Ready).Reason)
		assert.NotNil(t, op.Status.StartedAt)
		h.assertNothingFurther(t)
	}},

	{name: "an agent's status written after its task's result: Verify waits for it instead of halting", run: func(t *testing.T, h *harness) {
		for _, x := range []string{"a", "b", "c"} {
			h.agent(x).heartbeatLag = 3
		}
		h.apply(h.spec())
		op := h.run()
		assertFlipped(t, h, op)
		for _, x := range []string{"a", "b", "c"} {
			assert.Equal(t, []string{flipped}, h.flips(x), "node %s flipped exactly once", x)
		}
		h.assertNothingFurther(t)
	}},

	{name: "maxUnavailable 2 flips the first two nodes together, then the third", run: func(t *testing.T, h *harness) {
		var tasksAtVerify [][]string
		h.OnTransition = func(_, to phase.Phase) {
			if to == verify {
				var nodes []string
				for _, task := range h.tasks() {
					nodes = append(nodes, task.Spec.NodeName)
				}
				slices.Sort(nodes)
				tasksAtVerify = append(tasksAtVerify, nodes)
			}
		}
		s := h.spec()
		s.MaxUnavailable = 2
		h.apply(s)
		op := h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat(begin, wave, wave, end), h.Phases())
		a, b, c := h.node("a"), h.node("b"), h.node("c")
		assert.Equal(t, [][]string{{a, b}, {a, b, c}}, tasksAtVerify, "the second wave starts once the first is verified")
		ja, jb, jc := h.host("a").Journal(), h.host("b").Journal(), h.host("c").Journal()
		require.Len(t, ja, 1)
		require.Len(t, jb, 1)
		require.Len(t, jc, 1)
		assert.Equal(t, ja[0].Time, jb[0].Time, "a and b flip together")
		assert.True(t, jb[0].Time.Before(jc[0].Time))
		assert.Equal(t, []string{"Evacuate " + a, "Evacuate " + b, "Release " + a, "Release " + b, "Evacuate " + c, "Release " + c}, h.vmChanges())
	}},

	{name: "every node runs toMode already: nothing to do", profile: func(p *v1.EdgeProfile) {
		for i := range p.Spec.Nodes {
			p.Spec.Nodes[i].Bonds[0].Mode = toMode
		}
	}, run: func(t *testing.T, h *harness) {
		h.apply(h.spec())
		op := h.run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, slices.Concat(begin, end), h.Phases())
		assert.Equal(t, "NothingToDo", optest.Condition(op, operation.Ready).Reason)
		assert.Nil(t, op.Status.StartedAt, "it never needed to pass its step gates")
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vms.Calls(), "KubeVirt is not asked anything")
		for _, x := range []string{"a", "b", "c"} {
			assert.Empty(t, h.flips(x))
			assert.Contains(t, progress(op)[h.node(x)].Message, "already runs 802.3ad")
		}
		h.assertAudit(t, op)
	}},

	{name: "a node that runs toMode already is left alone", profile: func(p *v1.EdgeProfile) {
		p.Spec.Nodes[1].Bonds[0].Mode = toMode
	}, run: func(t *testing.T, h *harness) {
		h.apply(h.spec())
		op := h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat(begin, wave, wave, end), h.Phases())
		assert.Empty(t, h.flips("b"))
		assert.Empty(t, h.taskPhases("b"))
		assert.Contains(t, progress(op)[h.node("b")].Message, "already runs 802.3ad")
		assert.Equal(t, []string{"Evacuate " + h.node("a"), "Release " + h.node("a"), "Evacuate " + h.node("c"), "Release " + h.node("c")}, h.vmChanges())
	}},

	{name: "vmProtection None flips with the VMs in place, asking KubeVirt nothing", run: func(t *testing.T, h *harness) {
		s := h.spec()
		s.VMProtection = v1.VMProtectionNone
		h.apply(s)
		op := h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, happyPath, h.Phases())
		assert.Empty(t, h.vms.Calls())
		for _, n := range h.nodes {
			assert.Len(t, h.vms.OnNode(n), 1, "%s keeps its VM", n)
		}
	}},

	{name: "vmProtection Shutdown stops each node's VMs for its flip and starts them after", run: func(t *testing.T, h *harness) {
		atFlip := cordonedAtFlip(h)
		s := h.spec()
		s.VMProtection = v1.VMProtectionShutdown
		h.apply(s)
		op := h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, [][]string{{h.node("a") + " 0"}, {h.node("b") + " 0"}, {h.node("c") + " 0"}}, *atFlip)
		for _, n := range h.nodes {
			refs := h.vms.OnNode(n)
			require.Len(t, refs, 1, "%s's VM stayed on it", n)
			vm, _ := h.vms.VM(refs[0])
			assert.True(t, vm.Running, "%s's VM runs again", n)
		}
	}},

	{name: "step gates hold the first wave", profile: func(p *v1.EdgeProfile) { p.Spec.Paused = true }, run: func(t *testing.T, h *harness) {
		h.apply(h.spec())
		h.runUntil(waiting(protect, "Paused", "paused"))
		for range 3 {
			h.reconcile(h.Tick)
		}
		op := h.Get()
		assert.Equal(t, string(protect), op.Status.Phase)
		assert.Nil(t, op.Status.StartedAt)
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vmChanges())
		assert.Empty(t, h.flips("a"))

		h.UpdateProfile(func(p *v1.EdgeProfile) { p.Spec.Paused = false })
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, happyPath, h.Phases())
	}},

	{name: "a node whose DRBD resyncs holds its wave, nothing touched, until the resync is done", run: func(t *testing.T, h *harness) {
		a, b, c := h.node("a"), h.node("b"), h.node("c")
		h.host("a").SetDRBD([]drbd.Resource{simhost.SyncTargetResource("pvc-1", 40, b, c), simhost.UpToDateResource("pvc-2", b, c)})
		for _, x := range []string{"b", "c"} {
			h.host(x).SetDRBD([]drbd.Resource{simhost.UpToDateResource("pvc-2", a)})
		}
		h.apply(h.spec())
		want := "node-storage: node " + a + ": DRBD not healthy: pvc-1: peer " + b + " volume 0 SyncTarget 40.0% in sync"
		h.runUntil(waiting(protect, string(gates.StorageNotHealthy), want, "bond0 is not flipped on "+a+" until then"))
		for range 3 {
			h.reconcile(h.Tick)
		}
		op := h.Get()
		require.Equal(t, string(protect), op.Status.Phase, "a resync is a wait, not a halt")
		c2 := optest.Condition(op, operation.Reconciling)
		require.NotNil(t, c2)
		assert.Equal(t, string(gates.StorageNotHealthy), c2.Reason)
		assert.Contains(t, c2.Message, want)
		assert.Nil(t, optest.Condition(op, operation.Stalled))
		assert.Nil(t, op.Status.StartedAt, "a plan held by its node's storage has not started")
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vmChanges(), "no VM moved off a node that is not flipped")
		for _, x := range []string{"a", "b", "c"} {
			assert.Empty(t, h.flips(x))
		}

		h.host("a").SetDRBD([]drbd.Resource{simhost.UpToDateResource("pvc-1", b, c), simhost.UpToDateResource("pvc-2", b, c)})
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, happyPath, h.Phases())
		for _, x := range []string{"a", "b", "c"} {
			assert.Equal(t, []string{flipped}, h.flips(x), "node %s flipped exactly once", x)
		}
	}},

	{name: "a resync that begins while the wave's VMs move holds its flip task until it is done", run: func(t *testing.T, h *harness) {
		b, c := h.node("b"), h.node("c")
		began := false
		h.OnTransition = func(_, to phase.Phase) {
			if to == flip && !began {
				began = true
				h.host("a").SetDRBD([]drbd.Resource{simhost.SyncTargetResource("pvc-1", 99.95, b, c)})
			}
		}
		h.apply(h.spec())
		h.runUntil(waiting(flip, string(gates.StorageNotHealthy), "pvc-1: peer "+b+" volume 0 SyncTarget 99.9% in sync"))
		for range 3 {
			h.reconcile(h.Tick)
		}
		op := h.Get()
		assert.Equal(t, string(flip), op.Status.Phase)
		assert.Empty(t, h.tasks(), "no flip task while the node resyncs")
		assert.Empty(t, h.flips("a"))
		assert.Equal(t, []string{"Evacuate " + h.node("a")}, h.vmChanges(), "the VMs stay away meanwhile")

		h.host("a").SetDRBD([]drbd.Resource{simhost.UpToDateResource("pvc-1", b, c)})
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, happyPath, h.Phases())
		assert.Equal(t, []string{string(v1.TaskSucceeded)}, h.taskPhases("a"))
	}},

	{name: "fail closed: DRBD an agent cannot read, or an agent gone quiet, holds that node's wave", run: func(t *testing.T, h *harness) {
		a, c := h.node("a"), h.node("c")
		h.host("c").FailDRBD(fmt.Errorf("%w: drbdsetup status --json: exit status 20: Could not connect to 'drbd' generic netlink family", drbd.ErrUnavailable))
		h.apply(h.spec())
		h.runUntil(waiting(protect, string(gates.StorageNotHealthy), "node "+c+": DRBD is installed but its state cannot be read", "generic netlink family"))
		op := h.Get()
		assert.Equal(t, bondflip.NodeDoneStep, progress(op)[a].Phase)
		assert.Equal(t, bondflip.NodeDoneStep, progress(op)[h.node("b")].Phase)
		assert.Empty(t, h.flips("c"))
		assert.Empty(t, h.taskPhases("c"))
		assert.NotContains(t, h.vmChanges(), "Evacuate "+c)

		// Readable again, but the agent stops before it says so: its last
		// report ages past what counts, and the node stays held.
		h.agent("c").down = true
		h.host("c").FailDRBD(nil)
		h.runUntil(waiting(protect, string(gates.StorageUnknown), "node "+c+": its agent last reported"))
		assert.Empty(t, h.flips("c"))

		h.agent("c").down = false
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, []string{flipped}, h.flips("c"))
	}},

	{name: "agents that went quiet or never reported hold Preflight until they report", run: func(t *testing.T, h *harness) {
		h.agent("b").beat(h, optest.Start.Add(-5*time.Minute))
		h.agent("b").down, h.agent("c").down = true, true
		h.apply(h.spec())
		h.runUntil(waiting(preflight, bondflip.ReasonAgentMissing, "the agent on node "+h.node("b")+" last reported 5m"))
		for range 3 {
			h.reconcile(h.Tick)
		}
		op := h.Get()
		assert.Equal(t, string(preflight), op.Status.Phase, "an agent missing is a wait, not a halt")
		assert.Nil(t, op.Status.StartedAt)
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vms.Calls())

		h.agent("b").down = false
		h.runUntil(waiting(preflight, bondflip.ReasonAgentMissing, "no agent has reported from node "+h.node("c")))
		assert.Empty(t, h.tasks())
		h.agent("c").down = false
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, happyPath, h.Phases())
	}},

	{name: "a node whose bond runs neither mode halts Preflight with nothing changed; Resume once it is fixed", profile: func(p *v1.EdgeProfile) {
		p.Spec.Nodes[1].Bonds[0].Mode = v1.BondBalanceRR
	}, run: func(t *testing.T, h *harness) {
		h.apply(h.spec())
		op := h.run()
		h.assertHalted(t, op, preflight, bondflip.ReasonPreflightFailed,
			"node "+h.node("b")+": bond0 runs balance-rr, neither fromMode active-backup nor toMode 802.3ad; nothing was changed")
		assert.Equal(t, slices.Concat(begin, []phase.Phase{halted}), h.Phases())
		assert.Nil(t, op.Status.StartedAt, "it never passed its step gates")
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vms.Calls())
		for _, x := range []string{"a", "b", "c"} {
			assert.Empty(t, h.flips(x))
		}

		require.NoError(t, h.host("b").SetBondMode(context.Background(), bond, fromMode))
		h.Act(v1.ActionResume)
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat([]phase.Phase{preflight, halted, preflight}, wave, wave, wave, end), h.Phases()[2:])
		assert.Equal(t, operation.ReasonResumed, record(t, op, halted, preflight).Reason)
		assert.Equal(t, []string{"balance-rr → active-backup", flipped}, h.flips("b"))
	}},

	{name: "a node without the bond halts Preflight with nothing changed; Abort", profile: func(p *v1.EdgeProfile) {
		p.Spec.Nodes[2].Bonds[0].Name = "bond1"
	}, run: func(t *testing.T, h *harness) {
		h.apply(h.spec())
		op := h.run()
		h.assertHalted(t, op, preflight, bondflip.ReasonPreflightFailed, "the agent on node "+h.node("c")+" reports no bond bond0")
		assert.Empty(t, h.tasks())

		h.Act(v1.ActionAbort)
		op = h.run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, slices.Concat(begin, []phase.Phase{halted, aborted}), h.Phases())
		assert.Equal(t, operation.ReasonAborted, record(t, op, halted, aborted).Reason)
		h.assertAudit(t, op)
		h.assertNothingFurther(t)
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vms.Calls())
		for _, x := range []string{"a", "b", "c"} {
			assert.Empty(t, h.flips(x))
		}
	}},

	{name: "no KubeVirt backend halts ProtectVMs before any node is touched; Resume with it", run: func(t *testing.T, h *harness) {
		h.Env.VMs = nil
		h.apply(h.spec())
		op := h.run()
		h.assertHalted(t, op, protect, bondflip.ReasonNoVMBackend, "vmProtection LiveMigrate needs the KubeVirt backend")
		assert.Equal(t, slices.Concat(begin, []phase.Phase{protect, halted}), h.Phases())
		assert.NotNil(t, op.Status.StartedAt, "it passed its step gates")
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.flips("a"))

		h.Env.VMs = h.vms
		h.Act(v1.ActionResume)
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat([]phase.Phase{protect, halted}, wave, wave, wave, end), h.Phases()[3:])
		assert.Len(t, h.vmChanges(), 6)
	}},

	{name: "KubeVirt failing past the retries halts ProtectVMs; Abort", run: func(t *testing.T, h *harness) {
		h.vms.Fail(memory.MethodEvacuate, errors.New("kubevirt: the server is currently unable to handle the request"), 0)
		h.apply(h.spec())
		op := h.run()
		h.assertHalted(t, op, protect, operation.ReasonRetriesExhausted, "ProtectVMs failed 6 times", "kubevirt: the server is currently unable")
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vmChanges())

		h.Act(v1.ActionAbort)
		op = h.run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{protect, halted, aborted}, tail(h, 3))
		h.assertNothingFurther(t)
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.flips("a"))
	}},

	{name: "a failed probe is reverted by the agent and halts Flip; no later node is touched; Resume retries the node", run: func(t *testing.T, h *harness) {
		h.host("b").FailProbe(action.ProbeGateway, gateway, errors.New("no route to host"))
		h.apply(h.spec())
		op := h.run()
		b, c := h.node("b"), h.node("c")
		h.assertHalted(t, op, flip, bondflip.ReasonNodeStepFailed,
			"node "+b+": FlipBond reverted: probe gateway 10.0.0.1 failed: no route to host; bond0 reverted to active-backup", "not touched: "+c)
		assert.Equal(t, slices.Concat(begin, wave, []phase.Phase{protect, flip, halted}), h.Phases())
		assert.Equal(t, []string{flipped}, h.flips("a"))
		assert.Equal(t, []string{flipped, "802.3ad → active-backup"}, h.flips("b"), "flipped, then put back")
		mode, _ := h.host("b").Mode(bond)
		assert.Equal(t, fromMode, mode)
		assert.Empty(t, h.flips("c"))
		assert.Equal(t, []string{string(v1.TaskReverted)}, h.taskPhases("b"))
		assert.Empty(t, h.taskPhases("c"))
		assert.Equal(t, bondflip.NodeFailed, progress(op)[b].Phase)
		assert.Equal(t, bondflip.NodePending, progress(op)[c].Phase)
		assert.NotContains(t, h.vmChanges(), "Evacuate "+c)

		h.host("b").FailProbe(action.ProbeGateway, gateway, nil)
		h.Act(v1.ActionResume)
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat([]phase.Phase{flip, halted, flip, verify, nodeDone}, wave, end), tail(h, 10))
		assert.Equal(t, []string{string(v1.TaskReverted), string(v1.TaskSucceeded)}, h.taskPhases("b"), "the retry is a new attempt, a new task")
		assert.Equal(t, int32(2), progress(op)[b].Attempt)
		assert.Equal(t, []string{flipped, "802.3ad → active-backup", flipped}, h.flips("b"))
		assert.Equal(t, []string{flipped}, h.flips("a"), "a done node is not flipped again")
	}},

	{name: "a bond that cannot be set fails the task and halts Flip with the node unchanged; Abort", run: func(t *testing.T, h *harness) {
		h.host("a").FailSet(errors.New("netlink: device or resource busy"))
		h.apply(h.spec())
		op := h.run()
		a, b, c := h.node("a"), h.node("b"), h.node("c")
		h.assertHalted(t, op, flip, bondflip.ReasonNodeStepFailed,
			"node "+a+": FlipBond failed: setting bond0 to 802.3ad failed: netlink: device or resource busy; bond0 still runs active-backup", "not touched: "+b+", "+c)
		assert.Equal(t, slices.Concat(begin, []phase.Phase{protect, flip, halted}), h.Phases())
		assert.Equal(t, []string{string(v1.TaskFailed)}, h.taskPhases("a"))
		for _, x := range []string{"a", "b", "c"} {
			assert.Empty(t, h.flips(x))
		}

		h.Act(v1.ActionAbort)
		op = h.run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{flip, halted, aborted}, tail(h, 3))
		h.assertNothingFurther(t)
		assert.Empty(t, h.taskPhases("b"))
	}},

	{name: "an agent that does not finish its task by the deadline halts Flip; the task is refused once it is back; Resume", run: func(t *testing.T, h *harness) {
		h.Tick = 30 * time.Second // fewer reconciles while the deadline runs out
		stopped := false
		h.OnTransition = func(_, to phase.Phase) {
			if to == flip && !stopped {
				stopped = true
				h.agent("a").down = true
			}
		}
		h.apply(h.spec())
		a, b, c := h.node("a"), h.node("b"), h.node("c")
		name := h.taskName(a, 1)
		h.runUntil(waiting(flip, bondflip.ReasonWaitingForAgent, a+" (task "+name+" Pending)"))
		op := h.run()
		h.assertHalted(t, op, flip, bondflip.ReasonAgentUnresponsive,
			"node "+a+": the agent did not finish task "+name+" by its deadline", "not touched: "+b+", "+c)
		task := h.tasks()[name]
		assert.Empty(t, task.Status.Phase, "no agent touched the task")
		assert.Empty(t, h.flips("a"))
		assert.Equal(t, bondflip.NodeFailed, progress(op)[a].Phase)
		// The deadline is revertAfter, the probes (gateway and API server,
		// 10s each) and a minute from the first Flip step, one tick after
		// the operation entered Flip; the halt comes at the first
		// reconcile past it.
		entered := record(t, op, protect, flip).Time.Time
		deadline := task.Spec.Deadline.Time
		assert.Equal(t, entered.Add(h.Tick+2*time.Minute+20*time.Second+time.Minute), deadline)
		haltedAt := record(t, op, flip, halted).Time.Time
		assert.True(t, haltedAt.After(deadline) && !haltedAt.After(deadline.Add(h.Tick)), "halted at %s, the deadline is %s", haltedAt, deadline)

		h.agent("a").down = false
		h.stepAgents()
		task = h.tasks()[name]
		assert.Equal(t, string(v1.TaskFailed), task.Status.Phase, "a task past its deadline is refused")
		assert.Contains(t, task.Status.Message, "passed before the agent started the task")
		assert.Empty(t, h.flips("a"))

		h.Act(v1.ActionResume)
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, []string{string(v1.TaskFailed), string(v1.TaskSucceeded)}, h.taskPhases("a"))
		assert.Equal(t, []string{flipped}, h.flips("a"))
	}},

	{name: "a bond reported in fromMode after a successful flip halts Verify; Resume once it runs toMode", run: func(t *testing.T, h *harness) {
		putBack := false
		h.OnTransition = func(_, to phase.Phase) {
			if to == verify && !putBack {
				putBack = true
				require.NoError(t, h.host("a").SetBondMode(context.Background(), bond, fromMode))
			}
		}
		h.apply(h.spec())
		op := h.run()
		a, b, c := h.node("a"), h.node("b"), h.node("c")
		h.assertHalted(t, op, verify, bondflip.ReasonVerifyFailed,
			"node "+a+": the agent reports bond0 in active-backup after a successful flip to 802.3ad", "not touched: "+b+", "+c)
		assert.Equal(t, slices.Concat(begin, []phase.Phase{protect, flip, verify, halted}), h.Phases())
		assert.Equal(t, []string{string(v1.TaskSucceeded)}, h.taskPhases("a"))
		assert.Equal(t, []string{"Evacuate " + a}, h.vmChanges(), "the VMs are not let back onto the node")
		assert.Empty(t, h.taskPhases("b"))

		require.NoError(t, h.host("a").SetBondMode(context.Background(), bond, toMode))
		h.Act(v1.ActionResume)
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat([]phase.Phase{verify, halted, verify, nodeDone}, wave, wave, end), tail(h, 13))
		assert.Equal(t, []string{string(v1.TaskSucceeded)}, h.taskPhases("a"), "Verify looks again; it does not flip again")
	}},

	{name: "a node not Ready for twice revertAfter after its flip halts Verify; Resume once it is Ready", run: func(t *testing.T, h *harness) {
		h.Tick = 30 * time.Second // fewer reconciles while the node stays not Ready
		verifies := 0
		h.OnTransition = func(_, to phase.Phase) {
			if to == verify {
				if verifies++; verifies == 2 {
					h.setReady(h.node("b"), false)
				}
			}
		}
		h.apply(h.spec())
		b, c := h.node("b"), h.node("c")
		h.runUntil(waiting(verify, bondflip.ReasonWaitingForVerified, "waiting for "+b+" to be Ready"))
		assert.True(t, h.vms.Cordoned(b), "no VM goes back while the node is not Ready")
		op := h.run()
		// The first reconcile past twice revertAfter halts.
		h.assertHalted(t, op, verify, bondflip.ReasonVerifyFailed, b+" not Ready "+(4*time.Minute+h.Tick).String()+" after the flip")
		assert.Equal(t, slices.Concat(begin, wave, []phase.Phase{protect, flip, verify, halted}), h.Phases())
		waited := record(t, op, verify, halted).Time.Sub(record(t, op, flip, verify).Time.Time)
		assert.Equal(t, 4*time.Minute+h.Tick, waited)
		assert.Equal(t, bondflip.NodeVerifying, progress(op)[b].Phase)
		assert.Empty(t, h.taskPhases("c"))
		assert.NotContains(t, h.vmChanges(), "Evacuate "+c)

		h.setReady(b, true)
		h.Act(v1.ActionResume)
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat([]phase.Phase{verify, halted, verify, nodeDone}, wave, end), tail(h, 9))
	}},

	{name: "a bond gone from the agent's report after the flip halts Verify; Abort", run: func(t *testing.T, h *harness) {
		hidden := false
		h.OnTransition = func(_, to phase.Phase) {
			if to == verify && !hidden {
				hidden = true
				h.agent("a").hideBond = bond
			}
		}
		h.apply(h.spec())
		op := h.run()
		h.assertHalted(t, op, verify, bondflip.ReasonVerifyFailed, "the agent on node "+h.node("a")+" reports no bond bond0")
		assert.Equal(t, []string{flipped}, h.flips("a"))

		h.Act(v1.ActionAbort)
		op = h.run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{verify, halted, aborted}, tail(h, 3))
		h.assertNothingFurther(t)
		assert.Empty(t, h.flips("b"))
		assert.Empty(t, h.flips("c"))
	}},

	{name: "NodeDone failing past the retries halts there; Resume starts the next wave", run: func(t *testing.T, h *harness) {
		fail := true
		h.Rec.Kind = failingNodeDone(&fail)
		h.apply(h.spec())
		op := h.run()
		h.assertHalted(t, op, nodeDone, operation.ReasonRetriesExhausted, "NodeDone failed 6 times", "unable to handle the request")
		assert.Equal(t, slices.Concat(begin, wave, []phase.Phase{halted}), h.Phases())
		assert.Equal(t, bondflip.NodeDoneStep, progress(op)[h.node("a")].Phase)
		assert.Empty(t, h.flips("b"))
		assert.Empty(t, h.flips("c"))

		fail = false
		h.Act(v1.ActionResume)
		op = h.run()
		assertFlipped(t, h, op)
		assert.Equal(t, slices.Concat([]phase.Phase{nodeDone, halted, nodeDone}, wave, wave, end), tail(h, 12))
		for _, x := range []string{"a", "b", "c"} {
			assert.Equal(t, []string{flipped}, h.flips(x), "node %s flipped exactly once", x)
		}
	}},

	{name: "spec.action Abort before the start", run: func(t *testing.T, h *harness) {
		s := h.spec()
		s.Action = v1.ActionAbort
		h.apply(s)
		op := h.run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, aborted}, h.Phases())
		h.assertAudit(t, op)
		h.assertNothingFurther(t)
		assert.Empty(t, h.tasks())
		assert.Empty(t, h.vms.Calls())
	}},
}

// TestScenarios runs every scenario, in parallel, through the real
// skeleton and checks that each transition a step took is in the table
// and, when every scenario ran, that the scenarios took every transition
// of the table.
func TestScenarios(t *testing.T) {
	cov := optest.NewCoverage(bondflip.Table)
	var mu sync.Mutex // Coverage is not safe for concurrent use
	t.Run("scenario", func(t *testing.T) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, sc.profile)
				sc.run(t, h)
				path, recs := h.Path, h.Get().Status.Audit
				mu.Lock()
				defer mu.Unlock()
				cov.Took(t, path, recs)
			})
		}
	})
	cov.Complete(t, len(scenarios))
}

func TestKind(t *testing.T) {
	require.Same(t, bondflip.Table, bondflip.Kind.Table)
	optest.CheckKind(t, bondflip.Kind)
	assert.Equal(t, preflight, bondflip.Kind.First)
	assert.True(t, slices.Contains(bondflip.Table.Next[halted], aborted))
}

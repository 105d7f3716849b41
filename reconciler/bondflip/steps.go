package bondflip

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Per-node step phases, as shown in status.progress.
const (
	NodePending   = "Pending"
	NodeProtected = "ProtectingVMs"
	NodeFlipping  = "Flipping"
	NodeVerifying = "Verifying"
	NodeDoneStep  = "Done"
	NodeFailed    = "Failed"
)

// Reasons this kind sets.
const (
	ReasonPreflightFailed    = "PreflightFailed"
	ReasonAgentMissing       = "AgentMissing"
	ReasonNodeStepFailed     = "NodeStepFailed"
	ReasonAgentUnresponsive  = "AgentUnresponsive"
	ReasonVerifyFailed       = "VerifyFailed"
	ReasonNoVMBackend        = "NoVMBackend"
	ReasonWaitingForAgent    = "WaitingForAgent"
	ReasonProtectingVMs      = "ProtectingVMs"
	ReasonWaitingForVerified = "WaitingForVerification"
)

// agentStaleAfter is how old an agent's heartbeat may be for its report
// to count: the node gates' bound, so that the flip's checks and its
// gates agree on when an agent is silent.
const agentStaleAfter = gates.AgentStaleAfter

// nodeGatePoll is how soon a flip held by its node gates looks again:
// about an agent's heartbeat interval, as nothing they read changes
// faster.
const nodeGatePoll = 10 * time.Second

// Kind is the BondModeFlipPlan kind for the reconcile skeleton.
var Kind = &operation.Kind{
	Name:       v1.KindBondModeFlipPlan,
	Table:      Table,
	New:        func() v1.Operation { return &v1.BondModeFlipPlan{} },
	First:      Preflight,
	MaxRetries: 5,
	Steps: map[phase.Phase]operation.Step{
		phase.Pending:          operation.Begin,
		phase.AwaitingApproval: operation.AwaitApproval,
		Preflight:              preflight,
		ProtectVMs:             protectVMs,
		Flip:                   flip,
		Verify:                 verify,
		NodeDone:               nodeDone,
	},
}

func plan(run *operation.Run) *v1.BondModeFlipPlan {
	p := run.Op.(*v1.BondModeFlipPlan).DeepCopy()
	v1.Default(p)
	return p
}

// agentBond returns the mode node's agent reports for bond; a report
// without the bond stalls with reason, the caller's (Preflight's or
// Verify's).
func agentBond(ctx context.Context, run *operation.Run, node, bond, reason string) (v1.BondMode, *v1.NodewrightAgentStatus, error) {
	as := &v1.NodewrightAgentStatus{}
	err := run.Env.Client.Get(ctx, client.ObjectKey{Name: node}, as)
	if apierrors.IsNotFound(err) {
		return "", nil, operation.Wait(0, ReasonAgentMissing, "no agent has reported from node %s", node)
	}
	if err != nil {
		return "", nil, err
	}
	if age := run.Now.Sub(as.Status.LastHeartbeat.Time); age > agentStaleAfter {
		return "", nil, operation.Wait(0, ReasonAgentMissing, "the agent on node %s last reported %s ago", node, age.Round(time.Second))
	}
	for _, b := range as.Status.Bonds {
		if b.Name == bond {
			return b.Mode, as, nil
		}
	}
	return "", as, operation.Stall(reason, "the agent on node %s reports no bond %s", node, bond)
}

// preflight checks every node reports the bond in fromMode (a node
// already in toMode counts as done) and lays out the progress.
func preflight(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	p := plan(run)
	done := 0
	for _, node := range p.Spec.Nodes {
		mode, _, err := agentBond(ctx, run, node, p.Spec.Bond, ReasonPreflightFailed)
		if err != nil {
			return "", err
		}
		switch mode {
		case p.Spec.ToMode:
			run.SetProgress(node, NodeDoneStep, "%s already runs %s", p.Spec.Bond, mode)
			done++
		case p.Spec.FromMode:
			if pr := run.Progress(node); pr == nil || pr.Phase != NodeDoneStep {
				run.SetProgress(node, NodePending, "%s runs %s", p.Spec.Bond, mode)
			}
		default:
			return "", operation.Stall(ReasonPreflightFailed, "node %s: %s runs %s, neither fromMode %s nor toMode %s; nothing was changed", node, p.Spec.Bond, mode, p.Spec.FromMode, p.Spec.ToMode)
		}
	}
	if done == len(p.Spec.Nodes) {
		run.Reason, run.Message = "NothingToDo", fmt.Sprintf("every node already runs %s", p.Spec.ToMode)
		return phase.Succeeded, nil
	}
	run.Reason, run.Message = "PreflightPassed", fmt.Sprintf("%d nodes to flip from %s to %s, %d at a time", len(p.Spec.Nodes)-done, p.Spec.FromMode, p.Spec.ToMode, p.Spec.MaxUnavailable)
	return ProtectVMs, nil
}

// wave returns the first wave with a node not done.
func wave(run *operation.Run, p *v1.BondModeFlipPlan) []string {
	for _, w := range Waves(p.Spec.Nodes, int(p.Spec.MaxUnavailable)) {
		var open []string
		for _, n := range w {
			if pr := run.Progress(n); pr == nil || pr.Phase != NodeDoneStep {
				open = append(open, n)
			}
		}
		if len(open) > 0 {
			return open
		}
	}
	return nil
}

// checkNodeGates evaluates the node gates (gates.Node: is each node's
// DRBD healthy and known, from its agent's report) for the nodes whose
// flip is about to start, and returns a WaitError naming every gate that
// blocks, with the first one's reason (gates.StorageNotHealthy while a
// resource resyncs, gates.StorageUnknown while an agent is silent).
//
// A block is a wait, not a halt, as with the step gates: nothing on the
// nodes has changed, a resync ends by itself and a silent agent comes
// back, and the flip goes on when they do, looking again every
// nodeGatePoll. A person who will not wait aborts the plan in git.
func checkNodeGates(ctx context.Context, run *operation.Run, nodes []string) error {
	if len(nodes) == 0 {
		return nil
	}
	in, err := run.Env.Gather().NodeInput(ctx, run.Op, nodes, run.Now)
	if err != nil {
		return err
	}
	d := gates.Node.Evaluate(in)
	if d.Allowed {
		return nil
	}
	blocking := d.Blocking()
	msgs := make([]string, len(blocking))
	for i, v := range blocking {
		msgs[i] = fmt.Sprintf("%s: %s", v.Gate, v.Message)
	}
	return operation.Wait(nodeGatePoll, string(blocking[0].Reason), "%s; %s is not flipped on %s until then", strings.Join(msgs, "; "), plan(run).Spec.Bond, strings.Join(nodes, ", "))
}

// protectVMs checks the node gates and then the step gates before a wave
// starts, then moves the wave nodes' VMs away. The node gates come first
// so that a plan held by its nodes' storage does not count as started
// (in flight for the other operations) while it waits.
func protectVMs(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	p := plan(run)
	w := wave(run, p)
	started := false
	for _, n := range w {
		if pr := run.Progress(n); pr != nil && pr.Phase != NodePending {
			started = true
		}
	}
	if !started {
		if err := checkNodeGates(ctx, run, w); err != nil {
			return "", err
		}
		if err := run.CheckStepGates(ctx); err != nil {
			return "", err
		}
	}
	pending := []string{}
	for _, n := range w {
		if p.Spec.VMProtection == v1.VMProtectionNone {
			run.SetProgress(n, NodeProtected, "vmProtection None: VMs stay on the node")
			continue
		}
		if run.Env.VMProtector() == nil {
			return "", operation.Stall(ReasonNoVMBackend, "vmProtection %s needs the KubeVirt backend, which this reconciler has not got; set vmProtection: None to flip with VMs in place", p.Spec.VMProtection)
		}
		prog, err := run.Env.VMProtector().Evacuate(ctx, n, p.Spec.VMProtection)
		if err != nil {
			return "", err
		}
		run.SetProgress(n, NodeProtected, "%s", prog.Message)
		if !prog.Done {
			pending = append(pending, n)
		}
	}
	if len(pending) > 0 {
		return "", operation.Wait(0, ReasonProtectingVMs, "moving VMs off %s", strings.Join(pending, ", "))
	}
	run.Reason, run.Message = "VMsProtected", fmt.Sprintf("VMs protected on %s", strings.Join(w, ", "))
	return Flip, nil
}

// flipStep is the FlipBond task of node.
func flipStep(p *v1.BondModeFlipPlan, node string, attempt int32, now time.Time) nodetask.Step {
	s := p.Spec
	// The agent's own type spells the params, so both sides agree.
	params := action.FlipBond{
		Bond: s.Bond, FromMode: s.FromMode, ToMode: s.ToMode,
		RevertAfter: s.RevertAfter.Duration, ProbeTimeout: s.Probes.Timeout.Duration,
		APIServer: s.Probes.APIServer == nil || *s.Probes.APIServer,
		Gateway:   s.Probes.Gateway, Peers: s.Probes.Peers,
	}.Params()
	probes := time.Duration(2+len(s.Probes.Peers)) * s.Probes.Timeout.Duration
	return nodetask.Step{Node: node, Action: v1.ActionFlipBond, Params: params, Attempt: attempt,
		Deadline: now.Add(s.RevertAfter.Duration + probes + time.Minute)}
}

// flip has each wave node's agent flip the bond, and halts on the first
// node that failed: the agent reverted it, no later node is touched.
// Before it creates a node's task it checks the node gates again, for
// every wave node whose task is still to come at once (DRBD may have
// begun a resync while the VMs moved): no task of the wave is created
// while one of them is held. A node whose task exists is not held: the
// flip under way may well disturb DRBD itself, and the agent's probes
// and dead-man switch judge it.
func flip(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	p := plan(run)
	w := wave(run, p)
	var starting []string
	for _, n := range w {
		if pr := run.Progress(n); pr == nil || pr.Phase == NodeFailed || pr.Phase == NodePending || pr.Phase == NodeProtected {
			starting = append(starting, n)
		}
	}
	if err := checkNodeGates(ctx, run, starting); err != nil {
		return "", err
	}
	var waiting []string
	for _, n := range w {
		pr := run.Progress(n)
		if pr == nil {
			pr = run.SetProgress(n, NodePending, "")
		}
		switch pr.Phase {
		case NodeVerifying:
			continue
		case NodeFailed, NodePending, NodeProtected:
			// A new attempt: a failed node's earlier task stays as it is.
			if pr.Phase == NodeFailed || pr.Attempt == 0 {
				pr.Attempt++
			}
			run.SetProgress(n, NodeFlipping, "flipping %s to %s (attempt %d)", p.Spec.Bond, p.Spec.ToMode, pr.Attempt)
		}
		step := flipStep(p, n, pr.Attempt, run.Now)
		task, err := run.Task(ctx, step)
		if err != nil {
			return "", err
		}
		switch v1.TaskPhase(task.Status.Phase) {
		case v1.TaskSucceeded:
			run.SetProgress(n, NodeVerifying, "agent flipped %s to %s: %s", p.Spec.Bond, p.Spec.ToMode, task.Status.Message)
		case v1.TaskFailed, v1.TaskReverted:
			run.SetProgress(n, NodeFailed, "task %s %s: %s", task.Name, strings.ToLower(task.Status.Phase), task.Status.Message)
			return "", operation.Stall(ReasonNodeStepFailed, "node %s: FlipBond %s: %s; %s", n, strings.ToLower(task.Status.Phase), task.Status.Message, untouched(run, p))
		default:
			if run.Now.After(task.Spec.Deadline.Time) {
				run.SetProgress(n, NodeFailed, "task %s not finished by its deadline %s", task.Name, task.Spec.Deadline.UTC().Format(time.RFC3339))
				return "", operation.Stall(ReasonAgentUnresponsive, "node %s: the agent did not finish task %s by its deadline %s (its dead-man switch reverts a flipped bond); %s", n, task.Name, task.Spec.Deadline.UTC().Format(time.RFC3339), untouched(run, p))
			}
			waiting = append(waiting, fmt.Sprintf("%s (task %s %s)", n, task.Name, orPending(task.Status.Phase)))
		}
	}
	if len(waiting) > 0 {
		return "", operation.Wait(0, ReasonWaitingForAgent, "waiting for the agent on %s", strings.Join(waiting, ", "))
	}
	run.Reason, run.Message = "Flipped", fmt.Sprintf("%s flipped to %s on %s", p.Spec.Bond, p.Spec.ToMode, strings.Join(w, ", "))
	return Verify, nil
}

func orPending(p string) string {
	if p == "" {
		return string(v1.TaskPending)
	}
	return p
}

// untouched names the nodes the operation has not touched.
func untouched(run *operation.Run, p *v1.BondModeFlipPlan) string {
	var out []string
	for _, n := range p.Spec.Nodes {
		if pr := run.Progress(n); pr == nil || pr.Phase == NodePending {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "no other node is pending"
	}
	return "not touched: " + strings.Join(out, ", ")
}

// verifyOverdue reports whether Verify has waited longer than twice the
// plan's revertAfter for its nodes.
func verifyOverdue(run *operation.Run, p *v1.BondModeFlipPlan) bool {
	since := run.Status().PhaseSince
	return since != nil && run.Now.Sub(since.Time) > 2*p.Spec.RevertAfter.Duration
}

// reportPredatesFlip reports whether the agent status as of node was
// written no later than the node's FlipBond task finished (both times on
// the agent's clock): the agent records the task's result before its next
// status, so such a report cannot show the flip yet.
func reportPredatesFlip(ctx context.Context, run *operation.Run, p *v1.BondModeFlipPlan, node string, as *v1.NodewrightAgentStatus) (bool, error) {
	pr := run.Progress(node)
	if pr == nil || as == nil {
		return false, nil
	}
	step := flipStep(p, node, pr.Attempt, run.Now)
	step.Operation, step.Kind = run.Op, run.Kind.Name
	task, err := nodetask.Get(ctx, run.Env.Client, step)
	if err != nil || task == nil || task.Status.FinishedAt == nil {
		return false, err
	}
	return !as.Status.LastHeartbeat.After(task.Status.FinishedAt.Time), nil
}

// verify confirms the wave's agents report toMode and their nodes are
// Ready, then lets VMs back onto them.
func verify(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	p := plan(run)
	w := wave(run, p)
	var waiting []string
	for _, n := range w {
		mode, as, err := agentBond(ctx, run, n, p.Spec.Bond, ReasonVerifyFailed)
		if err != nil {
			return "", err
		}
		if mode != p.Spec.ToMode {
			stale, err := reportPredatesFlip(ctx, run, p, n, as)
			if err != nil {
				return "", err
			}
			if stale && !verifyOverdue(run, p) {
				// The agent writes the task's result first and its status
				// after: this report is from before the flip.
				waiting = append(waiting, n+" (its agent's last report predates the flip)")
				continue
			}
			return "", operation.Stall(ReasonVerifyFailed, "node %s: the agent reports %s in %s after a successful flip to %s; %s", n, p.Spec.Bond, mode, p.Spec.ToMode, untouched(run, p))
		}
		ready, err := nodeReady(ctx, run, n)
		if err != nil {
			return "", err
		}
		if !ready {
			waiting = append(waiting, n)
			continue
		}
		if vms := run.Env.VMProtector(); p.Spec.VMProtection != v1.VMProtectionNone && vms != nil {
			if err := vms.Release(ctx, n); err != nil {
				return "", err
			}
		}
		run.SetProgress(n, NodeDoneStep, "%s runs %s; node Ready", p.Spec.Bond, p.Spec.ToMode)
	}
	if len(waiting) > 0 {
		if verifyOverdue(run, p) {
			return "", operation.Stall(ReasonVerifyFailed, "%s not Ready %s after the flip", strings.Join(waiting, ", "), run.Now.Sub(run.Status().PhaseSince.Time).Round(time.Second))
		}
		return "", operation.Wait(0, ReasonWaitingForVerified, "waiting for %s to be Ready", strings.Join(waiting, ", "))
	}
	run.Reason, run.Message = "Verified", fmt.Sprintf("%s verified on %s", p.Spec.ToMode, strings.Join(w, ", "))
	return NodeDone, nil
}

// nodeReady reports the node's Ready condition; a cluster without a Node
// object of that name (the agent runs elsewhere) counts on the agent.
func nodeReady(ctx context.Context, run *operation.Run, name string) (bool, error) {
	n := &corev1.Node{}
	err := run.Env.Client.Get(ctx, client.ObjectKey{Name: name}, n)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// nodeDone starts the next wave or ends the operation.
func nodeDone(_ context.Context, run *operation.Run) (phase.Phase, error) {
	p := plan(run)
	done := 0
	for _, n := range p.Spec.Nodes {
		if pr := run.Progress(n); pr != nil && pr.Phase == NodeDoneStep {
			done++
		}
	}
	if done < len(p.Spec.Nodes) {
		run.Reason, run.Message = "NextWave", fmt.Sprintf("%d of %d nodes done", done, len(p.Spec.Nodes))
		return ProtectVMs, nil
	}
	run.Reason, run.Message = "AllNodesFlipped", fmt.Sprintf("%s runs %s on all %d nodes", p.Spec.Bond, p.Spec.ToMode, len(p.Spec.Nodes))
	return phase.Succeeded, nil
}

package bondflip_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/agent/simhost"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/bondflip"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// opName is the name of every scenario's operation.
const opName = "bond0-to-lacp"

// What every scenario flips: bond0 from active-backup to 802.3ad, with a
// gateway probe a scenario can make fail.
const (
	bond     = "bond0"
	fromMode = v1.BondActiveBackup
	toMode   = v1.Bond8023AD
	gateway  = "10.0.0.1"
)

// apiServer is the target the simulated agents give the API server probe.
const apiServer = "https://apiserver.sim:6443"

// harness runs one BondModeFlipPlan through the real reconcile skeleton
// on a real API server, over a simulated KubeVirt and one simulated agent
// per node.
type harness struct {
	*optest.Harness[*v1.BondModeFlipPlan]
	// nodes are the site's nodes, in the profile's order. Their names are
	// the site's name with -a, -b, -c: Nodes and NodewrightAgentStatuses
	// are cluster-scoped, and the scenarios share one API server.
	nodes  []string
	agents map[string]*simAgent
	vms    *memory.VMs
}

// newHarness makes a namespace and a site profile of three nodes, each
// with bond0 in active-backup (edit may change the profile), a Ready Node
// object, a simulated host seeded from the profile and a simulated agent
// for each, and a simulated KubeVirt with one running, live-migratable VM
// per node.
func newHarness(t *testing.T, edit func(*v1.EdgeProfile)) *harness {
	t.Helper()
	h := &harness{agents: map[string]*simAgent{}}
	h.Harness = optest.New[*v1.BondModeFlipPlan](t, controlPlane.Client(t), optest.Options{
		Kind: bondflip.Kind, Name: opName, Site: "bf",
		Profile: func(p *v1.EdgeProfile) {
			for i := range p.Spec.Nodes {
				p.Spec.Nodes[i].Name = fmt.Sprintf("%s-%c", p.Name, 'a'+i)
				p.Spec.Nodes[i].Bonds = []v1.Bond{{Name: bond, Mode: fromMode, Slaves: []string{"eno1", "eno2"}}}
			}
			if edit != nil {
				edit(p)
			}
		},
	})
	ctx := context.Background()
	t.Cleanup(func() {
		for _, n := range h.nodes {
			_ = h.C.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
			_ = h.C.Delete(ctx, &v1.NodewrightAgentStatus{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
	})
	for _, n := range h.Profile.Spec.Nodes {
		host, err := simhost.FromProfile(h.Profile, n.Name)
		require.NoError(t, err)
		host.SetClock(func() time.Time { return h.Now })
		h.nodes = append(h.nodes, n.Name)
		h.agents[n.Name] = &simAgent{node: n.Name, host: host}
		require.NoError(t, h.C.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name}}))
		h.setReady(n.Name, true)
	}
	h.vms = memory.VMsFromProfile(h.Profile, "apps", 1)
	h.vms.SetJobSteps(1)
	h.Env.VMs = h.vms
	return h
}

// node returns the name of the site's node x ("a", "b" or "c").
func (h *harness) node(x string) string { return h.NS + "-" + x }

// agent returns the simulated agent of node x.
func (h *harness) agent(x string) *simAgent { return h.agents[h.node(x)] }

// host returns the simulated host of node x.
func (h *harness) host(x string) *simhost.Host { return h.agent(x).host }

// spec is the scenarios' usual spec: bond0 from active-backup to 802.3ad
// on the three nodes in order, one at a time, with a two-minute dead-man
// switch and the gateway and API server probes; vmProtection is left to
// its default, LiveMigrate.
func (h *harness) spec() v1.BondModeFlipPlanSpec {
	return v1.BondModeFlipPlanSpec{
		Bond: bond, FromMode: fromMode, ToMode: toMode, Nodes: slices.Clone(h.nodes),
		RevertAfter: metav1.Duration{Duration: 2 * time.Minute},
		Probes:      v1.Probes{Gateway: gateway, Timeout: metav1.Duration{Duration: 10 * time.Second}},
	}
}

// apply creates the operation with spec s.
func (h *harness) apply(s v1.BondModeFlipPlanSpec) {
	h.T.Helper()
	h.Apply(&v1.BondModeFlipPlan{Spec: s})
}

// run reconciles, with the agents taking a step before each reconcile,
// until the operation settles.
func (h *harness) run() *v1.BondModeFlipPlan {
	h.T.Helper()
	return h.runUntil(h.Settled)
}

// runUntil reconciles, with the agents taking a step before each
// reconcile, until stop holds.
func (h *harness) runUntil(stop func(*v1.BondModeFlipPlan) bool) *v1.BondModeFlipPlan {
	h.T.Helper()
	return h.RunUntil(func(op *v1.BondModeFlipPlan) bool {
		if stop(op) {
			return true
		}
		h.stepAgents()
		return false
	})
}

// waiting holds when the operation waits in phase in with reason (its
// Reconciling condition) and a message containing every want.
func waiting(in phase.Phase, reason string, want ...string) func(*v1.BondModeFlipPlan) bool {
	return func(op *v1.BondModeFlipPlan) bool {
		c := optest.Condition(op, operation.Reconciling)
		if op.Status.Phase != string(in) || c == nil || c.Reason != reason {
			return false
		}
		for _, w := range want {
			if !strings.Contains(c.Message, w) {
				return false
			}
		}
		return true
	}
}

// reconcile lets the agents take a step, reconciles once and moves the
// clock by d.
func (h *harness) reconcile(d time.Duration) {
	h.T.Helper()
	h.stepAgents()
	_, err := h.Rec.Reconcile(context.Background(), h.Request())
	require.NoError(h.T, err)
	h.Now = h.Now.Add(d)
}

// setReady sets the Ready condition of the Node object of node.
func (h *harness) setReady(node string, ready bool) {
	h.T.Helper()
	ctx := context.Background()
	n := &corev1.Node{}
	require.NoError(h.T, h.C.Get(ctx, client.ObjectKey{Name: node}, n))
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	at := metav1.NewTime(h.Now)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "SimulatedKubelet", LastHeartbeatTime: at, LastTransitionTime: at}}
	require.NoError(h.T, h.C.Status().Update(ctx, n))
}

// taskName is the name of the FlipBond task of node's attempt.
func (h *harness) taskName(node string, attempt int32) string {
	op := &v1.BondModeFlipPlan{ObjectMeta: metav1.ObjectMeta{Name: opName, Namespace: h.NS}}
	return nodetask.Step{Operation: op, Kind: v1.KindBondModeFlipPlan, Node: node, Action: v1.ActionFlipBond, Attempt: attempt}.Name()
}

// tasks returns the operation's NodeTasks by name.
func (h *harness) tasks() map[string]v1.NodeTask {
	h.T.Helper()
	l := &v1.NodeTaskList{}
	require.NoError(h.T, h.C.List(context.Background(), l, client.InNamespace(h.NS),
		client.MatchingLabels{v1.LabelOperationKind: v1.KindBondModeFlipPlan, v1.LabelOperationName: opName}))
	out := map[string]v1.NodeTask{}
	for _, task := range l.Items {
		out[task.Name] = task
	}
	return out
}

// taskPhases returns the phase of each of node x's tasks, by attempt
// (Pending for a task no agent has touched).
func (h *harness) taskPhases(x string) []string {
	h.T.Helper()
	tasks := h.tasks()
	var out []string
	for attempt := int32(1); ; attempt++ {
		task, ok := tasks[h.taskName(h.node(x), attempt)]
		if !ok {
			return out
		}
		out = append(out, orPending(task.Status.Phase))
	}
}

func orPending(p string) string {
	if p == "" {
		return string(v1.TaskPending)
	}
	return p
}

// flipped is a journal entry of bond0 going from active-backup to
// 802.3ad, as flips shows it.
const flipped = "active-backup → 802.3ad"

// flips returns the bond mode changes on node x, oldest first, as
// "from → to".
func (h *harness) flips(x string) []string {
	var out []string
	for _, e := range h.host(x).Journal() {
		out = append(out, fmt.Sprintf("%s → %s", e.From, e.To))
	}
	return out
}

// vmChanges returns the KubeVirt calls that changed something, as
// "Method node".
func (h *harness) vmChanges() []string {
	var out []string
	for _, c := range h.vms.Mutations() {
		out = append(out, c.Method+" "+c.Target)
	}
	return out
}

// progress returns the operation's progress entries by target.
func progress(op *v1.BondModeFlipPlan) map[string]v1.StepProgress {
	out := map[string]v1.StepProgress{}
	for _, p := range op.Status.Progress {
		out[p.Target] = p
	}
	return out
}

// walk returns the phases the audit records enter, in order.
func walk(recs []v1.AuditRecord) []phase.Phase {
	out := make([]phase.Phase, len(recs))
	for i, r := range recs {
		out[i] = phase.Phase(r.To)
	}
	return out
}

// record returns the newest audit record of the transition from → to.
func record(t *testing.T, op *v1.BondModeFlipPlan, from, to phase.Phase) v1.AuditRecord {
	t.Helper()
	for i := len(op.Status.Audit) - 1; i >= 0; i-- {
		if r := op.Status.Audit[i]; r.From == string(from) && r.To == string(to) {
			return r
		}
	}
	require.Failf(t, "no audit record", "%s → %s", from, to)
	return v1.AuditRecord{}
}

// assertAudit checks the operation's audit records: an unbroken hash
// chain of records of this operation and site that enter exactly the
// phases the harness saw it enter (the last of them, when the status
// keeps fewer).
func (h *harness) assertAudit(t *testing.T, op *v1.BondModeFlipPlan) {
	t.Helper()
	recs := op.Status.Audit
	require.NotEmpty(t, recs)
	assert.NoError(t, audit.Verify(recs))
	phases := h.Phases()
	require.LessOrEqual(t, len(recs), len(phases))
	assert.Equal(t, phases[len(phases)-len(recs):], walk(recs), "one audit record per transition, in order")
	for _, r := range recs {
		assert.Equal(t, v1.KindBondModeFlipPlan, r.Kind)
		assert.Equal(t, opName, r.Name)
		assert.Equal(t, h.NS, r.Cluster)
	}
}

// assertHalted checks the operation halted in phase in for reason: the
// Stalled condition and the last audit record (in → Halted) give the
// reason and a message naming every want, the audit chain is whole, and
// nothing further happens while the operation waits for a person.
func (h *harness) assertHalted(t *testing.T, op *v1.BondModeFlipPlan, in phase.Phase, reason string, want ...string) {
	t.Helper()
	require.Equal(t, string(phase.Halted), op.Status.Phase, "%+v", op.Status.Conditions)
	assert.Equal(t, string(in), op.Status.HaltedPhase, "the phase a Resume returns to")
	stalled := optest.Condition(op, operation.Stalled)
	require.NotNil(t, stalled)
	assert.Equal(t, metav1.ConditionTrue, stalled.Status)
	assert.Equal(t, reason, stalled.Reason)
	for _, w := range want {
		assert.Contains(t, stalled.Message, w)
	}
	if ready := optest.Condition(op, operation.Ready); assert.NotNil(t, ready) {
		assert.Equal(t, metav1.ConditionFalse, ready.Status)
	}
	assert.Nil(t, optest.Condition(op, operation.Reconciling), "a halted operation does not reconcile on")
	phases := h.Phases()
	assert.Equal(t, []phase.Phase{in, phase.Halted}, phases[len(phases)-2:])
	h.assertAudit(t, op)
	last := op.Status.Audit[len(op.Status.Audit)-1]
	assert.Equal(t, string(in), last.From)
	assert.Equal(t, string(phase.Halted), last.To)
	assert.Equal(t, reason, last.Reason)
	assert.Equal(t, stalled.Message, last.Message, "the audit record says what the condition says")
	h.assertNothingFurther(t)
}

// siteState is what an operation can change at the site.
type siteState struct {
	// Journals are each node's bond mode changes.
	Journals map[string][]simhost.Entry
	// Tasks are the operation's NodeTasks with their phases and messages.
	Tasks map[string]string
	// VMChanges are the KubeVirt calls that changed something.
	VMChanges []string
	// Cordoned are the nodes KubeVirt keeps VMs off.
	Cordoned []string
}

func (h *harness) state() siteState {
	s := siteState{Journals: map[string][]simhost.Entry{}, Tasks: map[string]string{}, VMChanges: h.vmChanges()}
	for _, n := range h.nodes {
		s.Journals[n] = h.agents[n].host.Journal()
		if h.vms.Cordoned(n) {
			s.Cordoned = append(s.Cordoned, n)
		}
	}
	for name, task := range h.tasks() {
		s.Tasks[name] = orPending(task.Status.Phase) + ": " + task.Status.Message
	}
	return s
}

// assertNothingFurther reconciles the settled operation five more times,
// the agents taking a step before each and the clock moving an hour each
// time (past every task deadline and dead-man switch), and checks that
// nothing happened: the operation's status is as it was (no transition,
// no audit record), no NodeTask was created or moved on, no bond changed
// mode and KubeVirt saw no change.
func (h *harness) assertNothingFurther(t *testing.T) {
	t.Helper()
	op, before := h.Get(), h.state()
	for range 5 {
		h.reconcile(time.Hour)
	}
	after := h.Get()
	assert.Equal(t, op.Status.Phase, after.Status.Phase)
	assert.Equal(t, op.Status.Audit, after.Status.Audit, "no transition after the operation settled")
	assert.Equal(t, op.Status.Progress, after.Status.Progress)
	assert.Equal(t, before, h.state(), "nothing changed at the site after the operation settled")
}

// simAgent plays a node's agent for the harness. It does what the agent
// does (package agent) — carries out the node's FlipBond tasks on a
// simulated host from agent/simhost and keeps the node's
// NodewrightAgentStatus with the bonds and DRBD the host has — but one step at a
// time, run by the harness before each reconcile, on the harness's fake
// clock, so that a scenario sees the same sequence on every run. The real
// agent runs on goroutines of its own and on real time; it is tested in
// package agent and, with the reconciler, in the full-stack tests of
// package reconciler.
//
// A task takes two steps: the first claims it and flips the bond (the
// task is Running), the second runs the probes and reports Succeeded, or
// puts the bond back and reports Reverted when a probe fails or the
// dead-man deadline has passed. A task it cannot start (its deadline has
// passed, its params do not parse, the bond runs neither mode, setting
// the mode fails) is Failed with the bond as it was. The heartbeat comes
// after the tasks: at once when a task finished (the agent pokes its
// heartbeat then) or the bonds changed, else every heartbeatEvery.
type simAgent struct {
	node string
	host *simhost.Host
	// down stops the agent: it neither heartbeats nor touches a task
	// until it is set false again.
	down bool
	// hideBond, when set, is left out of the bonds the heartbeat reports,
	// as when the host no longer shows the bond.
	hideBond string
	// reported is the NodewrightAgentStatus as the agent last wrote it;
	// only the agent writes it.
	reported *v1.NodewrightAgentStatus
	// heartbeatLag, when set, holds the agent's status while it works on
	// a task and that many steps after, as a slow status write would:
	// the task's result is in, the report still shows the bond before.
	heartbeatLag int
	lagLeft      int
}

// heartbeatEvery is how often, on the fake clock, an agent that is up
// heartbeats when nothing changed; well within the reconciler's two
// minutes.
const heartbeatEvery = time.Minute

// stepAgents lets every agent that is up take one step: the unfinished
// tasks of its node, then its heartbeat.
func (h *harness) stepAgents() {
	h.T.Helper()
	l := &v1.NodeTaskList{}
	require.NoError(h.T, h.C.List(context.Background(), l, client.InNamespace(h.NS),
		client.MatchingLabels{v1.LabelOperationKind: v1.KindBondModeFlipPlan, v1.LabelOperationName: opName}))
	slices.SortFunc(l.Items, func(x, y v1.NodeTask) int { return strings.Compare(x.Name, y.Name) })
	for _, n := range h.nodes {
		a := h.agents[n]
		if a.down {
			continue
		}
		finished, worked := false, false
		for i := range l.Items {
			task := &l.Items[i]
			if task.Labels[v1.LabelNode] == n && !v1.TaskPhase(task.Status.Phase).Terminal() {
				a.work(h, task)
				worked = true
				finished = finished || v1.TaskPhase(task.Status.Phase).Terminal()
			}
		}
		if worked && a.heartbeatLag > 0 {
			a.lagLeft = a.heartbeatLag
		}
		if a.lagLeft > 0 {
			a.lagLeft--
			continue
		}
		a.heartbeat(h, finished)
	}
}

// heartbeat writes the agent's status when a task finished, when the
// bonds it would report changed, or when the last heartbeat is
// heartbeatEvery old.
func (a *simAgent) heartbeat(h *harness, finished bool) {
	h.T.Helper()
	if r := a.reported; r != nil && !finished && h.Now.Sub(r.Status.LastHeartbeat.Time) < heartbeatEvery &&
		equality.Semantic.DeepEqual(r.Status.Bonds, a.bonds(h)) && equality.Semantic.DeepEqual(r.Status.DRBD, a.drbd()) {
		return
	}
	a.beat(h, h.Now)
}

// bonds returns the bonds the agent reports: the host's, with their link
// state, without hideBond.
func (a *simAgent) bonds(h *harness) []v1.ObservedBond {
	h.T.Helper()
	bonds, err := a.host.ObservedBonds(context.Background())
	require.NoError(h.T, err)
	bonds = slices.DeleteFunc(bonds, func(b v1.ObservedBond) bool { return b.Name == a.hideBond })
	if len(bonds) == 0 {
		return nil
	}
	return bonds
}

// drbd returns the DRBD state the agent reports: the host's, mapped as
// the real agent's heartbeat maps it.
func (a *simAgent) drbd() *v1.DRBDStatus {
	return agent.DRBDStatus(a.host.DRBD(context.Background()))
}

// work moves one unfinished task a step on.
func (a *simAgent) work(h *harness, task *v1.NodeTask) {
	h.T.Helper()
	ctx := context.Background()
	if task.Spec.Action != v1.ActionFlipBond {
		a.report(h, task, v1.TaskFailed, fmt.Sprintf("action %q is not one this agent knows; not touched", task.Spec.Action))
		return
	}
	f, err := action.ParseFlipBond(task.Spec.Params)
	if err != nil {
		a.report(h, task, v1.TaskFailed, fmt.Sprintf("%s: %v; not touched", task.Spec.Action, err))
		return
	}
	switch v1.TaskPhase(task.Status.Phase) {
	case "", v1.TaskPending:
		if h.Now.After(task.Spec.Deadline.Time) {
			a.report(h, task, v1.TaskFailed, fmt.Sprintf("deadline %s passed before the agent started the task", task.Spec.Deadline.UTC().Format(time.RFC3339)))
			return
		}
		mode, ok := a.host.Mode(f.Bond)
		switch {
		case !ok:
			a.report(h, task, v1.TaskFailed, fmt.Sprintf("the host has no bond %s; not touched", f.Bond))
			return
		case mode == f.ToMode:
			// Flipped before a restart: probe, never set it again.
		case mode == f.FromMode:
			// simhost changes nothing when a set fails.
			if err := a.host.SetBondMode(ctx, f.Bond, f.ToMode); err != nil {
				a.report(h, task, v1.TaskFailed, fmt.Sprintf("setting %s to %s failed: %v; %s still runs %s", f.Bond, f.ToMode, err, f.Bond, f.FromMode))
				return
			}
		default:
			a.report(h, task, v1.TaskFailed, fmt.Sprintf("%s runs %s, not the expected fromMode %s; not touched", f.Bond, mode, f.FromMode))
			return
		}
		started := metav1.NewTime(h.Now)
		task.Status = v1.NodeTaskStatus{Phase: string(v1.TaskRunning), ClaimedBy: a.node, StartedAt: &started,
			Message: fmt.Sprintf("flipping %s from %s to %s", f.Bond, f.FromMode, f.ToMode)}
		require.NoError(h.T, h.C.Status().Update(ctx, task))
	case v1.TaskRunning:
		if !h.Now.Before(task.Status.StartedAt.Add(f.RevertAfter)) {
			a.revert(h, task, f, fmt.Sprintf("the dead-man deadline (revertAfter %s from the start) passed", f.RevertAfter))
			return
		}
		var passed []string
		for _, p := range f.Probes(apiServer) {
			if err := a.host.Probe(ctx, p); err != nil {
				a.revert(h, task, f, fmt.Sprintf("probe %s failed: %v", p, err))
				return
			}
			passed = append(passed, p.String())
		}
		a.report(h, task, v1.TaskSucceeded, fmt.Sprintf("%s runs %s (was %s); probes passed: %s", f.Bond, f.ToMode, f.FromMode, strings.Join(passed, ", ")))
	}
}

func (a *simAgent) revert(h *harness, task *v1.NodeTask, f action.FlipBond, why string) {
	h.T.Helper()
	require.NoError(h.T, a.host.SetBondMode(context.Background(), f.Bond, f.FromMode))
	a.report(h, task, v1.TaskReverted, fmt.Sprintf("%s; %s reverted to %s", why, f.Bond, f.FromMode))
}

// report finishes the task.
func (a *simAgent) report(h *harness, task *v1.NodeTask, p v1.TaskPhase, msg string) {
	h.T.Helper()
	finished := metav1.NewTime(h.Now)
	task.Status.Phase, task.Status.Message, task.Status.FinishedAt, task.Status.ClaimedBy = string(p), msg, &finished, a.node
	require.NoError(h.T, h.C.Status().Update(context.Background(), task))
}

// beat writes the node's NodewrightAgentStatus as of at, with the bonds
// the agent reports.
func (a *simAgent) beat(h *harness, at time.Time) {
	h.T.Helper()
	ctx := context.Background()
	as := a.reported
	if as == nil {
		as = &v1.NodewrightAgentStatus{}
		err := h.C.Get(ctx, client.ObjectKey{Name: a.node}, as)
		if apierrors.IsNotFound(err) {
			as = &v1.NodewrightAgentStatus{ObjectMeta: metav1.ObjectMeta{Name: a.node, Labels: map[string]string{v1.LabelNode: a.node}}}
			err = h.C.Create(ctx, as)
		}
		require.NoError(h.T, err)
	}
	as.Status.NodeName, as.Status.AgentVersion = a.node, "simulated"
	as.Status.LastHeartbeat = metav1.NewTime(at)
	as.Status.Bonds = a.bonds(h)
	as.Status.DRBD = a.drbd()
	require.NoError(h.T, h.C.Status().Update(ctx, as))
	a.reported = as
}
